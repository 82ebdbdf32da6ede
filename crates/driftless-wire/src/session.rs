//! Check-in sessions: a short-lived key an install shares with the control plane, so
//! the check-in hot path verifies an HMAC (about a microsecond) instead of an Ed25519
//! signature (about a hundred).
//!
//! 1. The install sends `POST /v1/installs/{id}/session`, signed with its Ed25519 key
//!    like every install request, carrying a fresh X25519 public key
//!    ([`SessionRequest`]).
//! 2. The control plane answers with its own fresh X25519 public key, a session id and
//!    an expiry ([`SessionResponse`]). Both sides derive the same 32-byte key with
//!    [`session_key`]; the key itself never crosses the wire, so an observer of both
//!    messages cannot compute it, and a party that swaps the server's public key only
//!    shares a key with the host that the real control plane does not accept.
//! 3. Check-ins then carry [`SESSION_HEADER`] and [`MAC_HEADER`] instead of the
//!    signature header: an HMAC-SHA256 under the session key over the same input an
//!    Ed25519 signature covers ([`crate::checkin::request_signing_input`]), with the
//!    same millisecond timestamp header. The replay rule is unchanged: a request is
//!    accepted only if its timestamp is newer than every one accepted from the install.
//! 4. A session the control plane does not know, or that expired, is refused with
//!    `401` and code [`SESSION_EXPIRED_CODE`]; the install opens a new one and retries
//!    once.

use hkdf::Hkdf;
use hmac::{Hmac, Mac as _};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use x25519_dalek::{PublicKey, StaticSecret};

use crate::checkin::request_signing_input;

/// Header naming the session a request is authenticated by.
pub const SESSION_HEADER: &str = "x-driftless-session";
/// Header carrying the base64 HMAC-SHA256 of the request under the session key.
pub const MAC_HEADER: &str = "x-driftless-mac";
/// The error code of a `401` for a session the control plane does not accept (unknown
/// or expired): open a new session and retry.
pub const SESSION_EXPIRED_CODE: &str = "session_expired";
/// The domain separator of the key derivation.
const KDF_SALT: &[u8] = b"driftless-session-v1";

/// The key both sides share for one session.
#[derive(Clone)]
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// The raw key, for storage on the side that keeps it (never for logs).
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0
    }

    /// The key from its raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        SessionKey(bytes)
    }

    /// The MAC of a request, as sent in [`MAC_HEADER`] (before base64).
    pub fn mac(&self, method: &str, path: &str, signed_at_ms: i64, body: &[u8]) -> [u8; 32] {
        let mut m = self.hmac();
        m.update(&request_signing_input(method, path, signed_at_ms, body));
        m.finalize().into_bytes().into()
    }

    /// Whether `mac` is the MAC of the request, compared in constant time.
    pub fn verify(
        &self,
        method: &str,
        path: &str,
        signed_at_ms: i64,
        body: &[u8],
        mac: &[u8],
    ) -> bool {
        let mut m = self.hmac();
        m.update(&request_signing_input(method, path, signed_at_ms, body));
        m.verify_slice(mac).is_ok()
    }

    fn hmac(&self) -> Hmac<Sha256> {
        // HMAC takes a key of any length, so this cannot fail.
        <Hmac<Sha256> as hmac::Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC accepts 32-byte keys"))
    }
}

impl std::fmt::Debug for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionKey(..)")
    }
}

/// `POST /v1/installs/{id}/session`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionRequest {
    /// Hex of the install's fresh X25519 public key.
    pub host_public: String,
}

/// The answer to [`SessionRequest`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SessionResponse {
    /// Names the session in [`SESSION_HEADER`].
    pub session_id: String,
    /// Hex of the control plane's fresh X25519 public key.
    pub server_public: String,
    /// Unix seconds after which the session is refused.
    pub expires_at: i64,
}

/// Why a handshake message cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A public key is not 32 bytes of hex.
    #[error("malformed X25519 public key in the session handshake")]
    MalformedKey,
    /// The peer's key gives an all-zero shared secret (a low-order point).
    #[error("the session handshake's public key is not acceptable")]
    WeakKey,
}

/// The install's half of a handshake: keep it until the answer arrives.
pub struct HostHandshake {
    secret: StaticSecret,
    public_hex: String,
}

impl HostHandshake {
    /// A fresh handshake with a new random X25519 key.
    pub fn new() -> Self {
        let secret = StaticSecret::random_from_rng(OsRng);
        let public_hex = hex::encode(PublicKey::from(&secret).as_bytes());
        HostHandshake { secret, public_hex }
    }

    /// The request to send.
    pub fn request(&self) -> SessionRequest {
        SessionRequest {
            host_public: self.public_hex.clone(),
        }
    }

    /// The session key, from the control plane's answer.
    pub fn finish(
        self,
        install_id: &str,
        answer: &SessionResponse,
    ) -> Result<SessionKey, SessionError> {
        let server = parse_public(&answer.server_public)?;
        let shared = self.secret.diffie_hellman(&server);
        if !shared.was_contributory() {
            return Err(SessionError::WeakKey);
        }
        Ok(session_key(
            shared.as_bytes(),
            install_id,
            &answer.session_id,
            &self.public_hex,
            &answer.server_public,
        ))
    }
}

impl Default for HostHandshake {
    fn default() -> Self {
        Self::new()
    }
}

/// The control plane's half: answers `request` for install `install_id` with session
/// `session_id`; returns its public key (hex) for the answer and the session key.
pub fn server_accept(
    install_id: &str,
    session_id: &str,
    request: &SessionRequest,
) -> Result<(String, SessionKey), SessionError> {
    let host = parse_public(&request.host_public)?;
    let secret = StaticSecret::random_from_rng(OsRng);
    let server_public = hex::encode(PublicKey::from(&secret).as_bytes());
    let shared = secret.diffie_hellman(&host);
    if !shared.was_contributory() {
        return Err(SessionError::WeakKey);
    }
    let key = session_key(
        shared.as_bytes(),
        install_id,
        session_id,
        &request.host_public,
        &server_public,
    );
    Ok((server_public, key))
}

/// HKDF-SHA256 of the shared secret, bound to the install, the session and both
/// public keys.
pub fn session_key(
    shared: &[u8; 32],
    install_id: &str,
    session_id: &str,
    host_public_hex: &str,
    server_public_hex: &str,
) -> SessionKey {
    let info = format!("{install_id}\n{session_id}\n{host_public_hex}\n{server_public_hex}");
    let mut out = [0u8; 32];
    // 32 bytes is far below HKDF-SHA256's limit of 255 * 32, so expand cannot fail.
    Hkdf::<Sha256>::new(Some(KDF_SALT), shared)
        .expand(info.as_bytes(), &mut out)
        .unwrap_or_else(|_| unreachable!("32 bytes is a valid HKDF-SHA256 length"));
    SessionKey(out)
}

fn parse_public(hex_key: &str) -> Result<PublicKey, SessionError> {
    let bytes: [u8; 32] = hex::decode(hex_key)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(SessionError::MalformedKey)?;
    Ok(PublicKey::from(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn handshake() -> (SessionKey, SessionKey) {
        let host = HostHandshake::new();
        let (server_public, server_key) = server_accept("i-1", "s-1", &host.request()).unwrap();
        let answer = SessionResponse {
            session_id: "s-1".into(),
            server_public,
            expires_at: 0,
        };
        (host.finish("i-1", &answer).unwrap(), server_key)
    }

    #[test]
    fn both_sides_derive_the_same_key() {
        let (host, server) = handshake();
        assert_eq!(host.to_bytes(), server.to_bytes());
        let mac = host.mac("POST", "/v1/installs/i-1/checkin", 1_700_000_000_000, b"{}");
        assert!(server.verify(
            "POST",
            "/v1/installs/i-1/checkin",
            1_700_000_000_000,
            b"{}",
            &mac
        ));
    }

    #[test]
    fn the_mac_covers_method_path_time_and_body() {
        let (host, server) = handshake();
        let mac = host.mac("POST", "/v1/installs/i-1/checkin", 1_700_000_000_000, b"{}");
        let p = "/v1/installs/i-1/checkin";
        assert!(!server.verify("GET", p, 1_700_000_000_000, b"{}", &mac));
        assert!(!server.verify(
            "POST",
            "/v1/installs/i-2/checkin",
            1_700_000_000_000,
            b"{}",
            &mac
        ));
        assert!(!server.verify("POST", p, 1_700_000_000_001, b"{}", &mac));
        assert!(!server.verify("POST", p, 1_700_000_000_000, b"{ }", &mac));
        assert!(!server.verify("POST", p, 1_700_000_000_000, b"{}", &mac[..31]));
    }

    #[test]
    fn a_swapped_server_key_gives_another_key() {
        let host = HostHandshake::new();
        let (_, server_key) = server_accept("i-1", "s-1", &host.request()).unwrap();
        let attacker = HostHandshake::new();
        let answer = SessionResponse {
            session_id: "s-1".into(),
            server_public: attacker.public_hex.clone(),
            expires_at: 0,
        };
        let host_key = host.finish("i-1", &answer).unwrap();
        assert_ne!(host_key.to_bytes(), server_key.to_bytes());
    }

    #[test]
    fn keys_are_bound_to_the_install_and_session() {
        let shared = [7u8; 32];
        let a = session_key(&shared, "i-1", "s-1", "aa", "bb");
        assert_ne!(
            a.to_bytes(),
            session_key(&shared, "i-2", "s-1", "aa", "bb").to_bytes()
        );
        assert_ne!(
            a.to_bytes(),
            session_key(&shared, "i-1", "s-2", "aa", "bb").to_bytes()
        );
    }

    #[test]
    fn malformed_and_low_order_keys_are_refused() {
        let bad = SessionRequest {
            host_public: "zz".into(),
        };
        assert!(matches!(
            server_accept("i-1", "s-1", &bad),
            Err(SessionError::MalformedKey)
        ));
        let zero = SessionRequest {
            host_public: "00".repeat(32),
        };
        assert!(matches!(
            server_accept("i-1", "s-1", &zero),
            Err(SessionError::WeakKey)
        ));
    }
}
