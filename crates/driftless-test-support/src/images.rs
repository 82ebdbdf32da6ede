//! Demo images built locally (filled in by the runtime work).
