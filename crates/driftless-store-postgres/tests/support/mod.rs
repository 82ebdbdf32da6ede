//! Shared by this crate's tests and benches.

pub mod row_size;
