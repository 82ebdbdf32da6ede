//! Reading a support bundle: its files by path, decompressed under a cap (a bundle
//! comes from a customer's host and is not trusted to be small or well formed).

use std::collections::BTreeMap;
use std::io::Read as _;

use anyhow::{Context as _, Result};

/// The most bytes a bundle may decompress to.
const MAX_UNPACKED_BYTES: u64 = 512 << 20;
/// The directory every file of a bundle is under.
const ROOT: &str = "support-bundle/";

/// The files of a bundle, by path under `support-bundle/`.
pub struct Archive {
    files: BTreeMap<String, Vec<u8>>,
}

impl Archive {
    /// Reads the `tar.gz` `bytes`.
    pub fn read(bytes: &[u8]) -> Result<Archive> {
        let gz = flate2::read::GzDecoder::new(bytes).take(MAX_UNPACKED_BYTES);
        let mut tar = tar::Archive::new(gz);
        let mut files = BTreeMap::new();
        let entries = tar
            .entries()
            .context("the support bundle is not a tar.gz")?;
        for entry in entries {
            let mut entry = entry.context("the support bundle is damaged")?;
            let path = entry
                .path()
                .context("the support bundle has a file with a bad name")?
                .to_string_lossy()
                .into_owned();
            let Some(name) = path.strip_prefix(ROOT) else {
                continue;
            };
            let mut content = Vec::new();
            entry
                .read_to_end(&mut content)
                .with_context(|| format!("cannot read {path} in the support bundle"))?;
            files.insert(name.to_string(), content);
        }
        if !files.contains_key("manifest.json") {
            driftless_exit::refuse!(
                hint = "make one with `driftless support-bundle` on the host";
                "this file is not a Driftless support bundle (it has no support-bundle/manifest.json)"
            );
        }
        Ok(Archive { files })
    }

    /// The file at `path`, if the bundle has it.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// The file at `path` as JSON, if the bundle has it and it parses.
    pub fn json(&self, path: &str) -> Option<serde_json::Value> {
        self.file(path).and_then(|b| serde_json::from_slice(b).ok())
    }

    /// Every file under `dir/`, by its name there.
    pub fn under<'a>(&'a self, dir: &'a str) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        self.files.iter().filter_map(move |(path, bytes)| {
            let name = path.strip_prefix(dir)?.strip_prefix('/')?;
            Some((name, bytes.as_slice()))
        })
    }
}
