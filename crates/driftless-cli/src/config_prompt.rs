//! `driftless config init` on a terminal: asks for every value the release declares,
//! one at a time, showing its description and default; a secret is not echoed.

use anyhow::{Context as _, Result};
use driftless_descriptor::validate_value;
use driftless_wire::release::ConfigVar;
use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};

use crate::secret_input;

/// How often one value is asked for before `config init` gives up (a closed terminal
/// answers nothing forever).
const MAX_ATTEMPTS: usize = 5;

/// The values after asking for each declared one. An empty answer keeps the value set
/// (else the default); a required value without either is asked again, as is one its
/// type refuses.
pub fn ask_all(
    values: &BTreeMap<String, String>,
    schema: &[ConfigVar],
) -> Result<BTreeMap<String, String>> {
    let mut next = values.clone();
    for var in schema {
        if let Some(value) = ask(var, values.get(&var.name))? {
            next.insert(var.name.clone(), value);
        }
    }
    Ok(next)
}

/// One value: `None` keeps what there is.
fn ask(var: &ConfigVar, current: Option<&String>) -> Result<Option<String>> {
    if let Some(d) = &var.description {
        eprintln!("{}: {d}", var.name);
    }
    let keeps = match (current, &var.default) {
        (Some(_), _) if var.secret => Some("keep the value set".to_string()),
        (Some(v), _) => Some(v.clone()),
        (None, Some(d)) => Some(d.clone()),
        (None, None) => None,
    };
    let prompt = match &keeps {
        Some(k) => format!("{} ({}) [{k}]", var.name, var.kind.name()),
        None if var.required => format!("{} ({}, required)", var.name, var.kind.name()),
        None => format!("{} ({}, optional)", var.name, var.kind.name()),
    };
    for _ in 0..MAX_ATTEMPTS {
        let answer = if var.secret {
            secret_input::from_stdin(&prompt)?
        } else {
            read_line(&prompt)?
        };
        if answer.is_empty() {
            if keeps.is_some() || !var.required {
                return Ok(None);
            }
            eprintln!("{} is required; type a value", var.name);
            continue;
        }
        match validate_value(var, &answer) {
            Ok(()) => return Ok(Some(answer)),
            Err(e) => eprintln!("{e}; try again"),
        }
    }
    driftless_exit::refuse!(
        hint = format!("run `driftless config init` again, or `driftless config set {}`", var.name);
        "no valid value for `{}` after {MAX_ATTEMPTS} tries; nothing was saved",
        var.name
    )
}

/// One echoed line from the terminal, without its line break; refuses end of input.
fn read_line(prompt: &str) -> Result<String> {
    eprint!("{prompt}: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let n = std::io::stdin()
        .lock()
        .read_line(&mut line)
        .context("cannot read from the terminal")?;
    if n == 0 {
        driftless_exit::refuse!(
            hint = "run `driftless config init` again and answer every question";
            "the input ended before every value was asked for; nothing was saved"
        );
    }
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
