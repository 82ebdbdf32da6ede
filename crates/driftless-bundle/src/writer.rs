//! Writing a bundle: header and index first, then each blob in index order, checked
//! against its digest on the way in; the file appears under its name only when complete.

use driftless_wire::Digest;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use crate::error::BundleError;
use crate::format::{section, Header, Index, MAGIC};

/// A bundle being written.
pub struct BundleWriter {
    path: PathBuf,
    partial: PathBuf,
    out: BufWriter<File>,
    index: Index,
    next: usize,
    written: u64,
}

impl BundleWriter {
    /// Starts `path` (written as `path.partial` until [`BundleWriter::finish`]).
    pub fn create(path: &Path, header: &Header, index: Index) -> Result<Self, BundleError> {
        let mut name = path.as_os_str().to_owned();
        name.push(".partial");
        let partial = PathBuf::from(name);
        let io = |what, e| BundleError::Io {
            what,
            path: partial.clone(),
            source: e,
        };
        let file = File::create(&partial).map_err(|e| io("create", e))?;
        let mut w = BundleWriter {
            path: path.to_path_buf(),
            partial: partial.clone(),
            out: BufWriter::with_capacity(1 << 20, file),
            index,
            next: 0,
            written: 0,
        };
        let index_bytes = section(&w.index);
        w.write(MAGIC)?;
        w.write_section(&section(header))?;
        w.write_section(&index_bytes)?;
        Ok(w)
    }

    /// The blob the writer expects next, if any.
    pub fn next_digest(&self) -> Option<&Digest> {
        self.index.blobs.get(self.next).map(|b| &b.digest)
    }

    /// Appends the next blob; refuses bytes that are not what the index names.
    pub fn append(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        let Some(entry) = self.index.blobs.get(self.next) else {
            return Err(self.malformed("more blobs than the index names".into()));
        };
        if !entry.digest.matches(bytes) || entry.size != bytes.len() as u64 {
            let reason = format!("blob {} does not match its digest and size", entry.digest);
            return Err(self.malformed(reason));
        }
        self.next += 1;
        self.write(bytes)
    }

    /// Completes the file (synced to disk) and moves it to its name; returns its size.
    pub fn finish(mut self) -> Result<u64, BundleError> {
        if self.next != self.index.blobs.len() {
            let reason = format!(
                "{} blobs of the index were never written",
                self.index.blobs.len() - self.next
            );
            return Err(self.malformed(reason));
        }
        let io = |what, path: &Path, e| BundleError::Io {
            what,
            path: path.to_path_buf(),
            source: e,
        };
        self.out
            .flush()
            .map_err(|e| io("write", &self.partial, e))?;
        self.out
            .get_ref()
            .sync_all()
            .map_err(|e| io("sync", &self.partial, e))?;
        std::fs::rename(&self.partial, &self.path).map_err(|e| io("rename", &self.path, e))?;
        Ok(self.written)
    }

    fn write_section(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        let len = u32::try_from(bytes.len())
            .map_err(|_| self.malformed("a section is over 4 GiB".into()))?;
        self.write(&len.to_be_bytes())?;
        self.write(bytes)
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), BundleError> {
        self.out.write_all(bytes).map_err(|e| BundleError::Io {
            what: "write",
            path: self.partial.clone(),
            source: e,
        })?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn malformed(&self, reason: String) -> BundleError {
        BundleError::Malformed {
            path: self.path.clone(),
            reason,
        }
    }
}
