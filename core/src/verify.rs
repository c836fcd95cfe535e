//! Content verification while bytes stream in: every blob is hashed and
//! counted as it arrives, so that nothing is trusted or returned before its
//! digest and size have been checked.

use std::convert::Infallible;
use std::fmt;
use std::io::{self, BufRead, Read};

use sha2::{Digest, Sha256};

use crate::content::ContentError;

/// Something that yields a blob in chunks: a wasi:http response body, a
/// file, or bytes already in memory.
pub trait ChunkSource {
    /// Why reading failed, in the source's own terms.
    type Error: fmt::Display;

    /// The next chunk, never empty; `None` at the end.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;
}

/// What reading a blob from `S` can fail with.
pub type VerifyError<S> = ContentError<<S as ChunkSource>::Error>;

/// `sha256:` and the lowercase hex of a finished hash.
pub fn sha256_digest(hasher: Sha256) -> String {
    let hash = hasher.finalize();
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in hash {
        out.push(char::from_digit(u32::from(b >> 4), 16).expect("nibble"));
        out.push(char::from_digit(u32::from(b & 0xf), 16).expect("nibble"));
    }
    out
}

/// The digest of bytes already in memory.
pub fn digest_of(bytes: &[u8]) -> String {
    sha256_digest(Sha256::new_with_prefix(bytes))
}

/// Reads a blob, hashing and counting it, and refuses more bytes than the
/// descriptor declares the moment they arrive.
///
/// Readers above it (gzip, tar) see failures as `io::Error`; the real
/// error is kept and handed back by [`VerifyingReader::take_failure`].
pub struct VerifyingReader<S: ChunkSource> {
    source: S,
    /// What the bytes are, for messages: `blob sha256:...`.
    what: String,
    expected_digest: String,
    expected_size: u64,
    hasher: Sha256,
    received: u64,
    chunk: Vec<u8>,
    pos: usize,
    eof: bool,
    failure: Option<VerifyError<S>>,
}

impl<S: ChunkSource> VerifyingReader<S> {
    pub fn new(source: S, what: String, expected_digest: &str, expected_size: u64) -> Self {
        VerifyingReader {
            source,
            what,
            expected_digest: expected_digest.to_owned(),
            expected_size,
            hasher: Sha256::new(),
            received: 0,
            chunk: Vec::new(),
            pos: 0,
            eof: false,
            failure: None,
        }
    }

    /// The error behind the last `io::Error` this reader returned, if any.
    pub fn take_failure(&mut self) -> Option<VerifyError<S>> {
        self.failure.take()
    }

    /// Up to `n` bytes from the current position, without consuming them.
    /// Shorter only at the end of the blob.
    pub fn peek(&mut self, n: usize) -> Result<&[u8], VerifyError<S>> {
        while self.chunk.len() - self.pos < n && !self.eof {
            match self.pull()? {
                Some(next) => {
                    self.chunk.drain(..self.pos);
                    self.pos = 0;
                    self.chunk.extend_from_slice(&next);
                }
                None => break,
            }
        }
        let end = self.chunk.len().min(self.pos + n);
        Ok(&self.chunk[self.pos..end])
    }

    /// Reads what is left and checks the size and digest. On success every
    /// byte of the blob has been verified.
    pub fn finish(mut self) -> Result<(), VerifyError<S>> {
        self.pos = self.chunk.len();
        while self.pull()?.is_some() {}
        if self.received != self.expected_size {
            return Err(ContentError::DigestMismatch(format!(
                "{} is {} bytes long, but its descriptor says {}",
                self.what, self.received, self.expected_size
            )));
        }
        let actual = sha256_digest(self.hasher);
        if actual != self.expected_digest {
            return Err(ContentError::DigestMismatch(format!(
                "{} hashed to {actual}, not to {}",
                self.what, self.expected_digest
            )));
        }
        Ok(())
    }

    /// Fetches, counts and hashes the next chunk.
    fn pull(&mut self) -> Result<Option<Vec<u8>>, VerifyError<S>> {
        if self.eof {
            return Ok(None);
        }
        let Some(chunk) = self.source.next_chunk().map_err(ContentError::Source)? else {
            self.eof = true;
            return Ok(None);
        };
        self.received += chunk.len() as u64;
        if self.received > self.expected_size {
            return Err(ContentError::DigestMismatch(format!(
                "{} is longer than the {} bytes its descriptor declares",
                self.what, self.expected_size
            )));
        }
        self.hasher.update(&chunk);
        Ok(Some(chunk))
    }

    fn fail(&mut self, error: VerifyError<S>) -> io::Error {
        let io = io::Error::other(error.to_string());
        self.failure = Some(error);
        io
    }
}

impl<S: ChunkSource> Read for VerifyingReader<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<S: ChunkSource> BufRead for VerifyingReader<S> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos == self.chunk.len() {
            match self.pull() {
                Ok(Some(next)) => {
                    self.chunk = next;
                    self.pos = 0;
                }
                Ok(None) => {
                    self.chunk.clear();
                    self.pos = 0;
                }
                Err(e) => return Err(self.fail(e)),
            }
        }
        Ok(&self.chunk[self.pos..])
    }

    fn consume(&mut self, amount: usize) {
        self.pos = (self.pos + amount).min(self.chunk.len());
    }
}

/// A source of fixed chunks from memory, which cannot fail.
#[derive(Debug, Clone, Default)]
pub struct Chunks(pub std::collections::VecDeque<Vec<u8>>);

impl Chunks {
    /// Splits `bytes` into chunks of `size`.
    pub fn of(bytes: &[u8], size: usize) -> Chunks {
        Chunks(bytes.chunks(size.max(1)).map(<[u8]>::to_vec).collect())
    }
}

impl ChunkSource for Chunks {
    type Error = Infallible;

    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.0.pop_front())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reader(bytes: &[u8], chunk: usize, digest: &str, size: u64) -> VerifyingReader<Chunks> {
        VerifyingReader::new(Chunks::of(bytes, chunk), "blob x".into(), digest, size)
    }

    #[test]
    fn known_digest() {
        assert_eq!(
            digest_of(b"{}"),
            "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }

    #[test]
    fn reads_and_verifies() {
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        let mut r = reader(&data, 777, &digest_of(&data), data.len() as u64);
        assert_eq!(r.peek(2000).unwrap(), &data[..2000]);
        let mut head = vec![0; 100];
        r.read_exact(&mut head).unwrap();
        assert_eq!(head, data[..100]);
        let mut rest = Vec::new();
        r.read_to_end(&mut rest).unwrap();
        assert_eq!(rest, data[100..]);
        r.finish().unwrap();
    }

    #[test]
    fn finish_reads_the_unread_rest() {
        let data = vec![7u8; 5000];
        let r = reader(&data, 1000, &digest_of(&data), 5000);
        r.finish().unwrap();
    }

    #[test]
    fn wrong_digest_names_both() {
        let other = digest_of(b"other");
        let r = reader(b"data", 2, &other, 4);
        let Err(ContentError::DigestMismatch(m)) = r.finish() else {
            panic!("expected a digest mismatch");
        };
        assert!(m.contains(&other) && m.contains(&digest_of(b"data")), "{m}");
    }

    #[test]
    fn short_blob_is_a_mismatch() {
        let r = reader(b"data", 2, &digest_of(b"data"), 5);
        assert!(matches!(r.finish(), Err(ContentError::DigestMismatch(_))));
    }

    #[test]
    fn long_blob_stops_as_soon_as_it_overflows() {
        let data = vec![0u8; 10];
        let mut r = reader(&data, 4, &digest_of(&data), 6);
        let mut sink = Vec::new();
        assert!(r.read_to_end(&mut sink).is_err());
        assert_eq!(sink.len(), 4);
        assert!(matches!(
            r.take_failure(),
            Some(ContentError::DigestMismatch(_))
        ));
    }
}
