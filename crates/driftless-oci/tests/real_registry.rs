//! The client against the real distribution registry with token auth: what a pushed
//! compose artifact looks like to a puller, and every way a pull must fail loudly.

#![allow(clippy::unwrap_used)]

use driftless_oci::{fetch_compose_file, ComposeArtifact, Digest, OciError, RegistryClient};
use driftless_registry_token::{
    generate_key_material, Access, TokenRequest, TokenSigner, DEFAULT_LIFETIME_S,
};
use driftless_test_support::registry::{Registry, RegistryOptions};
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

const ISSUER: &str = "driftless-test";
const SERVICE: &str = "driftless-registry";
const COMPOSE: &[u8] = b"services:\n  web:\n    image: nginx:1.27\n";
const CAP: u64 = 1024 * 1024;

struct Fixture {
    registry: Registry,
    signer: TokenSigner,
    _certs: tempfile::TempDir,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A registry trusting a fresh certificate, and the signer holding its key.
fn start() -> Fixture {
    let material = generate_key_material("driftless test registry", now()).unwrap();
    let certs = tempfile::tempdir().unwrap();
    let bundle: PathBuf = certs.path().join("bundle.pem");
    std::fs::write(&bundle, &material.cert_pem).unwrap();
    let registry = Registry::start(&RegistryOptions {
        rootcertbundle: bundle,
        realm: "http://127.0.0.1:9/token".into(),
        service: SERVICE.into(),
        issuer: ISSUER.into(),
    })
    .expect("the real registry must start (scripts/test installs docker-registry)");
    let signer = TokenSigner::from_pem(&material.key_pem, &material.cert_pem).unwrap();
    Fixture {
        registry,
        signer,
        _certs: certs,
    }
}

impl Fixture {
    fn token_at(&self, repo: &str, actions: &[&str], now_unix: i64) -> String {
        self.token_for(vec![Access::repository(repo, actions)], now_unix)
    }

    fn token_for(&self, access: Vec<Access>, now_unix: i64) -> String {
        let req = TokenRequest {
            issuer: ISSUER.into(),
            subject: "install-test".into(),
            audience: SERVICE.into(),
            access,
            lifetime_s: DEFAULT_LIFETIME_S,
        };
        self.signer.mint(&req, now_unix).unwrap().token
    }

    /// A client whose token grants exactly `access`, which may name several repositories.
    fn client_for(&self, access: Vec<Access>) -> RegistryClient {
        let token = self.token_for(access, now());
        RegistryClient::new(&self.registry.host(), true, &token).unwrap()
    }

    fn client(&self, repo: &str, actions: &[&str]) -> RegistryClient {
        let token = self.token_at(repo, actions, now());
        RegistryClient::new(&self.registry.host(), true, &token).unwrap()
    }

    async fn push(&self, repo: &str, bytes: &[u8]) -> ComposeArtifact {
        self.client(repo, &["pull", "push"])
            .push_compose_artifact(repo, "1.0.0", bytes)
            .await
            .unwrap()
    }

    fn blob_data_path(&self, digest: &Digest) -> PathBuf {
        let hex = digest.hex();
        self.registry
            .storage_dir()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

#[tokio::test]
async fn pushed_compose_artifact_is_pulled_back_with_a_pull_token() {
    let f = start();
    let pushed = f.push("acme/compose", COMPOSE).await;
    assert_eq!(pushed.file_digest, Digest::of(COMPOSE));
    assert_eq!(pushed.size, COMPOSE.len() as u64);

    let puller = f.client("acme/compose", &["pull"]);
    let got = fetch_compose_file(
        &puller,
        "acme/compose",
        &pushed.manifest_digest,
        &pushed.file_digest,
        CAP,
    )
    .await
    .unwrap();
    assert_eq!(got, COMPOSE);

    let (media_type, manifest) = puller
        .fetch_manifest("acme/compose", &pushed.manifest_digest, CAP)
        .await
        .unwrap();
    assert_eq!(media_type, "application/vnd.oci.image.manifest.v1+json");
    let m: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert!(m.get("artifactType").is_none());
    assert_eq!(
        m["config"]["mediaType"],
        "application/vnd.docker.compose.project"
    );
    assert_eq!(
        m["layers"][0]["annotations"]["com.docker.compose.file"],
        "compose.yaml"
    );
}

#[tokio::test]
async fn pushing_again_reuses_blobs_and_gives_the_same_digests() {
    let f = start();
    let first = f.push("acme/compose", COMPOSE).await;
    let second = f.push("acme/compose", COMPOSE).await;
    assert_eq!(first, second);
}

#[tokio::test]
async fn pull_token_for_one_repository_is_refused_on_another() {
    let f = start();
    f.push("other/compose", COMPOSE).await;
    let pushed = f.push("acme/compose", COMPOSE).await;
    let client = f.client("acme/compose", &["pull"]);
    let err = client
        .fetch_manifest("other/compose", &pushed.manifest_digest, CAP)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::Unauthorized { status: 401, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("other/compose"), "{err}");
}

#[tokio::test]
async fn pull_only_token_cannot_push() {
    let f = start();
    let client = f.client("acme/compose", &["pull"]);
    let err = client
        .push_compose_artifact("acme/compose", "1.0.0", COMPOSE)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn expired_token_is_refused() {
    let f = start();
    let pushed = f.push("acme/compose", COMPOSE).await;
    let old = f.token_at("acme/compose", &["pull"], now() - 24 * 3600);
    let client = RegistryClient::new(&f.registry.host(), true, &old).unwrap();
    let err = client
        .fetch_blob("acme/compose", &pushed.file_digest, CAP)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
    assert!(!err.to_string().contains(&old), "the token must not leak");
}

#[tokio::test]
async fn token_signed_by_an_untrusted_key_is_refused() {
    let f = start();
    let stranger = generate_key_material("stranger", now()).unwrap();
    let signer = TokenSigner::from_pem(&stranger.key_pem, &stranger.cert_pem).unwrap();
    let req = TokenRequest {
        issuer: ISSUER.into(),
        subject: "install-test".into(),
        audience: SERVICE.into(),
        access: vec![Access::repository("acme/compose", &["pull", "push"])],
        lifetime_s: DEFAULT_LIFETIME_S,
    };
    let token = signer.mint(&req, now()).unwrap().token;
    let client = RegistryClient::new(&f.registry.host(), true, &token).unwrap();
    let err = client.push_blob("acme/compose", COMPOSE).await.unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
}

#[tokio::test]
async fn blob_corrupted_in_registry_storage_is_a_digest_mismatch() {
    let f = start();
    let pushed = f.push("acme/compose", COMPOSE).await;
    let data = f.blob_data_path(&pushed.file_digest);
    let mut tampered = std::fs::read(&data).expect("blob data file in registry storage");
    tampered[0] ^= 0x20;
    std::fs::write(&data, &tampered).unwrap();

    let client = f.client("acme/compose", &["pull"]);
    let err = fetch_compose_file(
        &client,
        "acme/compose",
        &pushed.manifest_digest,
        &pushed.file_digest,
        CAP,
    )
    .await
    .unwrap_err();
    match &err {
        OciError::DigestMismatch {
            expected, actual, ..
        } => {
            assert_eq!(expected, &pushed.file_digest);
            assert_eq!(actual, &Digest::of(&tampered));
        }
        other => panic!("expected a digest mismatch, got {other:?}"),
    }
}

#[tokio::test]
async fn blob_larger_than_the_cap_is_too_large() {
    let f = start();
    let pushed = f.push("acme/compose", COMPOSE).await;
    let client = f.client("acme/compose", &["pull"]);
    let cap = COMPOSE.len() as u64 - 1;
    let err = client
        .fetch_blob("acme/compose", &pushed.file_digest, cap)
        .await
        .unwrap_err();
    assert!(
        matches!(err, OciError::TooLarge { cap: c, .. } if c == cap),
        "{err:?}"
    );
    let err = fetch_compose_file(
        &client,
        "acme/compose",
        &pushed.manifest_digest,
        &pushed.file_digest,
        cap,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OciError::TooLarge { .. }), "{err:?}");
    let ok = client
        .fetch_blob("acme/compose", &pushed.file_digest, COMPOSE.len() as u64)
        .await
        .unwrap();
    assert_eq!(ok, COMPOSE);
}

#[tokio::test]
async fn manifest_naming_another_file_is_refused() {
    let f = start();
    let pushed = f.push("acme/compose", COMPOSE).await;
    let client = f.client("acme/compose", &["pull"]);
    let err = fetch_compose_file(
        &client,
        "acme/compose",
        &pushed.manifest_digest,
        &Digest::of(b"another file"),
        CAP,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, OciError::Protocol { .. }), "{err:?}");
}

#[tokio::test]
async fn missing_manifest_is_not_found() {
    let f = start();
    f.push("acme/compose", COMPOSE).await;
    let client = f.client("acme/compose", &["pull"]);
    let missing = Digest::of(b"never pushed");
    let err = client
        .fetch_manifest("acme/compose", &missing, CAP)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::NotFound { .. }), "{err:?}");
    assert!(err.to_string().contains(missing.as_str()), "{err}");
    assert!(!client.blob_exists("acme/compose", &missing).await.unwrap());
}

#[tokio::test]
async fn stopped_registry_is_unreachable() {
    let mut f = start();
    let client = f.client("acme/compose", &["pull"]);
    let host = f.registry.host();
    f.registry.stop();
    let err = client
        .blob_exists("acme/compose", &Digest::of(COMPOSE))
        .await
        .unwrap_err();
    match &err {
        OciError::Unreachable { host: h, .. } => assert_eq!(h, &host),
        other => panic!("expected unreachable, got {other:?}"),
    }
    assert!(err.to_string().contains(&host), "{err}");
}

#[tokio::test]
async fn blob_is_mounted_from_another_repository_without_uploading_it() {
    let f = start();
    let pushed = f.push("acme/r1/compose", COMPOSE).await;
    let publisher = f.client_for(vec![
        Access::repository("acme/r2/compose", &["pull", "push"]),
        Access::repository("acme/r1/compose", &["pull"]),
    ]);
    let mounted = publisher
        .mount_blob("acme/r2/compose", "acme/r1/compose", &pushed.file_digest)
        .await
        .unwrap();
    assert!(mounted);

    // A token for the new repository alone pulls it: the blob now belongs to it.
    let puller = f.client("acme/r2/compose", &["pull"]);
    let got = puller
        .fetch_blob("acme/r2/compose", &pushed.file_digest, CAP)
        .await
        .unwrap();
    assert_eq!(got, COMPOSE);
}

#[tokio::test]
async fn mounting_a_blob_the_source_lacks_reports_false_so_the_caller_uploads() {
    let f = start();
    f.push("acme/r1/compose", COMPOSE).await;
    let publisher = f.client_for(vec![
        Access::repository("acme/r2/compose", &["pull", "push"]),
        Access::repository("acme/r1/compose", &["pull"]),
    ]);
    let missing = Digest::of(b"never pushed");
    let mounted = publisher
        .mount_blob("acme/r2/compose", "acme/r1/compose", &missing)
        .await
        .unwrap();
    assert!(!mounted);
    assert!(!publisher
        .blob_exists("acme/r2/compose", &missing)
        .await
        .unwrap());
}

#[tokio::test]
async fn mount_without_pull_on_the_source_is_refused() {
    let f = start();
    let pushed = f.push("other/compose", COMPOSE).await;
    let publisher = f.client("acme/r2/compose", &["pull", "push"]);
    let err = publisher
        .mount_blob("acme/r2/compose", "other/compose", &pushed.file_digest)
        .await
        .unwrap_err();
    assert!(matches!(err, OciError::Unauthorized { .. }), "{err:?}");
    assert!(!publisher
        .blob_exists("acme/r2/compose", &pushed.file_digest)
        .await
        .unwrap());
}
