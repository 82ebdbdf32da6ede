//! What the registry's access log says clients sent it: which blobs were uploaded and
//! which were mounted from another repository, so a test can measure what a publish
//! really uploaded (the registry's storage cannot tell: it keeps a blob once however
//! often it is uploaded).

use anyhow::Context as _;
use reqwest::Url;

use crate::registry::Registry;

/// One blob that reached a repository.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BlobArrival {
    /// The repository it reached, e.g. `acme/r2/web`.
    pub repository: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Where it was mounted from; `None` when it was uploaded.
    pub mounted_from: Option<String>,
}

impl Registry {
    /// The length of the registry's log now: pass it to [`Registry::blobs_since`].
    pub fn log_len(&self) -> anyhow::Result<u64> {
        let path = self.log_path();
        Ok(std::fs::metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .len())
    }

    /// Every blob uploaded (a completed upload, `PUT …/blobs/uploads/…?digest=`, 201)
    /// or mounted (`POST …/blobs/uploads/?mount=…&from=…`, 201) since log offset `from`.
    pub fn blobs_since(&self, from: u64) -> anyhow::Result<Vec<BlobArrival>> {
        let path = self.log_path();
        let log =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(log.len());
        Ok(String::from_utf8_lossy(&log[start..])
            .lines()
            .filter_map(blob_arrival)
            .collect())
    }

    /// The size of the blob `digest` in the registry's storage.
    pub fn blob_size(&self, digest: &str) -> anyhow::Result<u64> {
        let path = self.blob_path(digest)?;
        Ok(std::fs::metadata(&path)
            .with_context(|| format!("blob {digest} is not in the registry ({})", path.display()))?
            .len())
    }
}

/// The blob a combined-format access log line reports as arrived, if it does:
/// `… "PUT /v2/<repo>/blobs/uploads/<id>?…&digest=sha256%3A… HTTP/1.1" 201 …`.
fn blob_arrival(line: &str) -> Option<BlobArrival> {
    let (_, request) = line.split_once('"')?;
    let (request, rest) = request.split_once('"')?;
    if rest.split_whitespace().next()? != "201" {
        return None;
    }
    let mut parts = request.split_whitespace();
    let method = parts.next()?;
    let uri = Url::parse(&format!("http://registry{}", parts.next()?)).ok()?;
    let (repository, _) = uri
        .path()
        .strip_prefix("/v2/")?
        .split_once("/blobs/uploads/")?;
    let param = |name: &str| {
        uri.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
    };
    let (digest, mounted_from) = match method {
        "PUT" => (param("digest")?, None),
        "POST" => (param("mount")?, Some(param("from")?)),
        _ => return None,
    };
    Some(BlobArrival {
        repository: repository.to_string(),
        digest,
        mounted_from,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_uploads_and_mounts_and_ignores_the_rest() {
        let upload = r#"127.0.0.1 - - [02/Dec/2026:12:20:14 +0000] "PUT /v2/demo/r1/web/blobs/uploads/7996?_state=x%3D&digest=sha256%3Ac1cf HTTP/1.1" 201 0 "" "docker/20.10""#;
        let mount = r#"127.0.0.1 - - [02/Dec/2026:12:20:28 +0000] "POST /v2/demo/r2/api/blobs/uploads/?from=demo%2Fr2%2Fweb&mount=sha256%3Ac1cf HTTP/1.1" 201 0 "" "docker/20.10""#;
        assert_eq!(
            blob_arrival(upload),
            Some(BlobArrival {
                repository: "demo/r1/web".into(),
                digest: "sha256:c1cf".into(),
                mounted_from: None,
            })
        );
        assert_eq!(
            blob_arrival(mount),
            Some(BlobArrival {
                repository: "demo/r2/api".into(),
                digest: "sha256:c1cf".into(),
                mounted_from: Some("demo/r2/web".into()),
            })
        );
        for other in [
            // A mount the registry declined by opening an ordinary upload.
            r#"x - - [t] "POST /v2/a/r2/web/blobs/uploads/?from=a%2Fr1%2Fweb&mount=sha256%3Aab HTTP/1.1" 202 0 "" "d""#,
            r#"x - - [t] "POST /v2/a/r2/web/blobs/uploads/?from=a%2Fr1%2Fweb&mount=sha256%3Aab HTTP/1.1" 401 0 "" "d""#,
            r#"x - - [t] "PATCH /v2/a/r1/web/blobs/uploads/7996?_state=x HTTP/1.1" 202 0 "" "d""#,
            r#"x - - [t] "PUT /v2/a/r1/web/manifests/1.0.0 HTTP/1.1" 201 0 "" "d""#,
            r#"time="2026" level=info msg="response completed" http.request.method=PUT"#,
        ] {
            assert_eq!(blob_arrival(other), None, "{other}");
        }
    }
}
