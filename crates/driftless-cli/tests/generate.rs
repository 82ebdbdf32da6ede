//! `driftless generate`: completions and man pages come from the same clap definitions
//! as `--help`, so every command `--help` lists has both.

driftless_test_support::generated_docs_tests!("driftless", at_least = 7, command = "self-update");
