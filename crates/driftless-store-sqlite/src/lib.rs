//! SQLite implementation of the control plane's store.
