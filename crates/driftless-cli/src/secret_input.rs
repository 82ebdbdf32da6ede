//! Reading a secret (the license key, a config value) from somewhere other than the
//! command line, where every user of the host sees it in `ps` and it stays in shell
//! history: standard input (the terminal's echo off while a person types it) or a file.

use anyhow::{Context as _, Result};
use driftless_exit::HintExt as _;
use std::io::{BufRead as _, IsTerminal as _, Read as _, Write as _};
use std::path::Path;

/// The longest secret read; a license key or a password is far shorter.
const MAX_SECRET_BYTES: u64 = 64 * 1024;

/// Reads `what` from standard input: one line typed at a terminal (not echoed), or
/// everything piped in, without its final line break.
pub fn from_stdin(what: &str) -> Result<String> {
    let stdin = std::io::stdin();
    if stdin.is_terminal() {
        // Echo goes off before the prompt shows, so nothing typed after it is echoed.
        let _echo_off = EchoOff::new(&stdin);
        eprint!("{what} (not echoed): ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .with_context(|| format!("cannot read {what} from the terminal"))?;
        eprintln!();
        return Ok(without_line_break(line));
    }
    let mut bytes = Vec::new();
    stdin
        .lock()
        .take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} from standard input"))?;
    checked(bytes, what, "standard input")
}

/// Reads `what` from `path`, without its final line break.
pub fn from_file(path: &Path, what: &str) -> Result<String> {
    let file = std::fs::File::open(path)
        .map_err(|e| {
            driftless_exit::InvalidInput(format!("cannot read {what} from {}: {e}", path.display()))
        })
        .hint("check the path and that this user may read it")?;
    let mut bytes = Vec::new();
    file.take(MAX_SECRET_BYTES + 1)
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {what} from {}", path.display()))?;
    checked(bytes, what, &path.display().to_string())
}

/// Warns on stderr that `what` was given on the command line, and what to do instead.
pub fn warn_on_command_line(what: &str, instead: &str) {
    eprintln!(
        "warning: {what} given on the command line can be read by other users of this host (ps) and stays in your shell history; {instead}"
    );
}

/// The text read from `source`, refused when too long, not UTF-8, or empty.
fn checked(bytes: Vec<u8>, what: &str, source: &str) -> Result<String> {
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        driftless_exit::refuse!(
            hint = format!("{source} must hold only the value");
            "{source} holds more than {MAX_SECRET_BYTES} bytes, too long for {what}"
        );
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| driftless_exit::InvalidInput(format!("{what} in {source} is not UTF-8")))?;
    let text = without_line_break(text);
    if text.is_empty() {
        driftless_exit::refuse!(
            hint = format!("put {what} in {source}");
            "{source} holds no {what}"
        );
    }
    Ok(text)
}

/// `text` without one final `\n` or `\r\n` (what `echo` and editors add).
fn without_line_break(mut text: String) -> String {
    if text.ends_with('\n') {
        text.pop();
        if text.ends_with('\r') {
            text.pop();
        }
    }
    text
}

/// Turns the terminal's echo off until dropped.
struct EchoOff {
    saved: Option<rustix::termios::Termios>,
}

impl EchoOff {
    fn new(stdin: &std::io::Stdin) -> EchoOff {
        use rustix::termios::{tcgetattr, tcsetattr, LocalModes, OptionalActions};
        let Ok(saved) = tcgetattr(stdin) else {
            return EchoOff { saved: None };
        };
        let mut quiet = saved.clone();
        quiet.local_modes.remove(LocalModes::ECHO);
        if tcsetattr(stdin, OptionalActions::Now, &quiet).is_err() {
            return EchoOff { saved: None };
        }
        EchoOff { saved: Some(saved) }
    }
}

impl Drop for EchoOff {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            let _ = rustix::termios::tcsetattr(
                std::io::stdin(),
                rustix::termios::OptionalActions::Now,
                saved,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_final_line_break_is_dropped_and_nothing_else() {
        assert_eq!(without_line_break("key\n".into()), "key");
        assert_eq!(without_line_break("key\r\n".into()), "key");
        assert_eq!(without_line_break("key\n\n".into()), "key\n");
        assert_eq!(without_line_break(" key ".into()), " key ");
    }

    #[test]
    fn a_file_holding_nothing_or_too_much_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        let err = from_file(&empty, "the license key").unwrap_err();
        assert_eq!(driftless_exit::exit_code(&err), 3);
        assert!(driftless_exit::render(&err).contains("\n\nhint: "));

        let big = dir.path().join("big");
        std::fs::write(&big, vec![b'a'; 70 * 1024]).unwrap();
        let err = from_file(&big, "the license key").unwrap_err();
        assert_eq!(driftless_exit::exit_code(&err), 3);

        let good = dir.path().join("good");
        std::fs::write(&good, "dl_key\n").unwrap();
        assert_eq!(from_file(&good, "the license key").unwrap(), "dl_key");
    }
}
