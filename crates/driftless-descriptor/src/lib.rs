//! Compose descriptors: the x-driftless config schema, image pinning and rendering (no I/O).
