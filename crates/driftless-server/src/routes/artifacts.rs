//! The artifact store: CLI binaries the vendor uploads (`PUT`, operator token) and
//! installs download for self-update (`GET`, signed by the install's key). Each
//! artifact is stored under its sha256: in the database (`artifacts_in_database`, what
//! `serve` uses, so every replica serves every upload) or as one file named by the hex
//! of its sha256 under the artifacts directory. The control plane checks the digest on
//! upload, and the install checks it again against the release key-signed release
//! document, so a tampered file is refused.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftless_store::AuditedChange;
use driftless_wire::api::{ArtifactInfo, MAX_ARTIFACT_BYTES};
use driftless_wire::checkin::INSTALL_HEADER;
use driftless_wire::Digest;
use futures_util::StreamExt as _;
use sha2::{Digest as _, Sha256};
use std::path::{Path as FsPath, PathBuf};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::audit;
use crate::auth::{authenticate_install, SignedRequest};
use crate::error::ApiError;
use crate::state::AppState;

/// Bytes read from disk per chunk of a download.
const CHUNK_BYTES: usize = 64 * 1024;

fn parse_digest(text: &str) -> Result<Digest, ApiError> {
    text.parse::<Digest>()
        .map_err(|e| ApiError::bad_request(e.to_string()))
}

fn artifacts_dir(state: &AppState) -> Result<&FsPath, ApiError> {
    state.config.artifacts_dir.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "no_artifact_store",
            "this control plane stores no artifacts",
        )
        .with_hint("run it with `driftless-vendor serve`")
    })
}

/// `PUT /v1/artifacts/{digest}`: stores the body if it hashes to `digest`; idempotent.
pub async fn upload(
    State(state): State<AppState>,
    Path(digest): Path<String>,
    body: Body,
) -> Result<(StatusCode, Json<ArtifactInfo>), ApiError> {
    let digest = parse_digest(&digest)?;
    if state.config.artifacts_in_database {
        return upload_to_store(&state, digest, body).await;
    }
    let dir = artifacts_dir(&state)?;
    let tmp = dir.join(format!(".upload-{}", uuid::Uuid::new_v4().simple()));
    let stored = receive(body, &tmp).await;
    let (actual, size) = match stored {
        Ok(v) => v,
        Err(e) => {
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
    };
    if actual != digest {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(ApiError::bad_request(format!(
            "the uploaded bytes hash to {actual}, not {digest}; nothing was stored"
        )));
    }
    let path = dir.join(digest.hex());
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(|e| ApiError::internal(format!("rename into {}: {e}", path.display())))?;
    sync_dir(dir).await?;
    // A file cannot join the database's transaction: the entry follows the rename, and
    // an upload whose entry failed is answered as failed (uploading again is harmless).
    let detail = serde_json::json!({ "size": size });
    audit::record(&state, "artifact.upload", digest.as_str(), detail).await?;
    Ok(stored_answer(&digest, size))
}

/// Answers `201` with a stored upload's digest and size.
fn stored_answer(digest: &Digest, size: u64) -> (StatusCode, Json<ArtifactInfo>) {
    tracing::info!(%digest, size, "artifact stored");
    (
        StatusCode::CREATED,
        Json(ArtifactInfo {
            digest: digest.to_string(),
            size,
        }),
    )
}

/// Receives the body whole (at most [`MAX_ARTIFACT_BYTES`]) and stores it in the
/// database if it hashes to `digest`.
async fn upload_to_store(
    state: &AppState,
    digest: Digest,
    body: Body,
) -> Result<(StatusCode, Json<ArtifactInfo>), ApiError> {
    let mut bytes = Vec::new();
    let mut hasher = Sha256::new();
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| upload_failed(bytes.len() as u64, &e))?;
        if (bytes.len() + chunk.len()) as u64 > MAX_ARTIFACT_BYTES {
            return Err(too_large());
        }
        hasher.update(&chunk);
        bytes.extend_from_slice(&chunk);
    }
    let actual = sha256_digest(hasher)?;
    if actual != digest {
        return Err(ApiError::bad_request(format!(
            "the uploaded bytes hash to {actual}, not {digest}; nothing was stored"
        )));
    }
    let size = bytes.len() as u64;
    let change = AuditedChange::PutArtifact {
        digest: digest.to_string(),
        bytes,
        now: crate::now(),
    };
    let detail = serde_json::json!({ "size": size });
    audit::apply(state, change, "artifact.upload", digest.as_str(), detail).await?;
    Ok(stored_answer(&digest, size))
}

fn upload_failed(size: u64, e: &dyn std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "upload_failed",
        format!("upload failed after {size} bytes ({e})"),
    )
    .with_hint(format!("artifacts are at most {MAX_ARTIFACT_BYTES} bytes"))
}

fn too_large() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too_large",
        format!("artifacts are at most {MAX_ARTIFACT_BYTES} bytes"),
    )
}

fn sha256_digest(hasher: Sha256) -> Result<Digest, ApiError> {
    format!("sha256:{}", hex::encode(hasher.finalize()))
        .parse::<Digest>()
        .map_err(ApiError::internal)
}

/// Streams `body` into a new file at `tmp` (fsynced), returning its digest and size.
async fn receive(body: Body, tmp: &FsPath) -> Result<(Digest, u64), ApiError> {
    let mut file = tokio::fs::File::create(tmp)
        .await
        .map_err(|e| ApiError::internal(format!("create {}: {e}", tmp.display())))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut stream = body.into_data_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| upload_failed(size, &e))?;
        size += chunk.len() as u64;
        if size > MAX_ARTIFACT_BYTES {
            return Err(too_large());
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| ApiError::internal(format!("write {}: {e}", tmp.display())))?;
    }
    file.sync_all()
        .await
        .map_err(|e| ApiError::internal(format!("fsync {}: {e}", tmp.display())))?;
    Ok((sha256_digest(hasher)?, size))
}

async fn sync_dir(dir: &FsPath) -> Result<(), ApiError> {
    let d = tokio::fs::File::open(dir)
        .await
        .map_err(|e| ApiError::internal(format!("open {}: {e}", dir.display())))?;
    d.sync_all()
        .await
        .map_err(|e| ApiError::internal(format!("fsync {}: {e}", dir.display())))
}

/// `GET /v1/artifacts/{digest}`: the artifact, for an install that signs the request
/// (method, path, timestamp, empty body) and names itself in `x-driftless-install`.
pub async fn download(
    State(state): State<AppState>,
    Path(digest_text): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    authorize_download(&state, &headers, &digest_text).await?;
    let digest = parse_digest(&digest_text)?;
    if state.config.artifacts_in_database {
        let Some(bytes) = state.store.get_artifact(digest.as_str()).await? else {
            return Err(unknown_artifact(&digest));
        };
        let len = bytes.len() as u64;
        return Ok(octet_stream(Body::from(bytes), len));
    }
    let file_path: PathBuf = artifacts_dir(&state)?.join(digest.hex());
    let file = match tokio::fs::File::open(&file_path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(unknown_artifact(&digest));
        }
        Err(e) => {
            let why = format!("open {}: {e}", file_path.display());
            return Err(ApiError::internal(why));
        }
    };
    let len = file
        .metadata()
        .await
        .map_err(|e| ApiError::internal(format!("stat {}: {e}", file_path.display())))?
        .len();
    Ok(octet_stream(file_body(file), len))
}

fn unknown_artifact(digest: &Digest) -> ApiError {
    let why = format!("this control plane holds no artifact {digest}");
    ApiError::not_found("unknown_artifact", why).with_hint("the vendor must publish it again")
}

/// A `200` of `len` bytes of `application/octet-stream`.
fn octet_stream(body: Body, len: u64) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    resp
}

/// Requires a download request signed by a known install that is not revoked, and
/// not a replay of one already served.
async fn authorize_download(
    state: &AppState,
    headers: &HeaderMap,
    digest_text: &str,
) -> Result<(), ApiError> {
    let id = headers
        .get(INSTALL_HEADER)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::unauthorized(format!("missing {INSTALL_HEADER} header")))?;
    let path = format!("/v1/artifacts/{digest_text}");
    let signed = SignedRequest {
        method: "GET",
        path: &path,
        body: b"",
    };
    authenticate_install(state, id, headers, signed).await?;
    Ok(())
}

/// A body that streams `file` in chunks rather than reading it whole.
fn file_body(file: tokio::fs::File) -> Body {
    // The state is `None` after a read error, so the stream ends instead of retrying.
    let stream = futures_util::stream::unfold(Some(file), |state| async move {
        let mut file = state?;
        let mut buf = vec![0u8; CHUNK_BYTES];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok::<Bytes, std::io::Error>(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    });
    Body::from_stream(stream)
}

/// The stored artifact `digest` (an SBOM the gate reads), `None` when not stored.
/// Bytes that do not hash to their digest are refused, never judged: a swapped copy
/// must not carry a release past a gate.
pub(crate) async fn read(state: &AppState, digest: &Digest) -> Result<Option<Vec<u8>>, ApiError> {
    let bytes = if state.config.artifacts_in_database {
        state.store.get_artifact(digest.as_str()).await?
    } else {
        let path = artifacts_dir(state)?.join(digest.hex());
        match tokio::fs::read(&path).await {
            Ok(bytes) => Some(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(ApiError::internal(format!("read {}: {e}", path.display()))),
        }
    };
    match bytes {
        Some(b) if Digest::of(&b) != *digest => {
            tracing::error!(%digest, "a stored artifact does not hash to its digest");
            Err(ApiError::conflict(
                "artifact_corrupt",
                format!("the stored copy of {digest} does not hash to it; nothing was changed"),
            )
            .with_hint("upload the artifact again (publish does) and find out who changed it"))
        }
        other => Ok(other),
    }
}
