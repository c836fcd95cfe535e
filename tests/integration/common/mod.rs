//! Fixtures shared by the integration tests: real registries and Azurite
//! on loopback, an in-process token server, misbehaving registry and lying
//! proxy, pushers, skopeo, a private certificate authority, the Azure Storage SDK, a raw reader of what
//! registries serve, and the CLI runner. Every server and child process
//! stops when its value drops.

// Each test module uses a different part of the fixtures.
#![allow(dead_code)]

pub mod azure_sdk;
pub mod azurite;
pub mod bad_registry;
pub mod cli;
pub mod content;
pub mod http;
pub mod inspect;
pub mod process;
pub mod proxy;
pub mod push;
pub mod registry;
pub mod serve;
pub mod skopeo;
pub mod tls;
pub mod token;
pub mod tripwire;
