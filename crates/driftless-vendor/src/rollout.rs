//! `driftless-vendor rollout`: start a staged rollout of a release to a channel, steer
//! it (pause, resume, advance, abort) and list an app's rollouts.

use anyhow::Result;
use clap::Subcommand;
use driftless_client::VendorClient;
use driftless_exit::HintExt as _;
use driftless_wire::api::{RolloutInfo, StartRollout};

use crate::output::{self, Table};
use crate::remote::Remote;

/// Arguments of `rollout`.
#[derive(clap::Args)]
pub struct RolloutArgs {
    #[command(subcommand)]
    action: RolloutAction,
    #[command(flatten)]
    remote: Remote,
}

#[derive(clap::Args, Clone)]
struct ChannelRef {
    /// App name.
    #[arg(long)]
    app: String,
    /// Channel name.
    #[arg(long)]
    channel: String,
}

#[derive(Subcommand)]
enum RolloutAction {
    /// Roll a release out to a channel in cumulative waves.
    Start(StartArgs),
    /// Stop opening waves.
    Pause(ChannelRef),
    /// Open waves again (also after an automatic halt, which then applies afresh).
    Resume(ChannelRef),
    /// Open the next wave now (past the last wave: complete); refused on a halted rollout.
    Advance(ChannelRef),
    /// Point the channel back at the previous release; its hosts converge back.
    Abort(ChannelRef),
    /// List an app's rollouts.
    List {
        /// App name.
        #[arg(long)]
        app: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(clap::Args)]
struct StartArgs {
    #[command(flatten)]
    target: ChannelRef,
    /// The release's version.
    #[arg(long = "version")]
    release_version: String,
    /// Cumulative waves, e.g. "1%,10%,50%,100%".
    #[arg(long, default_value = "100%")]
    waves: String,
    /// Time between waves, e.g. 30s, 10m, 1h; without it waves open on `advance`.
    #[arg(long)]
    interval: Option<String>,
    /// Halt only once at least this many installs failed.
    #[arg(long, default_value_t = 3)]
    halt_min_failures: u32,
    /// Halt once more than this percentage of installs that tried it failed.
    #[arg(long, default_value_t = 20)]
    halt_failure_pct: u32,
    /// Start although the channel's gate refuses the release; the reason is audited.
    #[arg(long, value_name = "REASON")]
    override_gate: Option<String>,
}

/// Runs a `rollout` action.
pub async fn run(args: RolloutArgs) -> Result<()> {
    let c = args.remote.client()?;
    let (target, verb) = match args.action {
        RolloutAction::Start(start_args) => return start(&c, start_args).await,
        RolloutAction::List { app, json } => {
            return output::print_list(json, &c.list_rollouts(&app).await?, table)
        }
        RolloutAction::Pause(t) => (t, "pause"),
        RolloutAction::Resume(t) => (t, "resume"),
        RolloutAction::Advance(t) => (t, "advance"),
        RolloutAction::Abort(t) => (t, "abort"),
    };
    let r = c.rollout_action(&target.app, &target.channel, verb).await?;
    output::print_json(&r)?;
    eprintln!(
        "rollout of {} on {}/{}: {} (wave {} of {})",
        r.version,
        r.app,
        r.channel,
        r.state,
        r.wave_index + 1,
        r.waves.len()
    );
    if let Some(w) = &r.floor_warning {
        eprintln!("warning: {}", w.message);
    }
    Ok(())
}

async fn start(c: &VendorClient, args: StartArgs) -> Result<()> {
    let req = StartRollout {
        version: args.release_version,
        waves: parse_waves(&args.waves)?,
        interval_s: args.interval.as_deref().map(parse_interval).transpose()?,
        min_failures: args.halt_min_failures,
        max_failure_pct: args.halt_failure_pct,
        override_gate: crate::gate::override_reason(args.override_gate)?,
    };
    let r = c
        .start_rollout(&args.target.app, &args.target.channel, &req)
        .await?;
    output::print_json(&r)?;
    eprintln!(
        "rolling {} out to {}/{} in waves {:?}",
        r.version, r.app, r.channel, r.waves
    );
    Ok(())
}

fn table(rollouts: &[RolloutInfo]) -> Table<9> {
    let mut t = Table::new([
        "ID", "CHANNEL", "VERSION", "FROM", "STATE", "WAVE", "TRIED", "FAILED", "REASON",
    ]);
    for r in rollouts {
        let wave = match r.waves.get(r.wave_index as usize) {
            Some(pct) => format!("{} of {} ({pct}%)", r.wave_index + 1, r.waves.len()),
            None => format!("{} of {}", r.wave_index + 1, r.waves.len()),
        };
        t.row([
            r.id.to_string(),
            r.channel.clone(),
            r.version.clone(),
            output::or_dash(r.previous_version.as_deref()),
            r.state.clone(),
            wave,
            r.tried.to_string(),
            r.failed.to_string(),
            output::or_dash(r.reason.as_deref()),
        ]);
    }
    t
}

/// Parses "1%,10%,50%,100%" into percentages.
fn parse_waves(text: &str) -> Result<Vec<u32>> {
    text.split(',')
        .map(|w| {
            w.trim()
                .trim_end_matches('%')
                .parse::<u32>()
                .map_err(|_| {
                    driftless_exit::InvalidInput(format!("wave `{w}` is not a percentage"))
                })
                .hint("write waves like \"1%,10%,50%,100%\"")
        })
        .collect()
}

/// Parses `--interval` into whole seconds: a bare number is seconds ("90"); otherwise
/// humantime's syntax ("30s", "10m", "1h", "1d", "1h 30m"). Refuses a fraction of a
/// second and a span too long for the API's signed 64-bit seconds.
fn parse_interval(text: &str) -> Result<i64> {
    interval_seconds(text).hint("write e.g. 30s, 10m or 1h")
}

/// [`parse_interval`] without the hint every refusal shares.
fn interval_seconds(text: &str) -> Result<i64> {
    let t = text.trim();
    let not_a_duration = || driftless_exit::InvalidInput(format!("`{text}` is not a duration"));
    let too_long = || {
        driftless_exit::InvalidInput(format!(
            "`{text}` is too long an interval: it overflows 64-bit seconds"
        ))
    };
    if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        return t.parse::<i64>().map_err(|_| too_long().into());
    }
    let d = humantime::parse_duration(t).map_err(|e| match e {
        humantime::DurationError::NumberOverflow => too_long(),
        _ => not_a_duration(),
    })?;
    if d.subsec_nanos() != 0 {
        driftless_exit::refuse!("`{text}` is not a whole number of seconds");
    }
    i64::try_from(d.as_secs()).map_err(|_| too_long().into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        let e = parse_interval(text).expect_err(text);
        assert!(
            e.downcast_ref::<driftless_exit::InvalidInput>().is_some(),
            "`{text}` must be refused as invalid input (exit 3): {e}"
        );
        let shown = driftless_exit::render(&e);
        assert!(
            shown.ends_with("\n\nhint: write e.g. 30s, 10m or 1h"),
            "{shown}"
        );
        shown
    }

    #[test]
    fn intervals_accepted_before_humantime_still_parse() {
        assert_eq!(parse_interval("90").unwrap(), 90);
        assert_eq!(parse_interval("0").unwrap(), 0);
        assert_eq!(parse_interval("30s").unwrap(), 30);
        assert_eq!(parse_interval("10m").unwrap(), 600);
        assert_eq!(parse_interval("1h").unwrap(), 3600);
        assert_eq!(parse_interval("1d").unwrap(), 86400);
        assert_eq!(parse_interval(" 2h ").unwrap(), 7200);
    }

    #[test]
    fn compound_intervals_parse() {
        assert_eq!(parse_interval("1h 30m").unwrap(), 5400);
        assert_eq!(parse_interval("1h30m").unwrap(), 5400);
    }

    #[test]
    fn what_is_not_a_duration_is_refused() {
        for text in ["", "h", "1x", "-5", "1.5h x", "abc"] {
            assert!(refused(text).contains("is not a duration"), "{text}");
        }
    }

    #[test]
    fn a_fraction_of_a_second_is_refused() {
        assert!(refused("1500ms").contains("whole number of seconds"));
    }

    #[test]
    fn an_overflowing_interval_is_refused_not_wrapped() {
        // Before humantime, "200000000000000d" multiplied past i64::MAX.
        for text in [
            "200000000000000d",
            "99999999999999999999",
            "99999999999999999999s",
            "9223372036854775808s",
        ] {
            assert!(refused(text).contains("too long"), "{text}");
        }
        assert_eq!(
            parse_interval("9223372036854775807").unwrap(),
            i64::MAX,
            "the largest i64 is still a number of seconds"
        );
    }

    #[test]
    fn waves_are_percentages() {
        assert_eq!(parse_waves("1%,10%, 50%,100").unwrap(), [1, 10, 50, 100]);
        let err = parse_waves("1%,ten%").unwrap_err();
        assert_eq!(
            driftless_exit::render(&err),
            "error: wave `ten%` is not a percentage\n\nhint: write waves like \"1%,10%,50%,100%\""
        );
    }
}
