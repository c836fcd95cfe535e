//! The provider's error, one case per case of the WIT `error` variant.
//!
//! Modules speak this type so they stay free of generated bindings and can
//! be tested natively; `lib.rs` converts it at the export boundary.

use std::convert::Infallible;
use std::fmt;

use artifact_store_core::ContentError;

/// Why a call failed. Each message names the part at fault and never holds
/// a credential, a token or a URL query (pre-signed URLs carry secrets there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    InvalidReference(String),
    StoreNotReachable(String),
    Unauthorized(String),
    Forbidden(String),
    NotFound(String),
    TooLarge(String),
    DigestMismatch(String),
    InvalidManifest(String),
    InvalidContent(String),
    PreconditionFailed(String),
    Timeout(String),
    Denied(String),
    Other(String),
}

impl Error {
    /// The message for people, without the case name.
    pub fn message(&self) -> &str {
        match self {
            Error::InvalidReference(m)
            | Error::StoreNotReachable(m)
            | Error::Unauthorized(m)
            | Error::Forbidden(m)
            | Error::NotFound(m)
            | Error::TooLarge(m)
            | Error::DigestMismatch(m)
            | Error::InvalidManifest(m)
            | Error::InvalidContent(m)
            | Error::PreconditionFailed(m)
            | Error::Timeout(m)
            | Error::Denied(m)
            | Error::Other(m) => m,
        }
    }

    /// Prefixes the message with context, keeping the case.
    pub fn context(self, what: impl fmt::Display) -> Error {
        let wrap = |m: String| format!("{what}: {m}");
        match self {
            Error::InvalidReference(m) => Error::InvalidReference(wrap(m)),
            Error::StoreNotReachable(m) => Error::StoreNotReachable(wrap(m)),
            Error::Unauthorized(m) => Error::Unauthorized(wrap(m)),
            Error::Forbidden(m) => Error::Forbidden(wrap(m)),
            Error::NotFound(m) => Error::NotFound(wrap(m)),
            Error::TooLarge(m) => Error::TooLarge(wrap(m)),
            Error::DigestMismatch(m) => Error::DigestMismatch(wrap(m)),
            Error::InvalidManifest(m) => Error::InvalidManifest(wrap(m)),
            Error::InvalidContent(m) => Error::InvalidContent(wrap(m)),
            Error::PreconditionFailed(m) => Error::PreconditionFailed(wrap(m)),
            Error::Timeout(m) => Error::Timeout(wrap(m)),
            Error::Denied(m) => Error::Denied(wrap(m)),
            Error::Other(m) => Error::Other(wrap(m)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {}

/// Content errors from the shared code keep their case; a failure of the
/// byte source is already one of ours.
impl<S: Into<Error>> From<ContentError<S>> for Error {
    fn from(e: ContentError<S>) -> Self {
        match e {
            ContentError::TooLarge(m) => Error::TooLarge(m),
            ContentError::DigestMismatch(m) => Error::DigestMismatch(m),
            ContentError::InvalidManifest(m) => Error::InvalidManifest(m),
            ContentError::InvalidContent(m) => Error::InvalidContent(m),
            ContentError::Source(e) => e.into(),
        }
    }
}

impl From<Infallible> for Error {
    fn from(never: Infallible) -> Self {
        match never {}
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
