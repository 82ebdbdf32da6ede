//! The wall clock, read in one place so every command stamps documents the same way.

use std::time::{SystemTime, UNIX_EPOCH};

/// Unix seconds now; 0 if the system clock is set before 1970.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
