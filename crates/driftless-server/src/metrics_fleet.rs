//! The fleet and rollout gauges: computed by a periodic aggregate (the database's
//! [`fleet_summary`](driftless_store::Store::fleet_summary), its stale-install count and
//! each channel's newest rollout), kept in memory whole, and formatted at each scrape,
//! so a scrape never scans the fleet.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use driftless_store::{FleetCount, RolloutOutcomes, RolloutState, StaleCount, StoreError};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::metrics::gauge;
use crate::state::AppState;

/// Every state a rollout can be in, each exported as its own 0/1 series.
const ROLLOUT_STATES: [RolloutState; 5] = [
    RolloutState::Running,
    RolloutState::Paused,
    RolloutState::Halted,
    RolloutState::Aborted,
    RolloutState::Completed,
];

/// A channel's newest rollout and how its installs fared.
#[derive(Clone, Debug)]
pub(crate) struct RolloutGauge {
    app: String,
    channel: String,
    id: i64,
    version: String,
    state: RolloutState,
    /// 1 for the first wave.
    wave: u32,
    /// The share of the channel the opened waves cover.
    wave_percent: u32,
    outcomes: RolloutOutcomes,
}

/// One aggregate's results.
#[derive(Clone, Debug, Default)]
pub(crate) struct FleetSnapshot {
    /// Unix seconds it was computed at.
    pub(crate) at: i64,
    /// Seconds without a check-in after which an install counts as stale.
    pub(crate) stale_after_s: u64,
    pub(crate) counts: Vec<FleetCount>,
    pub(crate) stale: Vec<StaleCount>,
    rollouts: Vec<RolloutGauge>,
}

/// How many installs ran each version of each app at one aggregate: a point of the
/// dashboard's adoption chart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AdoptionSample {
    /// Unix seconds.
    pub(crate) at: i64,
    /// `(app, version)` and how many installs reported running it.
    pub(crate) versions: Vec<((String, String), u64)>,
}

/// Adoption samples kept in memory (a day at the default minute-long aggregate).
const ADOPTION_SAMPLES: usize = 1440;

impl AdoptionSample {
    fn of(snapshot: &FleetSnapshot) -> Self {
        let mut versions = std::collections::BTreeMap::new();
        for c in &snapshot.counts {
            if let Some(v) = &c.version {
                *versions.entry((c.app.clone(), v.clone())).or_insert(0) += c.installs;
            }
        }
        AdoptionSample {
            at: snapshot.at,
            versions: versions.into_iter().collect(),
        }
    }
}

/// The newest snapshot, shared by the aggregate (which replaces it whole) and the scrape.
#[derive(Clone, Debug, Default)]
pub(crate) struct FleetGauges {
    snapshot: Arc<RwLock<Option<Arc<FleetSnapshot>>>>,
    adoption: Arc<RwLock<std::collections::VecDeque<AdoptionSample>>>,
}

impl FleetGauges {
    /// The collector that formats the snapshot at each scrape.
    pub(crate) fn collector(&self) -> FleetCollector {
        FleetCollector(self.clone())
    }

    fn replace(&self, snapshot: FleetSnapshot) {
        let sample = AdoptionSample::of(&snapshot);
        {
            let mut adoption = match self.adoption.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            if adoption.len() >= ADOPTION_SAMPLES {
                adoption.pop_front();
            }
            adoption.push_back(sample);
        }
        let mut guard = match self.snapshot.write() {
            Ok(g) => g,
            // A panic while holding the lock cannot leave a half-written Arc behind.
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Some(Arc::new(snapshot));
    }

    /// The adoption samples, oldest first.
    pub(crate) fn adoption(&self) -> Vec<AdoptionSample> {
        match self.adoption.read() {
            Ok(g) => g.iter().cloned().collect(),
            Err(poisoned) => poisoned.into_inner().iter().cloned().collect(),
        }
    }

    /// The newest snapshot; `None` before the first aggregate.
    pub(crate) fn current(&self) -> Option<Arc<FleetSnapshot>> {
        match self.snapshot.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }
}

/// Computes the fleet gauges now and keeps them for the scrapes until the next run.
pub(crate) async fn aggregate(state: &AppState) -> Result<(), StoreError> {
    let now = crate::now();
    let stale_after_s = state
        .config
        .next_checkin_s
        .saturating_mul(u64::from(state.config.metrics.stale_after_checkins));
    let seen_before = now.saturating_sub(i64::try_from(stale_after_s).unwrap_or(i64::MAX));
    let store = &*state.store;
    let summary = store.fleet_summary(None).await?;
    let stale = store.stale_installs(seen_before).await?;
    let rollouts = newest_rollouts(state).await?;
    state.metrics.fleet.replace(FleetSnapshot {
        at: now,
        stale_after_s,
        counts: summary.counts,
        stale,
        rollouts,
    });
    Ok(())
}

/// Each channel's newest rollout, whatever its state (a halted one stays visible until
/// the next one starts): one series set per channel, however many rollouts it had.
async fn newest_rollouts(state: &AppState) -> Result<Vec<RolloutGauge>, StoreError> {
    let store = &*state.store;
    let mut gauges = Vec::new();
    for app in store.list_apps().await? {
        let mut seen = BTreeSet::new();
        for r in store.list_rollouts(&app.name).await? {
            if !seen.insert(r.channel.clone()) {
                continue;
            }
            let outcomes = store
                .rollout_outcomes(&r.app, &r.channel, &r.version)
                .await?;
            let opened = usize::try_from(r.wave_index).unwrap_or(usize::MAX);
            gauges.push(RolloutGauge {
                wave: r.wave_index.saturating_add(1),
                wave_percent: r.waves.get(opened).copied().unwrap_or(0),
                app: r.app,
                channel: r.channel,
                id: r.id,
                version: r.version,
                state: r.state,
                outcomes,
            });
        }
    }
    Ok(gauges)
}

/// Runs [`aggregate`] every `metrics.aggregate_s` seconds; [`crate::serve`] starts it.
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_secs(state.config.metrics.aggregate_s.max(1));
        let mut timer = tokio::time::interval(every);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            timer.tick().await;
            if let Err(e) = aggregate(&state).await {
                tracing::warn!(error = %e, "cannot compute the fleet metrics; will retry");
            }
        }
    })
}

/// Formats the newest [`FleetSnapshot`]; nothing before the first aggregate.
#[derive(Debug)]
pub(crate) struct FleetCollector(FleetGauges);

type Labels = Vec<(&'static str, String)>;

/// Writes one gauge family: `name`, `help`, and a value per label set.
fn gauge_family(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: impl IntoIterator<Item = (Labels, i64)>,
) -> Result<(), std::fmt::Error> {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in series {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

fn count(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Collector for FleetCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(snap) = self.0.current() else {
            return Ok(());
        };
        gauge(
            &mut encoder,
            "fleet_aggregate_timestamp_seconds",
            "When the fleet gauges were last computed (Unix seconds)",
            snap.at,
        )?;
        gauge(
            &mut encoder,
            "fleet_stale_after_seconds",
            "Seconds without a check-in after which an install counts as stale",
            count(snap.stale_after_s),
        )?;
        let installs = snap.counts.iter().map(|c| {
            let labels = vec![
                ("app", c.app.clone()),
                ("channel", c.channel.clone()),
                ("version", c.version.clone().unwrap_or_default()),
                ("status", c.status.clone()),
                ("reason", c.reason.clone().unwrap_or_default()),
            ];
            (labels, count(c.installs))
        });
        gauge_family(
            &mut encoder,
            "fleet_installs",
            "Installs by app, channel, running version, status and reason code",
            installs,
        )?;
        gauge_family(
            &mut encoder,
            "fleet_stale_installs",
            "Installs seen once but not within fleet_stale_after_seconds, by app and channel",
            stale_series(&snap),
        )?;
        encode_rollouts(&mut encoder, &snap.rollouts)
    }
}

/// The stale count of every channel that has installs, 0 where none is stale, so a
/// ratio over the fleet exists for every channel.
fn stale_series(snap: &FleetSnapshot) -> Vec<(Labels, i64)> {
    let channels: BTreeSet<(&str, &str)> = snap
        .counts
        .iter()
        .map(|c| (c.app.as_str(), c.channel.as_str()))
        .chain(
            snap.stale
                .iter()
                .map(|s| (s.app.as_str(), s.channel.as_str())),
        )
        .collect();
    channels
        .into_iter()
        .map(|(app, channel)| {
            let stale = snap
                .stale
                .iter()
                .find(|s| s.app == app && s.channel == channel)
                .map_or(0, |s| count(s.installs));
            let labels = vec![("app", app.to_owned()), ("channel", channel.to_owned())];
            (labels, stale)
        })
        .collect()
}

fn rollout_labels(r: &RolloutGauge) -> Labels {
    vec![
        ("app", r.app.clone()),
        ("channel", r.channel.clone()),
        ("rollout", r.id.to_string()),
        ("version", r.version.clone()),
    ]
}

fn encode_rollouts(
    encoder: &mut DescriptorEncoder,
    rollouts: &[RolloutGauge],
) -> Result<(), std::fmt::Error> {
    let states = rollouts.iter().flat_map(|r| {
        ROLLOUT_STATES.iter().map(move |s| {
            let mut labels = rollout_labels(r);
            labels.push(("state", s.name().to_owned()));
            (labels, i64::from(r.state == *s))
        })
    });
    gauge_family(
        encoder,
        "rollout_state",
        "1 for the state each channel's newest rollout is in, 0 for the others",
        states,
    )?;
    let waves = rollouts
        .iter()
        .map(|r| (rollout_labels(r), i64::from(r.wave)));
    gauge_family(
        encoder,
        "rollout_wave",
        "The newest opened wave of each channel's newest rollout (1 for the first)",
        waves,
    )?;
    let percents = rollouts
        .iter()
        .map(|r| (rollout_labels(r), i64::from(r.wave_percent)));
    gauge_family(
        encoder,
        "rollout_wave_percent",
        "The share of the channel the opened waves cover",
        percents,
    )?;
    let outcomes = rollouts.iter().flat_map(|r| {
        let o = &r.outcomes;
        [
            ("tried", o.tried),
            ("succeeded", o.converged),
            ("failed", o.failed),
        ]
        .map(|(outcome, n)| {
            let mut labels = rollout_labels(r);
            labels.push(("outcome", outcome.to_owned()));
            (labels, count(n))
        })
    });
    gauge_family(
        encoder,
        "rollout_installs",
        "Installs of the channel that tried, succeeded with or failed on the rollout's release",
        outcomes,
    )
}
