//! Following the database's change feed, so what this process cached of a change made
//! anywhere (this replica or another) is dropped: at once after this process's own
//! mutations, within [`POLL_INTERVAL`] (plus one poll's time) for another replica's.

use std::time::Duration;

use driftless_store::{Store, StoreResult};
use tokio::sync::Mutex;

use crate::cache::CheckinCache;

/// How often the feed is polled.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Feed entries older than this are pruned: every replica has long read them.
pub const FEED_RETENTION_S: i64 = 3600;
/// Entries read per query.
const BATCH: u32 = 1000;

/// Where this process is in the feed (`None` until the first read).
#[derive(Default)]
pub struct FeedCursor {
    seq: Mutex<Option<i64>>,
}

impl FeedCursor {
    /// Reads the feed past the cursor and drops what each entry made stale.
    pub async fn catch_up(&self, store: &dyn Store, cache: &CheckinCache) -> StoreResult<()> {
        let mut cursor = self.seq.lock().await;
        let mut after = match *cursor {
            Some(seq) => seq,
            None => {
                // The first read: whatever was cached before it is of unknown age.
                let seq = store.latest_change_seq().await?;
                cache.clear();
                *cursor = Some(seq);
                return Ok(());
            }
        };
        loop {
            let changes = store.changes_since(after, BATCH).await?;
            for change in &changes {
                cache.apply(change);
                after = change.seq;
            }
            *cursor = Some(after);
            if changes.len() < BATCH as usize {
                return Ok(());
            }
        }
    }
}
