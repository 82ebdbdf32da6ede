//! The control plane's data directory: where each file lives, the settings file,
//! and loading keys from it.

use anyhow::{anyhow, Context as _, Result};
use driftless_exit::HintExt as _;
use driftless_wire::Envelope;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::spki::der::zeroize::Zeroizing;
use ed25519_dalek::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, KeypairBytes};
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// Settings written by `init`, read by `serve`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Settings {
    /// Address `serve` listens on.
    pub listen: String,
    /// URL installs and the registry reach the control plane at.
    pub public_url: String,
    /// The database `serve` uses (`sqlite://…` or `postgres://…`); the SQLite file in
    /// the data directory when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database_url: Option<String>,
    /// What the running server needs.
    #[serde(flatten)]
    pub server: driftless_server::ServerConfig,
}

/// Paths inside a data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// The data directory at `root`.
    pub fn new(root: &Path) -> Self {
        DataDir {
            root: root.to_path_buf(),
        }
    }
    /// The directory itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// `settings.toml`.
    pub fn settings(&self) -> PathBuf {
        self.root.join("settings.toml")
    }
    /// The SQLite database, the default when no database URL is set.
    pub fn database(&self) -> PathBuf {
        self.root.join("driftless.db")
    }
    /// Online keys `serve` uses.
    pub fn keys(&self) -> PathBuf {
        self.root.join("keys")
    }
    /// The director key.
    pub fn director_key(&self) -> PathBuf {
        self.keys().join("director.pem")
    }
    /// The audit checkpoint key.
    pub fn checkpoint_key(&self) -> PathBuf {
        self.keys().join("checkpoint.pem")
    }
    /// The registry-token private key.
    pub fn token_key(&self) -> PathBuf {
        self.keys().join("registry-token.pem")
    }
    /// The registry-token certificate in use.
    pub fn token_cert(&self) -> PathBuf {
        self.keys().join("registry-token.crt")
    }
    /// The next registry-token key, already trusted by the registry.
    pub fn next_token_key(&self) -> PathBuf {
        self.keys().join("registry-token-next.pem")
    }
    /// The next registry-token certificate.
    pub fn next_token_cert(&self) -> PathBuf {
        self.keys().join("registry-token-next.crt")
    }
    /// The certificate bundle the registry trusts (its `rootcertbundle`): the current
    /// and the next certificate, and the previous one while its tokens may live.
    pub fn token_bundle(&self) -> PathBuf {
        self.keys().join("registry-token-bundle.crt")
    }
    /// Keys that belong off this machine: root keys and the release key.
    pub fn offline(&self) -> PathBuf {
        self.root.join("offline-keys")
    }
    /// The release signing key, as `init` left it for vendor CI.
    pub fn release_key(&self) -> PathBuf {
        self.offline().join("release.pem")
    }
    /// Root key `i` (1-based).
    pub fn root_key(&self, i: usize) -> PathBuf {
        self.offline().join(format!("root-{i}.pem"))
    }
    /// Signed root documents.
    pub fn trust(&self) -> PathBuf {
        self.root.join("trust")
    }
    /// `artifacts/`: where earlier versions kept the CLI binaries `publish --cli-binary`
    /// uploaded, one file per digest; `serve` moves them into the database.
    pub fn artifacts(&self) -> PathBuf {
        self.root.join("artifacts")
    }

    /// Root version `v`.
    pub fn root_doc(&self, v: u64) -> PathBuf {
        self.trust().join(format!("root.{v}.json"))
    }

    /// Reads `settings.toml`.
    pub fn load_settings(&self) -> Result<Settings> {
        let path = self.settings();
        let text = fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))
            .hint(format!(
                "run `driftless-vendor init --data-dir {}` first",
                self.root.display()
            ))?;
        toml::from_str(&text).with_context(|| format!("malformed {}", path.display()))
    }

    /// Every root version, oldest first.
    pub fn load_roots(&self) -> Result<Vec<Envelope>> {
        let mut roots = Vec::new();
        for v in 1.. {
            let path = self.root_doc(v);
            if !path.exists() {
                break;
            }
            let text =
                fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
            roots.push(
                serde_json::from_slice(&text)
                    .with_context(|| format!("malformed {}", path.display()))?,
            );
        }
        if roots.is_empty() {
            return Err(anyhow!("no root document in {}", self.trust().display()))
                .hint("run `driftless-vendor init` first");
        }
        Ok(roots)
    }
}

/// Writes `bytes` to a new file readable by the owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    f.write_all(bytes)?;
    f.sync_all()?;
    Ok(())
}

/// Creates a directory readable by the owner only.
pub fn create_private_dir(path: &Path) -> Result<()> {
    fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// Writes an Ed25519 key as PKCS#8 PEM, mode 0600.
///
/// PKCS#8 v1 (RFC 8410, without the public key), the form OpenSSL, HSM import tools and
/// KMS accept, so the same file can move behind `publish --sign-with`.
pub fn write_signing_key(path: &Path, key: &SigningKey) -> Result<()> {
    write_private(path, pkcs8_v1_pem(key)?.as_bytes())
}

/// The PKCS#8 v1 PEM of an Ed25519 key.
///
/// Encoded from `KeypairBytes` without its public half: `SigningKey`'s own
/// `EncodePrivateKey` writes PKCS#8 v2 (with the public key), which is not the form
/// `--sign-with` tools are tested with.
fn pkcs8_v1_pem(key: &SigningKey) -> Result<Zeroizing<String>> {
    let v1 = KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    };
    v1.to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("cannot encode the Ed25519 key as PKCS#8: {e}"))
}

/// Reads an Ed25519 key from PKCS#8 PEM text.
pub fn parse_signing_key(pem: &str, what: &str) -> Result<SigningKey> {
    SigningKey::from_pkcs8_pem(pem.trim())
        .map_err(|e| anyhow::anyhow!("{what} is not an Ed25519 PKCS#8 PEM key: {e}"))
}

/// Reads an Ed25519 key from a PEM file.
pub fn read_signing_key(path: &Path) -> Result<SigningKey> {
    let text =
        fs::read_to_string(path).with_context(|| format!("cannot read key {}", path.display()))?;
    parse_signing_key(&text, &path.display().to_string())
}

#[cfg(test)]
mod tests {
    use ed25519_dalek::SigningKey;

    /// The PEM the hand-built encoder wrote before `pkcs8` took over; files on disk
    /// and `--sign-with` tooling depend on these exact bytes.
    fn hand_built_pkcs8_v1_pem(key: &SigningKey) -> String {
        use base64::Engine as _;
        // SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING seed } }
        let mut der = vec![
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20,
        ];
        der.extend_from_slice(&key.to_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n")
    }

    #[test]
    fn written_keys_read_back_as_the_same_key() {
        let key = driftless_wire::keys::generate_signing_key();
        let back = super::parse_signing_key(&super::pkcs8_v1_pem(&key).unwrap(), "test").unwrap();
        assert_eq!(back.to_bytes(), key.to_bytes());
    }

    #[test]
    fn written_pem_is_byte_identical_to_the_hand_built_pkcs8_v1() {
        for _ in 0..32 {
            let key = driftless_wire::keys::generate_signing_key();
            assert_eq!(
                super::pkcs8_v1_pem(&key).unwrap().as_str(),
                hand_built_pkcs8_v1_pem(&key)
            );
        }
    }

    #[test]
    fn written_pem_is_the_rfc_8410_example_for_its_key() {
        // RFC 8410 section 10.3: a PKCS#8 v1 Ed25519 private key, no public key field.
        let seed = hex::decode("d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842")
            .unwrap();
        let key = SigningKey::from_bytes(&seed.try_into().unwrap());
        let expected = "-----BEGIN PRIVATE KEY-----\n\
                        MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
                        -----END PRIVATE KEY-----\n";
        assert_eq!(super::pkcs8_v1_pem(&key).unwrap().as_str(), expected);
        assert_eq!(hand_built_pkcs8_v1_pem(&key), expected);
    }
}
