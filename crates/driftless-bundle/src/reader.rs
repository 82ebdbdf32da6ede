//! Reading a bundle: its structure first ([`Bundle::open`]), then, once the caller has
//! verified the signed documents, every blob against the release ([`Bundle::verify`]).

use driftless_wire::release::ReleaseDocument;
use driftless_wire::Digest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::BundleError;
use crate::format::{section, BlobEntry, Header, Index, MAGIC, MAX_SECTION_BYTES};
use crate::manifest::{expected_index, ManifestSource, MAX_MANIFEST_BYTES};

/// A bundle whose structure is sound; nothing in it is trusted yet.
pub struct Bundle {
    path: PathBuf,
    /// The signed documents (not yet verified).
    pub header: Header,
    /// The index (not yet checked against the release).
    pub index: Index,
    offsets: Vec<u64>,
}

/// A bundle whose every blob is what the verified release names.
#[derive(Clone)]
pub struct VerifiedBundle {
    pub(crate) path: PathBuf,
    pub(crate) blobs: HashMap<Digest, (u64, BlobEntry)>,
    /// The index.
    pub index: Index,
}

impl VerifiedBundle {
    /// The bundle's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The bytes of blob `digest` (already verified), at most `max_bytes`.
    pub fn read_blob(&self, digest: &Digest, max_bytes: u64) -> Result<Vec<u8>, BundleError> {
        let Some((offset, entry)) = self.blobs.get(digest) else {
            return Err(BundleError::Index {
                path: self.path.clone(),
                reason: format!("it holds no blob {digest}"),
            });
        };
        read_at(&self.path, *offset, entry.size.min(max_bytes))
    }
}

impl Bundle {
    /// Opens `path`: magic, header, index, and a length that adds up to the index.
    pub fn open(path: &Path) -> Result<Bundle, BundleError> {
        let io = |what, e| BundleError::Io {
            what,
            path: path.to_path_buf(),
            source: e,
        };
        let file = File::open(path).map_err(|e| io("open", e))?;
        let len = file.metadata().map_err(|e| io("read", e))?.len();
        let mut r = BufReader::new(file);
        let mut magic = vec![0u8; MAGIC.len()];
        r.read_exact(&mut magic)
            .map_err(|_| malformed(path, "it does not start like a Driftless bundle"))?;
        if magic != MAGIC {
            return Err(malformed(path, "it does not start like a Driftless bundle"));
        }
        let header: Header = read_section(&mut r, path, "header")?;
        let index: Index = read_section(&mut r, path, "index")?;
        let mut offset = r.stream_position().map_err(|e| io("read", e))?;
        let mut offsets = Vec::with_capacity(index.blobs.len());
        for b in &index.blobs {
            offsets.push(offset);
            offset = offset.saturating_add(b.size);
        }
        if offset != len {
            return Err(BundleError::Length {
                path: path.to_path_buf(),
                expected: offset,
                found: len,
            });
        }
        Ok(Bundle {
            path: path.to_path_buf(),
            header,
            index,
            offsets,
        })
    }

    /// Checks the bundle against `release` (already verified by its signatures): the
    /// index must be exactly what the release names, and every blob its digest.
    pub fn verify(self, release: &ReleaseDocument) -> Result<VerifiedBundle, BundleError> {
        let blobs: HashMap<Digest, (u64, BlobEntry)> = self
            .index
            .blobs
            .iter()
            .zip(&self.offsets)
            .map(|(b, o)| (b.digest.clone(), (*o, b.clone())))
            .collect();
        let bundle = VerifiedBundle {
            path: self.path.clone(),
            blobs,
            index: self.index,
        };
        let expected = expected_index(release, &mut FileManifests(&bundle))?;
        if expected != bundle.index {
            return Err(BundleError::Index {
                path: bundle.path.clone(),
                reason: index_difference(&expected, &bundle.index),
            });
        }
        check_digests(&bundle)?;
        Ok(bundle)
    }
}

struct FileManifests<'a>(&'a VerifiedBundle);

impl ManifestSource for FileManifests<'_> {
    fn manifest(&mut self, digest: &Digest) -> Result<Vec<u8>, BundleError> {
        let bytes = self.0.read_blob(digest, MAX_MANIFEST_BYTES)?;
        if !digest.matches(&bytes) {
            return Err(BundleError::BlobDigest {
                path: self.0.path.clone(),
                digest: digest.to_string(),
            });
        }
        Ok(bytes)
    }
}

fn index_difference(expected: &Index, found: &Index) -> String {
    if expected.app != found.app || expected.version != found.version {
        return format!(
            "it says {} {}, the release is {} {}",
            found.app, found.version, expected.app, expected.version
        );
    }
    let missing = expected.blobs.iter().find(|b| !found.blobs.contains(b));
    let extra = found.blobs.iter().find(|b| !expected.blobs.contains(b));
    match (missing, extra) {
        (Some(m), _) => format!("blob {} ({} bytes) is missing or differs", m.digest, m.size),
        (None, Some(e)) => format!("blob {} is not part of the release", e.digest),
        (None, None) => "its blobs are out of order".into(),
    }
}

/// Hashes every blob, streaming, in file order.
fn check_digests(bundle: &VerifiedBundle) -> Result<(), BundleError> {
    let path = &bundle.path;
    let io = |e| BundleError::Io {
        what: "read",
        path: path.clone(),
        source: e,
    };
    let mut entries: Vec<&(u64, BlobEntry)> = bundle.blobs.values().collect();
    entries.sort_by_key(|(o, _)| *o);
    let mut file = File::open(path).map_err(io)?;
    let mut buf = vec![0u8; 1 << 20];
    for (offset, entry) in entries {
        file.seek(SeekFrom::Start(*offset)).map_err(io)?;
        let mut left = entry.size;
        let mut hash = Sha256::new();
        while left > 0 {
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            file.read_exact(&mut buf[..n]).map_err(io)?;
            hash.update(&buf[..n]);
            left -= n as u64;
        }
        if hex_of(&hash.finalize()) != entry.digest.hex() {
            return Err(BundleError::BlobDigest {
                path: path.clone(),
                digest: entry.digest.to_string(),
            });
        }
    }
    Ok(())
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn read_at(path: &Path, offset: u64, len: u64) -> Result<Vec<u8>, BundleError> {
    let io = |e| BundleError::Io {
        what: "read",
        path: path.to_path_buf(),
        source: e,
    };
    let mut file = File::open(path).map_err(io)?;
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut out = vec![0u8; usize::try_from(len).unwrap_or(0)];
    file.read_exact(&mut out).map_err(io)?;
    Ok(out)
}

/// A length-prefixed JSON section, accepted only in its canonical form.
fn read_section<T: DeserializeOwned + Serialize>(
    r: &mut impl Read,
    path: &Path,
    what: &str,
) -> Result<T, BundleError> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)
        .map_err(|_| malformed(path, &format!("its {what} is cut off")))?;
    let len = u32::from_be_bytes(len);
    if len > MAX_SECTION_BYTES {
        return Err(malformed(path, &format!("its {what} claims {len} bytes")));
    }
    let mut bytes = vec![0u8; len as usize];
    r.read_exact(&mut bytes)
        .map_err(|_| malformed(path, &format!("its {what} is cut off")))?;
    let value: T = serde_json::from_slice(&bytes)
        .map_err(|e| malformed(path, &format!("its {what} does not parse: {e}")))?;
    if section(&value) != bytes {
        return Err(malformed(
            path,
            &format!("its {what} is not in canonical form (changed bytes?)"),
        ));
    }
    Ok(value)
}

fn malformed(path: &Path, reason: &str) -> BundleError {
    BundleError::Malformed {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    }
}
