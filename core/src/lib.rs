//! Protocol logic shared by the provider component and the host.
//!
//! Everything here is pure: no I/O, no clocks, no allocation beyond the
//! values returned. The wasm guest uses it to parse what it sends and
//! receives; the native host uses the same code to check references before
//! a component runs and to re-check the paths a component returns.

pub mod challenge;
pub mod path;
pub mod reference;

pub use challenge::{parse_challenges, Challenge};
pub use path::{normalize_entry_path, PathError, PathErrorKind};
pub use reference::{is_sha256_digest, Reference, ReferenceError, ReferencePart};
