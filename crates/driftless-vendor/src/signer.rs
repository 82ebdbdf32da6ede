//! Who signs a release document: the release key in a file, or an external signer
//! (`--sign-with CMD`) so a hardware key or a KMS can hold it. The external command
//! reads the bytes to sign (the DSSE pre-authentication encoding) on stdin and writes
//! the 64-byte Ed25519 signature on stdout, raw, base64 or hex.

use anyhow::{anyhow, Context as _, Result};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use driftless_exit::HintExt as _;
use driftless_wire::envelope::pae;
use driftless_wire::{KeyId, PublicKey};
use ed25519_dalek::{Signer as _, SigningKey};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{datadir, env};

/// Payload type of the probe an external signer signs before anything is uploaded.
const PROBE_TYPE: &str = "application/vnd.driftless.signer-probe";

/// Signs release documents.
pub enum ReleaseSigner {
    /// A key read from a file or the environment.
    Key(SigningKey),
    /// A shell command (run with `sh -c`).
    Command(String),
}

impl ReleaseSigner {
    /// The signer `publish` was told to use: `--sign-with CMD`, else the key file
    /// given as `--release-key`, else the key in `DRIFTLESS_RELEASE_KEY`, else the key
    /// file in `DRIFTLESS_RELEASE_KEY_FILE`. What is on the command line wins over
    /// the environment.
    pub fn from_command_line(sign_with: Option<String>, key_file: Option<&Path>) -> Result<Self> {
        let source = choose(
            sign_with,
            key_file,
            // An empty variable counts as unset.
            std::env::var(env::RELEASE_KEY)
                .ok()
                .filter(|v| !v.is_empty()),
            std::env::var_os(env::RELEASE_KEY_FILE)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from),
        );
        match source {
            KeySource::Command(cmd) => Ok(ReleaseSigner::Command(cmd)),
            KeySource::Pem(pem) => Ok(ReleaseSigner::Key(datadir::parse_signing_key(
                &pem,
                env::RELEASE_KEY,
            )?)),
            KeySource::File(path) => Ok(ReleaseSigner::Key(datadir::read_signing_key(&path)?)),
            KeySource::Missing => {
                Err(driftless_exit::InvalidInput("no release key".into())).hint(format!(
                    "pass --release-key FILE or set {} or {}",
                    env::RELEASE_KEY_FILE,
                    env::RELEASE_KEY
                ))
            }
        }
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Result<Vec<u8>> {
        match self {
            ReleaseSigner::Key(k) => Ok(k.sign(message).to_bytes().to_vec()),
            ReleaseSigner::Command(cmd) => run_signer(cmd, message),
        }
    }

    /// The id of the trusted key this signer signs with; refuses a signer none of
    /// `trusted` verifies, before anything is uploaded.
    pub fn key_id(&self, trusted: &[(KeyId, PublicKey)], root_version: u64) -> Result<KeyId> {
        let probe = pae(
            PROBE_TYPE,
            format!("driftless signer probe {}", crate::clock::now()).as_bytes(),
        );
        let sig = self.sign(&probe)?;
        trusted
            .iter()
            .find(|(id, key)| key.key_id() == *id && key.verify(&probe, &sig))
            .map(|(id, _)| id.clone())
            .ok_or_else(|| {
                driftless_exit::InvalidInput(format!(
                    "the release signer's key is not trusted by root version {root_version}, so installs would refuse the release"
                ))
            })
            .hint("sign with a release key that root lists (after `keys rotate --role release`, offline-keys/release.pem)")
    }
}

/// Where the release key comes from.
#[derive(Debug, PartialEq, Eq)]
enum KeySource {
    /// `--sign-with CMD`.
    Command(String),
    /// The PEM text of `DRIFTLESS_RELEASE_KEY`.
    Pem(String),
    /// A key file: `--release-key`, or `DRIFTLESS_RELEASE_KEY_FILE`.
    File(PathBuf),
    /// None was given.
    Missing,
}

/// Picks the release key: the command line first, then the key's PEM in the
/// environment, then a key file named in the environment.
fn choose(
    sign_with: Option<String>,
    key_file: Option<&Path>,
    env_pem: Option<String>,
    env_file: Option<PathBuf>,
) -> KeySource {
    if let Some(cmd) = sign_with {
        return KeySource::Command(cmd);
    }
    if let Some(path) = key_file {
        return KeySource::File(path.to_path_buf());
    }
    if let Some(pem) = env_pem {
        return KeySource::Pem(pem);
    }
    env_file.map_or(KeySource::Missing, KeySource::File)
}

/// Runs the external signer. It gets the bytes to sign and nothing it does not need:
/// the operator token and the release key stay out of its environment, so a signer
/// command (or whatever it runs) cannot read or leak them.
fn run_signer(cmd: &str, message: &[u8]) -> Result<Vec<u8>> {
    let mut child = Command::new("sh")
        .args(["-c", cmd])
        .env_remove(env::TOKEN)
        .env_remove(env::RELEASE_KEY)
        .env_remove(env::RELEASE_KEY_FILE)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot run the signer `{cmd}`"))?;
    child
        .stdin
        .take()
        .context("the signer has no stdin")?
        .write_all(message)
        .with_context(|| format!("cannot write to the signer `{cmd}`"))?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(anyhow!(
            "the signer `{cmd}` failed ({}); nothing was uploaded",
            out.status
        ));
    }
    parse_signature(&out.stdout).ok_or_else(|| {
        driftless_exit::InvalidInput(format!(
            "the signer `{cmd}` printed no 64-byte Ed25519 signature (raw, base64 or hex)"
        ))
        .into()
    })
}

/// A 64-byte signature from raw bytes, base64 or hex text.
fn parse_signature(out: &[u8]) -> Option<Vec<u8>> {
    if out.len() == 64 {
        return Some(out.to_vec());
    }
    let text = std::str::from_utf8(out).ok()?.trim();
    // Hex digits are base64 letters too: take whichever reading gives 64 bytes.
    [hex::decode(text).ok(), B64.decode(text).ok()]
        .into_iter()
        .flatten()
        .find(|d| d.len() == 64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_read_raw_base64_or_hex() {
        let sig = [7u8; 64];
        assert_eq!(parse_signature(&sig).as_deref(), Some(&sig[..]));
        assert_eq!(
            parse_signature(format!("{}\n", B64.encode(sig)).as_bytes()).as_deref(),
            Some(&sig[..])
        );
        assert_eq!(
            parse_signature(hex::encode(sig).as_bytes()).as_deref(),
            Some(&sig[..])
        );
        assert!(parse_signature(b"nope").is_none());
    }

    #[test]
    fn the_command_line_wins_over_the_environment_and_the_pem_over_a_file() {
        let pem = || Some("PEM".to_string());
        let env_file = || Some(PathBuf::from("env.pem"));
        let arg = Path::new("arg.pem");
        assert_eq!(
            choose(Some("sign".into()), None, pem(), env_file()),
            KeySource::Command("sign".into())
        );
        assert_eq!(
            choose(None, Some(arg), pem(), env_file()),
            KeySource::File(arg.to_path_buf())
        );
        assert_eq!(
            choose(None, None, pem(), env_file()),
            KeySource::Pem("PEM".into())
        );
        assert_eq!(
            choose(None, None, None, env_file()),
            KeySource::File("env.pem".into())
        );
        assert_eq!(choose(None, None, None, None), KeySource::Missing);
    }

    #[test]
    fn an_external_signer_is_found_among_the_trusted_keys() {
        let key = driftless_wire::keys::generate_signing_key();
        let signer = ReleaseSigner::Key(key.clone());
        let p = PublicKey::from_signing_key(&key);
        let trusted = vec![(p.key_id(), p)];
        assert_eq!(signer.key_id(&trusted, 1).unwrap(), trusted[0].0);
        let other = ReleaseSigner::Key(driftless_wire::keys::generate_signing_key());
        assert!(other.key_id(&trusted, 1).is_err());
        let failing = ReleaseSigner::Command("exit 3".into());
        assert!(failing.key_id(&trusted, 1).is_err());
    }
}
