//! Writing the files the CLI owns: atomically (temp file, fsync, rename, fsync the
//! directory), and private where they hold keys or secrets.

use anyhow::{Context as _, Result};
use std::fs;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::Path;

/// Replaces `path` with `bytes` atomically; mode 0600 when `private`.
pub fn write_atomic(path: &Path, bytes: &[u8], private: bool) -> Result<()> {
    write_replacing(path, bytes, private, true)
}

/// Replaces `path` with `bytes` atomically but not durably: a crash of the process
/// leaves the old or the new file, a power cut may leave the old one. Saves the two
/// fsyncs, for files whose loss changes nothing the next sync does.
pub fn write_atomic_volatile(path: &Path, bytes: &[u8]) -> Result<()> {
    write_replacing(path, bytes, false, false)
}

fn write_replacing(path: &Path, bytes: &[u8], private: bool, durable: bool) -> Result<()> {
    let dir = path.parent().context("path has no parent directory")?;
    let name = path
        .file_name()
        .context("path has no file name")?
        .to_string_lossy();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(if private { 0o600 } else { 0o644 })
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)?;
    if durable {
        f.sync_all()?;
    }
    drop(f);
    fs::rename(&tmp, path).with_context(|| format!("cannot replace {}", path.display()))?;
    if durable {
        fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Points the symlink `link` at `target` atomically.
pub fn switch_symlink(link: &Path, target: &Path) -> Result<()> {
    let dir = link.parent().context("link has no parent directory")?;
    let tmp = dir.join(format!(".current.tmp.{}", std::process::id()));
    let _ = fs::remove_file(&tmp);
    std::os::unix::fs::symlink(target, &tmp)
        .with_context(|| format!("cannot create {}", tmp.display()))?;
    fs::rename(&tmp, link).with_context(|| format!("cannot switch {}", link.display()))?;
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

/// Creates a directory (and parents), mode 0700.
pub fn create_private_dir(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    fs::create_dir_all(path).with_context(|| format!("cannot create {}", path.display()))?;
    fs::set_permissions(path, fs::Permissions::from_mode(0o700))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    Ok(())
}
