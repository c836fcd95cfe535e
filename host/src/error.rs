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
        Error {
            kind,
            message: escape_controls(message),
        }
    }

    /// Replaces every occurrence of each secret in the message, for
    /// messages that quote what a store answered: a hostile store can echo
    /// the credentials it was sent.
    pub fn redact(mut self, secrets: &[String]) -> Error {
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            if self.message.contains(secret.as_str()) {
                self.message = self.message.replace(secret.as_str(), "[redacted]");
            }
        }
        self
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

/// Control characters (terminal escapes among them) and text-direction
/// overrides are written as `\u{..}` escapes: messages quote names and
/// answers from outside, and must not drive the terminal they are shown on.
fn escape_controls(message: String) -> String {
    let unsafe_char =
        |c: char| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}');
    if !message.chars().any(unsafe_char) {
        return message;
    }
    message
        .chars()
        .map(|c| {
            if unsafe_char(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
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
    fn terminal_escapes_in_messages_are_escaped() {
        let err = Error::new(
            ErrorKind::InvalidInput,
            "cannot read d/\u{1b}]0;pwned\u{7}x",
        );
        assert_eq!(err.message(), "cannot read d/\\u{1b}]0;pwned\\u{7}x",);
    }

    #[test]
    fn secrets_echoed_by_a_store_are_redacted() {
        let err = Error::new(
            ErrorKind::Forbidden,
            "DENIED: you sent Basic YWxpY2U6czNjcjN0",
        )
        .redact(&["YWxpY2U6czNjcjN0".to_owned(), "s3cr3t".to_owned()]);
        assert_eq!(err.message(), "DENIED: you sent Basic [redacted]");
    }

    #[test]
    fn display_starts_with_the_name_and_stays_on_one_line() {
        let err = Error::new(ErrorKind::TooLargeArtifacts, "too\nbig");
        assert_eq!(err.to_string(), "TooLargeArtifacts: too big");
    }
}
