//! Starts the real parts Driftless tests need: the CNCF distribution registry with
//! token auth, the control plane, demo images built locally on the machine's Docker
//! Engine, and a world of hosts for end-to-end tests; checks that the prerequisites are
//! present (under `CI=true` a missing one fails the run); and a fresh PostgreSQL
//! database per test.

pub mod compose_project;
pub mod control_plane;
pub mod docker_cli;
pub mod generated_docs;
pub mod hostile_control_plane;
pub mod http_probe;
pub mod images;
pub mod postgres;
pub mod prereq;
pub mod process;
pub mod registry;
pub mod registry_log;
pub mod release_spec;
pub mod stack;
pub mod throttling_proxy;
pub mod world;
