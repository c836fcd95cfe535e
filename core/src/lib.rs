//! Protocol and content logic shared by the store components and the host.
//!
//! Nothing here does I/O or reads a clock. The wasm components use it to
//! parse what they send and receive, to verify and unpack the blobs they
//! read from wherever their store keeps them, and to pack what they
//! publish; the native host uses the same code to check references before
//! a component runs and to re-check the paths a component returns.

pub mod blob;
pub mod challenge;
pub mod content;
pub mod layers;
pub mod manifest;
pub mod pack;
pub mod path;
pub mod reference;
pub mod verify;

pub use challenge::{parse_challenges, Challenge};
pub use content::ContentError;
pub use path::{normalize_entry_path, PathError, PathErrorKind};
pub use reference::{is_sha256_digest, Reference, ReferenceError, ReferencePart};
pub use verify::digest_of;
