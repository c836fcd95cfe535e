//! Outgoing HTTP over wasi:http: one request, its redirects, a request body
//! written as fast as the host takes it, and a response body read in large
//! chunks.
//!
//! wasi:http hands back redirects as they are, so they are followed here for
//! GET and HEAD, and the `Authorization` header is dropped as soon as a hop
//! leaves the origin it was meant for (a registry redirecting a blob to a
//! CDN). Requests that carry a body (uploads) are never redirected.

use std::fmt;
use std::ops::Range;
use std::rc::Rc;
use std::time::Duration;

use wasi::http::outgoing_handler;
use wasi::http::types::{
    ErrorCode, Fields, FutureIncomingResponse, IncomingBody, IncomingResponse,
    Method as WasiMethod, OutgoingBody, OutgoingRequest, RequestOptions, Scheme,
};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use artifact_store_core::verify::ChunkSource;

use crate::error::{Error, Result};
use crate::url::Url;

/// The most redirects followed in a row, as browsers and ORAS do.
pub const MAX_REDIRECTS: usize = 5;

/// How much one read asks for. The host answers with what it has (at most
/// one HTTP frame, a few hundred KiB), so this only bounds a single copy.
const READ_CHUNK: u64 = 1 << 20;

/// Time allowed to open a connection; the host's own deadline still applies.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Time allowed for the response head and for each gap between body bytes.
/// Registries can take a while to start a large blob from cold storage.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(120);

/// The request methods the provider uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
}

impl Method {
    fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
        }
    }

    /// Whether a redirect answer is followed. Uploads are not: repeating a
    /// body to wherever a server points is how a registry could make the
    /// provider send content (and credentials) elsewhere, and no registry
    /// needs it.
    fn follows_redirects(self) -> bool {
        matches!(self, Method::Get | Method::Head)
    }
}

/// A request body: a range of a buffer that several requests may share (a
/// blob's chunks, or a request repeated after a 401).
#[derive(Clone)]
pub struct Payload {
    bytes: Rc<Vec<u8>>,
    range: Range<usize>,
}

impl Payload {
    /// The whole of `bytes`.
    pub fn new(bytes: Rc<Vec<u8>>) -> Payload {
        let range = 0..bytes.len();
        Payload { bytes, range }
    }

    /// An empty body, sent with `Content-Length: 0`.
    pub fn empty() -> Payload {
        Payload::new(Rc::new(Vec::new()))
    }

    /// `range` of `bytes`; panics if it lies outside them.
    pub fn slice(bytes: Rc<Vec<u8>>, range: Range<usize>) -> Payload {
        assert!(range.start <= range.end && range.end <= bytes.len());
        Payload { bytes, range }
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.bytes[self.range.clone()]
    }

    pub fn len(&self) -> usize {
        self.range.len()
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &self.headers)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "[redacted]"),
            )
            .field("body", &self.body)
            .finish()
    }
}

impl fmt::Debug for Payload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The bytes themselves would drown a debug dump.
        write!(f, "Payload({} bytes)", self.len())
    }
}

/// A request, with a body for POST, PUT and PATCH. `Debug` shows neither
/// the `Authorization` value nor the URL's query.
#[derive(Clone)]
pub struct Request {
    pub method: Method,
    pub url: Url,
    /// Plain headers, kept across redirects.
    pub headers: Vec<(&'static str, String)>,
    /// Sent to `url`'s origin only; dropped when a redirect leaves it.
    pub authorization: Option<String>,
    /// Sent with a `Content-Length`; `None` for GET and HEAD.
    pub body: Option<Payload>,
}

impl Request {
    pub fn get(url: Url) -> Request {
        Request {
            method: Method::Get,
            url,
            headers: Vec::new(),
            authorization: None,
            body: None,
        }
    }

    pub fn head(url: Url) -> Request {
        Request {
            method: Method::Head,
            ..Request::get(url)
        }
    }

    /// A request of `method` that sends `body`.
    pub fn with_body(method: Method, url: Url, body: Payload) -> Request {
        Request {
            method,
            body: Some(body),
            ..Request::get(url)
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response head and its unread body.
pub struct Response {
    pub status: u16,
    /// Header names in lowercase, values as sent.
    headers: Vec<(String, Vec<u8>)>,
    body: Body,
}

impl Response {
    /// The first value of a header, if it is valid UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// Every value of a header, in order.
    pub fn headers_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .filter_map(|(_, v)| std::str::from_utf8(v).ok())
            .map(str::trim)
    }

    /// The declared `Content-Length`, if it is a number.
    pub fn content_length(&self) -> Option<u64> {
        self.header("content-length")?.parse().ok()
    }

    pub fn into_body(self) -> Body {
        self.body
    }

    /// Reads the whole body, failing once it passes `cap` bytes.
    pub fn read_capped(self, cap: u64) -> Result<Vec<u8>, ReadCapped> {
        if self.content_length().is_some_and(|n| n > cap) {
            return Err(ReadCapped::TooLong);
        }
        let capacity = self.content_length().unwrap_or(0).min(cap);
        let mut out = Vec::with_capacity(usize::try_from(capacity).unwrap_or(0));
        let mut body = self.body;
        while let Some(chunk) = body.next_chunk().map_err(ReadCapped::Failed)? {
            if (out.len() + chunk.len()) as u64 > cap {
                return Err(ReadCapped::TooLong);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
}

/// Why [`Response::read_capped`] stopped.
#[derive(Debug)]
pub enum ReadCapped {
    TooLong,
    Failed(Error),
}

/// A response body, read chunk by chunk as the host hands it over.
pub struct Body {
    // Field order is drop order: the stream is a child of the body, and the
    // body of the response, so they are released in that order.
    parts: Option<BodyParts>,
    authority: String,
    response: IncomingResponse,
}

struct BodyParts {
    stream: InputStream,
    _body: IncomingBody,
}

impl ChunkSource for Body {
    type Error = Error;

    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        if self.parts.is_none() {
            let body = self
                .response
                .consume()
                .map_err(|()| Error::Other("response body was already taken".into()))?;
            let stream = body
                .stream()
                .map_err(|()| Error::Other("response body stream was already taken".into()))?;
            self.parts = Some(BodyParts {
                stream,
                _body: body,
            });
        }
        let parts = self.parts.as_ref().expect("body parts were just set");
        loop {
            match parts.stream.blocking_read(READ_CHUNK) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => return Ok(Some(chunk)),
                Err(StreamError::Closed) => return Ok(None),
                Err(StreamError::LastOperationFailed(e)) => {
                    let error = match wasi::http::types::http_error_code(&e) {
                        Some(code) => map_error_code(&code, &self.authority),
                        None => Error::StoreNotReachable(format!(
                            "reading the response from {} failed: {}",
                            self.authority,
                            e.to_debug_string()
                        )),
                    };
                    return Err(error);
                }
            }
        }
    }
}

/// Sends a request and follows up to [`MAX_REDIRECTS`] redirects.
pub fn send(mut request: Request) -> Result<Response> {
    for _ in 0..=MAX_REDIRECTS {
        let response = send_once(&request)?;
        match redirect_target(&request, response.status, response.header("location"))? {
            Some(next) => request = next,
            None => return Ok(response),
        }
    }
    Err(Error::Other(format!(
        "{} redirected more than {MAX_REDIRECTS} times in a row",
        request.url.origin()
    )))
}

/// The request to send after a redirect, or `None` if `status` is not one.
///
/// 303 turns a GET-like request into GET (a HEAD stays HEAD, as RFC 9110,
/// section 15.4.4 allows); the others repeat the method. The credentials
/// stay only while the scheme, host and port stay the same. A redirect of
/// an upload fails the call.
fn redirect_target(
    request: &Request,
    status: u16,
    location: Option<&str>,
) -> Result<Option<Request>> {
    if !matches!(status, 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let origin = request.url.origin();
    if !request.method.follows_redirects() {
        return Err(Error::Other(format!(
            "{origin} answered {status} (a redirect) to a {} upload request; uploads are \
             not redirected",
            request.method.name()
        )));
    }
    let location = location.ok_or_else(|| {
        Error::Other(format!(
            "{origin} answered {status} without a Location header"
        ))
    })?;
    let url = request
        .url
        .join(location)
        .map_err(|e| Error::Other(format!("{origin} redirected to an unusable location: {e}")))?;

    let mut next = request.clone();
    if !url.same_origin(&request.url) {
        next.authorization = None;
    }
    next.url = url;
    Ok(Some(next))
}

fn send_once(request: &Request) -> Result<Response> {
    let authority = request.url.authority.clone();
    let misuse =
        |what: &str| Error::Other(format!("cannot build the request to {authority}: {what}"));

    // The head.
    let fields = Fields::new();
    let headers = request.headers.iter().map(|(n, v)| (*n, v.as_str())).chain(
        request
            .authorization
            .as_deref()
            .map(|v| ("authorization", v)),
    );
    for (name, value) in headers {
        fields
            .append(name, value.as_bytes())
            .map_err(|_| misuse(&format!("header {name} is not allowed")))?;
    }
    if let Some(body) = &request.body {
        fields
            .append("content-length", body.len().to_string().as_bytes())
            .map_err(|_| misuse("header content-length is not allowed"))?;
    }
    let outgoing = OutgoingRequest::new(fields);
    let method = match request.method {
        Method::Get => WasiMethod::Get,
        Method::Head => WasiMethod::Head,
        Method::Post => WasiMethod::Post,
        Method::Put => WasiMethod::Put,
        Method::Patch => WasiMethod::Patch,
    };
    let scheme = if request.url.https {
        Scheme::Https
    } else {
        Scheme::Http
    };
    outgoing
        .set_method(&method)
        .map_err(|()| misuse("method"))?;
    outgoing
        .set_scheme(Some(&scheme))
        .map_err(|()| misuse("scheme"))?;
    outgoing
        .set_authority(Some(&request.url.authority))
        .map_err(|()| misuse("invalid authority"))?;
    outgoing
        .set_path_with_query(Some(&request.url.path_and_query))
        .map_err(|()| misuse("invalid path"))?;

    // Timeouts are advice: a host that does not support them keeps its own.
    let options = RequestOptions::new();
    let _ = options.set_connect_timeout(Some(nanos(CONNECT_TIMEOUT)));
    let _ = options.set_first_byte_timeout(Some(nanos(RESPONSE_TIMEOUT)));
    let _ = options.set_between_bytes_timeout(Some(nanos(RESPONSE_TIMEOUT)));

    // The body is written once the request is on its way: the host streams
    // it to the connection as it arrives, and holds little of it.
    let body = outgoing.body().map_err(|()| misuse("body already taken"))?;
    let pending = outgoing_handler::handle(outgoing, Some(options))
        .map_err(|code| map_error_code(&code, &authority))?;
    let bytes = request.body.as_ref().map_or(&[][..], Payload::as_slice);
    let written = write_body(&body, bytes, &pending, &authority);
    let response = match written {
        Ok(Written::All) => {
            OutgoingBody::finish(body, None).map_err(|code| map_error_code(&code, &authority))?;
            wait_for(&pending).map_err(|code| map_error_code(&code, &authority))?
        }
        // The server answered before taking the whole body (a 401, a 413):
        // its answer explains more than the unfinished upload. Dropping the
        // body unfinished tells the host to abandon it.
        Ok(Written::AnsweredEarly) => {
            drop(body);
            wait_for(&pending).map_err(|code| map_error_code(&code, &authority))?
        }
        Err(write_error) => {
            drop(body);
            // A request the host refused fails the body write too; the
            // refusal is the reason, not the closed stream.
            wait_for(&pending).map_err(|code| match code {
                ErrorCode::HttpRequestDenied => map_error_code(&code, &authority),
                _ => write_error,
            })?
        }
    };

    let status = response.status();
    let headers = response
        .headers()
        .entries()
        .into_iter()
        .map(|(n, v)| (n.to_ascii_lowercase(), v))
        .collect();
    Ok(Response {
        status,
        headers,
        body: Body {
            parts: None,
            authority,
            response,
        },
    })
}

/// How far [`write_body`] got.
enum Written {
    All,
    /// The response arrived before the body was fully written.
    AnsweredEarly,
}

/// Writes `bytes` to an outgoing body, as much at a time as the host's
/// `check-write` permits (wasmtime takes up to 1 MiB per write and buffers
/// one such chunk), waiting for room or for an early response in between.
fn write_body(
    body: &OutgoingBody,
    bytes: &[u8],
    pending: &FutureIncomingResponse,
    authority: &str,
) -> Result<Written> {
    if bytes.is_empty() {
        return Ok(Written::All);
    }
    let stream = body
        .write()
        .map_err(|()| Error::Other(format!("the request body to {authority} was already taken")))?;
    let failed = |e: StreamError| write_failure(e, authority);

    let mut rest = bytes;
    while !rest.is_empty() {
        let permitted = stream.check_write().map_err(failed)?;
        if permitted == 0 {
            if wait_for_room(&stream, pending) {
                return Ok(Written::AnsweredEarly);
            }
            continue;
        }
        let n = rest
            .len()
            .min(usize::try_from(permitted).unwrap_or(usize::MAX));
        stream.write(&rest[..n]).map_err(failed)?;
        rest = &rest[n..];
    }
    stream.blocking_flush().map_err(failed)?;
    // The stream is the body's child and must be gone before `finish`.
    drop(stream);
    Ok(Written::All)
}

/// Blocks until the stream has room or the response has arrived; true for
/// the latter.
fn wait_for_room(stream: &OutputStream, pending: &FutureIncomingResponse) -> bool {
    let room = stream.subscribe();
    let answer = pending.subscribe();
    let ready = wasi::io::poll::poll(&[&room, &answer]);
    ready.contains(&1) && !ready.contains(&0)
}

fn write_failure(e: StreamError, authority: &str) -> Error {
    match e {
        StreamError::Closed => Error::StoreNotReachable(format!(
            "{authority} closed the connection while the request body was being sent"
        )),
        StreamError::LastOperationFailed(e) => match wasi::http::types::http_error_code(&e) {
            Some(code) => map_error_code(&code, authority),
            None => Error::StoreNotReachable(format!(
                "sending the request body to {authority} failed: {}",
                e.to_debug_string()
            )),
        },
    }
}

/// Blocks until the response head has arrived.
fn wait_for(pending: &FutureIncomingResponse) -> Result<IncomingResponse, ErrorCode> {
    loop {
        match pending.get() {
            Some(Ok(result)) => return result,
            // `get` answers `Err` only when asked again after it answered.
            Some(Err(())) => {
                return Err(ErrorCode::InternalError(Some(
                    "response was already taken".into(),
                )))
            }
            None => pending.subscribe().block(),
        }
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Maps a wasi:http error to the provider's error cases.
fn map_error_code(code: &ErrorCode, authority: &str) -> Error {
    use ErrorCode as E;
    match code {
        E::HttpRequestDenied => Error::Denied(format!(
            "the host did not allow a request to {authority}; grant it in the store's \
             configuration if it is expected"
        )),
        E::DnsTimeout
        | E::ConnectionTimeout
        | E::ConnectionReadTimeout
        | E::ConnectionWriteTimeout
        | E::HttpResponseTimeout => {
            Error::Timeout(format!("{authority} did not answer in time ({code:?})"))
        }
        E::DnsError(_) | E::DestinationNotFound => {
            Error::StoreNotReachable(format!("cannot resolve {authority} ({code:?})"))
        }
        E::DestinationUnavailable
        | E::DestinationIpProhibited
        | E::DestinationIpUnroutable
        | E::ConnectionRefused
        | E::ConnectionTerminated
        | E::ConnectionLimitReached
        | E::HttpResponseIncomplete
        | E::HttpProtocolError => {
            Error::StoreNotReachable(format!("cannot reach {authority} ({code:?})"))
        }
        E::TlsCertificateError => Error::StoreNotReachable(format!(
            "the certificate of {authority} was not trusted ({code:?}); if a private \
             certificate authority signed it, give the store that authority's certificate \
             (ca-file)"
        )),
        E::TlsProtocolError | E::TlsAlertReceived(_) => Error::StoreNotReachable(format!(
            "TLS with {authority} failed ({code:?}); check the certificate or use \
                 plain HTTP for a loopback registry"
        )),
        other => Error::Other(format!("HTTP request to {authority} failed ({other:?})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry_request() -> Request {
        let mut r = Request::get(Url::new(true, "reg.io", "/v2/a/blobs/sha256:1"));
        r.authorization = Some("Bearer secret".into());
        r.header("accept", "*/*")
    }

    #[test]
    fn debug_shows_neither_the_authorization_nor_the_query() {
        let mut request = registry_request();
        request.url = Url::new(true, "acct.blob.io", "/c/x.json?sv=1&sig=sassecret");
        let shown = format!("{request:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(
            shown.contains("https://acct.blob.io/c/x.json?[redacted]"),
            "{shown}"
        );
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn non_redirects_pass() {
        for status in [200, 204, 304, 400, 401, 404, 500] {
            assert!(redirect_target(&registry_request(), status, Some("/x"))
                .unwrap()
                .is_none());
        }
    }

    #[test]
    fn redirect_to_other_host_drops_authorization() {
        let next = redirect_target(&registry_request(), 307, Some("https://cdn.io/b?sig=1"))
            .unwrap()
            .unwrap();
        assert_eq!(next.url, Url::new(true, "cdn.io", "/b?sig=1"));
        assert_eq!(next.authorization, None);
        assert_eq!(next.headers, [("accept", "*/*".to_owned())]);
    }

    #[test]
    fn redirect_to_other_scheme_or_port_drops_authorization() {
        for location in ["http://reg.io/x", "https://reg.io:8443/x"] {
            let next = redirect_target(&registry_request(), 302, Some(location))
                .unwrap()
                .unwrap();
            assert_eq!(next.authorization, None, "{location}");
        }
    }

    #[test]
    fn redirect_on_same_origin_keeps_authorization() {
        let next = redirect_target(&registry_request(), 301, Some("/v2/b/blobs/x"))
            .unwrap()
            .unwrap();
        assert_eq!(next.authorization.as_deref(), Some("Bearer secret"));
        assert_eq!(next.method, Method::Get);

        let mut head = registry_request();
        head.method = Method::Head;
        let next = redirect_target(&head, 303, Some("/x")).unwrap().unwrap();
        assert_eq!(next.method, Method::Head);
    }

    #[test]
    fn uploads_are_not_redirected() {
        for method in [Method::Post, Method::Put, Method::Patch] {
            let mut request = registry_request();
            request.method = method;
            request.body = Some(Payload::new(Rc::new(b"blob".to_vec())));
            let e =
                redirect_target(&request, 307, Some("https://elsewhere.io/x?sig=1")).unwrap_err();
            let Error::Other(m) = &e else { panic!("{e:?}") };
            assert!(m.contains("307") && m.contains(method.name()), "{m}");
            assert!(!m.contains("elsewhere") && !m.contains("sig"), "{m}");
            assert!(redirect_target(&request, 202, None).unwrap().is_none());
        }
    }

    #[test]
    fn payload_slices_share_the_buffer() {
        let bytes = Rc::new((0..10u8).collect::<Vec<_>>());
        let p = Payload::slice(Rc::clone(&bytes), 3..7);
        assert_eq!((p.as_slice(), p.len()), (&[3, 4, 5, 6][..], 4));
        assert_eq!(format!("{p:?}"), "Payload(4 bytes)");
        assert_eq!(Payload::empty().len(), 0);
        assert_eq!(Rc::strong_count(&bytes), 2);
    }

    #[test]
    fn redirect_without_location_fails_without_leaking_the_path() {
        let e = redirect_target(&registry_request(), 302, None).unwrap_err();
        assert!(matches!(e, Error::Other(_)));
        assert!(!e.message().contains("/v2/"), "{e}");
    }

    #[test]
    fn error_codes_map_to_cases() {
        let map = |c| map_error_code(&c, "reg.io");
        assert!(matches!(
            map(ErrorCode::HttpRequestDenied),
            Error::Denied(_)
        ));
        assert!(matches!(
            map(ErrorCode::ConnectionRefused),
            Error::StoreNotReachable(_)
        ));
        assert!(matches!(
            map(ErrorCode::TlsCertificateError),
            Error::StoreNotReachable(_)
        ));
        assert!(matches!(
            map(ErrorCode::ConnectionTimeout),
            Error::Timeout(_)
        ));
        assert!(matches!(
            map(ErrorCode::HttpResponseTimeout),
            Error::Timeout(_)
        ));
        assert!(matches!(map(ErrorCode::LoopDetected), Error::Other(_)));
    }

    #[test]
    fn an_untrusted_certificate_says_so_and_names_the_fix() {
        let e = map_error_code(&ErrorCode::TlsCertificateError, "reg.io:443");
        assert!(matches!(e, Error::StoreNotReachable(_)));
        assert!(e.message().contains("reg.io:443 was not trusted"), "{e}");
        assert!(e.message().contains("ca-file"), "{e}");
    }
}
