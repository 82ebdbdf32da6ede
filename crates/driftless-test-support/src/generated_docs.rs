//! Checks both binaries' `generate` command passes: the completions and man pages come
//! from the same clap definitions as `--help`, so every command `--help` lists has both.

use std::path::Path;
use std::process::Command;

/// The subcommands `bin ARGS --help` lists, without `help`.
pub fn subcommands(bin: &Path, args: &[&str]) -> Vec<String> {
    let out = Command::new(bin)
        .args(args)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(
        out.status.success(),
        "{} {args:?} --help failed",
        bin.display()
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// `bin generate ARGS`'s stdout, asserting it succeeded.
fn generate(bin: &Path, args: &[&str]) -> String {
    let out = Command::new(bin)
        .arg("generate")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(out.status.success(), "generate {args:?} failed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The bash completion names every subcommand and sub-subcommand `--help` lists, and
/// there are at least `at_least` top-level ones.
pub fn assert_bash_completion_covers_help(bin: &Path, at_least: usize) {
    let script = generate(bin, &["completions", "bash"]);
    let top = subcommands(bin, &[]);
    assert!(top.len() >= at_least, "{top:?}");
    for name in top {
        assert!(
            script.contains(&name),
            "`{name}` missing from the bash completion"
        );
        for sub in subcommands(bin, &[&name]) {
            assert!(
                script.contains(&sub),
                "`{name} {sub}` missing from the bash completion"
            );
        }
    }
}

/// Every shell clap_complete knows gets a script that names `command`.
pub fn assert_every_shell_gets_completions(bin: &Path, command: &str) {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = generate(bin, &["completions", shell]);
        assert!(script.contains(command), "{shell}: {script}");
    }
}

/// `generate man` writes a page for the binary, each subcommand and each of their
/// subcommands, and none for the hidden `generate`.
pub fn assert_man_page_per_subcommand(bin: &Path, name: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let out_dir = dir.path().join("man1");
    let out_text = out_dir.to_string_lossy().into_owned();
    generate(bin, &["man", "--out-dir", &out_text]);
    let page = |page: &str| out_dir.join(format!("{page}.1"));
    assert!(page(name).is_file());
    for sub in subcommands(bin, &[]) {
        let path = page(&format!("{name}-{sub}"));
        assert!(path.is_file(), "{} missing", path.display());
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            text.starts_with(".ie") || text.contains(".TH"),
            "{}",
            path.display()
        );
        for subsub in subcommands(bin, &[&sub]) {
            let path = page(&format!("{name}-{sub}-{subsub}"));
            assert!(path.is_file(), "{} missing", path.display());
        }
    }
    assert!(
        !page(&format!("{name}-generate")).exists(),
        "generate is hidden"
    );
}

/// `--help` does not list the hidden `generate`.
pub fn assert_generate_is_hidden(bin: &Path) {
    let out = Command::new(bin)
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    assert!(!String::from_utf8_lossy(&out.stdout).contains("generate"));
}

/// The four `generate` tests for binary `$bin` of the calling package: it lists at least
/// `$at_least` commands and `$command` is one of them.
#[macro_export]
macro_rules! generated_docs_tests {
    ($bin:expr, at_least = $at_least:expr, command = $command:expr) => {
        fn bin() -> std::path::PathBuf {
            assert_cmd::cargo::cargo_bin($bin)
        }

        #[test]
        fn bash_completion_names_every_subcommand() {
            $crate::generated_docs::assert_bash_completion_covers_help(&bin(), $at_least);
        }

        #[test]
        fn every_shell_gets_a_completion_script() {
            $crate::generated_docs::assert_every_shell_gets_completions(&bin(), $command);
        }

        #[test]
        fn man_dir_holds_a_page_per_subcommand() {
            $crate::generated_docs::assert_man_page_per_subcommand(&bin(), $bin);
        }

        #[test]
        fn generate_is_not_listed_in_help() {
            $crate::generated_docs::assert_generate_is_hidden(&bin());
        }
    };
}
