//! The check-in session: a key this host shares with the control plane for a day, so
//! its check-ins are MACed (about a microsecond for the control plane) rather than
//! signed (about a hundred). Kept in `session.json` in the state directory (mode 0600;
//! the key is never printed or logged). Opened when there is none or it expires within
//! [`RENEW_BEFORE_S`]; when the control plane says it no longer knows it, opened again
//! and the check-in retried once. A control plane without sessions gets signed
//! check-ins, and is asked again a day later.

use anyhow::Result;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_client::{CheckinAuth, CheckinOutcome, ClientError, InstallClient};
use driftless_wire::checkin::CheckinRequest;
use driftless_wire::session::{HostHandshake, SessionKey, SESSION_EXPIRED_CODE};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::files::write_atomic;
use crate::request_clock::next_request_ms;
use crate::state::StateDir;

/// A session expiring sooner than this is replaced before use.
pub const RENEW_BEFORE_S: i64 = 300;
/// How long a control plane without sessions is not asked again.
const UNSUPPORTED_RETRY_S: i64 = 86_400;

/// `session.json`.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
enum SessionFile {
    /// A live session.
    Open {
        session_id: String,
        /// Base64 of the key.
        key: String,
        expires_at: i64,
    },
    /// The control plane has no sessions; check-ins are signed until then.
    Unsupported { ask_again_at: i64 },
}

fn path(dir: &StateDir) -> PathBuf {
    dir.root().join("session.json")
}

fn load(dir: &StateDir) -> Option<SessionFile> {
    // Unreadable or malformed: as if absent, a new session is opened.
    std::fs::read(path(dir))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
}

fn save(dir: &StateDir, file: &SessionFile) -> Result<()> {
    write_atomic(&path(dir), &serde_json::to_vec(file)?, true)
}

/// What the next check-in is authenticated with.
enum Auth {
    Session { id: String, key: SessionKey },
    Signed,
}

/// The session to use now: the stored one while it has more than [`RENEW_BEFORE_S`]
/// left, else a new one (or signing, against a control plane without sessions).
async fn current(
    dir: &StateDir,
    client: &InstallClient,
    install_id: &str,
    key: &SigningKey,
    now: i64,
) -> Result<Auth> {
    match load(dir) {
        Some(SessionFile::Open {
            session_id,
            key: k,
            expires_at,
        }) if expires_at - now > RENEW_BEFORE_S => {
            if let Some(bytes) = B64
                .decode(k)
                .ok()
                .and_then(|b| <[u8; 32]>::try_from(b).ok())
            {
                return Ok(Auth::Session {
                    id: session_id,
                    key: SessionKey::from_bytes(bytes),
                });
            }
        }
        Some(SessionFile::Unsupported { ask_again_at }) if ask_again_at > now => {
            return Ok(Auth::Signed)
        }
        _ => {}
    }
    open(dir, client, install_id, key, now).await
}

/// Opens a new session and stores it.
async fn open(
    dir: &StateDir,
    client: &InstallClient,
    install_id: &str,
    key: &SigningKey,
    now: i64,
) -> Result<Auth> {
    let handshake = HostHandshake::new();
    let signed_at_ms = next_request_ms(dir)?;
    let Some(answer) = client
        .open_session(install_id, key, &handshake.request(), signed_at_ms)
        .await?
    else {
        save(
            dir,
            &SessionFile::Unsupported {
                ask_again_at: now + UNSUPPORTED_RETRY_S,
            },
        )?;
        return Ok(Auth::Signed);
    };
    let session_key = handshake.finish(install_id, &answer)?;
    save(
        dir,
        &SessionFile::Open {
            session_id: answer.session_id.clone(),
            key: B64.encode(session_key.to_bytes()),
            expires_at: answer.expires_at,
        },
    )?;
    Ok(Auth::Session {
        id: answer.session_id,
        key: session_key,
    })
}

/// One check-in, MACed with the session (opened as needed) or signed; on
/// `session_expired`, a new session and one retry.
pub async fn checkin(
    dir: &StateDir,
    client: &InstallClient,
    install_id: &str,
    key: &SigningKey,
    req: &CheckinRequest,
    etag: Option<&str>,
    now: i64,
) -> Result<CheckinOutcome> {
    let auth = current(dir, client, install_id, key, now).await?;
    let signed_at_ms = next_request_ms(dir)?;
    match send(client, install_id, key, &auth, req, etag, signed_at_ms).await {
        Err(ClientError::Api { code, .. }) if code == SESSION_EXPIRED_CODE => {
            let auth = open(dir, client, install_id, key, now).await?;
            let signed_at_ms = next_request_ms(dir)?;
            Ok(send(client, install_id, key, &auth, req, etag, signed_at_ms).await?)
        }
        other => Ok(other?),
    }
}

async fn send(
    client: &InstallClient,
    install_id: &str,
    key: &SigningKey,
    auth: &Auth,
    req: &CheckinRequest,
    etag: Option<&str>,
    signed_at_ms: i64,
) -> Result<CheckinOutcome, ClientError> {
    let auth = match auth {
        Auth::Session { id, key } => CheckinAuth::Session { id, key },
        Auth::Signed => CheckinAuth::Signed(key),
    };
    client
        .checkin_with(install_id, auth, req, etag, signed_at_ms)
        .await
}
