//! Every environment variable `driftless-vendor` reads, in one place.

/// The control plane's URL, for the vendor commands (`--server`).
pub const SERVER: &str = "DRIFTLESS_SERVER";
/// The API token (a user's, a CI token, or the operator token), for the vendor commands (`--token`).
pub const TOKEN: &str = "DRIFTLESS_TOKEN";
/// The data directory of `init`, `serve` and `registry-config` (`--data-dir`).
pub const DATA_DIR: &str = "DRIFTLESS_DATA_DIR";
/// Path of the release signing key, for `publish` when `--release-key` is not given.
pub const RELEASE_KEY_FILE: &str = "DRIFTLESS_RELEASE_KEY_FILE";
/// The release signing key itself (PKCS#8 PEM), for CI secrets; wins over
/// `DRIFTLESS_RELEASE_KEY_FILE`, not over `--release-key`. Neither this nor the
/// operator token reaches a `--sign-with` command.
pub const RELEASE_KEY: &str = "DRIFTLESS_RELEASE_KEY";
/// The database of `serve` (`--database-url`): `sqlite://…` or `postgres://…`. It may
/// carry a password, which Driftless never prints.
pub const DATABASE_URL: &str = "DRIFTLESS_DATABASE_URL";
/// Log filter for `serve` (tracing's env-filter syntax).
pub const LOG: &str = "DRIFTLESS_LOG";
/// A file holding the scrape token of `/metrics`, for `serve` (`--metrics-token-file`).
pub const METRICS_TOKEN_FILE: &str = "DRIFTLESS_METRICS_TOKEN_FILE";
