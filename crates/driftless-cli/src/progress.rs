//! Pull progress: bars on a terminal, plain lines otherwise (and under `NO_COLOR`).

use driftless_runtime::PullProgress;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal as _;

/// How progress is shown.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    bars: bool,
}

/// One task's progress.
pub struct Task {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// Bars when stderr is a terminal and `NO_COLOR` is unset.
    pub fn detect() -> Self {
        let bars =
            std::io::stderr().is_terminal() && std::env::var_os(crate::env::NO_COLOR).is_none();
        Progress { bars }
    }

    /// Starts a task, printing `what`.
    pub fn start(&self, what: &str) -> Task {
        if self.bars {
            let bar = ProgressBar::new_spinner();
            if let Ok(style) = ProgressStyle::with_template("{spinner} {msg}") {
                bar.set_style(style);
            }
            bar.set_message(what.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            Task { bar: Some(bar) }
        } else {
            eprintln!("{what}");
            Task { bar: None }
        }
    }
}

impl Task {
    /// Shows one status update from the engine.
    pub fn update(&self, p: &PullProgress) {
        let PullProgress::Status {
            id,
            status,
            current,
            total,
        } = p;
        if let Some(bar) = &self.bar {
            let amount = match (current, total) {
                (Some(c), Some(t)) if *t > 0 => format!(" {}/{} KiB", c / 1024, t / 1024),
                _ => String::new(),
            };
            bar.set_message(format!("{} {status}{amount}", id.as_deref().unwrap_or("")));
        }
    }

    /// Ends the task with `what`.
    pub fn finish(self, what: &str) {
        match self.bar {
            Some(bar) => bar.finish_with_message(what.to_string()),
            None => eprintln!("{what}"),
        }
    }
}
