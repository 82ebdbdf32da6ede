//! The bundle format on its own: a bundle round-trips, and one changed byte anywhere
//! outside the signed header (which the host's verifier checks), a truncated or padded
//! file, or an index that is not exactly the release's, is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use driftless_bundle::{
    delta_index, expected_index, Base, Bundle, BundleError, BundleWriter, Header, Index, KeptBlobs,
    ManifestSource,
};
use driftless_wire::release::ReleaseDocument;
use driftless_wire::{Digest, Envelope};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

struct Blobs(BTreeMap<Digest, Vec<u8>>);

impl Blobs {
    fn add(&mut self, bytes: &[u8]) -> Digest {
        let d = Digest::of(bytes);
        self.0.insert(d.clone(), bytes.to_vec());
        d
    }
}

impl ManifestSource for &Blobs {
    fn manifest(&mut self, digest: &Digest) -> Result<Vec<u8>, BundleError> {
        Ok(self.0[digest].clone())
    }
}

fn manifest(blobs: &mut Blobs, config: &[u8], layers: &[&[u8]]) -> Digest {
    let desc = |b: &mut Blobs, bytes: &[u8], t: &str| json!({"mediaType": t, "digest": b.add(bytes).to_string(), "size": bytes.len()});
    let m = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": desc(blobs, config, "application/vnd.oci.image.config.v1+json"),
        "layers": layers.iter().map(|l| desc(blobs, l, "application/vnd.oci.image.layer.v1.tar+gzip")).collect::<Vec<_>>(),
    });
    blobs.add(&serde_json::to_vec(&m).unwrap())
}

fn envelope(what: &str) -> Envelope {
    serde_json::from_value(json!({"payloadType": what, "payload": "e30=", "signatures": []}))
        .unwrap()
}

/// A release of two services sharing a base layer, and its blobs.
fn release() -> (ReleaseDocument, Blobs) {
    release_of("1.0.0", b"api layer")
}

/// Release `version` whose api image's own layer is `api_layer`.
fn release_of(version: &str, api_layer: &[u8]) -> (ReleaseDocument, Blobs) {
    let mut blobs = Blobs(BTreeMap::new());
    let base: &[u8] = b"base layer shared by both images";
    let web = manifest(&mut blobs, b"{\"web\":1}", &[base, b"web layer"]);
    let api = manifest(&mut blobs, b"{\"api\":1}", &[base, api_layer]);
    let compose: &[u8] = b"services:\n  web:\n    image: web\n";
    let descriptor = manifest(&mut blobs, b"{}", &[compose]);
    let doc = json!({
        "type": "release", "app": "acme", "version": version, "release_counter": 1,
        "created_at": 0, "expires": 1, "min_cli_version": "0.1.0",
        "images": [
            {"service": "web", "repository": "acme/r1/web", "digest": web.to_string()},
            {"service": "api", "repository": "acme/r1/api", "digest": api.to_string()},
        ],
        "descriptor": {"repository": "acme/r1/compose", "manifest_digest": descriptor.to_string(),
                       "digest": Digest::of(compose).to_string(), "size": compose.len()},
    });
    (serde_json::from_value(doc).unwrap(), blobs)
}

fn write(dir: &Path, release: &ReleaseDocument, blobs: &Blobs) -> PathBuf {
    let index = expected_index(release, &mut &*blobs).unwrap();
    write_index(&dir.join("b.bundle"), index, blobs)
}

fn write_index(path: &Path, index: Index, blobs: &Blobs) -> PathBuf {
    let path = path.to_path_buf();
    let header = Header {
        roots: vec![envelope("root")],
        assignment: envelope("assignment"),
        release: envelope("release"),
    };
    let mut w = BundleWriter::create(&path, &header, index).unwrap();
    while let Some(d) = w.next_digest().cloned() {
        w.append(&blobs.0[&d]).unwrap();
    }
    w.finish().unwrap();
    path
}

fn check(path: &Path, release: &ReleaseDocument) -> Result<(), BundleError> {
    Bundle::open(path)?.verify(release, None).map(|_| ())
}

#[test]
fn a_written_bundle_verifies_and_stores_a_shared_layer_once() {
    let dir = tempfile::tempdir().unwrap();
    let (release, blobs) = release();
    let path = write(dir.path(), &release, &blobs);
    let bundle = Bundle::open(&path).unwrap();
    // 3 manifests, 3 configs, 4 distinct layers (the base once) and the compose file.
    assert_eq!(bundle.index.blobs.len(), 3 + 3 + 3 + 1);
    let verified = bundle.verify(&release, None).unwrap();
    let web = &release.images[0].digest;
    assert!(web.matches(&verified.read_blob(web, 1 << 20).unwrap()));
}

#[test]
fn one_changed_byte_outside_the_signed_header_is_refused_wherever_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let (release, blobs) = release();
    let path = write(dir.path(), &release, &blobs);
    let good = std::fs::read(&path).unwrap();
    let magic = driftless_bundle::MAGIC.len();
    let header_len = u32::from_be_bytes(good[magic..magic + 4].try_into().unwrap()) as usize;
    let header = magic + 4..magic + 4 + header_len;
    let bad = dir.path().join("bad.bundle");
    for at in (0..good.len()).filter(|i| !header.contains(i)) {
        let mut bytes = good.clone();
        bytes[at] ^= 0x01;
        std::fs::write(&bad, &bytes).unwrap();
        assert!(
            check(&bad, &release).is_err(),
            "a changed byte at {at} of {} was accepted",
            good.len()
        );
    }
}

#[test]
fn a_truncated_or_padded_bundle_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (release, blobs) = release();
    let path = write(dir.path(), &release, &blobs);
    let good = std::fs::read(&path).unwrap();
    let bad = dir.path().join("bad.bundle");
    std::fs::write(&bad, &good[..good.len() - 1]).unwrap();
    assert!(matches!(
        check(&bad, &release),
        Err(BundleError::Length { .. })
    ));
    std::fs::write(&bad, [&good[..], b"x"].concat()).unwrap();
    assert!(matches!(
        check(&bad, &release),
        Err(BundleError::Length { .. })
    ));
}

#[test]
fn a_bundle_of_another_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (release, blobs) = release();
    let path = write(dir.path(), &release, &blobs);
    let mut other = release.clone();
    other.images.pop();
    let err = check(&path, &other).unwrap_err();
    assert!(matches!(err, BundleError::Index { .. }), "{err}");
}

/// Release 1.0.0 applied from a full bundle and kept; a delta bundle of 2.0.0 (only
/// the api image changed) on top of it, and the kept blobs.
fn delta_setup(dir: &Path) -> (ReleaseDocument, ReleaseDocument, PathBuf, KeptBlobs) {
    let (r1, b1) = release();
    let (r2, b2) = release_of("2.0.0", b"api layer, changed");
    let full1 = write(dir, &r1, &b1);
    let kept = KeptBlobs::new(&dir.join("kept"));
    kept.keep(&Bundle::open(&full1).unwrap().verify(&r1, None).unwrap())
        .unwrap();
    let index = delta_index(
        expected_index(&r2, &mut &b2).unwrap(),
        &expected_index(&r1, &mut &b1).unwrap(),
    );
    let delta = write_index(&dir.join("delta.bundle"), index, &b2);
    (r1, r2, delta, kept)
}

#[test]
fn a_delta_bundle_carries_only_the_changed_blobs_and_verifies_on_the_kept_ones() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2, delta, kept) = delta_setup(dir.path());
    let bundle = Bundle::open(&delta).unwrap();
    // The api image's manifest and its changed layer: 1.0.0 carried everything else.
    assert_eq!(bundle.index.blobs.len(), 2, "{:?}", bundle.index.blobs);
    assert_eq!(bundle.index.since.as_deref(), Some("1.0.0"));
    let base = Base {
        release: &r1,
        kept: &kept,
    };
    let verified = bundle.verify(&r2, Some(base)).unwrap();
    for image in &r2.images {
        let bytes = verified.read_blob(&image.digest, 1 << 20).unwrap();
        assert!(image.digest.matches(&bytes));
    }
    // Kept in turn, 2.0.0 is a base for the next delta; 1.0.0 can be dropped.
    kept.keep(&verified).unwrap();
    kept.retain(&["2.0.0"]).unwrap();
    assert!(kept.has_release("2.0.0") && !kept.has_release("1.0.0"));
    let b2 = release_of("2.0.0", b"api layer, changed").1;
    let full2 = expected_index(&r2, &mut &b2).unwrap();
    for b in &full2.blobs {
        assert!(
            kept.path_of(&b.digest).is_file(),
            "{} was dropped",
            b.digest
        );
    }
    let dropped = expected_index(&r1, &mut &release().1).unwrap();
    assert!(dropped
        .blobs
        .iter()
        .any(|b| !kept.path_of(&b.digest).exists()));
}

#[test]
fn a_delta_bundle_without_its_base_release_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2, delta, _kept) = delta_setup(dir.path());
    let err = Bundle::open(&delta).unwrap().verify(&r2, None).unwrap_err();
    assert!(matches!(err, BundleError::Base { .. }), "{err}");
    let empty = KeptBlobs::new(&dir.path().join("nothing kept"));
    let base = Base {
        release: &r1,
        kept: &empty,
    };
    let err = Bundle::open(&delta)
        .unwrap()
        .verify(&r2, Some(base))
        .unwrap_err();
    assert!(matches!(err, BundleError::Base { .. }), "{err}");
    assert!(err.to_string().contains("1.0.0"), "{err}");
}

#[test]
fn a_changed_kept_blob_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (r1, r2, delta, kept) = delta_setup(dir.path());
    // The web image's own layer: carried by 1.0.0, left out of the delta.
    let web_layer = Digest::of(b"web layer");
    std::fs::write(kept.path_of(&web_layer), b"web layeR").unwrap();
    let base = Base {
        release: &r1,
        kept: &kept,
    };
    let err = Bundle::open(&delta)
        .unwrap()
        .verify(&r2, Some(base))
        .unwrap_err();
    assert!(matches!(err, BundleError::BlobDigest { .. }), "{err}");
}

/// Release 1.0.0 with an SBOM of web: an artifact manifest whose one layer is the
/// document the release names by digest.
fn release_with_sbom(document: &[u8], named: &[u8]) -> (ReleaseDocument, Blobs) {
    let (release, mut blobs) = release();
    let sbom_manifest = manifest(&mut blobs, b"{}", &[document]);
    let mut doc = serde_json::to_value(&release).unwrap();
    doc["sboms"] = json!([{
        "service": "web", "repository": "acme/r1/web",
        "manifest_digest": sbom_manifest.to_string(),
        "digest": Digest::of(named).to_string(), "size": named.len(),
        "media_type": "application/vnd.cyclonedx+json",
    }]);
    (serde_json::from_value(doc).unwrap(), blobs)
}

#[test]
fn a_release_s_sboms_are_bundled_and_verified_by_digest() {
    let dir = tempfile::tempdir().unwrap();
    let sbom: &[u8] = br#"{"bomFormat":"CycloneDX"}"#;
    let (with_sbom, blobs) = release_with_sbom(sbom, sbom);
    let path = write(dir.path(), &with_sbom, &blobs);
    let verified = Bundle::open(&path)
        .unwrap()
        .verify(&with_sbom, None)
        .unwrap();
    let named = &with_sbom.sboms[0].digest;
    assert_eq!(verified.read_blob(named, 1 << 20).unwrap(), sbom);
    // Without the SBOM's blobs, the bundle is not the release's.
    let (plain, _) = release();
    let err = check(&write(dir.path(), &plain, &blobs), &with_sbom).unwrap_err();
    assert!(matches!(err, BundleError::Index { .. }), "{err}");
}

#[test]
fn an_sbom_manifest_that_does_not_carry_the_named_document_is_refused() {
    let (release, blobs) = release_with_sbom(b"another document", b"the named one");
    let err = expected_index(&release, &mut &blobs).unwrap_err();
    assert!(err.to_string().contains("SBOM of service `web`"), "{err}");
}
