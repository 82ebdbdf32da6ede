//! The registry client: blobs and manifests over the distribution HTTP API.

use crate::limits::ERROR_BODY_CAP_BYTES;
use crate::OciError;
use driftless_wire::Digest;
use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, AUTHORIZATION, CONTENT_TYPE, LOCATION};
use reqwest::{RequestBuilder, Response, StatusCode, Url};
use std::time::Duration;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// No single read may stall longer than this; a whole transfer may take as long as it needs.
const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Manifest types this client asks for when fetching by digest.
const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
    application/vnd.oci.image.index.v1+json, \
    application/vnd.docker.distribution.manifest.v2+json, \
    application/vnd.docker.distribution.manifest.list.v2+json";

/// A client for one registry, authenticating every request with one bearer token.
#[derive(Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    host: String,
    base: Url,
}

impl std::fmt::Debug for RegistryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The token lives in the HTTP client's default headers and is never printed.
        f.debug_struct("RegistryClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

impl RegistryClient {
    /// A client for `host` (`host:port`), over http when `insecure`, sending `token` as Bearer.
    pub fn new(host: &str, insecure: bool, token: &str) -> Result<Self, OciError> {
        let scheme = if insecure { "http" } else { "https" };
        let setup = |reason: String| OciError::Protocol {
            what: format!("setting up a registry client for {host}"),
            reason,
            hint: None,
        };
        let base = Url::parse(&format!("{scheme}://{host}/"))
            .ok()
            .filter(|u| u.path() == "/" && u.query().is_none() && !host.is_empty())
            .ok_or_else(|| setup("the host is not a valid `host:port`".into()))?;
        let mut auth = HeaderValue::from_str(&format!("Bearer {token}")).map_err(|_| {
            setup("the registry token contains characters not allowed in an HTTP header".into())
        })?;
        auth.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, auth);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(READ_TIMEOUT)
            .user_agent(concat!("driftless/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| setup(e.to_string()))?;
        Ok(RegistryClient {
            http,
            host: host.to_string(),
            base,
        })
    }

    /// The `host:port` this client talks to.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// Whether the blob `digest` is in `repo`.
    pub async fn blob_exists(&self, repo: &str, digest: &Digest) -> Result<bool, OciError> {
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let resp = self.send(self.http.head(url.clone())).await?;
        match resp.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self
                .failure(resp, &url, &format!("blob {digest} in {repo}"))
                .await),
        }
    }

    /// Uploads `bytes` as a blob of `repo` unless it is already there; returns its digest.
    pub async fn push_blob(&self, repo: &str, bytes: &[u8]) -> Result<Digest, OciError> {
        let digest = Digest::of(bytes);
        if self.blob_exists(repo, &digest).await? {
            return Ok(digest);
        }
        let what = format!("blob {digest} in {repo}");
        let start = self.url(repo, "blobs/uploads/")?;
        let resp = self.send(self.http.post(start.clone())).await?;
        let resp = self
            .require_status(resp, &start, &what, StatusCode::ACCEPTED)
            .await?;
        let mut upload = self.upload_location(&resp, &start, &what)?;
        upload
            .query_pairs_mut()
            .append_pair("digest", digest.as_str());
        let put = self
            .http
            .put(upload.clone())
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(bytes.to_vec());
        let resp = self.send(put).await?;
        let resp = self
            .require_status(resp, &upload, &what, StatusCode::CREATED)
            .await?;
        check_reported_digest(&resp, &digest, &what)?;
        Ok(digest)
    }

    /// Makes the blob `digest` of `from` a blob of `repo` too, without uploading it again
    /// (cross-repository mount). The token must grant push on `repo` and pull on `from`.
    ///
    /// Returns `false` when the registry does not hold the blob in `from`; the caller then
    /// uploads it with [`RegistryClient::push_blob`].
    pub async fn mount_blob(
        &self,
        repo: &str,
        from: &str,
        digest: &Digest,
    ) -> Result<bool, OciError> {
        check_repository(from)?;
        let what = format!("blob {digest} mounted from {from} into {repo}");
        let mut url = self.url(repo, "blobs/uploads/")?;
        url.query_pairs_mut()
            .append_pair("mount", digest.as_str())
            .append_pair("from", from);
        let resp = self.send(self.http.post(url.clone())).await?;
        match resp.status() {
            StatusCode::CREATED => {
                check_reported_digest(&resp, digest, &what)?;
                Ok(true)
            }
            // Distribution answers a mount it cannot do by opening an ordinary upload. It is
            // left for the registry's upload purging: cancelling it needs the `delete` action,
            // which publish tokens do not grant.
            StatusCode::ACCEPTED => Ok(false),
            _ => Err(self.failure(resp, &url, &what).await),
        }
    }

    /// Uploads a manifest of `media_type` under `reference` (a tag or digest); returns its digest.
    pub async fn push_manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        bytes: &[u8],
    ) -> Result<Digest, OciError> {
        let digest = Digest::of(bytes);
        check_reference(reference, repo)?;
        let what = format!("manifest {repo}:{reference}");
        let url = self.url(repo, &format!("manifests/{reference}"))?;
        let put = self
            .http
            .put(url.clone())
            .header(CONTENT_TYPE, media_type)
            .body(bytes.to_vec());
        let resp = self.send(put).await?;
        let resp = self
            .require_status(resp, &url, &what, StatusCode::CREATED)
            .await?;
        check_reported_digest(&resp, &digest, &what)?;
        Ok(digest)
    }

    /// Fetches the manifest `digest` of `repo`, at most `max_bytes`, checked against the digest.
    ///
    /// Returns the media type the registry reports (parameters dropped) and the bytes.
    pub async fn fetch_manifest(
        &self,
        repo: &str,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<(String, Vec<u8>), OciError> {
        let what = format!("manifest {digest} of {repo}");
        let url = self.url(repo, &format!("manifests/{digest}"))?;
        let get = self.http.get(url.clone()).header(ACCEPT, MANIFEST_ACCEPT);
        let resp = self.send(get).await?;
        let resp = self
            .require_status(resp, &url, &what, StatusCode::OK)
            .await?;
        let media_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_string())
            .unwrap_or_default();
        let bytes = self.read_capped(resp, max_bytes, &what).await?;
        verify(digest, &bytes, &what)?;
        Ok((media_type, bytes))
    }

    /// Fetches the blob `digest` of `repo`, stopping past `max_bytes`, checked against the digest.
    pub async fn fetch_blob(
        &self,
        repo: &str,
        digest: &Digest,
        max_bytes: u64,
    ) -> Result<Vec<u8>, OciError> {
        let what = format!("blob {digest} of {repo}");
        let url = self.url(repo, &format!("blobs/{digest}"))?;
        let resp = self.send(self.http.get(url.clone())).await?;
        let resp = self
            .require_status(resp, &url, &what, StatusCode::OK)
            .await?;
        let bytes = self.read_capped(resp, max_bytes, &what).await?;
        verify(digest, &bytes, &what)?;
        Ok(bytes)
    }

    /// `/v2/<repo>/<rest>` on this registry.
    fn url(&self, repo: &str, rest: &str) -> Result<Url, OciError> {
        check_repository(repo)?;
        self.base
            .join(&format!("v2/{repo}/{rest}"))
            .map_err(|e| OciError::Protocol {
                what: format!("building a registry URL for {repo}"),
                reason: e.to_string(),
                hint: None,
            })
    }

    async fn send(&self, req: RequestBuilder) -> Result<Response, OciError> {
        req.send().await.map_err(|e| self.unreachable(&e))
    }

    fn unreachable(&self, e: &reqwest::Error) -> OciError {
        OciError::Unreachable {
            host: self.host.clone(),
            reason: root_cause(e),
        }
    }

    /// Passes `resp` on if it has status `want`, else explains the failure.
    async fn require_status(
        &self,
        resp: Response,
        url: &Url,
        what: &str,
        want: StatusCode,
    ) -> Result<Response, OciError> {
        if resp.status() == want {
            Ok(resp)
        } else {
            Err(self.failure(resp, url, what).await)
        }
    }

    async fn failure(&self, resp: Response, url: &Url, what: &str) -> OciError {
        let status = resp.status();
        match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => OciError::Unauthorized {
                url: display_url(url),
                status: status.as_u16(),
            },
            StatusCode::NOT_FOUND => OciError::NotFound {
                what: what.to_string(),
            },
            _ => {
                let body = self
                    .read_capped(resp, ERROR_BODY_CAP_BYTES, what)
                    .await
                    .unwrap_or_default();
                OciError::Protocol {
                    what: what.to_string(),
                    reason: format!(
                        "the registry answered HTTP {status}{}",
                        registry_error_text(&body)
                    ),
                    hint: Some("check the registry's log"),
                }
            }
        }
    }

    fn upload_location(&self, resp: &Response, start: &Url, what: &str) -> Result<Url, OciError> {
        let protocol = |reason: &str| OciError::Protocol {
            what: format!("starting the upload of {what}"),
            reason: reason.to_string(),
            hint: None,
        };
        let location = resp
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| protocol("the registry sent no upload Location"))?;
        // Location may be absolute or relative to the request.
        start
            .join(location)
            .map_err(|_| protocol("the registry sent an unusable upload Location"))
    }

    /// Reads the body, failing as soon as it passes `cap` bytes.
    async fn read_capped(
        &self,
        mut resp: Response,
        cap: u64,
        what: &str,
    ) -> Result<Vec<u8>, OciError> {
        let too_large = || OciError::TooLarge {
            what: what.to_string(),
            cap,
        };
        if resp.content_length().is_some_and(|len| len > cap) {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.unreachable(&e))? {
            if body.len() as u64 + chunk.len() as u64 > cap {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body)
    }
}

fn verify(expected: &Digest, bytes: &[u8], what: &str) -> Result<(), OciError> {
    let actual = Digest::of(bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(OciError::DigestMismatch {
            what: what.to_string(),
            expected: expected.clone(),
            actual,
        })
    }
}

/// A registry that stores content under another digest than ours would serve it wrongly later.
fn check_reported_digest(resp: &Response, ours: &Digest, what: &str) -> Result<(), OciError> {
    let Some(reported) = resp
        .headers()
        .get("docker-content-digest")
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    match reported.parse::<Digest>() {
        Ok(theirs) if &theirs == ours => Ok(()),
        Ok(theirs) => Err(OciError::DigestMismatch {
            what: format!("{what} as stored by the registry"),
            expected: ours.clone(),
            actual: theirs,
        }),
        Err(_) => Err(OciError::Protocol {
            what: what.to_string(),
            reason: format!("the registry reported digest `{reported}`, which is not sha256"),
            hint: None,
        }),
    }
}

/// Refuses characters that would change the URL's meaning; the registry checks the grammar.
fn check_repository(repo: &str) -> Result<(), OciError> {
    let ok = !repo.is_empty()
        && !repo.starts_with('/')
        && !repo.ends_with('/')
        && !repo.contains("//")
        && !repo.split('/').any(|c| c == "." || c == "..")
        && repo
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(OciError::Protocol {
            what: format!("repository name `{repo}`"),
            reason: "not a valid repository name".to_string(),
            hint: Some(
                "use lowercase letters and digits separated by `.`, `_`, `__` or `-`, \
                 components joined by `/`",
            ),
        })
    }
}

/// A tag (`[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`) or a digest.
fn check_reference(reference: &str, repo: &str) -> Result<(), OciError> {
    let is_tag = reference.len() <= 128
        && reference
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        && reference
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if is_tag || reference.parse::<Digest>().is_ok() {
        Ok(())
    } else {
        Err(OciError::Protocol {
            what: format!("manifest reference `{reference}` for {repo}"),
            reason: "not a valid tag or digest".to_string(),
            hint: Some(
                "write a digest, or a tag of up to 128 letters, digits, `_`, `.` or `-`, \
                 not starting with `.` or `-`",
            ),
        })
    }
}

/// The URL without its query, which for uploads carries long opaque state.
fn display_url(url: &Url) -> String {
    let mut shown = url.clone();
    shown.set_query(None);
    shown.to_string()
}

/// `: CODE: message` from a distribution error body, or nothing.
fn registry_error_text(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let first = parsed
        .as_ref()
        .and_then(|v| v.get("errors")?.get(0).cloned());
    match first {
        Some(e) => format!(
            " ({}: {})",
            e.get("code").and_then(|c| c.as_str()).unwrap_or("?"),
            e.get("message").and_then(|m| m.as_str()).unwrap_or("")
        ),
        None => String::new(),
    }
}

/// The innermost cause, e.g. "Connection refused (os error 111)", without reqwest's URL framing.
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn repository_names_that_would_bend_the_url_are_refused() {
        for bad in ["", "/a", "a/", "a//b", "a/../b", "a?b", "a#b", "A/b", "a b"] {
            assert!(check_repository(bad).is_err(), "{bad:?}");
        }
        assert!(check_repository("acme/compose").is_ok());
    }

    #[test]
    fn references_are_tags_or_digests() {
        assert!(check_reference("v1.2.3", "r").is_ok());
        assert!(check_reference(Digest::of(b"x").as_str(), "r").is_ok());
        for bad in ["", ".x", "-x", "a/b", "a:b", &"a".repeat(129)] {
            assert!(check_reference(bad, "r").is_err(), "{bad:?}");
        }
    }

    #[test]
    fn token_is_not_in_debug_output() {
        let c = RegistryClient::new("127.0.0.1:5000", true, "secret-token-value").unwrap();
        assert!(!format!("{c:?}").contains("secret-token-value"));
    }

    #[test]
    fn bad_host_or_token_is_refused_without_echoing_the_token() {
        let e = RegistryClient::new("127.0.0.1:5000", true, "bad\ntoken").unwrap_err();
        assert!(!e.to_string().contains("bad\ntoken"));
        assert!(RegistryClient::new("", true, "t").is_err());
        assert!(RegistryClient::new("host/path", true, "t").is_err());
    }
}
