//! The OCI distribution API: manifests and blobs of one repository.

use artifact_store_core::{is_sha256_digest, parse_challenges, Reference};

use crate::auth::{Credentials, Session};
use crate::error::{Error, Result};
use crate::http::{self, Body, ReadCapped, Request, Response};
use crate::manifest::{self, ErrorEnvelope, Manifest};
use crate::url::Url;
use crate::verify::{digest_of, VerifyingReader};

/// The largest manifest accepted, as most registries cap them (distribution
/// and ACR at 4 MiB). Bigger ones are refused before being read.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// How much of an error response is read for its JSON envelope.
const MAX_ERROR_BODY: u64 = 64 << 10;

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
}

impl<'a> Registry<'a> {
    pub fn new(reference: &'a Reference, plain_http: bool, credentials: &'a Credentials) -> Self {
        let base = Url::new(!plain_http, &reference.registry, "/v2/");
        let session = Session::new(credentials, &base, &reference.repository);
        Registry {
            reference,
            base,
            session,
        }
    }

    fn url(&self, kind: &str, selector: &str) -> Url {
        let path = format!("/v2/{}/{kind}/{selector}", self.reference.repository);
        Url::new(self.base.https, &self.base.authority, path)
    }

    /// Sends a registry request, authenticating once if the registry asks.
    fn send(&mut self, request: Request) -> Result<Response> {
        let mut first = request.clone();
        first.authorization = self.session.authorization().map(str::to_owned);
        let response = http::send(first)?;
        if response.status != 401 {
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
        let what = format!(
            "blob {digest} of {}/{}",
            self.reference.registry, self.reference.repository
        );
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
        let summary = match response.read_capped(MAX_ERROR_BODY) {
            Ok(body) => ErrorEnvelope::summary(&body),
            Err(_) => None,
        };
        let detail = summary.map(|s| format!(" ({s})")).unwrap_or_default();
        status_error(status, what, &detail, self.session.describe_credentials())
    }
}

fn status_error(status: u16, what: &str, detail: &str, credentials: &str) -> Error {
    match status {
        401 => Error::Unauthorized(format!(
            "{what}: the registry refused {credentials}{detail}"
        )),
        403 => Error::Forbidden(format!(
            "{what}: the credentials do not allow pulling it{detail}"
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

    #[test]
    fn statuses_map_to_cases() {
        let e = |s| {
            status_error(
                s,
                "manifest r/a:v1",
                " (MANIFEST_UNKNOWN: manifest unknown)",
                "x",
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
}
