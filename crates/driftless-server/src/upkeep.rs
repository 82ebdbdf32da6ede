//! The hot path's background work: follow the change feed every
//! [`POLL_INTERVAL`](crate::change_feed::POLL_INTERVAL), write queued heartbeats every
//! `heartbeat_flush_ms`, prune the feed and the status history now and then, and sign a
//! checkpoint of the audit log every [`CHECKPOINT_INTERVAL`] when it grew.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use crate::change_feed::{FEED_RETENTION_S, POLL_INTERVAL};
use crate::state::AppState;

/// How often old feed entries are pruned.
const PRUNE_INTERVAL: Duration = Duration::from_secs(600);

/// How often the audit log's head is checkpointed (when it moved): what a truncation
/// can hide from a checkpoint kept outside the database is at most this much history.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Starts the background work for `state`; [`crate::serve`] runs it, a caller serving
/// the router some other way must too (and call [`AppState::flush_heartbeats`] once
/// it stopped serving).
pub fn spawn(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Two tasks: a heartbeat batch runs at the lowest CPU priority (on SQLite) and
        // may take seconds on a saturated core, which must not hold up the change
        // feed that drops stale cache entries. Dropping the set (when this task is
        // aborted) aborts both.
        let mut tasks = tokio::task::JoinSet::new();
        tasks.spawn(flush_heartbeats(state.clone()));
        tasks.spawn(follow_changes(state));
        while tasks.join_next().await.is_some() {}
    })
}

/// Writes the queued heartbeats every `heartbeat_flush_ms`, forever.
async fn flush_heartbeats(state: AppState) {
    let flush_every = Duration::from_millis(state.config.heartbeat_flush_ms.max(10));
    let mut flush = tokio::time::interval(flush_every);
    flush.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        flush.tick().await;
        if let Err(e) = state.flush_heartbeats().await {
            tracing::warn!(error = %e, "cannot write heartbeats; will retry");
        }
    }
}

/// Follows the change feed, prunes, and checkpoints the audit log, forever.
async fn follow_changes(state: AppState) {
    let mut poll = tokio::time::interval(POLL_INTERVAL);
    // Not at start: a starting replica has nothing to prune that another did not.
    let mut prune =
        tokio::time::interval_at(tokio::time::Instant::now() + PRUNE_INTERVAL, PRUNE_INTERVAL);
    let mut checkpoint = tokio::time::interval(CHECKPOINT_INTERVAL);
    for timer in [&mut poll, &mut prune, &mut checkpoint] {
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    }
    loop {
        tokio::select! {
            _ = poll.tick() => {
                if let Err(e) = state.follow_changes().await {
                    tracing::warn!(error = %e, "cannot read the change feed; dropping the check-in cache");
                    state.hot.cache.clear();
                }
            }
            _ = prune.tick() => {
                let before = crate::now() - FEED_RETENTION_S;
                if let Err(e) = state.store.prune_changes(before).await {
                    tracing::warn!(error = %e, "cannot prune the change feed");
                }
                let before = crate::now() - state.config.status_history_retention_s;
                if let Err(e) = state.store.prune_status_transitions(before).await {
                    tracing::warn!(error = %e, "cannot prune the status history");
                }
            }
            _ = checkpoint.tick() => {
                if let Err(e) = crate::audit_checkpoint::sign_if_grown(&state).await {
                    tracing::error!(error = %e, "cannot sign an audit checkpoint");
                }
            }
        }
    }
}
