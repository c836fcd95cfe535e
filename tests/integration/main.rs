//! Integration tests: `artifact-store` run as a subprocess against real
//! registries on loopback, with artifacts pushed by the ORAS Python client,
//! by a raw pusher, or by `artifact-store push` itself, and read back by the
//! ORAS Python client and skopeo; and against Azurite, with blobs uploaded
//! and read back by Microsoft's Python SDK; third-party store components,
//! the misbehaving test programs of `tests/components/` among them; and the
//! same component run by the Node.js and Python examples, compared with the
//! CLI. `scripts/setup` installs what they need.

mod common;

mod auth;
mod blob;
mod component;
mod conformance;
mod failures;
mod fixtures;
mod hardening;
mod hostile;
mod interop;
mod layers;
mod layout;
mod lies;
mod pull;
mod push;
mod push_auth;
mod redirect;
mod tls;
mod whiteout;
