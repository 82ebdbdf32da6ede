//! Reading a bundle: its structure first ([`Bundle::open`]), then, once the caller has
//! verified the signed documents, every blob against the release ([`Bundle::verify`]);
//! a delta bundle's missing blobs come from the ones the host kept ([`KeptBlobs`]).

use driftless_wire::release::ReleaseDocument;
use driftless_wire::Digest;
use serde::de::DeserializeOwned;
use serde::Serialize;
use sha2::{Digest as _, Sha256};
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use crate::error::BundleError;
use crate::format::{section, BlobEntry, Header, Index, MAGIC, MAX_SECTION_BYTES};
use crate::kept::KeptBlobs;
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

/// Where a blob's bytes are.
#[derive(Clone, Debug)]
pub(crate) enum Location {
    /// In the bundle, at this offset.
    Bundle(u64),
    /// In this file the host kept from an earlier bundle.
    Kept(PathBuf),
}

/// The release a delta bundle goes on top of, and the blobs the host kept.
pub struct Base<'a> {
    /// Its release document (verified when it was applied).
    pub release: &'a ReleaseDocument,
    /// The kept blobs.
    pub kept: &'a KeptBlobs,
}

/// A bundle whose every blob is what the verified release names.
#[derive(Clone, Debug)]
pub struct VerifiedBundle {
    pub(crate) path: PathBuf,
    pub(crate) blobs: HashMap<Digest, (Location, BlobEntry)>,
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
        let Some((location, entry)) = self.blobs.get(digest) else {
            return Err(BundleError::Index {
                path: self.path.clone(),
                reason: format!("it holds no blob {digest}"),
            });
        };
        let (file, offset) = self.file_of(location);
        read_at(file, offset, entry.size.min(max_bytes))
    }

    /// The file and offset a blob at `location` starts at.
    pub(crate) fn file_of<'a>(&'a self, location: &'a Location) -> (&'a Path, u64) {
        match location {
            Location::Bundle(offset) => (&self.path, *offset),
            Location::Kept(file) => (file, 0),
        }
    }

    /// What the index says of blob `digest` (size, media type), if the release names it.
    pub fn entry(&self, digest: &Digest) -> Option<&BlobEntry> {
        self.blobs.get(digest).map(|(_, e)| e)
    }

    /// Bytes of blobs the bundle file itself carries.
    pub fn carried_bytes(&self) -> u64 {
        self.index.blob_bytes()
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
    /// index must be exactly what the release names (less what `base` carried, for a
    /// delta bundle), and every blob, the kept ones too, its digest.
    pub fn verify(
        self,
        release: &ReleaseDocument,
        base: Option<Base<'_>>,
    ) -> Result<VerifiedBundle, BundleError> {
        let blobs = self
            .index
            .blobs
            .iter()
            .zip(&self.offsets)
            .map(|(b, o)| (b.digest.clone(), (Location::Bundle(*o), b.clone())))
            .collect();
        let mut bundle = VerifiedBundle {
            path: self.path.clone(),
            blobs,
            index: self.index,
        };
        let carried = match (bundle.index.since.clone(), base) {
            (None, _) => HashSet::new(),
            (Some(since), None) => {
                return Err(base_missing(
                    &bundle,
                    &since,
                    "this host has no such release",
                ))
            }
            (Some(since), Some(base)) => add_kept(&mut bundle, &since, base)?,
        };
        let mut expected = expected_index(release, &mut FileManifests(&bundle))?;
        let full: HashSet<Digest> = expected.blobs.iter().map(|b| b.digest.clone()).collect();
        if let Some(since) = &bundle.index.since {
            expected.blobs.retain(|b| !carried.contains(&b.digest));
            expected.since = Some(since.clone());
        }
        if expected != bundle.index {
            return Err(BundleError::Index {
                path: bundle.path.clone(),
                reason: index_difference(&expected, &bundle.index),
            });
        }
        // Only what this release names is served and kept.
        bundle.blobs.retain(|d, _| full.contains(d));
        check_digests(&bundle)?;
        Ok(bundle)
    }
}

/// Adds every blob of the base release to `bundle`, from the kept copies (checked with
/// the bundle's own blobs); returns their digests.
fn add_kept(
    bundle: &mut VerifiedBundle,
    since: &str,
    base: Base<'_>,
) -> Result<HashSet<Digest>, BundleError> {
    if base.release.version.to_string() != since || !base.kept.has_release(since) {
        return Err(base_missing(
            bundle,
            since,
            "this host did not keep that release's blobs",
        ));
    }
    let base_index = expected_index(base.release, &mut KeptManifests(base.kept))
        .map_err(|e| base_missing(bundle, since, &e.to_string()))?;
    let mut carried = HashSet::new();
    for entry in base_index.blobs {
        let file = base.kept.path_of(&entry.digest);
        if !file.is_file() {
            let why = format!("its blob {} is not kept on this host", entry.digest);
            return Err(base_missing(bundle, since, &why));
        }
        carried.insert(entry.digest.clone());
        bundle
            .blobs
            .entry(entry.digest.clone())
            .or_insert((Location::Kept(file), entry));
    }
    Ok(carried)
}

fn base_missing(bundle: &VerifiedBundle, since: &str, reason: &str) -> BundleError {
    BundleError::Base {
        path: bundle.path.clone(),
        since: since.to_string(),
        reason: reason.to_string(),
    }
}

/// Manifests of the base release, from the kept blobs, each checked against its digest.
struct KeptManifests<'a>(&'a KeptBlobs);

impl ManifestSource for KeptManifests<'_> {
    fn manifest(&mut self, digest: &Digest) -> Result<Vec<u8>, BundleError> {
        let file = self.0.path_of(digest);
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let bytes = read_at(&file, 0, len.min(MAX_MANIFEST_BYTES))?;
        if !digest.matches(&bytes) {
            return Err(BundleError::BlobDigest {
                path: file,
                digest: digest.to_string(),
            });
        }
        Ok(bytes)
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

/// Hashes every blob, streaming, the bundle's in file order, then the kept ones.
fn check_digests(bundle: &VerifiedBundle) -> Result<(), BundleError> {
    let mut entries: Vec<&(Location, BlobEntry)> = bundle.blobs.values().collect();
    entries.sort_by_key(|(l, _)| match l {
        Location::Bundle(o) => (0, *o),
        Location::Kept(_) => (1, 0),
    });
    let mut buf = vec![0u8; 1 << 20];
    for (location, entry) in entries {
        let (path, offset) = bundle.file_of(location);
        let io = |e| BundleError::Io {
            what: "read",
            path: path.to_path_buf(),
            source: e,
        };
        let mut file = File::open(path).map_err(io)?;
        file.seek(SeekFrom::Start(offset)).map_err(io)?;
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
                path: path.to_path_buf(),
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
