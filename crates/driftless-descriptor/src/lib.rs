//! Compose descriptors: the x-driftless config schema, image pinning and rendering (no I/O).
//!
//! The vendor side parses the compose file it wrote ([`ComposeFile::parse`]), reads its
//! config schema ([`ComposeFile::config_schema`]), checks every `${NAME}` is declared
//! ([`ComposeFile::check_variables_declared`]) and pins every image by digest
//! ([`ComposeFile::pin_images`]); those bytes are what the release signs. The client side
//! checks the fetched bytes against the signed release ([`verify_against_release`]), then
//! renders the file it runs ([`render_for_host`]) and the env file compose interpolates
//! from ([`render_env_file`]).
//!
//! Every YAML this crate writes double-quotes its strings, so compose 1.29 (YAML 1.1) and
//! compose v2 (YAML 1.2) read the same values. Nothing here does I/O or reads the clock,
//! and no input makes it panic.
//!
//! YAML is read with `serde_norway`, the maintained fork of the deprecated `serde_yaml`
//! (same API and parser; the workspace `Cargo.toml` says why this fork).

mod analyzers;
mod bounded_yaml;
mod compose;
mod env_file;
mod error;
mod host_render;
mod image_ref;
mod interpolation;
mod migrations;
mod preflight;
mod schema;
mod verify;
mod yaml_emit;

pub use analyzers::Analyzer;
pub use bounded_yaml::{MAX_YAML_NODES, MAX_YAML_TEXT_BYTES};
pub use compose::{ComposeFile, ServiceImage};
pub use env_file::{append_env_vars, render_env_file, ENV_FILE_HEADER};
pub use error::DescriptorError;
pub use host_render::render_for_host;
pub use image_ref::{is_pinned, is_valid_repository};
pub use interpolation::interpolate;
pub use migrations::JOB_PROFILE;
pub use schema::{is_valid_variable_name, validate_value, DeclaredHealth, EXTENSION_KEY};
pub use verify::verify_against_release;

/// The largest descriptor this crate parses, in bytes.
pub const MAX_DESCRIPTOR_BYTES: u64 = 1 << 20;
