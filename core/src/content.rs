//! The error of the content modules: what can be wrong with a manifest, a
//! blob or a layer, whatever store the bytes came from.

use std::convert::Infallible;
use std::fmt;

/// Why content was refused. Each message names the part at fault.
///
/// `S` is the error of the byte source a blob is read from (a network body,
/// a file), kept as it is so that a store can report its own failures in
/// its own terms; code that reads no source uses the default, which has no
/// values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContentError<S = Infallible> {
    /// The content is larger than allowed.
    TooLarge(String),
    /// Bytes did not hash to, or were not as long as, what names them.
    DigestMismatch(String),
    /// A manifest is not JSON, of an unsupported type, or incomplete.
    InvalidManifest(String),
    /// A layer cannot be unpacked or published, or holds an entry that would
    /// land outside the output folder.
    InvalidContent(String),
    /// The byte source failed.
    Source(S),
}

impl ContentError {
    /// Prefixes the message with context, keeping the case.
    pub fn context(self, what: impl fmt::Display) -> ContentError {
        let wrap = |m: String| format!("{what}: {m}");
        match self {
            ContentError::TooLarge(m) => ContentError::TooLarge(wrap(m)),
            ContentError::DigestMismatch(m) => ContentError::DigestMismatch(wrap(m)),
            ContentError::InvalidManifest(m) => ContentError::InvalidManifest(wrap(m)),
            ContentError::InvalidContent(m) => ContentError::InvalidContent(wrap(m)),
            ContentError::Source(never) => match never {},
        }
    }

    /// The same error, typed for code that also reads a source.
    pub fn widen<S>(self) -> ContentError<S> {
        match self {
            ContentError::TooLarge(m) => ContentError::TooLarge(m),
            ContentError::DigestMismatch(m) => ContentError::DigestMismatch(m),
            ContentError::InvalidManifest(m) => ContentError::InvalidManifest(m),
            ContentError::InvalidContent(m) => ContentError::InvalidContent(m),
            ContentError::Source(never) => match never {},
        }
    }
}

impl<S: fmt::Display> fmt::Display for ContentError<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentError::TooLarge(m)
            | ContentError::DigestMismatch(m)
            | ContentError::InvalidManifest(m)
            | ContentError::InvalidContent(m) => f.write_str(m),
            ContentError::Source(e) => e.fmt(f),
        }
    }
}

impl<S: fmt::Debug + fmt::Display> std::error::Error for ContentError<S> {}
