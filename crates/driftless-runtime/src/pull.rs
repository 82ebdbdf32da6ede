//! Pulling an image by digest with a per-request registry token.

use bollard::auth::DockerCredentials;
use bollard::image::CreateImageOptions;
use bollard::models::CreateImageInfo;
use bollard::Docker;
use futures_util::StreamExt;

use crate::{PullProgress, RuntimeError};

/// Pulls `image`, reporting each stream update to `progress`.
pub(crate) async fn pull(
    docker: &Docker,
    image: &str,
    registry_host: &str,
    token: &str,
    progress: &(dyn Fn(PullProgress) + Send + Sync),
) -> Result<(), RuntimeError> {
    let (name, tag) = split_reference(image);
    let options = CreateImageOptions {
        from_image: name,
        tag,
        ..Default::default()
    };
    // The token travels in this request's X-Registry-Auth header only: nothing is
    // written to the engine's or the user's config.
    let credentials = DockerCredentials {
        registrytoken: Some(token.to_owned()),
        serveraddress: Some(registry_host.to_owned()),
        ..Default::default()
    };
    let mut stream = docker.create_image(Some(options), None, Some(credentials));
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => progress(to_progress(info)),
            Err(err) => return Err(pull_error(image, token, err)),
        }
    }
    Ok(())
}

/// Splits a reference into the `fromImage` and `tag` query values, as the docker CLI
/// does: a digest goes in `tag`, and a bare name means `latest` (never "all tags").
pub(crate) fn split_reference(image: &str) -> (&str, &str) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name, digest);
    }
    let last_slash = image.rfind('/').map_or(0, |i| i + 1);
    match image[last_slash..].rfind(':') {
        Some(colon) => {
            let at = last_slash + colon;
            (&image[..at], &image[at + 1..])
        }
        None => (image, "latest"),
    }
}

fn to_progress(info: CreateImageInfo) -> PullProgress {
    let detail = info.progress_detail.unwrap_or_default();
    PullProgress::Status {
        id: info.id,
        status: info.status.unwrap_or_default(),
        current: detail.current.and_then(|c| u64::try_from(c).ok()),
        total: detail.total.and_then(|t| u64::try_from(t).ok()),
    }
}

/// A [`RuntimeError::Pull`] with the engine's message and a hint read from it.
fn pull_error(image: &str, token: &str, err: bollard::errors::Error) -> RuntimeError {
    use bollard::errors::Error as E;
    let message = match err {
        E::DockerStreamError { error } => error,
        E::DockerResponseServerError { message, .. } => message,
        other => return RuntimeError::engine(format!("pull image {image}"), other),
    };
    // The engine's messages do not echo the token; scrub it anyway so no future
    // engine version can leak it into a log or a report. (A very short "token" is
    // a test value; scrubbing it would mangle ordinary words.)
    let message = if token.len() < 8 {
        message
    } else {
        message.replace(token, "<token>")
    };
    let (diagnosis, hint) = diagnose(&message);
    RuntimeError::Pull {
        image: image.to_owned(),
        reason: format!("{message} ({diagnosis})"),
        hint,
    }
}

/// What [`diagnose`] says of a pull the registry refused the credential for.
pub(crate) const REFUSED_TOKEN: &str = "the registry refused this install's token";

/// Whether the engine's `message` says the registry refused the credential.
fn refuses_credential(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "unauthorized",
        "denied",
        "authentication required",
        "forbidden",
    ]
    .iter()
    .any(|w| m.contains(w))
}

/// What a pull failure means and what to do about it, from the engine's message.
fn diagnose(message: &str) -> (&'static str, &'static str) {
    let m = message.to_ascii_lowercase();
    if refuses_credential(message) {
        (
            REFUSED_TOKEN,
            "run sync again for a fresh token, and check that the licence is active",
        )
    } else if [
        "connection refused",
        "no such host",
        "timeout",
        "dial tcp",
        "i/o timeout",
        "unreachable",
        "tls",
    ]
    .iter()
    .any(|w| m.contains(w))
    {
        (
            "the registry cannot be reached from the docker engine",
            "check the host's network, DNS and proxy settings",
        )
    } else if ["manifest unknown", "not found", "digest", "does not match"]
        .iter()
        .any(|w| m.contains(w))
    {
        (
            "the registry does not serve this exact digest: the release may be broken or the registry tampered with",
            "ask the vendor",
        )
    } else {
        (
            "the docker engine could not pull it",
            "check the engine's log (journalctl -u docker) and run sync again",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_reference_goes_in_tag() {
        assert_eq!(
            split_reference("127.0.0.1:5000/acme/web@sha256:abc"),
            ("127.0.0.1:5000/acme/web", "sha256:abc")
        );
    }

    #[test]
    fn registry_port_is_not_mistaken_for_a_tag() {
        assert_eq!(
            split_reference("127.0.0.1:5000/acme/web"),
            ("127.0.0.1:5000/acme/web", "latest")
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/acme/web:1.2"),
            ("127.0.0.1:5000/acme/web", "1.2")
        );
    }

    #[test]
    fn stream_error_is_a_pull_error_with_auth_hint_and_no_token() {
        let err = pull_error(
            "r/acme/web@sha256:abc",
            "s3cret-token",
            bollard::errors::Error::DockerStreamError {
                error: "unauthorized: token s3cret-token rejected".into(),
            },
        );
        let shown = err.to_string();
        assert!(matches!(err, RuntimeError::Pull { .. }));
        assert!(!shown.contains("s3cret-token"), "{shown}");
        assert!(shown.contains("refused this install's token"), "{shown}");
        assert!(err.refused_credential(), "{err:?}");
        assert!(
            err.hint()
                .is_some_and(|h| h.contains("run sync again for a fresh token")),
            "{err:?}"
        );
        assert!(shown.contains("r/acme/web@sha256:abc"), "{shown}");
    }

    #[test]
    fn unknown_manifest_gets_digest_hint() {
        let err = pull_error(
            "r/acme/web@sha256:abc",
            "a-long-registry-token",
            bollard::errors::Error::DockerResponseServerError {
                status_code: 404,
                message: "manifest for r/acme/web@sha256:abc not found: manifest unknown".into(),
            },
        );
        assert_eq!(
            err.to_string(),
            "cannot pull image r/acme/web@sha256:abc: manifest for r/acme/web@sha256:abc not found: manifest unknown (the registry does not serve this exact digest: the release may be broken or the registry tampered with)"
        );
        assert_eq!(err.hint().as_deref(), Some("ask the vendor"));
        assert!(!err.refused_credential(), "{err:?}");
    }
}
