//! The real registry (filled in by the registry work).
