//! `driftless self-update`: replace this binary with the CLI build a verified release
//! offers for this platform.
//!
//! The release document is signed by the release key, so the build's digest and size
//! in it are trusted; the control plane only stores the bytes. The download is read
//! under the declared size and checked against the digest before anything on disk
//! changes. Then: the new binary is written beside the running one (`.driftless.new`,
//! 0755, fsync), the running one is kept as `<exe>.prev`, the new one is renamed over
//! `<exe>` and the directory fsynced, and `<exe> --version` must print the expected
//! version; if it does not, `<exe>.prev` is renamed back.

use anyhow::{Context as _, Result};
use driftless_client::{ClientError, InstallClient};
use driftless_exit::HintExt as _;
use driftless_exit::{code, Coded};
use driftless_wire::release::{CliBinary, ReleaseDocument};
use ed25519_dalek::SigningKey;
use std::ffi::OsString;
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::request_clock::next_request_ms;
use crate::state::StateDir;
use crate::{platform, CLI_VERSION};

/// How long the new binary may take to answer `--version`.
const SMOKE_TEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A binary that was replaced.
pub struct Replaced {
    /// The path of the running binary, now the new one.
    pub exe: PathBuf,
    /// Where the previous binary is kept.
    pub prev: PathBuf,
    /// The new binary's version.
    pub version: semver::Version,
}

/// The CLI build `release` offers for this host's platform.
pub fn offered(release: &ReleaseDocument) -> Option<&CliBinary> {
    let here = platform();
    release.cli.iter().find(|b| b.platform == here)
}

/// Arguments of `driftless self-update`.
#[derive(clap::Args)]
pub struct SelfUpdateArgs {
    /// Install it even when it is not newer than this CLI.
    #[arg(long)]
    force: bool,
}

/// Runs `driftless self-update` and says where the previous binary is kept.
pub async fn run_command(dir: &StateDir, args: SelfUpdateArgs) -> Result<()> {
    let done = run(dir, args.force).await?;
    eprintln!(
        "updated {} to driftless {}; the previous binary is kept as {}",
        done.exe.display(),
        done.version,
        done.prev.display()
    );
    Ok(())
}

/// `driftless self-update [--force]`: updates to the build the newest verified
/// release this host holds offers.
pub async fn run(dir: &StateDir, force: bool) -> Result<Replaced> {
    let _lock = dir.lock()?;
    let config = dir.load_config()?;
    let key = dir.load_key()?;
    let version = dir
        .load_sync()
        .assigned_version
        .ok_or_else(|| {
            Coded(
                code::NOT_FOUND,
                "this host holds no verified release yet".into(),
            )
        })
        .hint("run `driftless sync` first")?;
    let (_, release, _) = dir.load_verified(&version)?;
    let binary = offered(&release).ok_or_else(|| {
        Coded(
            code::NOT_FOUND,
            format!(
                "release {version} offers no driftless build for {}; nothing was changed",
                platform()
            ),
        )
    })?;
    let client = crate::run_trace::client(&config.server)?;
    update_to(&client, dir, &config.install_id, &key, binary, force).await
}

/// Downloads and verifies `binary`, puts it in place of the running binary, and
/// smoke-tests it, restoring the previous binary if it fails.
pub async fn update_to(
    client: &InstallClient,
    dir: &StateDir,
    install_id: &str,
    key: &SigningKey,
    binary: &CliBinary,
    force: bool,
) -> Result<Replaced> {
    let current: semver::Version = CLI_VERSION.parse()?;
    if binary.version <= current && !force {
        return Err(Coded(
            code::CONFLICT,
            format!(
                "driftless is already at {current} and the release offers {}; nothing was changed",
                binary.version
            ),
        ))
        .hint("pass --force to install it anyway");
    }
    let signed_at_ms = next_request_ms(dir)?;
    let bytes = download(client, install_id, key, binary, signed_at_ms).await?;
    let exe = std::env::current_exe().context("cannot locate the running driftless binary")?;
    let prev = with_suffix(&exe, ".prev");
    replace(&exe, &prev, &bytes)?;
    if let Err(why) = smoke_test(&exe, &binary.version) {
        fs::rename(&prev, &exe).with_context(|| {
            format!(
                "the new driftless {} failed its smoke test ({why}) and restoring {} from {} failed",
                binary.version,
                exe.display(),
                prev.display()
            )
        })?;
        sync_dir(&exe)?;
        return Err(Coded(
            code::SELF_UPDATE,
            format!(
                "the new driftless {} failed its smoke test ({why}); restored the previous binary at {}",
                binary.version,
                exe.display()
            ),
        )
        .into());
    }
    Ok(Replaced {
        exe,
        prev,
        version: binary.version.clone(),
    })
}

/// The build's bytes, refused unless they have the signed size and digest.
async fn download(
    client: &InstallClient,
    install_id: &str,
    key: &SigningKey,
    binary: &CliBinary,
    signed_at_ms: i64,
) -> Result<Vec<u8>> {
    let refused = |why: String| {
        Coded(
            code::VERIFICATION,
            format!(
                "the driftless {} build the control plane sent {why}; refusing it, nothing was replaced",
                binary.version
            ),
        )
    };
    let bytes = match client
        .download_artifact(install_id, key, &binary.digest, binary.size, signed_at_ms)
        .await
    {
        Ok(b) => b,
        Err(ClientError::TooLarge { .. }) => {
            return Err(refused(format!(
                "is larger than the {} bytes the signed release declares",
                binary.size
            ))
            .into())
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot download driftless {} ({})",
                binary.version, binary.digest
            )))
        }
    };
    if bytes.len() as u64 != binary.size {
        return Err(refused(format!(
            "is {} bytes, the signed release declares {}",
            bytes.len(),
            binary.size
        ))
        .into());
    }
    if !binary.digest.matches(&bytes) {
        return Err(refused(format!(
            "hashes to {}, the signed release declares {}",
            driftless_wire::Digest::of(&bytes),
            binary.digest
        ))
        .into());
    }
    Ok(bytes)
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut s = OsString::from(path.as_os_str());
    s.push(suffix);
    PathBuf::from(s)
}

fn sync_dir(exe: &Path) -> Result<()> {
    let dir = exe.parent().context("the binary's path has no directory")?;
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .with_context(|| format!("cannot fsync {}", dir.display()))
}

/// Writes `bytes` beside `exe`, keeps `exe` as `prev`, and renames the new one over it.
fn replace(exe: &Path, prev: &Path, bytes: &[u8]) -> Result<()> {
    let dir = exe.parent().context("the binary's path has no directory")?;
    let new = dir.join(".driftless.new");
    let written = (|| -> std::io::Result<()> {
        let mut f = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o755)
            .open(&new)?;
        f.write_all(bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written {
        let _ = fs::remove_file(&new);
        return Err(anyhow::Error::new(e).context(format!("cannot write {}", new.display())))
            .hint("the directory holding driftless must be writable by the user it runs as");
    }
    keep_previous(exe, prev)?;
    if let Err(e) = fs::rename(&new, exe) {
        let _ = fs::remove_file(&new);
        return Err(anyhow::Error::new(e).context(format!("cannot replace {}", exe.display())));
    }
    sync_dir(exe)
}

/// Keeps the running binary as `prev`: a hard link, or a copy where links fail.
fn keep_previous(exe: &Path, prev: &Path) -> Result<()> {
    match fs::remove_file(prev) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!("cannot remove {}", prev.display())))
        }
    }
    if fs::hard_link(exe, prev).is_err() {
        fs::copy(exe, prev)
            .and_then(|_| fs::File::open(prev)?.sync_all())
            .with_context(|| format!("cannot keep {} as {}", exe.display(), prev.display()))?;
    }
    sync_dir(exe)
}

/// Runs `exe --version`; it must print `driftless <version>` within the timeout.
fn smoke_test(exe: &Path, version: &semver::Version) -> std::result::Result<(), String> {
    let mut child = Command::new(exe)
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run `{} --version`: {e}", exe.display()))?;
    let deadline = Instant::now() + SMOKE_TEST_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "`--version` did not answer within {}s",
                    SMOKE_TEST_TIMEOUT.as_secs()
                ));
            }
            Err(e) => return Err(format!("cannot wait for `--version`: {e}")),
        }
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        let _ = std::io::Read::read_to_string(&mut stdout, &mut out);
    }
    let expected = format!("driftless {version}");
    if !status.success() {
        return Err(format!("`--version` exited with {status}"));
    }
    if out.trim() != expected {
        return Err(format!(
            "`--version` printed `{}`, expected `{expected}`",
            out.trim()
        ));
    }
    Ok(())
}

/// Replaces this process with the binary at `exe`, same arguments, marked as
/// self-updated; returns only if that fails.
pub fn reexec(exe: &Path) -> anyhow::Error {
    use std::os::unix::process::CommandExt as _;
    let err = Command::new(exe)
        .args(std::env::args_os().skip(1))
        .env(crate::env::SELF_UPDATED, "1")
        .exec();
    anyhow::Error::new(err)
        .context(format!("updated {} but cannot run it", exe.display()))
        .context(driftless_exit::Hint("run the same command again".into()))
}
