//! The Driftless control plane's HTTP server.
