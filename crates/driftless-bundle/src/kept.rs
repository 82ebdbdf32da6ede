//! The blobs a host keeps from the bundles it applied, so that a delta bundle
//! (`bundle create --since`) can leave out what an earlier release already carried.
//!
//! Why not read them back from the engine: it stores layers uncompressed, and the
//! compressed bytes the signed manifests name cannot be rebuilt from them byte for byte.
//! So the verified blobs themselves are kept, by digest, and checked again against
//! their digests every time a delta bundle uses them.
//!
//! ```text
//! sha256/<hex>          one verified blob
//! releases/<version>    the digests of every blob of one release, one a line
//! ```

use driftless_wire::Digest;
use std::collections::HashSet;
use std::fs::File;
use std::io::{Read as _, Seek as _, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::BundleError;
use crate::reader::{Location, VerifiedBundle};

/// A directory of verified blobs, listed per release.
pub struct KeptBlobs {
    dir: PathBuf,
}

impl KeptBlobs {
    /// The kept blobs under `dir` (created when the first release is kept).
    pub fn new(dir: &Path) -> Self {
        KeptBlobs {
            dir: dir.to_path_buf(),
        }
    }

    /// Where blob `digest` is kept.
    pub fn path_of(&self, digest: &Digest) -> PathBuf {
        self.dir.join("sha256").join(digest.hex())
    }

    fn list_of(&self, version: &str) -> PathBuf {
        self.dir.join("releases").join(version)
    }

    /// Whether every blob of release `version` was kept.
    pub fn has_release(&self, version: &str) -> bool {
        self.list_of(version).is_file()
    }

    /// Keeps every blob of `bundle`'s release: copies those the bundle carries, then
    /// lists the release (last, so a listed release has all its blobs).
    pub fn keep(&self, bundle: &VerifiedBundle) -> Result<(), BundleError> {
        std::fs::create_dir_all(self.dir.join("sha256")).map_err(|e| self.io("create", e))?;
        std::fs::create_dir_all(self.dir.join("releases")).map_err(|e| self.io("create", e))?;
        let mut listed = String::new();
        for (digest, (location, entry)) in &bundle.blobs {
            if let Location::Bundle(offset) = location {
                self.copy_in(bundle.path(), *offset, entry.size, digest)?;
            }
            listed.push_str(&format!("{digest}\n"));
        }
        let list = self.list_of(&bundle.index.version);
        write_then_rename(&list, |f| std::io::Write::write_all(f, listed.as_bytes()))
            .map_err(|e| self.io("write", e))
    }

    /// Drops every kept release but `versions`, and every blob none of them names.
    pub fn retain(&self, versions: &[&str]) -> Result<(), BundleError> {
        let mut named: HashSet<String> = HashSet::new();
        let Ok(lists) = std::fs::read_dir(self.dir.join("releases")) else {
            return Ok(());
        };
        for list in lists.flatten() {
            let version = list.file_name().to_string_lossy().into_owned();
            if versions.contains(&version.as_str()) {
                let text = std::fs::read_to_string(list.path()).map_err(|e| self.io("read", e))?;
                named.extend(
                    text.lines()
                        .filter_map(|l| l.parse::<Digest>().ok())
                        .map(|d| d.hex().to_string()),
                );
            } else {
                std::fs::remove_file(list.path()).map_err(|e| self.io("remove", e))?;
            }
        }
        let Ok(blobs) = std::fs::read_dir(self.dir.join("sha256")) else {
            return Ok(());
        };
        for blob in blobs.flatten() {
            if !named.contains(blob.file_name().to_string_lossy().as_ref()) {
                std::fs::remove_file(blob.path()).map_err(|e| self.io("remove", e))?;
            }
        }
        Ok(())
    }

    /// Copies `size` bytes at `offset` of `from` to the blob's place, unless kept already.
    fn copy_in(
        &self,
        from: &Path,
        offset: u64,
        size: u64,
        digest: &Digest,
    ) -> Result<(), BundleError> {
        let to = self.path_of(digest);
        if to.metadata().is_ok_and(|m| m.len() == size) {
            return Ok(());
        }
        let mut src = File::open(from).map_err(|e| self.io("open", e))?;
        src.seek(SeekFrom::Start(offset))
            .map_err(|e| self.io("read", e))?;
        write_then_rename(&to, |f| {
            std::io::copy(&mut (&mut src).take(size), f).map(|_| ())
        })
        .map_err(|e| self.io("write", e))
    }

    fn io(&self, what: &'static str, source: std::io::Error) -> BundleError {
        BundleError::Io {
            what,
            path: self.dir.clone(),
            source,
        }
    }
}

/// Writes `path` through a temporary file beside it, so a crash leaves no half blob.
fn write_then_rename(
    path: &Path,
    write: impl FnOnce(&mut File) -> std::io::Result<()>,
) -> std::io::Result<()> {
    let mut name = path.as_os_str().to_owned();
    name.push(".partial");
    let partial = PathBuf::from(name);
    let mut f = File::create(&partial)?;
    write(&mut f)?;
    f.sync_all()?;
    std::fs::rename(&partial, path)
}
