//! Integration tests: `artifact-store` run as a subprocess against real
//! registries on loopback, with artifacts pushed by the ORAS Python client
//! or crafted by a raw pusher. `scripts/setup` installs what they need.

mod common;

mod auth;
mod failures;
mod fixtures;
mod hostile;
mod layers;
mod lies;
mod pull;
mod redirect;
