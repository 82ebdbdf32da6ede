//! The control plane's storage trait and domain types.
