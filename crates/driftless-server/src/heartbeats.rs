//! Pure "still here" check-ins, answered from memory and written in batches: every
//! `heartbeat_flush_ms` and on a graceful shutdown. A crash loses at most the
//! last-seen times of one flush interval; status transitions never wait here, they are
//! written before their answer.

use std::collections::HashMap;
use std::sync::Mutex;

use driftless_store::{Heartbeat, Store, StoreResult};

/// Heartbeats accepted and not yet written, one per install (the newest).
#[derive(Default)]
pub struct HeartbeatQueue {
    pending: Mutex<HashMap<Box<str>, (i64, i64)>>,
}

impl HeartbeatQueue {
    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, (i64, i64)>> {
        // Plain data: a panic under the lock leaves nothing half-updated that matters.
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues install `id`'s heartbeat at `at` (Unix seconds) for its request made at
    /// `signed_at_ms`.
    pub fn push(&self, id: &str, at: i64, signed_at_ms: i64) {
        let mut pending = self.pending();
        match pending.get_mut(id) {
            Some(slot) => *slot = (slot.0.max(at), slot.1.max(signed_at_ms)),
            None => {
                pending.insert(id.into(), (at, signed_at_ms));
            }
        }
    }

    /// The newest request time of install `id` waiting to be written (0 if none).
    pub fn newest_ms(&self, id: &str) -> i64 {
        self.pending().get(id).map_or(0, |p| p.1)
    }

    /// How many installs have a heartbeat waiting.
    pub fn len(&self) -> usize {
        self.pending().len()
    }

    /// Writes every waiting heartbeat in one batch; on failure they wait for the next.
    pub async fn flush(&self, store: &dyn Store) -> StoreResult<usize> {
        let taken = std::mem::take(&mut *self.pending());
        if taken.is_empty() {
            return Ok(0);
        }
        let beats: Vec<Heartbeat> = taken
            .iter()
            .map(|(id, (at, ms))| Heartbeat {
                install_id: id.to_string(),
                at: *at,
                signed_at_ms: *ms,
            })
            .collect();
        match store.record_heartbeats(&beats).await {
            Ok(()) => Ok(beats.len()),
            Err(e) => {
                for (id, (at, ms)) in taken {
                    self.push(&id, at, ms);
                }
                Err(e)
            }
        }
    }
}
