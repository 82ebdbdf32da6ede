//! Mints ES256 registry tokens that CNCF distribution verifies, and the certificate it trusts.
//!
//! The registry is configured with `auth: token: rootcertbundle:` pointing at the
//! certificate from [`generate_key_material`]; tokens minted by a [`TokenSigner`] holding
//! the matching key then work on distribution 2.8 (which checks `x5c` against the bundle)
//! and 3.x (which can also look the key up by `kid`). Nothing here does I/O: callers pass
//! the current time in, so tests can mint expired or future tokens.

mod access;
mod cert_spki;
mod error;
mod key_material;
mod kid;
mod release_repository;
mod repository_name;
mod signer;

pub use access::{parse_scope, Access};
pub use error::TokenError;
pub use key_material::{generate_key_material, TokenKeyMaterial};
pub use kid::libtrust_kid;
pub use release_repository::{
    is_release_repository, release_prefix, release_repository, DESCRIPTOR_COMPONENT,
};
pub use repository_name::valid_repository_name;
pub use signer::{MintedToken, TokenClaims, TokenRequest, TokenSigner};

/// Shortest token lifetime minted, in seconds; shorter requests are raised to this.
/// A host renews a token with a third of its life left, so this leaves it several
/// seconds for the renewal's round trip.
pub const MIN_LIFETIME_S: u64 = 20;

/// Token lifetime the control plane uses when nothing else is asked for, in seconds.
pub const DEFAULT_LIFETIME_S: u64 = 300;
