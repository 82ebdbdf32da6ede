#![allow(clippy::unwrap_used)]
//! `driftless-vendor generate`: completions and man pages come from the same clap
//! definitions as `--help`, so every command `--help` lists has both.

use assert_cmd::Command;

const BIN: &str = "driftless-vendor";

/// The subcommands `BIN ARGS --help` lists, without `help`.
fn subcommands(args: &[&str]) -> Vec<String> {
    let out = Command::cargo_bin(BIN)
        .unwrap()
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completion_names_every_subcommand() {
    let out = Command::cargo_bin(BIN)
        .unwrap()
        .args(["generate", "completions", "bash"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    let top = subcommands(&[]);
    assert!(top.len() >= 16, "{top:?}");
    for name in top {
        assert!(
            script.contains(&name),
            "`{name}` missing from the bash completion"
        );
        for sub in subcommands(&[&name]) {
            assert!(
                script.contains(&sub),
                "`{name} {sub}` missing from the bash completion"
            );
        }
    }
}

#[test]
fn every_shell_gets_a_completion_script() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = Command::cargo_bin(BIN)
            .unwrap()
            .args(["generate", "completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("publish"), "{shell}: {script}");
    }
}

#[test]
fn man_dir_holds_a_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().join("man1");
    Command::cargo_bin(BIN)
        .unwrap()
        .args(["generate", "man", "--out-dir"])
        .arg(&out_dir)
        .assert()
        .success();
    let page = |name: &str| out_dir.join(format!("{name}.1"));
    assert!(page(BIN).is_file());
    for name in subcommands(&[]) {
        let path = page(&format!("{BIN}-{name}"));
        assert!(path.is_file(), "{} missing", path.display());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{}",
            path.display()
        );
        for sub in subcommands(&[&name]) {
            let path = page(&format!("{BIN}-{name}-{sub}"));
            assert!(path.is_file(), "{} missing", path.display());
        }
    }
    assert!(
        !page(&format!("{BIN}-generate")).exists(),
        "generate is hidden"
    );
}

#[test]
fn generate_is_not_listed_in_help() {
    let out = Command::cargo_bin(BIN)
        .unwrap()
        .arg("--help")
        .output()
        .unwrap();
    assert!(!String::from_utf8(out.stdout).unwrap().contains("generate"));
}
