//! Air-gapped hosts, end to end on the real engine: the vendor writes bundles with
//! `driftless-vendor bundle create` while its control plane and registry run; then both
//! are stopped and a host installs, upgrades (with a delta bundle, through a registry of
//! the customer's own) and refuses tampered, foreign and replayed bundles with nothing
//! but the bundle files.
//!
//! Needs `cargo build --bins` first; a missing Docker Engine fails the test.
#![allow(clippy::unwrap_used)]

use driftless_exit::code::{BUNDLE_REFUSED, RUNTIME};
use driftless_test_support::process::{assert_exit, assert_success, stderr};
use driftless_test_support::registry::Registry;
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// A CycloneDX SBOM of one component.
const SBOM: &str = r#"{"bomFormat":"CycloneDX","specVersion":"1.5","version":1,"components":[{"type":"library","name":"busybox","version":"1.36.1","licenses":[{"license":{"id":"GPL-2.0-only"}}]}]}"#;

/// The id of the license whose key is `key`'s (the only license of `app` before a second).
fn license_id(w: &World, customer_of: &str) -> String {
    let all = w.vendor_json(&["license", "list", "--json"]);
    all.as_array()
        .unwrap()
        .iter()
        .find(|l| l["app"] == w.app.as_str() && l["customer"] == customer_of)
        .unwrap_or_else(|| panic!("no license of {customer_of} in {all}"))["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn bundle(w: &World, version: &str, license: &str, out: &Path) {
    bundle_expiring(w, version, license, out, "30d");
}

fn bundle_expiring(w: &World, version: &str, license: &str, out: &Path, expires: &str) {
    let o = out.to_str().unwrap();
    let args = ["bundle", "create", "--app", &w.app, "--version", version];
    let started = Instant::now();
    let out = w.vendor(
        &[
            &args[..],
            &["--license", license, "--expires", expires, "-o", o],
        ]
        .concat(),
    );
    assert_success(&out, "driftless-vendor bundle create");
    eprintln!(
        "bundle create {version}: {:?}: {}",
        started.elapsed(),
        stderr(&out)
    );
}

fn bundle_since(w: &World, version: &str, since: &str, license: &str, out: &Path) {
    let o = out.to_str().unwrap();
    let args = ["bundle", "create", "--app", &w.app, "--version", version];
    let out = w.vendor(
        &[
            &args[..],
            &["--since", since, "--license", license, "-o", o],
        ]
        .concat(),
    );
    assert_success(&out, "driftless-vendor bundle create --since");
    eprintln!("bundle create {version} --since {since}: {}", stderr(&out));
}

/// Release 2.0.1 changes only web (api is 2.0.0's image, retagged): the delta bundle
/// on top of 2.0.0 against the full one (figures for the README; not applied).
fn one_service_delta_figures(w: &World, license: &str, dir: &Path) {
    let compose = w.build("2.0.1", Spec::PORTS);
    let api = |v: &str| format!("{}/api:{v}", w.app);
    let tagged = std::process::Command::new("docker")
        .args(["tag", &api("2.0.0"), &api("2.0.1")])
        .status()
        .unwrap();
    assert!(tagged.success(), "docker tag");
    w.publish("2.0.1", &compose);
    let (full, delta) = (dir.join("2.0.1.bundle"), dir.join("2.0.1-delta.bundle"));
    bundle(w, "2.0.1", license, &full);
    bundle_since(w, "2.0.1", "2.0.0", license, &delta);
    let (full, delta) = (
        std::fs::metadata(&full).unwrap().len(),
        std::fs::metadata(&delta).unwrap().len(),
    );
    eprintln!(
        "one-service change (2.0.1 on top of 2.0.0): full bundle {full} bytes, delta {delta} bytes"
    );
    assert!(
        delta < full / 2,
        "the delta ({delta}) is not much smaller than the full bundle ({full})"
    );
}

/// The bundle's size against the sum of its images' compressed layers (figures for
/// the README, shown with --nocapture).
fn report_size(bytes: &[u8]) {
    let (start, end, _) = layout(bytes);
    let index: Value = serde_json::from_slice(&bytes[start..end]).unwrap();
    let layers: u64 = index["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|b| {
            let t = b["media_type"].as_str().unwrap();
            !t.contains("manifest") && !t.contains("config")
        })
        .map(|b| b["size"].as_u64().unwrap())
        .sum();
    eprintln!(
        "bundle {} bytes, compressed layers {layers} bytes",
        bytes.len()
    );
}

/// The assignment's expiry, read from the bundle's header.
fn assignment_expires(bytes: &[u8]) -> u64 {
    use base64::Engine as _;
    let magic = b"DRIFTLESS-BUNDLE/1\n".len();
    let len = u32::from_be_bytes(bytes[magic..magic + 4].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&bytes[magic + 4..magic + 4 + len]).unwrap();
    let payload = header["assignment"]["payload"].as_str().unwrap();
    let a: Value = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    a["expires"].as_u64().unwrap()
}

/// Waits (with a deadline) until the clock is past `at` (Unix seconds).
fn wait_until_past(at: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let now = || {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    while now() <= at {
        assert!(Instant::now() < deadline, "the clock did not pass {at}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where each section of a bundle starts: (index start, index end, blobs start).
fn layout(bytes: &[u8]) -> (usize, usize, usize) {
    let magic = b"DRIFTLESS-BUNDLE/1\n".len();
    let len = |at: usize| u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    let index_at = magic + 4 + len(magic);
    let start = index_at + 4;
    (start, start + len(index_at), start + len(index_at))
}

/// The offset and size of blob `digest` in a bundle.
fn blob_at(bytes: &[u8], digest: &str) -> (usize, usize) {
    let (start, end, mut at) = layout(bytes);
    let index: Value = serde_json::from_slice(&bytes[start..end]).unwrap();
    for b in index["blobs"].as_array().unwrap() {
        let size = b["size"].as_u64().unwrap() as usize;
        if b["digest"] == digest {
            return (at, size);
        }
        at += size;
    }
    panic!("no blob {digest} in the bundle");
}

/// The largest blob: a layer.
fn largest_blob(bytes: &[u8]) -> (usize, usize) {
    let (start, end, mut at) = layout(bytes);
    let index: Value = serde_json::from_slice(&bytes[start..end]).unwrap();
    let mut best = (0, 0);
    for b in index["blobs"].as_array().unwrap() {
        let size = b["size"].as_u64().unwrap() as usize;
        if size > best.1 {
            best = (at, size);
        }
        at += size;
    }
    best
}

fn tampered(dir: &Path, name: &str, good: &[u8], change: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = good.to_vec();
    change(&mut bytes);
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn install(w: &World, host: &str, bundle: &Path, license_file: &Path) -> Output {
    let project = w.owned_project(host);
    w.driftless(
        host,
        &[
            "install",
            "--bundle",
            bundle.to_str().unwrap(),
            "--license-file",
            license_file.to_str().unwrap(),
            "--root-fingerprint",
            &w.stack.fingerprint,
            "--project",
            &project,
        ],
    )
}

fn sync(w: &World, host: &str, bundle: &Path) -> Output {
    w.driftless(host, &["sync", "--bundle", bundle.to_str().unwrap()])
}

#[test]
fn an_air_gapped_host_installs_and_upgrades_from_bundles_and_refuses_bad_ones() {
    let mut w = World::new("airgap");
    let files = tempfile::tempdir().unwrap();
    let key_file = files.path().join("license");
    std::fs::write(&key_file, &w.license).unwrap();
    let customer = format!("customer-of-{}", w.app);
    let license = license_id(&w, &customer);
    let other_customer = format!("other-of-{}", w.app);
    w.vendor_ok(&["customer", "create", &other_customer]);
    let other_key = w.vendor_ok(&[
        "license",
        "create",
        "--customer",
        &other_customer,
        "--app",
        &w.app,
        "--channel",
        "stable",
    ]);
    let other_key_file = files.path().join("other-license");
    std::fs::write(&other_key_file, other_key.trim()).unwrap();

    // 1.0.0 has an SBOM of web, which its bundles carry.
    let sbom = files.path().join("web.cdx.json");
    std::fs::write(&sbom, SBOM).unwrap();
    let compose = w.build("1.0.0", Spec::PORTS);
    let web_sbom = format!("web={}", sbom.display());
    w.publish_app(&w.app, "1.0.0", &compose, &["--sbom", &web_sbom]);
    w.promote("1.0.0", "stable");
    let b1 = files.path().join("1.0.0.bundle");
    bundle(&w, "1.0.0", &license, &b1);
    w.release("2.0.0", Spec::PORTS);
    let b2 = files.path().join("2.0.0.bundle");
    bundle(&w, "2.0.0", &license, &b2);
    let b2_delta = files.path().join("2.0.0-since-1.0.0.bundle");
    bundle_since(&w, "2.0.0", "1.0.0", &license, &b2_delta);
    one_service_delta_figures(&w, &license, files.path());
    w.release(
        "3.0.0",
        Spec {
            health_timeout_s: Some(15),
            failing_web: true,
            ..Spec::PORTS
        },
    );
    let b3 = files.path().join("3.0.0.bundle");
    bundle(&w, "3.0.0", &license, &b3);
    let short = files.path().join("short.bundle");
    bundle_expiring(&w, "1.0.0", &license, &short, "1s");
    let release = w.release_document("1.0.0");

    // From here on the vendor is unreachable: only the bundle files reach the host.
    w.stack.stop_control();
    w.stack.registry.stop();

    let good = std::fs::read(&b1).unwrap();
    let descriptor = release["descriptor"]["digest"].as_str().unwrap();
    let (d_at, _) = blob_at(&good, descriptor);
    let (l_at, l_size) = largest_blob(&good);
    let (i_start, _, _) = layout(&good);
    let attacks = [
        tampered(files.path(), "layer", &good, |b| b[l_at + l_size / 2] ^= 1),
        tampered(files.path(), "descriptor", &good, |b| b[d_at + 3] ^= 1),
        tampered(files.path(), "index", &good, |b| b[i_start + 20] ^= 1),
        tampered(files.path(), "truncated", &good, |b| {
            b.truncate(b.len() - 1)
        }),
    ];
    for attack in &attacks {
        let out = install(&w, "h", attack, &key_file);
        assert_exit(
            &out,
            BUNDLE_REFUSED,
            &format!("install from {}", attack.display()),
        );
        assert!(stderr(&out).contains("refused"), "{}", stderr(&out));
        assert!(
            !w.state_dir("h").join("config.toml").exists(),
            "a refused bundle changed the host"
        );
    }
    wait_until_past(assignment_expires(&std::fs::read(&short).unwrap()));
    let out = install(&w, "h", &short, &key_file);
    assert_exit(&out, BUNDLE_REFUSED, "install from an expired bundle");
    assert!(stderr(&out).contains("expired"), "{}", stderr(&out));
    assert!(!w.state_dir("h").join("config.toml").exists());
    let out = install(&w, "h", &b1, &other_key_file);
    assert_exit(&out, BUNDLE_REFUSED, "install with another license's key");
    assert!(stderr(&out).contains("install id"), "{}", stderr(&out));
    assert!(!w.state_dir("h").join("config.toml").exists());

    // A delta bundle cannot install a host: it has no release to take the rest from.
    let out = install(&w, "h", &b2_delta, &key_file);
    assert_exit(&out, BUNDLE_REFUSED, "install from a delta bundle");
    assert!(stderr(&out).contains("delta bundle"), "{}", stderr(&out));
    assert!(!w.state_dir("h").join("config.toml").exists());

    report_size(&good);
    let started = Instant::now();
    assert_success(&install(&w, "h", &b1, &key_file), "install --bundle");
    // The SBOM came with the bundle, checked against the digest the release names.
    let sbom_digest = release["sboms"][0]["digest"].as_str().unwrap();
    let kept = w.state_dir("h").join("bundle-blobs/sha256");
    let kept_sbom = kept.join(sbom_digest.trim_start_matches("sha256:"));
    assert_eq!(std::fs::read(kept_sbom).unwrap(), SBOM.as_bytes());
    eprintln!(
        "install --bundle (verify {} bytes): {:?}",
        good.len(),
        started.elapsed()
    );
    let out = sync(&w, "h", &b1);
    assert_success(&out, "sync --bundle 1.0.0");
    assert!(
        stderr(&out).contains("converged on 1.0.0"),
        "{}",
        stderr(&out)
    );
    w.assert_serves_on_ports("1.0.0");

    // The upgrade comes as a delta bundle (what 1.0.0 carried is taken from the host),
    // pushed into the customer's own registry, which the engine pulls from.
    let customer_registry = Registry::start_open().unwrap();
    let host = customer_registry.host();
    let b2d = b2_delta.to_str().unwrap();
    let out = w.driftless("h", &["sync", "--bundle", b2d, "--registry", &host]);
    assert_success(&out, "sync --bundle (a delta on top of 1.0.0) --registry");
    w.assert_serves_on_ports("2.0.0");
    let compose = w.state_dir("h").join("releases/2.0.0/compose.yaml");
    let compose = std::fs::read_to_string(compose).unwrap();
    assert!(compose.contains(&format!("{host}/")), "{compose}");
    drop(customer_registry);
    eprintln!(
        "2.0.0: full bundle {} bytes, delta on top of 1.0.0 {} bytes",
        std::fs::metadata(&b2).unwrap().len(),
        std::fs::metadata(&b2_delta).unwrap().len()
    );

    // A release that fails its health check is rolled back, exactly as online.
    let out = sync(&w, "h", &b3);
    assert_exit(&out, RUNTIME, "sync --bundle of an unhealthy release");
    w.assert_serves_on_ports("2.0.0");
    assert_eq!(w.status("h")["held_back"], "3.0.0");

    // A replayed older bundle is refused and the host keeps running 2.0.0.
    let out = sync(&w, "h", &b1);
    assert_exit(&out, BUNDLE_REFUSED, "sync with the older bundle");
    w.assert_serves_on_ports("2.0.0");
    // Online sync is refused on an air-gapped host, with the way forward.
    let out = w.sync("h");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--bundle"), "{}", stderr(&out));

    // The host reports back by hand: a signed receipt the vendor imports.
    let r1 = files.path().join("receipt-1.json");
    let out = w.driftless("h", &["status", "--receipt", r1.to_str().unwrap()]);
    assert_success(&out, "status --receipt");
    w.stack.start_control().unwrap();
    let id = w.vendor_ok(&["receipt", "import", r1.to_str().unwrap()]);
    let id = id.trim();
    assert!(id.starts_with("airgap-"), "import printed {id}");
    let fleet = w.vendor_ok(&["fleet", "--app", &w.app]);
    let row = fleet
        .lines()
        .find(|l| l.contains(id))
        .unwrap_or_else(|| panic!("{fleet}"));
    // The last sync (the replayed bundle) was refused, and the receipt says so.
    assert!(
        row.contains("verification_failed") && row.contains("(air-gapped, last receipt "),
        "{row}"
    );
    assert!(row.contains("2.0.0"), "{row}");
    // The same receipt again is a replay.
    let out = w.vendor(&["receipt", "import", r1.to_str().unwrap()]);
    assert_exit(&out, BUNDLE_REFUSED, "import a receipt twice");
    // A changed receipt no longer verifies.
    let mut forged: Value = serde_json::from_slice(&std::fs::read(&r1).unwrap()).unwrap();
    forged["payload"] = Value::from(forged["payload"].as_str().unwrap().replacen('e', "f", 1));
    let forged_path = files.path().join("forged.json");
    std::fs::write(&forged_path, forged.to_string()).unwrap();
    let out = w.vendor(&["receipt", "import", forged_path.to_str().unwrap()]);
    assert_exit(&out, BUNDLE_REFUSED, "import a changed receipt");
    receipts_must_chain(&w, files.path());
}

/// Writes the host's next receipt to `dir/name`.
fn receipt(w: &World, dir: &Path, name: &str) -> String {
    let path = dir.join(name).to_str().unwrap().to_string();
    let out = w.driftless("h", &["status", "--receipt", &path]);
    assert_success(&out, "status --receipt");
    path
}

/// Receipt 1 was imported. A fork (the host's chain restored to an earlier receipt,
/// as a restored backup or a copied host would) and a gap are refused.
fn receipts_must_chain(w: &World, dir: &Path) {
    let last = w.state_dir("h").join("receipts.last.json");
    let after_r1 = std::fs::read(&last).unwrap();
    let r2 = receipt(w, dir, "receipt-2.json");
    w.vendor_ok(&["receipt", "import", &r2]);
    let after_r2 = std::fs::read(&last).unwrap();
    std::fs::write(&last, &after_r1).unwrap();
    let fork = receipt(w, dir, "receipt-2-fork.json");
    let out = w.vendor(&["receipt", "import", &fork]);
    assert_exit(&out, BUNDLE_REFUSED, "import a forked receipt");
    assert!(stderr(&out).contains("fork"), "{}", stderr(&out));

    std::fs::write(&last, &after_r2).unwrap();
    let r3 = receipt(w, dir, "receipt-3.json");
    let r4 = receipt(w, dir, "receipt-4.json");
    let out = w.vendor(&["receipt", "import", &r4]);
    assert_exit(&out, BUNDLE_REFUSED, "import receipt 4 before 3");
    assert!(stderr(&out).contains("a gap"), "{}", stderr(&out));
    w.vendor_ok(&["receipt", "import", &r3]);
    w.vendor_ok(&["receipt", "import", &r4]);
}

/// A host switches between online and bundle mode without reinstalling, and its trust
/// state carries over: a release older than what it accepted in one mode is refused in
/// the other.
#[test]
fn a_host_switches_between_online_and_bundle_mode_keeping_its_trust_state() {
    let w = World::new("airgap-switch");
    let files = tempfile::tempdir().unwrap();
    let key_file = files.path().join("license");
    std::fs::write(&key_file, &w.license).unwrap();
    let key = key_file.to_str().unwrap();
    let license = license_id(&w, &format!("customer-of-{}", w.app));
    w.release("1.0.0", Spec::default());
    w.publish_built("2.0.0", Spec::default());
    let b2 = files.path().join("2.0.0.bundle");
    bundle(&w, "2.0.0", &license, &b2);
    let b2 = b2.to_str().unwrap();

    // Online, then a bundle (the license names the bundle's installs), then online.
    w.install("on");
    w.sync_ok("on");
    w.assert_runs("on", "1.0.0");
    let out = w.driftless("on", &["sync", "--bundle", b2]);
    assert_exit(
        &out,
        driftless_exit::code::USAGE,
        "bundle without the license",
    );
    let out = w.driftless("on", &["sync", "--bundle", b2, "--license-file", key]);
    assert_success(&out, "sync --bundle on an online install");
    w.assert_runs("on", "2.0.0");
    w.promote("2.0.0", "stable");
    w.sync_ok("on");
    w.release("3.0.0", Spec::default());
    w.sync_ok("on");
    w.assert_runs("on", "3.0.0");
    // The 2.0.0 bundle again, after 3.0.0 online: refused.
    let out = w.driftless("on", &["sync", "--bundle", b2, "--license-file", key]);
    assert_exit(&out, BUNDLE_REFUSED, "an older bundle after online sync");
    w.assert_runs("on", "3.0.0");

    // Air-gapped, then online (registered with its own key), then the old bundle.
    assert_success(
        &install(&w, "gap", Path::new(b2), &key_file),
        "install --bundle",
    );
    assert_success(&sync(&w, "gap", Path::new(b2)), "sync --bundle");
    w.assert_runs("gap", "2.0.0");
    let out = w.sync("gap");
    assert!(stderr(&out).contains("--server"), "{}", stderr(&out));
    let url = w.stack.url();
    let out = w.driftless("gap", &["sync", "--server", &url, "--license-file", key]);
    assert_success(&out, "sync --server on an air-gapped install");
    w.assert_runs("gap", "3.0.0");
    w.sync_ok("gap");
    let out = w.driftless("gap", &["sync", "--bundle", b2, "--license-file", key]);
    assert_exit(&out, BUNDLE_REFUSED, "the old bundle after going online");
    w.assert_runs("gap", "3.0.0");
}
