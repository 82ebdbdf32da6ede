//! Writes the seed corpus under `fuzz/corpus/<target>/` from real, valid documents.
//! Run by `scripts/fuzz --seed` (uninstrumented: `cargo run --example seed_corpus`); the files are kept in the repository.

use std::fs;
use std::path::Path;

use driftless_fuzz::{assignment_for, json, release_doc, root_doc, sign, world, World};
use driftless_wire::checkin::{CheckinRequest, CheckinResponse, RegistryAccess};
use driftless_wire::status::InstallStatus;
use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE};

const DEMO_COMPOSE: &str = include_str!("../../demo/compose.yaml.in");

const VENDOR_COMPOSE: &str = r#"x-driftless:
  config:
    - name: HTTP_PORT
      type: port
      default: 8080
    - name: DB_PASSWORD
      type: string
      secret: true
      required: true
    - name: DEBUG
      type: boolean
      default: false
x-common: &common
  restart: unless-stopped
  environment:
    FEATURE: "yes"
services:
  web:
    <<: *common
    image: acme/web:1.4
    ports:
      - "${HTTP_PORT}:80"
    command: ["sh", "-c", "echo $$HOME"]
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: ${DB_PASSWORD:?set a password}
      LOG_DEBUG: ${DEBUG-false}
volumes:
  data: {}
"#;

fn put(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("create corpus dir");
    fs::write(dir.join(name), bytes).expect("write seed");
}

/// `mode` followed by `rest`: the form `driftless_fuzz::input` reads.
fn moded(mode: u8, rest: &[u8]) -> Vec<u8> {
    let mut out = vec![mode];
    out.extend_from_slice(rest);
    out
}

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus");
    let w = world();
    let k = &w.root_keys;
    let root1 = json(&root_doc(k, &w.release, &w.director, 1));
    let root2 = json(&root_doc(k, &w.release, &w.director, 2));
    let root1_env = sign(ROOT_PAYLOAD_TYPE, &root1, &[&k[0], &k[1]]);
    let root2_env = sign(ROOT_PAYLOAD_TYPE, &root2, &[&k[0], &k[2]]);
    let r6 = release_doc(6, 4);
    let r4 = release_doc(4, 0);
    let r4_env = sign(RELEASE_PAYLOAD_TYPE, &json(&r4), &[&w.release]);
    let a6 = json(&assignment_for(&w.release_env, &r6, 7));
    let a6_env = sign(ASSIGNMENT_PAYLOAD_TYPE, &a6, &[&w.director]);

    let dir = out.join("envelope");
    put(&dir, "root-v1", &json(&root1_env));
    put(&dir, "release", &json(&w.release_env));
    put(&dir, "assignment", &json(&a6_env));

    let dir = out.join("root");
    put(&dir, "v1-envelope", &moded(0, &json(&root1_env)));
    put(&dir, "v2-envelope", &moded(0, &json(&root2_env)));
    put(&dir, "v1-payload", &moded(1, &root1));
    put(&dir, "v2-payload", &moded(1, &root2));

    let dir = out.join("release");
    put(&dir, "envelope", &moded(0, &json(&w.release_env)));
    put(&dir, "payload", &moded(1, &json(&r6)));
    put(&dir, "downgrade-payload", &moded(1, &json(&r4)));

    let dir = out.join("assignment");
    put(&dir, "envelope", &moded(0, &json(&a6_env)));
    put(&dir, "payload", &moded(1, &a6));

    seed_checkin(&out.join("checkin"), &w, a6_env, r4_env);
    seed_text_parsers(&out);
}

/// Check-in requests and answers, one of them carrying a release the assignment does
/// not name.
fn seed_checkin(dir: &Path, w: &World, a6_env: Envelope, r4_env: Envelope) {
    let req = CheckinRequest {
        release_counter: Some(5),
        version: Some("1.5.0".into()),
        status: InstallStatus::Converged,
        cli_version: "0.1.0".into(),
        platform: "linux/amd64".into(),
        free_disk_bytes: Some(1 << 30),
        target_version: None,
        reason: None,
    };
    put(dir, "request", &json(&req));
    let resp = CheckinResponse {
        assignment: Some(a6_env),
        release: Some(w.release_env.clone()),
        registry: Some(RegistryAccess {
            host: "127.0.0.1:5000".into(),
            insecure: true,
            token: "eyJhbGciOiJFUzI1NiJ9.e30.sig".into(),
            expires_in: 300,
            issued_at: "2027-01-15T08:00:00Z".into(),
        }),
        next_checkin_s: 60,
        message: None,
        pending: None,
    };
    put(dir, "response", &json(&resp));
    let downgrade = CheckinResponse {
        release: Some(r4_env),
        registry: None,
        message: Some("channel has no release".into()),
        ..resp
    };
    put(dir, "response-mismatched", &json(&downgrade));
}

/// Compose files and registry scopes.
fn seed_text_parsers(out: &Path) {
    let dir = out.join("descriptor");
    put(
        &dir,
        "demo.yaml",
        DEMO_COMPOSE.replace("@VERSION@", "0.1.0").as_bytes(),
    );
    put(&dir, "vendor.yaml", VENDOR_COMPOSE.as_bytes());
    put(&dir, "minimal.yaml", b"services:\n  web:\n    image: acme/web@sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\n");

    let dir = out.join("scope");
    put(&dir, "pull", b"repository:acme/web:pull");
    put(
        &dir,
        "port",
        b"repository:localhost:5000/acme/web:pull,push",
    );
    put(&dir, "catalog", b"registry:catalog:*");
}
