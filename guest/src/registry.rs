//! The OCI distribution API: manifests and blobs of one repository, read
//! for a pull and written for a push.
//!
//! A blob is pushed as the distribution specification describes ("Pushing
//! blobs"): `HEAD` to see whether the registry has it, `POST` to open an
//! upload session, then one `PUT` with the bytes, or `PATCH` chunks and a
//! closing `PUT`, each sent to the `Location` the previous answer named.

use std::ops::Range;
use std::rc::Rc;

use artifact_store_core::manifest::{Manifest, MAX_MANIFEST_SIZE};
pub use artifact_store_core::pack::Blob;
use artifact_store_core::verify::VerifyingReader;
use artifact_store_core::{digest_of, is_sha256_digest, parse_challenges, Reference};

use crate::auth::{Actions, Credentials, Session};
use crate::error::{Error, Result};
use crate::http::{self, Body, Method, Payload, ReadCapped, Request, Response};
use crate::manifest::{self, ErrorEnvelope};
use crate::url::Url;

/// How much of an error response is read for its JSON envelope.
const MAX_ERROR_BODY: u64 = 64 << 10;

/// Blobs up to this size go in one `PUT`. Larger ones go in chunks, so that
/// a registry or proxy with a request-size limit still takes them.
pub const MONOLITHIC_MAX: u64 = 16 << 20;

/// The size of each `PATCH`, unless the registry asks for larger ones
/// (`OCI-Chunk-Min-Length`). As large as a monolithic upload, to keep the
/// round trips few; a request repeated after a 401 resends at most this.
const CHUNK_SIZE: u64 = 16 << 20;

/// A manifest as served, hashed and parsed.
#[derive(Debug)]
pub struct FetchedManifest {
    pub bytes: Vec<u8>,
    pub digest: String,
    pub media_type: String,
    pub manifest: Manifest,
}

impl FetchedManifest {
    /// The artifact type the document declares (for an image manifest its
    /// `artifactType`, else its config's media type).
    pub fn artifact_type(&self) -> Option<String> {
        match &self.manifest {
            Manifest::Image(m) => m.artifact_type(),
            Manifest::Index(i) => i.artifact_type.clone(),
        }
    }
}

/// What a HEAD request says about a manifest.
#[derive(Debug)]
pub struct ManifestHead {
    pub digest: String,
    pub media_type: String,
    pub size: u64,
}

/// A client for one repository, for the length of one call.
pub struct Registry<'a> {
    reference: &'a Reference,
    base: Url,
    session: Session<'a>,
    actions: Actions,
}

impl<'a> Registry<'a> {
    /// A client that pulls: its tokens are scoped to `pull`.
    pub fn new(reference: &'a Reference, plain_http: bool, credentials: &'a Credentials) -> Self {
        Registry::with_actions(reference, plain_http, credentials, Actions::Pull)
    }

    /// A client that pushes: its tokens are scoped to `pull,push`.
    pub fn for_push(
        reference: &'a Reference,
        plain_http: bool,
        credentials: &'a Credentials,
    ) -> Self {
        Registry::with_actions(reference, plain_http, credentials, Actions::PullPush)
    }

    fn with_actions(
        reference: &'a Reference,
        plain_http: bool,
        credentials: &'a Credentials,
        actions: Actions,
    ) -> Self {
        let base = Url::new(!plain_http, &reference.registry, "/v2/");
        let session = Session::new(credentials, &base, &reference.repository, actions);
        Registry {
            reference,
            base,
            session,
            actions,
        }
    }

    fn url(&self, kind: &str, selector: &str) -> Url {
        let path = format!("/v2/{}/{kind}/{selector}", self.reference.repository);
        Url::new(self.base.https, &self.base.authority, path)
    }

    /// Sends a registry request, authenticating once if the registry asks.
    /// Credentials go to the registry's own origin only: an upload location
    /// on another host gets none.
    fn send(&mut self, request: Request) -> Result<Response> {
        let ours = request.url.same_origin(&self.base);
        let mut first = request.clone();
        if ours {
            first.authorization = self.session.authorization().map(str::to_owned);
        }
        let response = http::send(first)?;
        if response.status != 401 || !ours {
            return Ok(response);
        }

        // Several WWW-Authenticate headers read as one comma-separated list.
        let header = response
            .headers_named("www-authenticate")
            .collect::<Vec<_>>()
            .join(", ");
        drop(response);
        self.session.on_unauthorized(&parse_challenges(&header))?;

        let mut retry = request;
        retry.authorization = self.session.authorization().map(str::to_owned);
        http::send(retry)
    }

    /// Fetches a manifest by tag or digest, and checks it against the digest
    /// the selector pins and the one the registry reports.
    pub fn get_manifest(&mut self, selector: &str) -> Result<FetchedManifest> {
        let what = self.describe_manifest(selector);
        let request =
            Request::get(self.url("manifests", selector)).header("accept", manifest::ACCEPT);
        let response = self.send(request)?;
        if response.status != 200 {
            return Err(self.status_error(response, &what));
        }

        let content_type = response.header("content-type").map(str::to_owned);
        let reported = response
            .header("docker-content-digest")
            .filter(|d| is_sha256_digest(d))
            .map(str::to_owned);
        let bytes = response
            .read_capped(MAX_MANIFEST_SIZE)
            .map_err(|e| match e {
                ReadCapped::TooLong => Error::TooLarge(format!(
                    "{what} is larger than the {MAX_MANIFEST_SIZE}-byte manifest cap"
                )),
                ReadCapped::Failed(e) => e.context(&what),
            })?;

        let digest = digest_of(&bytes);
        if is_sha256_digest(selector) && digest != selector {
            return Err(Error::DigestMismatch(format!(
                "{what} hashed to {digest}, not to the pinned {selector}"
            )));
        }
        if let Some(reported) = reported.filter(|r| *r != digest) {
            return Err(Error::DigestMismatch(format!(
                "{what} hashed to {digest}, but the registry's Docker-Content-Digest says \
                 {reported}"
            )));
        }

        let (manifest, media_type) =
            Manifest::parse(&bytes, content_type.as_deref()).map_err(|e| e.context(&what))?;
        Ok(FetchedManifest {
            bytes,
            digest,
            media_type,
            manifest,
        })
    }

    /// Asks for a manifest's digest, type and size without its body. `None`
    /// when the registry's answer lacks any of them, so the caller should GET.
    pub fn head_manifest(&mut self, selector: &str) -> Result<Option<ManifestHead>> {
        let what = self.describe_manifest(selector);
        let request =
            Request::head(self.url("manifests", selector)).header("accept", manifest::ACCEPT);
        let response = self.send(request)?;
        if !(200..300).contains(&response.status) {
            return Err(self.status_error(response, &what));
        }

        let digest = response
            .header("docker-content-digest")
            .filter(|d| is_sha256_digest(d));
        let media_type = response
            .header("content-type")
            .map(|c| c.split(';').next().unwrap_or_default().trim())
            .filter(|c| !c.is_empty());
        let (Some(digest), Some(media_type), Some(size)) =
            (digest, media_type, response.content_length())
        else {
            return Ok(None);
        };
        if is_sha256_digest(selector) && digest != selector {
            return Err(Error::DigestMismatch(format!(
                "{what}: the registry reports digest {digest}, not the pinned {selector}"
            )));
        }
        if size > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge(format!(
                "{what} is {size} bytes, larger than the {MAX_MANIFEST_SIZE}-byte manifest cap"
            )));
        }
        Ok(Some(ManifestHead {
            digest: digest.to_owned(),
            media_type: media_type.to_owned(),
            size,
        }))
    }

    /// Starts downloading a blob. The reader hashes and counts while it
    /// reads; nothing read from it counts until its `finish` succeeds.
    pub fn open_blob(&mut self, digest: &str, size: u64) -> Result<VerifyingReader<Body>> {
        let what = self.describe_blob(digest);
        let response = self.send(Request::get(self.url("blobs", digest)))?;
        if response.status != 200 {
            return Err(self.status_error(response, &what));
        }
        if let Some(announced) = response.content_length().filter(|&n| n != size) {
            return Err(Error::DigestMismatch(format!(
                "{what} is served as {announced} bytes, but the manifest declares {size}"
            )));
        }
        Ok(VerifyingReader::new(
            response.into_body(),
            what,
            digest,
            size,
        ))
    }

    fn describe_manifest(&self, selector: &str) -> String {
        let r = self.reference;
        let separator = if is_sha256_digest(selector) { '@' } else { ':' };
        format!(
            "manifest {}/{}{separator}{selector}",
            r.registry, r.repository
        )
    }

    /// Turns an unexpected status into an error, with the registry's own
    /// error code when it sent its JSON envelope.
    fn status_error(&self, response: Response, what: &str) -> Error {
        let status = response.status;
        // A token that was issued but lacks an action: the credentials are
        // good, they just do not allow this (RFC 6750, section 3.1).
        let insufficient_scope = parse_challenges(
            &response
                .headers_named("www-authenticate")
                .collect::<Vec<_>>()
                .join(", "),
        )
        .iter()
        .any(|c| c.is("bearer") && c.param("error") == Some("insufficient_scope"));
        let summary = match response.read_capped(MAX_ERROR_BODY) {
            Ok(body) => ErrorEnvelope::summary(&body),
            Err(_) => None,
        };
        let refusal = Refusal {
            credentials: self.session.describe_credentials(),
            action: match self.actions {
                Actions::Pull => "pulling it",
                Actions::PullPush => "pushing to it",
            },
            insufficient_scope: insufficient_scope && self.session.has_credentials(),
        };
        let detail = summary.map(|s| format!(" ({s})")).unwrap_or_default();
        status_error(status, what, &detail, &refusal)
    }

    /// Whether the registry already holds a blob.
    pub fn blob_exists(&mut self, digest: &str) -> Result<bool> {
        let what = self.describe_blob(digest);
        let response = self.send(Request::head(self.url("blobs", digest)))?;
        match response.status {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(self.status_error(response, &what)),
        }
    }

    /// Uploads a blob the registry does not hold yet: in one `PUT` up to
    /// [`MONOLITHIC_MAX`] bytes, else in `PATCH` chunks.
    pub fn upload_blob(&mut self, blob: &Blob) -> Result<()> {
        let what = self.describe_blob(&blob.digest);
        let start = Url::new(
            self.base.https,
            &self.base.authority,
            format!("/v2/{}/blobs/uploads/", self.reference.repository),
        );
        let response = self.send(Request::with_body(
            Method::Post,
            start.clone(),
            Payload::empty(),
        ))?;
        if !(200..300).contains(&response.status) {
            return Err(self.status_error(response, &format!("starting the upload of {what}")));
        }
        let min_chunk = response
            .header("oci-chunk-min-length")
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        let mut location = next_location(&start, &response, &what)?;
        drop(response);

        let total = blob.bytes.len() as u64;
        if total > MONOLITHIC_MAX {
            let chunk = CHUNK_SIZE.max(min_chunk);
            location = send_chunks(location, total, chunk, |url, range| {
                self.patch_chunk(url, blob, range, &what)
            })?;
        }

        // The closing PUT names the digest, and carries the bytes unless
        // chunks already did.
        let body = if total > MONOLITHIC_MAX {
            Payload::empty()
        } else {
            Payload::new(Rc::clone(&blob.bytes))
        };
        let mut url = location;
        url.append_query("digest", &blob.digest);
        let request = Request::with_body(Method::Put, url, body)
            .header("content-type", "application/octet-stream");
        let response = self.send(request)?;
        if !(200..300).contains(&response.status) {
            return Err(self.status_error(response, &format!("finishing the upload of {what}")));
        }
        check_reported_digest(&response, &blob.digest, &what)
    }

    /// Sends one chunk and returns where the next goes.
    fn patch_chunk(
        &mut self,
        url: &Url,
        blob: &Blob,
        range: Range<u64>,
        what: &str,
    ) -> Result<Url> {
        let slice = usize::try_from(range.start).unwrap_or(usize::MAX)
            ..usize::try_from(range.end).unwrap_or(usize::MAX);
        let request = Request::with_body(
            Method::Patch,
            url.clone(),
            Payload::slice(Rc::clone(&blob.bytes), slice),
        )
        .header("content-type", "application/octet-stream")
        .header("content-range", content_range(&range));
        let response = self.send(request)?;
        if !(200..300).contains(&response.status) {
            let step = format!("uploading bytes {} of {what}", content_range(&range));
            return Err(self.status_error(response, &step));
        }
        next_location(url, &response, what)
    }

    /// Tags a manifest: `PUT /v2/<repository>/manifests/<tag>`. The
    /// registry's `Docker-Content-Digest`, when it sends one, must be
    /// `digest`.
    pub fn put_manifest(
        &mut self,
        tag: &str,
        media_type: &str,
        bytes: Rc<Vec<u8>>,
        digest: &str,
    ) -> Result<()> {
        let what = self.describe_manifest(tag);
        let request =
            Request::with_body(Method::Put, self.url("manifests", tag), Payload::new(bytes))
                .header("content-type", media_type);
        let response = self.send(request)?;
        if !(200..300).contains(&response.status) {
            return Err(self.status_error(response, &what));
        }
        check_reported_digest(&response, digest, &what)
    }

    fn describe_blob(&self, digest: &str) -> String {
        format!(
            "blob {digest} of {}/{}",
            self.reference.registry, self.reference.repository
        )
    }
}

/// Drives a chunked upload of `total` bytes from `start`: `send` gets the
/// URL and the byte range of each chunk and returns the URL for the next.
///
/// The offset advances by what was sent and accepted. A registry's `Range`
/// header is not read: registries have reported it inclusive, exclusive or
/// not at all, and a wrong one would make the provider skip or repeat bytes.
fn send_chunks(
    start: Url,
    total: u64,
    chunk: u64,
    mut send: impl FnMut(&Url, Range<u64>) -> Result<Url>,
) -> Result<Url> {
    let chunk = chunk.max(1);
    let mut url = start;
    let mut offset = 0;
    while offset < total {
        let end = offset.saturating_add(chunk).min(total);
        url = send(&url, offset..end)?;
        offset = end;
    }
    Ok(url)
}

/// `Content-Range` of a chunk: first and last byte, both inclusive.
fn content_range(range: &Range<u64>) -> String {
    format!("{}-{}", range.start, range.end.saturating_sub(1))
}

/// The upload location an answer names, resolved against the request that
/// got it; its query (distribution keeps upload state there) is kept.
fn next_location(request: &Url, response: &Response, what: &str) -> Result<Url> {
    let location = response.header("location").ok_or_else(|| {
        Error::Other(format!(
            "{what}: the registry answered {} without a Location for the upload",
            response.status
        ))
    })?;
    request.join(location).map_err(|e| {
        Error::Other(format!(
            "{what}: the registry named an unusable upload location: {e}"
        ))
    })
}

fn check_reported_digest(response: &Response, digest: &str, what: &str) -> Result<()> {
    match response.header("docker-content-digest") {
        Some(reported) if reported != digest => Err(Error::DigestMismatch(format!(
            "{what}: the registry stored it as {reported}, not as the {digest} the provider \
             computed"
        ))),
        _ => Ok(()),
    }
}

/// How a refusal is worded.
struct Refusal<'a> {
    credentials: &'a str,
    /// `pulling it` or `pushing to it`.
    action: &'a str,
    /// The registry said the token lacks an action, and credentials were
    /// given: they were accepted but are not enough.
    insufficient_scope: bool,
}

fn status_error(status: u16, what: &str, detail: &str, refusal: &Refusal) -> Error {
    let Refusal {
        credentials,
        action,
        ..
    } = refusal;
    match status {
        401 if refusal.insufficient_scope => Error::Forbidden(format!(
            "{what}: the token service accepted {credentials} but did not grant {action}{detail}"
        )),
        401 => Error::Unauthorized(format!(
            "{what}: the registry refused {credentials}{detail}"
        )),
        403 => Error::Forbidden(format!(
            "{what}: the credentials do not allow {action}{detail}"
        )),
        404 => Error::NotFound(format!("{what} was not found{detail}")),
        408 => Error::Timeout(format!(
            "{what}: the registry timed out the request{detail}"
        )),
        429 => Error::Other(format!(
            "{what}: the registry is rate limiting; try again later{detail}"
        )),
        500..=599 => {
            Error::StoreNotReachable(format!("{what}: the registry answered {status}{detail}"))
        }
        _ => Error::Other(format!("{what}: unexpected HTTP status {status}{detail}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(insufficient_scope: bool) -> Refusal<'static> {
        Refusal {
            credentials: "the given user name and password",
            action: "pushing to it",
            insufficient_scope,
        }
    }

    #[test]
    fn statuses_map_to_cases() {
        let e = |s| {
            status_error(
                s,
                "manifest r/a:v1",
                " (MANIFEST_UNKNOWN: manifest unknown)",
                &refusal(false),
            )
        };
        assert!(matches!(e(401), Error::Unauthorized(_)));
        assert!(matches!(e(403), Error::Forbidden(_)));
        assert!(matches!(e(408), Error::Timeout(_)));
        assert!(matches!(e(502), Error::StoreNotReachable(_)));
        assert!(matches!(e(418), Error::Other(_)));
        let Error::NotFound(m) = e(404) else { panic!() };
        assert_eq!(
            m,
            "manifest r/a:v1 was not found (MANIFEST_UNKNOWN: manifest unknown)"
        );
    }

    #[test]
    fn a_token_without_push_is_forbidden_not_unauthorized() {
        let e = status_error(401, "blob x", "", &refusal(true));
        let Error::Forbidden(m) = e else {
            panic!("{e:?}")
        };
        assert!(m.contains("did not grant pushing to it"), "{m}");
        let e = status_error(403, "blob x", " (DENIED: no)", &refusal(false));
        assert!(matches!(&e, Error::Forbidden(m) if m.contains("pushing to it (DENIED: no)")));
    }

    /// Records what a chunked upload sends; its "registry" moves the upload
    /// to a new location after each chunk and reports a `Range` that lies.
    fn run_chunks(total: u64, chunk: u64) -> (Url, Vec<(String, String)>) {
        let start = Url::new(false, "reg.io", "/v2/a/blobs/uploads/u0?_state=s0");
        let mut sent = Vec::new();
        let end = send_chunks(start, total, chunk, |url, range| {
            sent.push((url.path_and_query.clone(), content_range(&range)));
            // A registry that claims it holds one byte less than it does:
            // the provider never reads this.
            let _lying_range = format!("0-{}", range.end.saturating_sub(2));
            let n = sent.len();
            url.join(&format!("/v2/a/blobs/uploads/u{n}?_state=s{n}"))
                .map_err(Error::Other)
        })
        .unwrap();
        (end, sent)
    }

    #[test]
    fn chunk_offsets_follow_the_bytes_sent_and_each_new_location() {
        let (end, sent) = run_chunks(10, 4);
        let expected = [
            ("/v2/a/blobs/uploads/u0?_state=s0", "0-3"),
            ("/v2/a/blobs/uploads/u1?_state=s1", "4-7"),
            ("/v2/a/blobs/uploads/u2?_state=s2", "8-9"),
        ];
        let sent: Vec<(&str, &str)> = sent.iter().map(|(u, r)| (u.as_str(), r.as_str())).collect();
        assert_eq!(sent, expected);
        assert_eq!(end.path_and_query, "/v2/a/blobs/uploads/u3?_state=s3");

        let (_, sent) = run_chunks(8, 4);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].1, "4-7");
        let (_, sent) = run_chunks(MONOLITHIC_MAX + 1, CHUNK_SIZE);
        assert_eq!(sent.len(), 2);
        assert_eq!(sent[1].1, format!("{CHUNK_SIZE}-{CHUNK_SIZE}"));
    }

    #[test]
    fn the_digest_joins_the_upload_query() {
        let mut u = Url::new(true, "reg.io", "/v2/a/blobs/uploads/u1?_state=abc");
        u.append_query("digest", "sha256:00");
        assert_eq!(
            u.path_and_query,
            "/v2/a/blobs/uploads/u1?_state=abc&digest=sha256%3A00"
        );
        let mut u = Url::new(true, "reg.io", "/v2/a/blobs/uploads/u1");
        u.append_query("digest", "sha256:00");
        assert_eq!(
            u.path_and_query,
            "/v2/a/blobs/uploads/u1?digest=sha256%3A00"
        );
    }
}
