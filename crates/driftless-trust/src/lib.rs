//! Verifies root, assignment and release documents against an install's trust state (no I/O).
