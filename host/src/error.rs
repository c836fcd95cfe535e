//! Errors as users see them: a stable name (`TooLargeArtifacts`,
//! `FailedToConnectToArtifactStore`, ...) and one line saying what went
//! wrong and how to fix it.

use std::fmt;

/// The stable names of failures. Scripts and HTTP callers match on them, so
/// a name never changes once released.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The reference names a store that is not registered, or the store
    /// could not be reached.
    FailedToConnectToArtifactStore,
    /// The artifact is over the operation's size limit.
    TooLargeArtifacts,
    /// The reference breaks the grammar.
    InvalidReference,
    /// The repository, tag or digest does not exist.
    ArtifactNotFound,
    /// The store refused the credentials, or wanted some.
    Unauthorized,
    /// The credentials do not allow the operation.
    Forbidden,
    /// Content did not match the digest that names it.
    DigestMismatch,
    /// The manifest could not be used.
    InvalidManifest,
    /// A layer could not be unpacked safely.
    InvalidContent,
    /// The entity tag no longer matches.
    PreconditionFailed,
    /// The store or the provider took too long.
    Timeout,
    /// The sandbox refused a request to a host the store was not granted.
    RequestDenied,
    /// The configuration file or an option is wrong.
    InvalidConfiguration,
    /// The output folder cannot be written as asked.
    OutputError,
    /// What was given to publish cannot be read or published safely.
    InvalidInput,
    /// The provider component failed: it trapped, ran out of its memory
    /// cap, or returned something the host refuses.
    ProviderFailed,
    /// Anything else the store reported.
    StoreError,
}

impl ErrorKind {
    /// The name printed before the message.
    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::FailedToConnectToArtifactStore => "FailedToConnectToArtifactStore",
            ErrorKind::TooLargeArtifacts => "TooLargeArtifacts",
            ErrorKind::InvalidReference => "InvalidReference",
            ErrorKind::ArtifactNotFound => "ArtifactNotFound",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::Forbidden => "Forbidden",
            ErrorKind::DigestMismatch => "DigestMismatch",
            ErrorKind::InvalidManifest => "InvalidManifest",
            ErrorKind::InvalidContent => "InvalidContent",
            ErrorKind::PreconditionFailed => "PreconditionFailed",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::RequestDenied => "RequestDenied",
            ErrorKind::InvalidConfiguration => "InvalidConfiguration",
            ErrorKind::OutputError => "OutputError",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::ProviderFailed => "ProviderFailed",
            ErrorKind::StoreError => "StoreError",
        }
    }

    /// The HTTP status a server answers with for this failure: 400 for what
    /// the caller can fix in the request (the design's
    /// `FailedToConnectToArtifactStore` and `TooLargeArtifacts` included),
    /// 401/403/404/412 as usual, 502/504 for a store that misbehaved, 500
    /// for the host's own failures.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorKind::FailedToConnectToArtifactStore
            | ErrorKind::TooLargeArtifacts
            | ErrorKind::InvalidReference
            | ErrorKind::InvalidConfiguration
            | ErrorKind::InvalidInput => 400,
            ErrorKind::Unauthorized => 401,
            ErrorKind::Forbidden | ErrorKind::RequestDenied => 403,
            ErrorKind::ArtifactNotFound => 404,
            ErrorKind::PreconditionFailed => 412,
            ErrorKind::DigestMismatch
            | ErrorKind::InvalidManifest
            | ErrorKind::InvalidContent
            | ErrorKind::StoreError => 502,
            ErrorKind::Timeout => 504,
            ErrorKind::OutputError | ErrorKind::ProviderFailed => 500,
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A failure: its kind and a one-line message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    message: String,
}

impl Error {
    /// Makes an error. Line breaks in the message become spaces, so the
    /// error is always printed on one line.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        let message: String = message.into();
        let message = if message.contains(['\n', '\r']) {
            message.split_whitespace().collect::<Vec<_>>().join(" ")
        } else {
            message
        };
        Error { kind, message }
    }

    /// The failure's kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the name.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.message)
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_starts_with_the_name_and_stays_on_one_line() {
        let err = Error::new(ErrorKind::TooLargeArtifacts, "too\nbig");
        assert_eq!(err.to_string(), "TooLargeArtifacts: too big");
    }
}
