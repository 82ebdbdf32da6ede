//! Starts the real parts Driftless tests need: the CNCF distribution registry with
//! token auth, demo images built locally on the machine's Docker Engine, and checks
//! that the prerequisites are present (under `CI=true` a missing one fails the run).

pub mod images;
pub mod prereq;
pub mod registry;
pub mod stack;
