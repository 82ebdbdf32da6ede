//! Size caps for what is read from a registry.

/// Largest manifest read, the same limit distribution and containerd apply (4 MiB).
pub const MANIFEST_CAP_BYTES: u64 = 4 * 1024 * 1024;

/// Largest registry error body read when explaining a failure.
pub(crate) const ERROR_BODY_CAP_BYTES: u64 = 16 * 1024;
