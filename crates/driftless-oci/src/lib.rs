//! A small OCI distribution client: push and fetch blobs and manifests by digest, with size caps.
