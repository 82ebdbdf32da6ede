//! The directory the CLI owns: `config.toml`, `keys/`, `trust/`, `releases/<version>/`,
//! `current`, and `sync.json` (what the last sync saw). The customer changes it
//! through the CLI, never by hand.

use anyhow::{anyhow, Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_trust::TrustState;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::status::{InstallStatus, Reason};
use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE};
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use toml_edit::{value, DocumentMut, Item, Table};

use crate::files::{create_private_dir, write_atomic};
use crate::policy::{Policy, Waiting};

const CONFIG_HEADER: &str =
    "# Managed by driftless: change it with `driftless config set`, not by hand.\n";

/// What `config.toml` holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The control plane's URL.
    pub server: String,
    /// This install's id.
    pub install_id: String,
    /// The app.
    pub app: String,
    /// The channel.
    pub channel: String,
    /// The compose project name.
    pub project: String,
    /// The pinned root fingerprint.
    pub root_fingerprint: String,
    /// Customer config values.
    pub values: BTreeMap<String, String>,
    /// When a new release may be applied (`[policy]`; absent: `auto`).
    pub policy: Policy,
}

/// What the last sync saw, for `status` and the next check-in.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct SyncRecord {
    /// ETag of the held assignment.
    pub etag: Option<String>,
    /// Version of the newest verified release.
    pub assigned_version: Option<String>,
    /// The install's state.
    pub status: Option<InstallStatus>,
    /// Unix seconds of the last sync attempt.
    pub last_sync: Option<i64>,
    /// The W3C trace id of the last sync attempt, to find its requests in the control
    /// plane's log.
    #[serde(default)]
    pub last_trace_id: Option<String>,
    /// Unix seconds of the last successful check-in.
    pub last_checkin: Option<i64>,
    /// One line: why the last sync failed.
    pub last_error: Option<String>,
    /// Why the host is not converged, structured.
    #[serde(default)]
    pub reason: Option<Reason>,
    /// The version the last sync tried to apply, when it is not the one running.
    #[serde(default)]
    pub target_version: Option<String>,
    /// A release that failed its health check: not retried until the assignment changes.
    #[serde(default)]
    pub failed: Option<FailedRelease>,
    /// A note from the control plane (waiting for a wave, a deprecated release).
    #[serde(default)]
    pub notice: Option<String>,
    /// What the last sync found drifted and repaired.
    #[serde(default)]
    pub last_repair: Option<String>,
    /// The check-in interval the control plane last asked for.
    #[serde(default)]
    pub next_checkin_s: Option<u64>,
    /// A verified, downloaded release that waits for the update policy.
    #[serde(default)]
    pub waiting: Option<Waiting>,
}

/// A release this host tried and rolled back.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailedRelease {
    /// Its version.
    pub version: String,
    /// Digest of its signed payload: a republished release under the same version differs.
    pub digest: String,
    /// Why it failed.
    pub reason: Reason,
}

/// The state directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// The state directory at `root`.
    pub fn new(root: &Path) -> Self {
        StateDir {
            root: root.to_path_buf(),
        }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `config.toml`.
    pub fn config_path(&self) -> PathBuf {
        self.root.join("config.toml")
    }
    fn key_path(&self) -> PathBuf {
        self.root.join("keys").join("install.pem")
    }
    fn trust_path(&self) -> PathBuf {
        self.root.join("trust").join("trust.json")
    }
    fn sync_path(&self) -> PathBuf {
        self.root.join("sync.json")
    }
    /// The copy of `config.toml` as the CLI last wrote it, to detect hand edits.
    fn managed_config_path(&self) -> PathBuf {
        self.root.join(".config.toml.managed")
    }
    /// `journal.json`: the step a sync is in.
    pub fn journal_path(&self) -> PathBuf {
        self.root.join("journal.json")
    }
    /// `releases/<version>/`.
    pub fn release_dir(&self, version: &str) -> PathBuf {
        self.root.join("releases").join(version)
    }
    /// The `current` symlink.
    pub fn current_link(&self) -> PathBuf {
        self.root.join("current")
    }
    /// Whether an install lives here.
    pub fn is_installed(&self) -> bool {
        self.config_path().exists()
    }

    /// Creates the directory tree, private.
    pub fn create(&self) -> Result<()> {
        create_private_dir(&self.root)?;
        create_private_dir(&self.root.join("keys"))?;
        create_private_dir(&self.root.join("trust"))?;
        create_private_dir(&self.root.join("releases"))?;
        Ok(())
    }

    /// Takes the state directory's lock for one sync; refuses while another holds it.
    pub fn lock(&self) -> Result<fs::File> {
        let path = self.root.join(".lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive)
            .map_err(|_| {
                driftless_exit::Coded(
                    driftless_exit::code::FAILURE,
                    format!(
                        "another driftless sync or agent is working on {}",
                        self.root.display()
                    ),
                )
            })
            .hint("wait for it, or run only one of the agent and the timer")?;
        Ok(file)
    }

    /// Reads `config.toml`.
    pub fn load_config(&self) -> Result<Config> {
        let path = self.config_path();
        let text = fs::read_to_string(&path)
            .map_err(|_| {
                driftless_exit::InvalidInput(format!("no install in {}", self.root.display()))
            })
            .hint("run `driftless install` first, or pass --state-dir")?;
        let doc: DocumentMut = text
            .parse()
            .with_context(|| format!("{} is not valid TOML", path.display()))?;
        let field = |k: &str| -> Result<String> {
            doc.get("install")
                .and_then(|t| t.get(k))
                .and_then(|v| v.as_str())
                .map(str::to_string)
                .ok_or_else(|| anyhow!("{} has no install.{k}", path.display()))
        };
        let mut values = BTreeMap::new();
        if let Some(t) = doc.get("values").and_then(Item::as_table) {
            for (k, v) in t.iter() {
                let v = v
                    .as_str()
                    .ok_or_else(|| anyhow!("{}: values.{k} must be a string", path.display()))?;
                values.insert(k.to_string(), v.to_string());
            }
        }
        let policy_field = |k: &str| {
            doc.get("policy")
                .and_then(|t| t.get(k))
                .and_then(|v| v.as_str())
        };
        let policy = Policy::from_config(policy_field("mode"), policy_field("windows"))
            .with_context(|| format!("{}: invalid [policy]", path.display()))
            .hint("set it again with `driftless policy set`")?;
        Ok(Config {
            policy,
            server: field("server")?,
            install_id: field("id")?,
            app: field("app")?,
            channel: field("channel")?,
            project: field("project")?,
            root_fingerprint: field("root_fingerprint")?,
            values,
        })
    }

    /// Writes `config.toml` atomically, mode 0600 (it may hold secrets).
    pub fn save_config(&self, c: &Config) -> Result<()> {
        let mut doc = DocumentMut::new();
        let mut install = Table::new();
        install.insert("server", value(&c.server));
        install.insert("id", value(&c.install_id));
        install.insert("app", value(&c.app));
        install.insert("channel", value(&c.channel));
        install.insert("project", value(&c.project));
        install.insert("root_fingerprint", value(&c.root_fingerprint));
        doc.insert("install", Item::Table(install));
        let mut values = Table::new();
        for (k, v) in &c.values {
            values.insert(k, value(v));
        }
        doc.insert("values", Item::Table(values));
        let mut policy = Table::new();
        policy.insert("mode", value(c.policy.mode()));
        if let Some(w) = c.policy.windows_text() {
            policy.insert("windows", value(w));
        }
        doc.insert("policy", Item::Table(policy));
        let text = format!("{CONFIG_HEADER}{doc}");
        write_atomic(&self.managed_config_path(), text.as_bytes(), true)?;
        write_atomic(&self.config_path(), text.as_bytes(), true)
    }

    /// Restores `config.toml` if it was edited by hand, keeping the edit beside it.
    /// Returns what was repaired.
    pub fn repair_config(&self, now: i64) -> Result<Option<String>> {
        let path = self.config_path();
        let Ok(managed) = fs::read(self.managed_config_path()) else {
            // Installed by an older CLI: adopt the file as it is.
            if let Ok(current) = fs::read(&path) {
                write_atomic(&self.managed_config_path(), &current, true)?;
            }
            return Ok(None);
        };
        let current = fs::read(&path).ok();
        if current.as_deref() == Some(&managed[..]) {
            return Ok(None);
        }
        let note = match current {
            Some(edited) => {
                let backup = self.root.join(format!("config.toml.edited-{now}"));
                write_atomic(&backup, &edited, true)?;
                format!(
                    "config.toml was edited by hand; restored it and kept the edit as {}",
                    backup.display()
                )
            }
            None => "config.toml was deleted; restored it".to_string(),
        };
        write_atomic(&path, &managed, true)?;
        Ok(Some(note))
    }

    /// Writes the install's key, mode 0600.
    pub fn save_key(&self, key: &SigningKey) -> Result<()> {
        let pem = key
            .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .map_err(|e| anyhow!("cannot encode the install key: {e}"))?;
        write_atomic(&self.key_path(), pem.as_bytes(), true)
    }

    /// Reads the install's key.
    pub fn load_key(&self) -> Result<SigningKey> {
        let path = self.key_path();
        let pem =
            fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
        SigningKey::from_pkcs8_pem(&pem)
            .map_err(|e| anyhow!("{} is not a valid key: {e}", path.display()))
    }

    /// Writes the trust state atomically with fsync.
    pub fn save_trust(&self, t: &TrustState) -> Result<()> {
        write_atomic(&self.trust_path(), &serde_json::to_vec_pretty(t)?, false)
    }

    /// Reads the trust state. A state written before hosts were pinned to their app is
    /// pinned to the app `config.toml` recorded at install, and saved so.
    pub fn load_trust(&self) -> Result<TrustState> {
        let path = self.trust_path();
        let bytes = fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        let mut trust: TrustState = serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is corrupt", path.display()))
            .hint("reinstall: `driftless install` into a fresh --state-dir")?;
        if trust.app.is_empty() {
            trust.app = self.load_config()?.app;
            self.save_trust(&trust)?;
        }
        Ok(trust)
    }

    /// Writes the root document envelope of `version`.
    pub fn save_root(&self, version: u64, env: &Envelope) -> Result<()> {
        let path = self.root.join("trust").join(format!("root.{version}.json"));
        write_atomic(&path, &serde_json::to_vec_pretty(env)?, false)
    }

    /// The audit checkpoint this host witnessed last (`None` when it saw none, or the
    /// file is unreadable: the next one is then taken on first sight).
    pub fn load_witnessed_checkpoint(&self) -> Option<Envelope> {
        fs::read(self.witnessed_checkpoint_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
    }

    /// Keeps the audit checkpoint this host witnessed last, atomically.
    pub fn save_witnessed_checkpoint(&self, env: &Envelope) -> Result<()> {
        write_atomic(
            &self.witnessed_checkpoint_path(),
            &serde_json::to_vec_pretty(env)?,
            false,
        )
    }

    fn witnessed_checkpoint_path(&self) -> PathBuf {
        self.root.join("trust").join("audit-checkpoint.json")
    }

    /// Reads `sync.json` (empty when absent or unreadable).
    pub fn load_sync(&self) -> SyncRecord {
        fs::read(self.sync_path())
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default()
    }

    /// Writes `sync.json`.
    pub fn save_sync(&self, r: &SyncRecord) -> Result<()> {
        write_atomic(&self.sync_path(), &serde_json::to_vec_pretty(r)?, false)
    }

    /// Stores a verified assignment and release under `releases/<version>/`.
    pub fn save_verified(
        &self,
        version: &str,
        assignment: &Envelope,
        release: &Envelope,
    ) -> Result<PathBuf> {
        let dir = self.release_dir(version);
        create_private_dir(&dir)?;
        write_atomic(
            &dir.join("assignment.json"),
            &serde_json::to_vec_pretty(assignment)?,
            false,
        )?;
        write_atomic(
            &dir.join("release.json"),
            &serde_json::to_vec_pretty(release)?,
            false,
        )?;
        Ok(dir)
    }

    /// The stored release document of `version` and its assignment (already verified when stored).
    pub fn load_verified(&self, version: &str) -> Result<(Envelope, ReleaseDocument, Assignment)> {
        let dir = self.release_dir(version);
        let read = |name: &str| -> Result<Envelope> {
            let p = dir.join(name);
            let b = fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_slice(&b).with_context(|| format!("{} is corrupt", p.display()))
        };
        let release_env = read("release.json")?;
        let release = release_env.decode(RELEASE_PAYLOAD_TYPE, "release document")?;
        let assignment = read("assignment.json")?.decode(ASSIGNMENT_PAYLOAD_TYPE, "assignment")?;
        Ok((release_env, release, assignment))
    }

    /// Records that `version` ran healthy here (`current` was switched to it): only
    /// such a release is a target for `driftless rollback`.
    pub fn mark_ran(&self, version: &str) -> Result<()> {
        let at = crate::now().to_string();
        write_atomic(&self.release_dir(version).join("ran"), at.as_bytes(), false)
    }

    /// Whether `version` ran healthy here (see [`StateDir::mark_ran`]).
    pub fn has_run(&self, version: &str) -> bool {
        self.release_dir(version).join("ran").exists()
    }

    /// Every version with a directory under `releases/`.
    pub fn stored_versions(&self) -> Vec<String> {
        let Ok(entries) = fs::read_dir(self.root.join("releases")) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    /// The stored assignment and release envelopes of `version`, as received.
    pub fn load_verified_envelopes(&self, version: &str) -> Result<(Envelope, Envelope)> {
        let dir = self.release_dir(version);
        let read = |name: &str| -> Result<Envelope> {
            let p = dir.join(name);
            let b = fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            serde_json::from_slice(&b).with_context(|| format!("{} is corrupt", p.display()))
        };
        Ok((read("assignment.json")?, read("release.json")?))
    }

    /// The version `current` points at.
    pub fn current_version(&self) -> Option<String> {
        let target = fs::read_link(self.current_link()).ok()?;
        target.file_name().map(|n| n.to_string_lossy().into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trust_state_from_before_app_pinning_is_pinned_to_the_installed_app() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        dir.create().unwrap();
        dir.save_config(&Config {
            server: "http://127.0.0.1:8080".into(),
            install_id: "ins_1".into(),
            app: "acme".into(),
            channel: "stable".into(),
            project: "acme".into(),
            root_fingerprint: "sha256:00".into(),
            values: BTreeMap::new(),
            policy: Policy::Auto,
        })
        .unwrap();
        // What an older CLI wrote: no `app`.
        let old = r#"{"root":{"type":"root","version":1,"expires":1,"keys":{},"roles":{}},
            "highest_sequence":4,"highest_release_counter":3,"rollback_floor":2}"#;
        fs::write(dir.trust_path(), old).unwrap();
        let trust = dir.load_trust().unwrap();
        assert_eq!(trust.app, "acme");
        assert_eq!(
            (
                trust.highest_sequence,
                trust.highest_release_counter,
                trust.rollback_floor
            ),
            (4, 3, 2)
        );
        let stored: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.trust_path()).unwrap()).unwrap();
        assert_eq!(stored["app"], "acme", "the pin is saved: {stored}");
    }

    #[test]
    fn the_policy_is_kept_in_config_toml_and_an_older_file_means_auto() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::new(tmp.path());
        dir.create().unwrap();
        let mut config = Config {
            server: "http://127.0.0.1:8080".into(),
            install_id: "ins_1".into(),
            app: "acme".into(),
            channel: "stable".into(),
            project: "acme".into(),
            root_fingerprint: "sha256:00".into(),
            values: BTreeMap::new(),
            policy: Policy::Window(
                crate::window::parse("Sat 02:00-04:00, Sun 23:00-01:00").unwrap(),
            ),
        };
        dir.save_config(&config).unwrap();
        assert_eq!(dir.load_config().unwrap(), config);
        // What a CLI from before policies wrote: no [policy] table.
        let text = fs::read_to_string(dir.config_path()).unwrap();
        let old = text.split("[policy]").next().unwrap();
        fs::write(dir.config_path(), old).unwrap();
        config.policy = Policy::Auto;
        assert_eq!(dir.load_config().unwrap(), config);
    }
}
