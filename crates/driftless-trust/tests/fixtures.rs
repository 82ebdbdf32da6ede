//! Stored attack fixtures: one directory under `tests/fixtures/` per way a signed
//! document can be wrong, each valid except for that one defect, and a test per
//! directory that loads the stored files and asserts the verifier's exact refusal.
//!
//! The files are kept in the repository so a change to the wire format or to the
//! verifier cannot silently start accepting a document it refused before. They are
//! written by `regenerate_fixtures` from the fixed keys and times of
//! `driftless-trust-fixtures`, so a regeneration is byte-for-byte reproducible (Ed25519
//! signatures are deterministic):
//!
//! ```text
//! cargo test -p driftless-trust --test fixtures -- --ignored regenerate_fixtures
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::{Path, PathBuf};

use driftless_trust::{
    root_fingerprint, verify_assignment, verify_release, verify_root_update, verify_root_v1,
    TrustError, TrustState,
};
use driftless_trust_fixtures::{APP, INSTALL_ID, NOW, OTHER_APP};
use driftless_wire::root::RootDocument;
use driftless_wire::Envelope;

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn load(rel: &str) -> Envelope {
    let path = fixtures_dir().join(rel);
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// Root v1 verified against the stored pinned fingerprint, as an install holds it.
fn pinned_root() -> RootDocument {
    let path = fixtures_dir().join("root-1.fingerprint");
    let pinned = fs::read_to_string(&path).unwrap();
    verify_root_v1(&load("root-1.json"), pinned.trim(), NOW).expect("stored root v1 verifies")
}

/// Verifies `<dir>/<prefix>assignment.json` and `<dir>/<prefix>release.json`.
fn check_in(state: &TrustState, dir: &str, prefix: &str) -> Result<TrustState, TrustError> {
    let a = load(&format!("{dir}/{prefix}assignment.json"));
    let r = load(&format!("{dir}/{prefix}release.json"));
    let assignment = verify_assignment(state, INSTALL_ID, &a, NOW)?;
    Ok(verify_release(state, &assignment, &r, NOW)?.next_state)
}

/// The state after accepting the `accepted-<n>.` pairs of `dir`, in order.
fn state_after(dir: &str, accepted: usize) -> TrustState {
    let mut state = TrustState::new(pinned_root(), APP);
    for n in 1..=accepted {
        state = check_in(&state, dir, &format!("accepted-{n}."))
            .unwrap_or_else(|e| panic!("{dir}: accepted-{n} must verify: {e}"));
    }
    state
}

fn root_update(dir: &str, file: &str) -> Result<RootDocument, TrustError> {
    verify_root_update(&pinned_root(), &load(&format!("{dir}/{file}")), NOW)
}

#[test]
fn good_chain_verifies() {
    let root2 = root_update("good-chain", "root-2.json").expect("root v2 verifies");
    let state = TrustState::new(root2, APP);
    let next = check_in(&state, "good-chain", "").expect("good chain verifies");
    assert_eq!(
        (
            next.root.version,
            next.highest_sequence,
            next.highest_release_counter
        ),
        (2, 1, 1)
    );
}

#[test]
fn pinned_fingerprint_matches_the_stored_root() {
    let pinned = fs::read_to_string(fixtures_dir().join("root-1.fingerprint")).unwrap();
    assert_eq!(
        root_fingerprint(&load("root-1.json")).unwrap(),
        pinned.trim()
    );
}

#[test]
fn expired_assignment_is_refused_as_a_freeze() {
    let err = check_in(
        &state_after("expired-assignment", 0),
        "expired-assignment",
        "",
    );
    assert!(
        matches!(
            err,
            Err(TrustError::Expired {
                what: "assignment",
                now: NOW,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn expired_root_is_refused() {
    let err = root_update("expired-root", "root-2.json");
    assert!(
        matches!(
            err,
            Err(TrustError::Expired {
                what: "root document",
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn bad_signature_is_refused() {
    let err = check_in(&state_after("bad-signature", 0), "bad-signature", "");
    assert_eq!(
        err,
        Err(TrustError::Threshold {
            what: "release document",
            role: "release",
            got: 0,
            need: 1
        })
    );
}

#[test]
fn duplicate_signatures_below_threshold_are_refused() {
    let err = root_update("duplicate-signatures", "root-2.json");
    assert_eq!(
        err,
        Err(TrustError::Threshold {
            what: "root document (old root keys)",
            role: "root",
            got: 1,
            need: 2
        })
    );
}

#[test]
fn unknown_key_ids_are_refused() {
    let err = check_in(&state_after("unknown-key-ids", 0), "unknown-key-ids", "");
    assert_eq!(
        err,
        Err(TrustError::Threshold {
            what: "release document",
            role: "release",
            got: 0,
            need: 1
        })
    );
}

#[test]
fn rolled_back_assignment_sequence_is_refused() {
    let dir = "rolled-back-assignment-sequence";
    let err = check_in(&state_after(dir, 1), dir, "");
    assert_eq!(
        err,
        Err(TrustError::Rollback {
            what: "assignment",
            field: "sequence",
            got: 4,
            highest: 5
        })
    );
}

#[test]
fn rolled_back_release_counter_is_refused() {
    let dir = "rolled-back-release-counter";
    let err = check_in(&state_after(dir, 2), dir, "");
    assert_eq!(
        err,
        Err(TrustError::Rollback {
            what: "release document",
            field: "release counter",
            got: 2,
            highest: 3
        })
    );
}

#[test]
fn downgrade_without_permission_is_refused() {
    let dir = "downgrade-without-permission";
    let err = check_in(&state_after(dir, 1), dir, "");
    // The verifier reports a downgrade without permission as a rollback of the counter.
    assert_eq!(
        err,
        Err(TrustError::Rollback {
            what: "release document",
            field: "release counter",
            got: 2,
            highest: 3
        })
    );
}

#[test]
fn downgrade_below_the_rollback_floor_is_refused() {
    let dir = "downgrade-below-rollback-floor";
    let err = check_in(&state_after(dir, 1), dir, "");
    assert!(
        matches!(
            err,
            Err(TrustError::BelowRollbackFloor {
                target: 3,
                floor: 4,
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn skipped_root_version_is_refused() {
    let err = root_update("skipped-root-version", "root-3.json");
    assert_eq!(err, Err(TrustError::RootSkipped { current: 1, got: 3 }));
}

#[test]
fn release_signed_by_the_director_key_is_refused() {
    let dir = "release-signed-by-director";
    let err = check_in(&state_after(dir, 0), dir, "");
    assert_eq!(
        err,
        Err(TrustError::Threshold {
            what: "release document",
            role: "release",
            got: 0,
            need: 1
        })
    );
}

#[test]
fn mix_and_match_release_is_refused() {
    let err = check_in(&state_after("mix-and-match", 0), "mix-and-match", "");
    assert!(
        matches!(
            err,
            Err(TrustError::Mismatch {
                what: "release document digest named by the assignment",
                ..
            })
        ),
        "{err:?}"
    );
}

#[test]
fn assignment_for_another_install_is_refused() {
    let dir = "assignment-for-another-install";
    let err = check_in(&state_after(dir, 0), dir, "");
    assert_eq!(
        err,
        Err(TrustError::Mismatch {
            what: "assignment install id",
            expected: INSTALL_ID.to_string(),
            found: "inst-2".to_string()
        })
    );
}

#[test]
fn mix_and_match_app_is_refused() {
    // A compromised control plane (it holds the director key) hands this acme host
    // globex's genuine release under an assignment for this very install.
    let dir = "mix-and-match-app";
    let err = check_in(&state_after(dir, 0), dir, "");
    assert_eq!(
        err,
        Err(TrustError::WrongApp {
            what: "assignment",
            pinned: APP.to_string(),
            found: OTHER_APP.to_string()
        })
    );
}

#[test]
fn mix_and_match_app_release_is_refused() {
    // The assignment claims this host's app but names globex's release document.
    let dir = "mix-and-match-app-release";
    let err = check_in(&state_after(dir, 0), dir, "");
    assert_eq!(
        err,
        Err(TrustError::WrongApp {
            what: "release document",
            pinned: APP.to_string(),
            found: OTHER_APP.to_string()
        })
    );
}

#[test]
fn every_fixture_directory_says_what_is_wrong_with_it() {
    for (dir, _) in generate::CASES {
        let readme = fixtures_dir().join(dir).join("README.md");
        let text = fs::read_to_string(&readme).unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert!(!text.trim().is_empty(), "{dir}: empty README.md");
    }
}

#[test]
#[ignore = "writes tests/fixtures; run by hand after a deliberate format change"]
fn regenerate_fixtures() {
    generate::write_all(&fixtures_dir());
}

/// Builds every fixture from the fixed keys and times of `driftless_trust_fixtures`.
mod generate {
    use std::fs;
    use std::path::Path;

    use driftless_trust::root_fingerprint;
    use driftless_trust_fixtures::{
        assignment, json, release_doc, release_doc_of, sign_assignment, sign_release, sign_root,
        Keys, DAY, NOW, OTHER_APP, YEAR,
    };
    use driftless_wire::release::Assignment;
    use driftless_wire::{Digest, Envelope, KeyId, RELEASE_PAYLOAD_TYPE};

    /// Every fixture directory and the one thing wrong with it.
    pub const CASES: &[(&str, &str)] = &[
        ("good-chain", "Nothing: root v2 rotation, assignment and release all verify."),
        ("expired-assignment", "The assignment expired one second before the check (a freeze attack)."),
        ("expired-root", "Root v2 is correctly signed but expired one second before the check."),
        ("bad-signature", "The release payload was changed after the release key signed it (an image digest swapped); the assignment names the changed bytes."),
        ("duplicate-signatures", "Root v2 carries root key 1's signature three times; the threshold is 2 distinct keys."),
        ("unknown-key-ids", "The release's signatures name key ids the root does not list: the real release signature under a made-up id, and a foreign key's signature under its own id."),
        ("rolled-back-assignment-sequence", "After sequence 5 was accepted, a director-signed assignment with sequence 4 arrives."),
        ("rolled-back-release-counter", "After counters 2 then 3 were accepted, the counter-2 release is replayed byte for byte under a fresh assignment without downgrade permission."),
        ("downgrade-without-permission", "After counter 3 was accepted, a new assignment moves to a validly signed counter-2 release without allow_downgrade."),
        ("downgrade-below-rollback-floor", "After counter 5 with rollback_floor 4 was accepted, an assignment with allow_downgrade moves to counter 3."),
        ("skipped-root-version", "Root v3 is offered to an install holding v1, signed by a threshold of v1's keys."),
        ("release-signed-by-director", "The release document is signed by the director key (a compromised control plane), not the release key."),
        ("mix-and-match", "The assignment names release counter 1's digest; the validly signed counter-2 release is served with it."),
        ("assignment-for-another-install", "The assignment is validly signed but for install inst-2."),
        ("mix-and-match-app", "The install was installed for app acme; a director-signed assignment for inst-1 names app globex's validly signed release (a compromised control plane)."),
        ("mix-and-match-app-release", "The director-signed assignment for inst-1 says app acme but names app globex's validly signed release document."),
    ];

    /// `a` signed by the director key.
    fn by_director(k: &Keys, a: &Assignment) -> Envelope {
        sign_assignment(a, &[&k.director])
    }

    type Files = Vec<(String, Envelope)>;

    fn files_of(prefix: &str, (a, r): (Envelope, Envelope)) -> Files {
        vec![
            (format!("{prefix}assignment.json"), a),
            (format!("{prefix}release.json"), r),
        ]
    }

    fn good_chain(k: &Keys) -> Files {
        let v2 = k.root_doc(2, NOW + YEAR);
        let mut files = vec![(
            "root-2.json".into(),
            sign_root(&v2, &[&k.root[0], &k.root[1]]),
        )];
        files.extend(files_of("", k.pair(1, 0, 1)));
        files
    }

    fn expired_assignment(k: &Keys) -> Files {
        let (_, re) = k.pair(1, 0, 1);
        let mut a = assignment(&re, &release_doc(1, 0), 1);
        a.issued_at = NOW - 3601;
        a.expires = NOW - 1;
        files_of("", (by_director(k, &a), re))
    }

    fn expired_root(k: &Keys) -> Files {
        let v2 = k.root_doc(2, NOW - 1);
        vec![(
            "root-2.json".into(),
            sign_root(&v2, &[&k.root[0], &k.root[1]]),
        )]
    }

    fn bad_signature(k: &Keys) -> Files {
        let (_, mut re) = k.pair(1, 0, 1);
        let mut tampered = release_doc(1, 0);
        tampered.images[0].digest = Digest::of(b"attacker's image");
        re.payload = Envelope::new(RELEASE_PAYLOAD_TYPE, &json(&tampered)).payload;
        let a = assignment(&re, &tampered, 1);
        files_of("", (by_director(k, &a), re))
    }

    fn duplicate_signatures(k: &Keys) -> Files {
        let mut env = sign_root(&k.root_doc(2, NOW + DAY), &[&k.root[0]]);
        let sig = env.signatures[0].clone();
        env.signatures.extend([sig.clone(), sig]);
        vec![("root-2.json".into(), env)]
    }

    fn unknown_key_ids(k: &Keys) -> Files {
        let r = release_doc(1, 0);
        let mut re = sign_release(&r, &[&k.release, &k.foreign]);
        re.signatures[0].keyid = KeyId("0".repeat(64));
        let a = assignment(&re, &r, 1);
        files_of("", (by_director(k, &a), re))
    }

    fn rolled_back_sequence(k: &Keys) -> Files {
        let (accepted_a, re) = k.pair(2, 0, 5);
        let old = assignment(&re, &release_doc(2, 0), 4);
        let mut files = files_of("accepted-1.", (accepted_a, re.clone()));
        files.extend(files_of("", (by_director(k, &old), re)));
        files
    }

    fn rolled_back_release_counter(k: &Keys) -> Files {
        let (a1, re1) = k.pair(2, 0, 1);
        let (a2, re2) = k.pair(3, 0, 2);
        let replay = assignment(&re1, &release_doc(2, 0), 3);
        let mut files = files_of("accepted-1.", (a1, re1.clone()));
        files.extend(files_of("accepted-2.", (a2, re2)));
        files.extend(files_of("", (by_director(k, &replay), re1)));
        files
    }

    fn downgrade_without_permission(k: &Keys) -> Files {
        let mut files = files_of("accepted-1.", k.pair(3, 0, 5));
        files.extend(files_of("", k.pair(2, 0, 6)));
        files
    }

    fn downgrade_below_floor(k: &Keys) -> Files {
        let mut files = files_of("accepted-1.", k.pair(5, 4, 5));
        let r = release_doc(3, 0);
        let re = sign_release(&r, &[&k.release]);
        let mut a = assignment(&re, &r, 6);
        a.allow_downgrade = true;
        files.extend(files_of("", (by_director(k, &a), re)));
        files
    }

    fn skipped_root_version(k: &Keys) -> Files {
        let v3 = k.root_doc(3, NOW + YEAR);
        vec![(
            "root-3.json".into(),
            sign_root(&v3, &[&k.root[0], &k.root[1]]),
        )]
    }

    fn release_signed_by_director(k: &Keys) -> Files {
        let r = release_doc(1, 0);
        let re = sign_release(&r, &[&k.director]);
        let a = assignment(&re, &r, 1);
        files_of("", (by_director(k, &a), re))
    }

    fn mix_and_match(k: &Keys) -> Files {
        let (a1, _) = k.pair(1, 0, 1);
        let (_, re2) = k.pair(2, 0, 1);
        files_of("", (a1, re2))
    }

    fn another_install(k: &Keys) -> Files {
        let (_, re) = k.pair(1, 0, 1);
        let mut a = assignment(&re, &release_doc(1, 0), 1);
        a.install_id = "inst-2".into();
        files_of("", (by_director(k, &a), re))
    }

    fn mix_and_match_app(k: &Keys) -> Files {
        let r = release_doc_of(OTHER_APP, 1, 0);
        let re = sign_release(&r, &[&k.release]);
        let a = assignment(&re, &r, 1);
        files_of("", (by_director(k, &a), re))
    }

    fn mix_and_match_app_release(k: &Keys) -> Files {
        let r = release_doc_of(OTHER_APP, 1, 0);
        let re = sign_release(&r, &[&k.release]);
        let mut a = assignment(&re, &r, 1);
        a.app = release_doc(1, 0).app;
        files_of("", (by_director(k, &a), re))
    }

    fn files_for(dir: &str, k: &Keys) -> Files {
        match dir {
            "good-chain" => good_chain(k),
            "expired-assignment" => expired_assignment(k),
            "expired-root" => expired_root(k),
            "bad-signature" => bad_signature(k),
            "duplicate-signatures" => duplicate_signatures(k),
            "unknown-key-ids" => unknown_key_ids(k),
            "rolled-back-assignment-sequence" => rolled_back_sequence(k),
            "rolled-back-release-counter" => rolled_back_release_counter(k),
            "downgrade-without-permission" => downgrade_without_permission(k),
            "downgrade-below-rollback-floor" => downgrade_below_floor(k),
            "skipped-root-version" => skipped_root_version(k),
            "release-signed-by-director" => release_signed_by_director(k),
            "mix-and-match" => mix_and_match(k),
            "assignment-for-another-install" => another_install(k),
            "mix-and-match-app" => mix_and_match_app(k),
            "mix-and-match-app-release" => mix_and_match_app_release(k),
            other => panic!("no generator for fixture {other}"),
        }
    }

    fn write(path: &Path, bytes: &[u8]) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    fn write_envelope(path: &Path, env: &Envelope) {
        let mut text = serde_json::to_string_pretty(env).unwrap();
        text.push('\n');
        write(path, text.as_bytes());
    }

    /// Writes root v1, its fingerprint, every case directory and the index.
    pub fn write_all(out: &Path) {
        let k = Keys::fixed();
        let v1 = sign_root(&k.root_doc(1, NOW + YEAR), &[&k.root[0], &k.root[1]]);
        write_envelope(&out.join("root-1.json"), &v1);
        let fp = root_fingerprint(&v1).unwrap();
        write(
            &out.join("root-1.fingerprint"),
            format!("{fp}\n").as_bytes(),
        );
        let mut index = String::from(INDEX_HEAD);
        for (dir, wrong) in CASES {
            for (name, env) in files_for(dir, &k) {
                write_envelope(&out.join(dir).join(name), &env);
            }
            write(
                &out.join(dir).join("README.md"),
                format!("{wrong}\n").as_bytes(),
            );
            index.push_str(&format!("| `{dir}` | {wrong} |\n"));
        }
        index.push_str(INDEX_TAIL);
        write(&out.join("README.md"), index.as_bytes());
    }

    const INDEX_HEAD: &str = "# Trust fixtures\n\n\
Signed documents for `tests/fixtures.rs`, written by its ignored `regenerate_fixtures` test \
from fixed key seeds (`SigningKey::from_bytes(&[n; 32])`: root keys 1, 2, 3 with threshold 2, \
release key 4, director key 5, foreign key 6) and checked at Unix time 1800000000 for install \
`inst-1`. Every install starts from `root-1.json`, pinned by `root-1.fingerprint`. \
`accepted-<n>.*.json` files are check-ins accepted, in order, before the one under test.\n\n\
| directory | what is wrong |\n|---|---|\n";

    const INDEX_TAIL: &str = "\nThere is no oversized-document fixture: the verifier \
(`driftless_trust::verify_*`) has no per-document size cap; only the client's HTTP read \
(`driftless_client::MAX_RESPONSE_BYTES`, 8 MiB) bounds a document today.\n";
}
