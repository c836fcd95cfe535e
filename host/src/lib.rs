//! artifact-store: fetches the artifacts of FHIR server operations
//! (template collections, de-identification and export configurations) from
//! OCI registries, OCI image layouts and Azure Blob Storage, through store
//! components that run in a wasmtime sandbox.
//!
//! [`ArtifactStore`] routes a reference to its registered store, calls the
//! provider with the operation's size limit, and checks what comes back;
//! [`output`] writes the files atomically, and [`input`] reads what `push`
//! publishes.

pub mod config;
mod defaults;
pub mod error;
pub mod input;
pub mod output;
pub mod runtime;
pub mod sandbox;
pub mod store;
pub mod tls;

pub use config::Config;
pub use error::{Error, ErrorKind};
pub use store::{Artifact, ArtifactFile, ArtifactStore, Descriptor, PullOptions, PushOptions};
