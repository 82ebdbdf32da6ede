//! Two real `driftless-vendor serve` replicas on one database behave as one control
//! plane: check-ins alternate between them, a director key rotation done through one
//! (`keys rotate` on its data dir + SIGHUP) is served by the other within seconds,
//! and when one is killed with SIGKILL under check-ins and vendor writes, nothing it
//! acknowledged is lost and the survivor's ticker takes over a running rollout.
//!
//! Replica B's data directory holds only its settings file: it gets the root chain
//! and the online keys from the database. Run on PostgreSQL (both settings files name
//! one fresh database) and on SQLite (both open one WAL file: B's data dir links A's
//! database file).
#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_test_support::control_plane::{
    create_app_with_license, init_data_dir, vendor_output,
};
use driftless_test_support::stack::{free_port, workspace_bin};
use driftless_wire::checkin::{
    request_signing_input, ROOT_VERSION_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER,
};
use driftless_wire::keys::generate_signing_key;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::root::{Role, RootDocument};
use driftless_wire::{
    Envelope, KeyId, PublicKey, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE, ROOT_PAYLOAD_TYPE,
};
use ed25519_dalek::pkcs8::DecodePrivateKey as _;
use ed25519_dalek::{Signer as _, SigningKey};
use reqwest::blocking::Client;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const APP: &str = "acme";

/// How long a rotation may take to reach the other replica: the poll is every 2 s.
const ROTATION_PICKUP: Duration = Duration::from_secs(10);
/// How long another replica may take to see a change made through one (the change
/// feed's documented bound is 2 s; the rest is room for a busy machine).
const CHANGE_PICKUP: Duration = Duration::from_secs(10);
/// How long the survivor may take to finish a rollout whose ticker died: lease of 3
/// ticks of 1 s, then the rest of the rollout's two 3 s waves.
const TAKEOVER: Duration = Duration::from_secs(30);

/// A time to sign a request at (Unix ms), never the same twice.
fn request_ms() -> i64 {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let prev = LAST
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |l| {
            Some(wall.max(l + 1))
        })
        .unwrap();
    wall.max(prev + 1)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Polls `f` until it returns `Some` or `timeout` passes.
fn wait_for<T>(timeout: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// One running `serve`.
struct Replica {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Replica {
    fn start(vendor_bin: &Path, data: &Path, log: PathBuf, addr: &str) -> Replica {
        let child =
            driftless_test_support::control_plane::spawn_serve(vendor_bin, data, &log, addr)
                .unwrap();
        Replica {
            child,
            url: format!("http://{addr}"),
            log,
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP answer.
struct Answer {
    status: StatusCode,
    root_version: Option<String>,
    etag: Option<String>,
    body: Value,
}

fn answer(resp: reqwest::blocking::Response) -> Answer {
    let header = |name: &str| {
        resp.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let root_version = header(ROOT_VERSION_HEADER);
    let etag = header("etag").map(|t| t.trim_matches('"').to_string());
    let status = resp.status();
    let text = resp.text().unwrap_or_default();
    Answer {
        status,
        root_version,
        etag,
        body: serde_json::from_str(&text).unwrap_or(Value::String(text)),
    }
}

/// The operator's client for both replicas.
struct Operator {
    http: Client,
    token: String,
}

impl Operator {
    fn send(
        &self,
        url: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<Answer> {
        let mut req = self
            .http
            .request(method, format!("{url}{path}"))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().map(answer)
    }

    fn ok(&self, url: &str, method: Method, path: &str, body: Option<Value>) -> Value {
        let a = self.send(url, method, path, body).unwrap();
        assert!(a.status.is_success(), "{path}: {} {}", a.status, a.body);
        a.body
    }
}

/// A simulated host: its install id and key.
struct Host {
    id: String,
    key: SigningKey,
}

fn register(http: &Client, url: &str, license_key: &str) -> Host {
    let key = generate_signing_key();
    let body = json!({
        "license_key": license_key,
        "public_key": PublicKey::from_signing_key(&key).public,
        "hostname": "host",
        "platform": "linux/amd64",
        "cli_version": "0.1.0",
    });
    let a = answer(
        http.post(format!("{url}/v1/installs"))
            .json(&body)
            .send()
            .unwrap(),
    );
    assert_eq!(a.status, StatusCode::CREATED, "{}", a.body);
    Host {
        id: a.body["install_id"].as_str().unwrap().to_string(),
        key,
    }
}

/// A check-in signed like the CLI signs it, reporting `marker` as its policy text (so
/// the test can tell which check-in the database kept).
fn checkin(
    http: &Client,
    url: &str,
    host: &Host,
    etag: Option<&str>,
    marker: u64,
) -> reqwest::Result<Answer> {
    let path = format!("/v1/installs/{}/checkin", host.id);
    let body = serde_json::to_vec(&json!({
        "release_counter": null,
        "version": null,
        "status": "converged",
        "cli_version": "0.1.0",
        "platform": "linux/amd64",
        "free_disk_bytes": 1_000_000_000u64,
        "policy": format!("marker {marker}"),
    }))
    .unwrap();
    let ts = request_ms();
    let sig = host
        .key
        .sign(&request_signing_input("POST", &path, ts, &body));
    let mut req = http
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .header(TIMESTAMP_HEADER, ts.to_string())
        .header(SIGNATURE_HEADER, B64.encode(sig.to_bytes()))
        .body(body);
    if let Some(tag) = etag {
        req = req.header("if-none-match", format!("\"{tag}\""));
    }
    req.send().map(answer)
}

/// A release of `APP` in its own repositories, signed by the release key.
fn release(version: &str, counter: u64, key: &SigningKey) -> Envelope {
    let t = now();
    let mut doc: ReleaseDocument = ReleaseDocument {
        version: version.parse().unwrap(),
        created_at: t,
        expires: t + 86400,
        ..driftless_trust_fixtures::release_doc_of(APP, counter, 0)
    };
    for image in &mut doc.images {
        image.repository = format!("{APP}/r{counter}/{}", image.service);
    }
    doc.descriptor.repository = format!("{APP}/r{counter}/compose");
    Envelope::sign(
        RELEASE_PAYLOAD_TYPE,
        &serde_json::to_vec(&doc).unwrap(),
        &[key],
    )
}

/// Root `version` as replica `url` serves it.
fn root_at(op: &Operator, url: &str, version: u64) -> RootDocument {
    let env: Envelope =
        serde_json::from_value(op.ok(url, Method::GET, &format!("/v1/trust/root/{version}"), None))
            .unwrap();
    env.decode(ROOT_PAYLOAD_TYPE, "root").unwrap()
}

/// The newest director key id of `root`, with its public key.
fn director_of(root: &RootDocument) -> (KeyId, PublicKey) {
    let id = root.roles[&Role::Director].keyids[0].clone();
    let key = root.keys[&id].clone();
    (id, key)
}

/// Asserts the answer's assignment is signed by `director` (and only checks that key).
fn assert_signed_by(a: &Answer, director: &(KeyId, PublicKey)) {
    let env: Envelope = serde_json::from_value(a.body["assignment"].clone()).unwrap();
    let verified = env.verified_keyids(std::slice::from_ref(director));
    assert_eq!(
        verified,
        vec![director.0.clone()],
        "assignment: {}",
        a.body["assignment"]
    );
}

/// Both data directories: A made by `init` (tick 1 s), B only a settings file naming
/// another address; both on `database` (a PostgreSQL URL), or else B linked to A's
/// SQLite file.
fn data_dirs(
    vendor_bin: &Path,
    root: &Path,
    addr_a: &str,
    addr_b: &str,
    database: Option<&str>,
) -> (PathBuf, PathBuf, String) {
    let a = root.join("a");
    let b = root.join("b");
    let init = init_data_dir(vendor_bin, &a, addr_a).unwrap();
    let settings_path = a.join("settings.toml");
    let mut settings: toml::Table =
        toml::from_str(&std::fs::read_to_string(&settings_path).unwrap()).unwrap();
    settings.insert("rollout_tick_s".into(), toml::Value::Integer(1));
    if let Some(url) = database {
        settings.insert("database_url".into(), toml::Value::String(url.into()));
    }
    std::fs::write(&settings_path, toml::to_string(&settings).unwrap()).unwrap();
    settings.insert("listen".into(), toml::Value::String(addr_b.into()));
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("settings.toml"), toml::to_string(&settings).unwrap()).unwrap();
    if database.is_none() {
        std::os::unix::fs::symlink(a.join("driftless.db"), b.join("driftless.db")).unwrap();
    }
    (a, b, init.token)
}

#[test]
fn two_replicas_on_sqlite_share_check_ins_rotations_and_the_ticker_and_survive_a_sigkill() {
    replicas_share_check_ins_rotations_and_the_ticker_and_survive_a_sigkill(None);
}

#[test]
fn two_replicas_on_postgresql_share_check_ins_rotations_and_the_ticker_and_survive_a_sigkill() {
    // Under CI=true a missing PostgreSQL fails here; elsewhere it skips with a notice.
    let Some(db) = driftless_test_support::postgres::fresh_database() else {
        return;
    };
    replicas_share_check_ins_rotations_and_the_ticker_and_survive_a_sigkill(Some(db.url()));
}

fn replicas_share_check_ins_rotations_and_the_ticker_and_survive_a_sigkill(database: Option<&str>) {
    let vendor_bin = workspace_bin("driftless-vendor").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let addr_a = format!("127.0.0.1:{}", free_port().unwrap());
    let addr_b = format!("127.0.0.1:{}", free_port().unwrap());
    let (dir_a, dir_b, token) = data_dirs(&vendor_bin, tmp.path(), &addr_a, &addr_b, database);
    let mut a = Replica::start(&vendor_bin, &dir_a, tmp.path().join("a.log"), &addr_a);
    // A took the ticker's lease before B exists, so killing A later kills the leader.
    wait_for(Duration::from_secs(10), || {
        a.log_text()
            .contains("rollout ticker lease taken")
            .then_some(())
    })
    .unwrap_or_else(|| panic!("A never took the ticker lease: {}", a.log_text()));
    let b = Replica::start(&vendor_bin, &dir_b, tmp.path().join("b.log"), &addr_b);
    assert!(!dir_b.join("keys").exists() && !dir_b.join("trust").exists());
    if database.is_some() {
        assert!(
            !dir_b.join("driftless.db").exists(),
            "B opened SQLite, not PostgreSQL"
        );
    }

    let http = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let op = Operator {
        http: http.clone(),
        token: token.clone(),
    };
    let vendor = |url: &str| {
        let mut c = Command::new(&vendor_bin);
        c.env("DRIFTLESS_SERVER", url)
            .env("DRIFTLESS_TOKEN", &token);
        c
    };
    let license_key =
        create_app_with_license(|args| vendor_output(vendor(&a.url), args), APP).unwrap();
    let release_key = SigningKey::from_pkcs8_pem(
        &std::fs::read_to_string(dir_a.join("offline-keys/release.pem")).unwrap(),
    )
    .unwrap();
    // Vendor writes through either replica.
    for (i, version) in ["1.0.0", "2.0.0", "3.0.0"].iter().enumerate() {
        let url = if i % 2 == 0 { &b.url } else { &a.url };
        let env = release(version, i as u64 + 1, &release_key);
        op.ok(
            url,
            Method::POST,
            &format!("/v1/apps/{APP}/releases"),
            Some(json!({ "envelope": env })),
        );
    }
    let promote = |url: &str, version: &str| {
        op.ok(
            url,
            Method::POST,
            &format!("/v1/apps/{APP}/channels/stable/promote"),
            Some(json!({ "version": version })),
        );
    };
    promote(&b.url, "1.0.0");

    // Check-ins alternate between the replicas; both sign with root 1's director key.
    let director_v1 = director_of(&root_at(&op, &b.url, 1));
    let hosts: Vec<Host> = (0..4)
        .map(|i| {
            register(
                &http,
                if i % 2 == 0 { &a.url } else { &b.url },
                &license_key,
            )
        })
        .collect();
    let mut etags: Vec<Option<String>> = vec![None; hosts.len()];
    let mut marker = 0u64;
    for round in 0..4 {
        for (i, host) in hosts.iter().enumerate() {
            let url = if (round + i) % 2 == 0 { &a.url } else { &b.url };
            marker += 1;
            let ans = checkin(&http, url, host, etags[i].as_deref(), marker).unwrap();
            assert_eq!(ans.root_version.as_deref(), Some("1"));
            if round == 0 {
                assert_eq!(ans.status, StatusCode::OK, "{}", ans.body);
                assert_signed_by(&ans, &director_v1);
                etags[i] = ans.etag.clone();
            } else {
                assert_eq!(
                    ans.status,
                    StatusCode::NOT_MODIFIED,
                    "round {round} via {url}"
                );
            }
        }
    }

    // A director rotation on A's data dir + SIGHUP to A reaches B within seconds.
    let rotated = vendor_output(
        Command::new(&vendor_bin),
        &[
            "keys",
            "rotate",
            "--role",
            "director",
            "--data-dir",
            dir_a.to_str().unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(rotated, "2");
    let hup = Command::new("kill")
        .args(["-HUP", &a.child.id().to_string()])
        .status()
        .unwrap();
    assert!(hup.success());
    let rotated_at = Instant::now();
    let picked_up = wait_for(ROTATION_PICKUP, || {
        marker += 1;
        let ans = checkin(&http, &b.url, &hosts[0], etags[0].as_deref(), marker).unwrap();
        (ans.root_version.as_deref() == Some("2")).then_some(())
    });
    assert!(
        picked_up.is_some(),
        "B still serves root 1 {ROTATION_PICKUP:?} after the rotation; B's log: {}",
        b.log_text()
    );
    eprintln!(
        "B served root 2 {:?} after the rotation",
        rotated_at.elapsed()
    );
    let director_v2 = director_of(&root_at(&op, &b.url, 2));
    assert_ne!(director_v1.0, director_v2.0);
    // A new assignment from B (no data dir keys) is signed with the new director key.
    // The promotion goes through A: B's check-in cache learns of it from the change
    // feed within its documented bound (2 s), so B is asked until it answers.
    promote(&a.url, "2.0.0");
    let promoted_at = Instant::now();
    let ans = wait_for(CHANGE_PICKUP, || {
        marker += 1;
        let ans = checkin(&http, &b.url, &hosts[1], etags[1].as_deref(), marker).unwrap();
        (ans.status != StatusCode::NOT_MODIFIED).then_some(ans)
    })
    .unwrap_or_else(|| panic!("B still answers 304 {CHANGE_PICKUP:?} after A's promotion"));
    eprintln!(
        "B served 2.0.0 {:?} after the promotion",
        promoted_at.elapsed()
    );
    assert_eq!(ans.status, StatusCode::OK, "{}", ans.body);
    assert_signed_by(&ans, &director_v2);

    // A rollout the ticker (A holds its lease) must carry through two waves.
    let started = vendor_output(
        vendor(&b.url),
        &[
            "rollout",
            "start",
            "--app",
            APP,
            "--channel",
            "stable",
            "--version",
            "3.0.0",
            "--waves",
            "50%,100%",
            "--interval",
            "3s",
        ],
    )
    .unwrap();
    let started: Value = serde_json::from_str(&started).unwrap();
    assert_eq!(started["state"], "running", "{started}");

    // Load on both replicas, then SIGKILL A (the ticker's leader) in the middle of it.
    let stop = Arc::new(AtomicBool::new(false));
    let acked_checkins: Arc<Mutex<BTreeMap<String, u64>>> = Arc::default();
    let acked_customers: Arc<Mutex<Vec<String>>> = Arc::default();
    let urls = [a.url.clone(), b.url.clone()];
    let hosts = Arc::new(hosts);
    let checkins = {
        let (stop, acked, urls, hosts, http) = (
            stop.clone(),
            acked_checkins.clone(),
            urls.clone(),
            hosts.clone(),
            http.clone(),
        );
        std::thread::spawn(move || {
            let mut n = 1_000u64;
            while !stop.load(Ordering::SeqCst) {
                for (i, host) in hosts.iter().enumerate() {
                    n += 1;
                    if let Ok(ans) = checkin(&http, &urls[(n as usize + i) % 2], host, None, n) {
                        if ans.status.is_success() || ans.status == StatusCode::NOT_MODIFIED {
                            acked.lock().unwrap().insert(host.id.clone(), n);
                        }
                    }
                }
            }
        })
    };
    let writes = {
        let (stop, acked, urls) = (stop.clone(), acked_customers.clone(), urls.clone());
        let op = Operator {
            http: http.clone(),
            token: token.clone(),
        };
        std::thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(Ordering::SeqCst) {
                n += 1;
                let name = format!("customer-{n}");
                let body = Some(json!({ "name": name }));
                if let Ok(ans) = op.send(&urls[n % 2], Method::POST, "/v1/customers", body) {
                    if ans.status == StatusCode::CREATED {
                        acked.lock().unwrap().push(name);
                    }
                }
            }
        })
    };
    wait_for(Duration::from_secs(20), || {
        (acked_customers.lock().unwrap().len() >= 20).then_some(())
    })
    .unwrap();
    assert!(
        !b.log_text().contains("rollout ticker lease taken"),
        "B ran the ticker while A held the lease: {}",
        b.log_text()
    );
    a.child.kill().unwrap();
    a.child.wait().unwrap();
    let killed_at = Instant::now();
    let before_kill = acked_customers.lock().unwrap().len();
    wait_for(Duration::from_secs(20), || {
        (acked_customers.lock().unwrap().len() >= before_kill + 20).then_some(())
    })
    .expect("B stopped acknowledging writes after A died");
    stop.store(true, Ordering::SeqCst);
    checkins.join().unwrap();
    writes.join().unwrap();

    // Everything either replica acknowledged is in the database, read through B.
    let listed = op.ok(&b.url, Method::GET, "/v1/customers", None);
    let names: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    for name in acked_customers.lock().unwrap().iter() {
        assert!(
            names.contains(&name.as_str()),
            "acknowledged {name} is lost"
        );
    }
    let fleet = op.ok(&b.url, Method::GET, "/v1/installs", None);
    for (id, acked) in acked_checkins.lock().unwrap().iter() {
        let row = fleet
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id.as_str())
            .unwrap();
        let kept: u64 = row["policy"]
            .as_str()
            .and_then(|p| p.strip_prefix("marker "))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no marker on {row}"));
        assert!(
            kept >= *acked,
            "{id}: check-in {acked} was acknowledged, the database kept {kept}"
        );
    }

    // B's ticker takes the lease over and finishes the rollout A's ticker began.
    let done = wait_for(TAKEOVER, || {
        let listed =
            vendor_output(vendor(&b.url), &["rollout", "list", "--app", APP, "--json"]).ok()?;
        let rollouts: Value = serde_json::from_str(&listed).ok()?;
        rollouts
            .as_array()?
            .iter()
            .find(|r| r["version"] == "3.0.0" && r["state"] == "completed")
            .cloned()
    });
    assert!(
        done.is_some(),
        "the rollout never completed after A died; B's log: {}",
        b.log_text()
    );
    assert!(
        b.log_text().contains("rollout ticker lease taken"),
        "B never led the ticker"
    );
    eprintln!(
        "the rollout completed {:?} after A was killed",
        killed_at.elapsed()
    );
    // Each step of the rollout was applied once, whichever replica's ticker made it.
    let audit = op.ok(&b.url, Method::GET, "/v1/audit?limit=1000", None);
    let steps = |action: &str| {
        audit
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| {
                e["event"]["action"] == action
                    && e["event"]["subject"] == format!("{APP}/stable@3.0.0").as_str()
            })
            .count()
    };
    assert_eq!(steps("rollout.advance"), 1, "{audit}");
    assert_eq!(steps("rollout.complete"), 1, "{audit}");
    // The channel now points at the rollout's release: B assigns it to every host.
    marker += 1;
    let ans = checkin(&http, &b.url, &hosts[2], None, marker).unwrap();
    assert_eq!(ans.status, StatusCode::OK, "{}", ans.body);
    let env: Envelope = serde_json::from_value(ans.body["assignment"].clone()).unwrap();
    let assigned: Assignment = env.decode(ASSIGNMENT_PAYLOAD_TYPE, "assignment").unwrap();
    assert_eq!(assigned.version.to_string(), "3.0.0");
    assert_signed_by(&ans, &director_v2);
}

/// Runs `serve` on `data`, expecting it to refuse to start; returns its exit code and
/// stderr.
fn refused_serve(vendor_bin: &Path, data: &Path) -> (Option<i32>, String) {
    let mut child = Command::new(vendor_bin)
        .args(["serve", "--data-dir"])
        .arg(data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let status = wait_for(Duration::from_secs(20), || child.try_wait().unwrap());
    let Some(status) = status else {
        let _ = child.kill();
        panic!("serve on {} started instead of refusing", data.display());
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status.code(), err)
}

#[test]
fn a_replica_with_another_control_planes_data_dir_or_nothing_to_serve_is_refused() {
    let vendor_bin = workspace_bin("driftless-vendor").unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let addr_a = format!("127.0.0.1:{}", free_port().unwrap());
    let (dir_a, _, token) = data_dirs(&vendor_bin, tmp.path(), &addr_a, "127.0.0.1:1", None);
    let a = Replica::start(&vendor_bin, &dir_a, tmp.path().join("a.log"), &addr_a);
    let op = Operator {
        http: Client::new(),
        token,
    };
    let info_before = op.ok(&a.url, Method::GET, "/v1/info", None);

    // Another `init`'s data directory, on A's database: its root 1 is not A's.
    let other = tmp.path().join("other");
    init_data_dir(&vendor_bin, &other, "127.0.0.1:1").unwrap();
    std::fs::remove_file(other.join("driftless.db")).unwrap();
    std::os::unix::fs::symlink(dir_a.join("driftless.db"), other.join("driftless.db")).unwrap();
    let (code, err) = refused_serve(&vendor_bin, &other);
    assert_eq!(code, Some(5), "{err}");
    assert!(
        err.contains("belongs to another control plane") && err.contains("hint:"),
        "{err}"
    );
    // A rotation there (root 2, newer than the database's) is refused the same way.
    vendor_output(
        Command::new(&vendor_bin),
        &[
            "keys",
            "rotate",
            "--role",
            "director",
            "--data-dir",
            other.to_str().unwrap(),
        ],
    )
    .unwrap();
    let (code, err) = refused_serve(&vendor_bin, &other);
    assert_eq!(code, Some(5), "{err}");
    let info_after = op.ok(&a.url, Method::GET, "/v1/info", None);
    assert_eq!(
        info_after["root_fingerprint"],
        info_before["root_fingerprint"]
    );
    assert_eq!(info_after["root_version"], 1, "{info_after}");

    // A settings file alone, on a database nobody published to.
    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::copy(dir_a.join("settings.toml"), empty.join("settings.toml")).unwrap();
    let (code, err) = refused_serve(&vendor_bin, &empty);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("holds a root document") && err.contains("hint:"),
        "{err}"
    );
}
