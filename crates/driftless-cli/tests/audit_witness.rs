//! Every host a witness of the vendor's audit log, end to end (a real `serve`, registry
//! and CLI, one small release): a sync keeps the control plane's newest signed
//! checkpoint (from a `200`), accepts one that extends it (named by a `304`), and after
//! the log is truncated and rewritten behind the control plane's back (its own
//! checkpoints deleted, so it signs over the rewritten log) refuses the next checkpoint:
//! exit 20, the one it saw kept, the app still running, and the reason
//! `audit_log_forked` in its status and in the vendor's fleet view.
//!
//! Needs `cargo build --bins` first (scripts/test does).
#![allow(clippy::unwrap_used)]

use driftless_exit::code::AUDIT_VERIFICATION;
use driftless_test_support::process::{assert_exit, stderr};
use driftless_test_support::release_spec::Spec;
use driftless_test_support::world::World;
use driftless_wire::audit_checkpoint::AuditCheckpoint;
use driftless_wire::{Envelope, AUDIT_CHECKPOINT_PAYLOAD_TYPE};

/// The checkpoint in a file holding its envelope.
fn checkpoint_in(path: &std::path::Path) -> AuditCheckpoint {
    let env: Envelope = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    env.decode(AUDIT_CHECKPOINT_PAYLOAD_TYPE, "audit checkpoint")
        .unwrap()
}

/// The checkpoint `host` witnessed last.
fn witnessed(w: &World, host: &str) -> AuditCheckpoint {
    checkpoint_in(&w.state_dir(host).join("trust/audit-checkpoint.json"))
}

/// Has the control plane sign a checkpoint of its log now; returns it.
fn sign_checkpoint(w: &World) -> AuditCheckpoint {
    let kept = w.stack.dir.path().join("kept.json");
    w.vendor_ok(&["audit", "checkpoint", "-o", kept.to_str().unwrap()]);
    checkpoint_in(&kept)
}

/// Grows the log by `n` entries.
fn grow_log(w: &World, n: usize) {
    for i in 0..n {
        w.vendor_ok(&[
            "customer",
            "create",
            &format!("witness-{i}-{}", rand_suffix()),
        ]);
    }
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

/// Runs `statements` on the control plane's SQLite database, behind its back.
fn tamper(w: &World, statements: &[&str]) {
    let url = format!(
        "sqlite://{}",
        w.stack.data_dir().join("driftless.db").display()
    );
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for s in statements {
            sqlx::query(s).execute(&mut conn).await.unwrap();
        }
        conn.close().await.unwrap();
    });
}

#[test]
fn a_host_refuses_a_checkpoint_of_a_log_rewritten_after_it_saw_one() {
    let mut w = World::new("witness");
    // Each checkpoint is named to hosts as soon as it is signed.
    w.set_server_setting("witness_interval_s", 0);
    w.release("1.0.0", Spec::PORTS);
    let id = w.install("h");
    let first = sign_checkpoint(&w);
    w.sync_ok("h");
    w.assert_runs("h", "1.0.0");
    assert_eq!(witnessed(&w, "h"), first, "the first checkpoint is kept");

    // The log grows: the next checkpoint extends the one the host saw.
    grow_log(&w, 3);
    let grown = sign_checkpoint(&w);
    assert!(grown.tree_size > first.tree_size);
    w.sync_ok("h");
    assert_eq!(witnessed(&w, "h"), grown, "an extension is accepted");

    // The attack: the tail the host saw is deleted with the control plane's own
    // checkpoints, and the log rewritten past it; the control plane signs the result.
    let cut = first.tree_size;
    tamper(
        &w,
        &[
            &format!("DELETE FROM audit_log WHERE seq > {cut}"),
            "DELETE FROM audit_checkpoints",
        ],
    );
    grow_log(&w, 5);
    let rewritten = sign_checkpoint(&w);
    assert!(rewritten.tree_size > grown.tree_size, "{rewritten:?}");

    let out = w.sync("h");
    assert_exit(&out, AUDIT_VERIFICATION, "a sync offered a rewritten log");
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the vendor's audit log was rewritten: entry {} now has hash",
            grown.tree_size
        )),
        "{err}"
    );
    assert!(err.contains("the running app was not touched"), "{err}");
    w.assert_runs("h", "1.0.0");
    assert_eq!(witnessed(&w, "h"), grown, "the refused checkpoint was kept");
    let status = w.status("h");
    assert_eq!(status["reason"]["code"], "audit_log_forked", "{status}");
    let row = w.fleet_row(&id);
    assert_eq!(row["reason"]["code"], "audit_log_forked", "{row}");

    // Every later sync refuses it too: the host does not forget what it saw.
    assert_exit(
        &w.sync("h"),
        AUDIT_VERIFICATION,
        "the sync after the refusal",
    );
}
