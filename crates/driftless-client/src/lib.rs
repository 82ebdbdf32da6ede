//! HTTP client for the Driftless control plane's APIs.
