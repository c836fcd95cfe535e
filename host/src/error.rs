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
    ///
    /// A message often quotes only part of what it was told (the end of a
    /// component's stderr, the start of a response body), which can cut a
    /// secret in two; so every long enough piece of a secret is replaced
    /// too, not only the whole.
    pub fn redact(mut self, secrets: &[String]) -> Error {
        for secret in secrets.iter().filter(|s| s.len() >= 4) {
            if self.message.contains(secret.as_str()) {
                self.message = self.message.replace(secret.as_str(), REDACTED);
            }
            self.message = redact_pieces(&self.message, secret);
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

const REDACTED: &str = "[redacted]";

/// The longest secret whose pieces are looked for.
const MAX_PIECEWISE_SECRET: usize = 64 << 10;

/// Replaces every run of `message` that is a piece of `secret` longer
/// than half of it (at least 4 bytes), or 12 bytes long: a few letters in
/// common with a word of the message are not a leak.
fn redact_pieces(message: &str, secret: &str) -> String {
    let (text, key) = (message.as_bytes(), secret.as_bytes());
    let least = (key.len() / 2 + 1).clamp(4, 12);
    // The work grows with both lengths; messages are short, and a secret
    // this long is no password or token.
    if text.len() < least || key.len() > MAX_PIECEWISE_SECRET {
        return message.to_owned();
    }
    // longest[i]: the longest run starting at text[i] that occurs in the
    // secret, from the row of common-prefix lengths of text[i..] and
    // key[j..], computed from the end.
    let mut longest = vec![0usize; text.len()];
    let mut next_row = vec![0usize; key.len() + 1];
    let mut row = vec![0usize; key.len() + 1];
    for i in (0..text.len()).rev() {
        for j in (0..key.len()).rev() {
            row[j] = if text[i] == key[j] {
                next_row[j + 1] + 1
            } else {
                0
            };
        }
        longest[i] = row.iter().copied().max().unwrap_or(0);
        std::mem::swap(&mut row, &mut next_row);
    }
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < text.len() {
        if longest[i] >= least && message.is_char_boundary(i) {
            // A piece of a multi-byte character is widened to the whole.
            let mut end = i + longest[i];
            while !message.is_char_boundary(end) {
                end += 1;
            }
            out.push_str(REDACTED);
            i = end;
        } else {
            let len = message[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&message[i..i + len]);
            i += len;
        }
    }
    out
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
    fn pieces_of_a_secret_cut_by_a_quote_are_redacted() {
        // A long bearer token, of which a message quoting the last 300
        // characters of a component's stderr holds only the end.
        let token: String = (0..1200)
            .map(|i| char::from(b'a' + (i * 7 % 26) as u8))
            .collect();
        let quoted = &token[token.len() - 290..];
        let err = Error::new(
            ErrorKind::ProviderFailed,
            format!("the provider crashed (unreachable); it wrote: {quoted} was refused"),
        )
        .redact(std::slice::from_ref(&token));
        assert_eq!(
            err.message(),
            "the provider crashed (unreachable); it wrote: [redacted] was refused"
        );

        // The start of a short password, cut by a body's truncation.
        let err = Error::new(ErrorKind::Unauthorized, "denied for hunter2-s")
            .redact(&["hunter2-secret".to_owned()]);
        assert_eq!(err.message(), "denied for [redacted]");

        // Words that only share a few letters with it stay.
        let err = Error::new(ErrorKind::Unauthorized, "the password is wrong")
            .redact(&["s3cr3t-password-2024".to_owned()]);
        assert_eq!(err.message(), "the password is wrong");
    }

    #[test]
    fn display_starts_with_the_name_and_stays_on_one_line() {
        let err = Error::new(ErrorKind::TooLargeArtifacts, "too\nbig");
        assert_eq!(err.to_string(), "TooLargeArtifacts: too big");
    }
}
