//! Mints ES256 registry tokens that CNCF distribution verifies, and the certificate it trusts.
