//! A compose descriptor from the registry: parse, read its schema and variables, pin
//! its images, and check the pinned file against a release made for it, which must
//! pass whenever the file's own schema and variables are sound.
#![no_main]

use std::collections::BTreeMap;

use driftless_descriptor::{verify_against_release, ComposeFile};
use driftless_fuzz::release_doc;
use driftless_wire::release::ReleaseImage;
use driftless_wire::Digest;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = ComposeFile::parse(data) else {
        return;
    };
    let schema = file.config_schema();
    let _ = file.variables_used();
    let declared = file.check_variables_declared();
    let _ = file.to_yaml();
    let digest = Digest::of(b"image");
    let services = file.services();
    let pins: BTreeMap<String, String> = services
        .iter()
        .map(|s| {
            (
                s.service.clone(),
                format!("acme/{}@{digest}", s.service.len()),
            )
        })
        .collect();
    let Ok(pinned) = file.pin_images(&pins) else {
        return;
    };
    let mut release = release_doc(1, 0);
    release.images = services
        .iter()
        .map(|s| ReleaseImage {
            service: s.service.clone(),
            repository: format!("acme/{}", s.service.len()),
            digest: digest.clone(),
            platforms: vec![],
            size: 0,
        })
        .collect();
    release.descriptor.digest = Digest::of(&pinned);
    release.descriptor.size = pinned.len() as u64;
    release.config_schema = schema.clone().unwrap_or_default();
    let verified = verify_against_release(&pinned, &release);
    if schema.is_ok() && declared.is_ok() {
        if let Err(e) = verified {
            panic!("pinned file of a sound descriptor fails verification: {e}");
        }
    }
});
