//! What a provider component may touch while it runs: the network
//! authorities it was granted, a memory cap, and nothing else.
//!
//! The guest gets a WASI context with no environment, no arguments, no
//! preopened directories, no sockets and no name lookups. Its only way out
//! is wasi:http, and every outgoing request passes [`Policy`], which
//! refuses any authority the store was not granted. A refusal reaches the
//! guest as `error-code.http-request-denied`, an error value it reports,
//! never a trap. HTTPS requests go out through [`crate::tls`], with the
//! store's certificate authorities.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http::uri::Scheme;
use http_body_util::BodyExt;
use wasmtime::component::ResourceTable;
use wasmtime::ResourceLimiter;
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{
    RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks, WasiHttpView,
};

use crate::tls::{self, TlsFailure, Trust};

/// How long to wait for a TCP (and TLS) connection, unless the guest asks
/// for less. A store on the other side of the world connects in well under
/// a second; ten leaves room for a slow handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long to wait for the first byte of a response, and between body
/// frames, unless the guest asks for less. Registries can take a while to
/// assemble a large manifest list, but a minute of silence is a hung store.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A network authority: a lowercase host and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    host: String,
    /// `None` means the scheme's default port.
    port: Option<u16>,
}

impl Authority {
    /// Parses `host` or `host:port` (an IPv6 host in brackets).
    pub fn parse(text: &str) -> Option<Authority> {
        let authority: http::uri::Authority = text.trim().parse().ok()?;
        Some(Authority {
            host: authority.host().to_ascii_lowercase(),
            port: authority.port_u16(),
        })
    }

    fn of_uri(uri: &http::Uri) -> Option<(Authority, bool)> {
        let authority = uri.authority()?;
        let https = uri.scheme() != Some(&Scheme::HTTP);
        Some((
            Authority {
                host: authority.host().to_ascii_lowercase(),
                port: authority.port_u16(),
            },
            https,
        ))
    }

    fn port_or_default(&self, https: bool) -> u16 {
        self.port.unwrap_or(if https { 443 } else { 80 })
    }

    /// Whether a request to `other` over `https` (or not) reaches this
    /// authority.
    fn admits(&self, other: &Authority, https: bool) -> bool {
        self.host == other.host && self.port_or_default(https) == other.port_or_default(https)
    }
}

impl std::fmt::Display for Authority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.port {
            Some(port) => write!(f, "{}:{port}", self.host),
            None => f.write_str(&self.host),
        }
    }
}

/// The network a store's component is granted.
#[derive(Debug, Clone)]
pub struct Grant {
    /// The store's own authority, if it has one. Token realms that it names
    /// in a 401 challenge are granted as they are seen.
    pub store: Option<Authority>,
    /// Other authorities the configuration allows, such as redirect
    /// targets.
    pub extra: Vec<Authority>,
    /// Whether plain HTTP may be used. Without it every request must be
    /// HTTPS.
    pub plain_http: bool,
    /// The certificate authorities HTTPS requests trust.
    pub trust: Trust,
}

impl Grant {
    /// No network at all, for stores that need none.
    pub fn none() -> Grant {
        Grant {
            store: None,
            extra: Vec::new(),
            plain_http: false,
            trust: Trust::public(),
        }
    }

    fn is_store(&self, authority: &Authority, https: bool) -> bool {
        self.store
            .as_ref()
            .is_some_and(|store| store.admits(authority, https))
    }
}

/// A folder the component may see, at [`Preopen::GUEST_PATH`].
#[derive(Debug, Clone)]
pub struct Preopen {
    /// The folder on the host.
    pub host: std::path::PathBuf,
    /// Whether the component may write to it.
    pub writable: bool,
}

impl Preopen {
    /// Where the component sees the folder, as the `artifact-layout` world
    /// documents.
    pub const GUEST_PATH: &'static str = "/layout";
}

/// The request policy for one call: a [`WasiHttpHooks`] that admits only
/// granted authorities and counts the bytes that flow in.
pub struct Policy {
    grant: Arc<Grant>,
    /// Token realms the store named in its challenges during this call.
    realms: Arc<Mutex<Vec<Realm>>>,
    /// Response body bytes received so far, for progress reports.
    received: Arc<AtomicU64>,
    /// The last TLS handshake that failed, to explain the error code the
    /// guest reports.
    tls_failure: Arc<Mutex<Option<TlsFailure>>>,
}

impl Policy {
    /// A policy for one call.
    pub fn new(grant: Grant, received: Arc<AtomicU64>) -> Policy {
        Policy {
            grant: Arc::new(grant),
            realms: Arc::new(Mutex::new(Vec::new())),
            received,
            tls_failure: Arc::default(),
        }
    }

    /// The last TLS handshake of this call that failed, if any.
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        self.tls_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn admits(&self, uri: &http::Uri) -> bool {
        let Some((authority, https)) = Authority::of_uri(uri) else {
            return false;
        };
        if !https && !self.grant.plain_http {
            return false;
        }
        if self.grant.is_store(&authority, https)
            || self.grant.extra.iter().any(|a| a.admits(&authority, https))
        {
            return true;
        }
        let realms = self.realms.lock().unwrap_or_else(|e| e.into_inner());
        realms
            .iter()
            .any(|realm| realm.admits(&authority, https, uri.path()))
    }
}

/// A token service a store named: only its exact endpoint is granted, so
/// that naming a realm cannot open a host for anything else (a redirect
/// of a blob, say).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Realm {
    authority: Authority,
    https: bool,
    path: String,
}

impl Realm {
    fn admits(&self, authority: &Authority, https: bool, path: &str) -> bool {
        self.https == https && self.authority.admits(authority, https) && self.path == path
    }
}

impl WasiHttpHooks for Policy {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        fut: Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
    ) -> Box<
        dyn Future<
                Output = wasmtime_wasi_http::Result<(
                    http::Response<WasiBody>,
                    Box<dyn Future<Output = wasmtime_wasi_http::Result<()>> + Send>,
                )>,
            > + Send,
    > {
        drop(fut);
        let Some((authority, https)) = Authority::of_uri(request.uri()) else {
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestUriInvalid) });
        };
        if !self.admits(request.uri()) {
            tracing::info!(
                %authority,
                https,
                "denied a request to an authority the store was not granted"
            );
            return Box::new(async { Err(wasmtime_wasi_http::Error::HttpRequestDenied) });
        }
        tracing::debug!(method = %request.method(), %authority, path = request.uri().path(), "request");

        let from_store = self.grant.is_store(&authority, https);
        let realms = Arc::clone(&self.realms);
        let received = Arc::clone(&self.received);
        let options = with_default_timeouts(options);
        let trust = https.then(|| self.grant.trust.clone());
        let tls_failure = Arc::clone(&self.tls_failure);
        Box::new(async move {
            let (response, io) = match trust {
                Some(trust) => tls::send(request, options, trust, tls_failure).await?,
                None => {
                    let (response, io) =
                        wasmtime_wasi_http::default_send_request(request, Some(options)).await?;
                    (
                        response.map(BodyExt::boxed_unsync),
                        Box::new(io) as tls::Connection,
                    )
                }
            };
            if from_store && response.status() == http::StatusCode::UNAUTHORIZED {
                learn_realms(response.headers(), &realms);
            }
            let response = response.map(|body| {
                body.map_frame(move |frame| {
                    if let Some(data) = frame.data_ref() {
                        received.fetch_add(data.len() as u64, Ordering::Relaxed);
                    }
                    frame
                })
                .boxed_unsync()
            });
            Ok((response, io))
        })
    }
}

/// Grants the token services that a store names in its `Bearer` challenges,
/// so that the registry token protocol works without the user listing them.
/// Link-local and unspecified addresses (cloud metadata services live
/// there) are never granted this way; `allow-hosts` can still name them.
fn learn_realms(headers: &http::HeaderMap, realms: &Mutex<Vec<Realm>>) {
    for value in headers.get_all(http::header::WWW_AUTHENTICATE) {
        let Ok(value) = value.to_str() else { continue };
        for challenge in artifact_store_core::parse_challenges(value) {
            if !challenge.is("bearer") {
                continue;
            }
            let Some(text) = challenge.param("realm") else {
                continue;
            };
            let Ok(uri) = text.parse::<http::Uri>() else {
                continue;
            };
            let Some((authority, https)) = Authority::of_uri(&uri) else {
                continue;
            };
            if is_never_granted(&authority.host) {
                tracing::warn!(%authority, "not granting a token service at a link-local address");
                continue;
            }
            let realm = Realm {
                authority,
                https,
                path: uri.path().to_owned(),
            };
            let mut realms = realms.lock().unwrap_or_else(|e| e.into_inner());
            if !realms.contains(&realm) {
                tracing::info!(authority = %realm.authority, path = %realm.path, "granting the token service the store named");
                realms.push(realm);
            }
        }
    }
}

/// Addresses a store may not point its token service at.
fn is_never_granted(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(ip)) => {
            ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast()
        }
        Ok(std::net::IpAddr::V6(ip)) => {
            ip.is_unspecified() || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
        Err(_) => false,
    }
}

fn with_default_timeouts(options: Option<RequestOptions>) -> RequestOptions {
    let mut options = options.unwrap_or_default();
    let cap = |asked: Option<Duration>, default: Duration| {
        Some(asked.map_or(default, |asked| asked.min(default)))
    };
    options.connect_timeout = cap(options.connect_timeout, CONNECT_TIMEOUT);
    options.first_byte_timeout = cap(options.first_byte_timeout, IDLE_TIMEOUT);
    options.between_bytes_timeout = cap(options.between_bytes_timeout, IDLE_TIMEOUT);
    options
}

/// A memory cap that remembers whether it was hit, so that the trap that
/// follows can be reported as what it is.
pub struct MemoryCap {
    limit: usize,
    hit: bool,
}

/// Most table elements a component may have. Tables hold function
/// references and resources; a provider needs a few thousand at most.
const TABLE_ELEMENTS_CAP: usize = 100_000;

impl MemoryCap {
    /// A cap of `limit` bytes of linear memory.
    pub fn new(limit: usize) -> MemoryCap {
        MemoryCap { limit, hit: false }
    }

    /// Whether the component asked for more than the cap.
    pub fn was_hit(&self) -> bool {
        self.hit
    }

    /// The cap in bytes.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.hit = true;
            return Ok(false);
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= TABLE_ELEMENTS_CAP)
    }
}

/// The end of what a component wrote to stderr, kept for the message of a
/// crash: a Rust panic prints its message there. Earlier bytes are dropped
/// and every write succeeds, so that logging never fails a component.
#[derive(Clone, Default)]
pub struct LastWords(Arc<Mutex<Vec<u8>>>);

/// How much of a component's stderr is kept.
const LAST_WORDS_CAP: usize = 4096;

/// How much of it a message quotes.
const LAST_WORDS_QUOTED: usize = 300;

impl LastWords {
    /// The kept text on one line, without Rust's hint about backtraces,
    /// shortened to its end; `None` if the component wrote nothing.
    pub fn summary(&self) -> Option<String> {
        let bytes = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let text = String::from_utf8_lossy(&bytes);
        let lines: Vec<&str> = text
            .lines()
            .map(str::trim)
            .filter(|line| !line.is_empty() && !line.starts_with("note: run with"))
            .collect();
        let joined = lines.join(" ");
        let skip = joined.chars().count().saturating_sub(LAST_WORDS_QUOTED);
        let quoted: String = joined.chars().skip(skip).collect();
        (!quoted.is_empty()).then_some(quoted)
    }
}

impl wasmtime_wasi::cli::IsTerminal for LastWords {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl wasmtime_wasi::cli::StdoutStream for LastWords {
    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

impl tokio::io::AsyncWrite for LastWords {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        kept.extend_from_slice(&buf[buf.len().saturating_sub(LAST_WORDS_CAP)..]);
        let over = kept.len().saturating_sub(LAST_WORDS_CAP);
        kept.drain(..over);
        std::task::Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

/// Everything a component's store holds.
pub struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    policy: Policy,
    pub(crate) memory: MemoryCap,
    /// The end of the component's stderr, for crash messages.
    pub(crate) stderr: LastWords,
}

impl State {
    /// A state with an empty WASI context: no environment, arguments,
    /// sockets or name lookups; no stdin, stdout goes nowhere and the end
    /// of stderr is kept ([`LastWords`]); no directory but `preopen` if
    /// given.
    pub fn new(
        policy: Policy,
        memory: MemoryCap,
        preopen: Option<&Preopen>,
    ) -> std::io::Result<State> {
        let stderr = LastWords::default();
        let mut builder = WasiCtx::builder();
        builder
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        if let Some(preopen) = preopen {
            let perms = if preopen.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            builder
                .preopened_dir(&preopen.host, Preopen::GUEST_PATH, perms)
                .map_err(|err| std::io::Error::other(format!("{err:#}")))?;
        }
        let wasi = builder.build();
        Ok(State {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            policy,
            memory,
            stderr,
        })
    }

    /// The last TLS handshake of the call that failed, if any.
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        self.policy.tls_failure()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.policy,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(store: &str, extra: &[&str], plain_http: bool) -> Policy {
        Policy::new(
            Grant {
                store: Authority::parse(store),
                extra: extra.iter().map(|a| Authority::parse(a).unwrap()).collect(),
                plain_http,
                trust: Trust::public(),
            },
            Arc::default(),
        )
    }

    fn admits(policy: &Policy, url: &str) -> bool {
        policy.admits(&url.parse().unwrap())
    }

    #[test]
    fn only_granted_authorities_are_admitted() {
        let p = policy("127.0.0.1:5000", &["127.0.0.1:6000"], true);
        assert!(admits(&p, "http://127.0.0.1:5000/v2/"));
        assert!(admits(&p, "http://127.0.0.1:6000/blob"));
        assert!(!admits(&p, "http://127.0.0.1:5001/v2/"));
        assert!(!admits(&p, "http://localhost:5000/v2/"));
    }

    #[test]
    fn plain_http_needs_the_grant() {
        let p = policy("registry.example", &[], false);
        assert!(admits(&p, "https://registry.example/v2/"));
        assert!(admits(&p, "https://REGISTRY.example:443/v2/"));
        assert!(!admits(&p, "http://registry.example/v2/"));
        assert!(!admits(&p, "https://registry.example:8443/v2/"));
    }

    #[test]
    fn realms_named_in_a_challenge_are_granted() {
        let p = policy("127.0.0.1:5000", &[], true);
        assert!(!admits(&p, "http://127.0.0.1:7000/token"));
        let mut headers = http::HeaderMap::new();
        headers.insert(
            http::header::WWW_AUTHENTICATE,
            r#"Bearer realm="http://127.0.0.1:7000/token",service="r",scope="repository:a:pull""#
                .parse()
                .unwrap(),
        );
        learn_realms(&headers, &p.realms);
        assert!(admits(&p, "http://127.0.0.1:7000/token"));
        assert!(admits(&p, "http://127.0.0.1:7000/token?service=r&scope=x"));
        // The realm's host is granted for the token endpoint only, so a
        // store cannot name a realm and then redirect blobs there.
        assert!(!admits(&p, "http://127.0.0.1:7000/v2/x/blobs/sha256:00"));
        assert!(!admits(&p, "https://127.0.0.1:7000/token"));
    }

    #[test]
    fn link_local_realms_are_not_granted() {
        let p = policy("127.0.0.1:5000", &[], true);
        let mut headers = http::HeaderMap::new();
        headers.append(
            http::header::WWW_AUTHENTICATE,
            r#"Bearer realm="http://169.254.169.254/latest""#.parse().unwrap(),
        );
        headers.append(
            http::header::WWW_AUTHENTICATE,
            r#"Bearer realm="http://[fe80::1]/token""#.parse().unwrap(),
        );
        learn_realms(&headers, &p.realms);
        assert!(!admits(&p, "http://169.254.169.254/latest"));
        assert!(!admits(&p, "http://[fe80::1]/token"));
    }

    #[test]
    fn last_words_keep_the_end_of_stderr_on_one_line() {
        use tokio::io::AsyncWriteExt;
        let words = LastWords::default();
        assert_eq!(words.summary(), None);
        let mut stream = words.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            stream.write_all(&vec![b'x'; 10_000]).await.unwrap();
            stream
                .write_all(
                    b"\nthread '<unnamed>' panicked at src/lib.rs:1:1:\nboom\n\
                      note: run with `RUST_BACKTRACE=1` to see a backtrace\n",
                )
                .await
                .unwrap();
        });
        let summary = words.summary().unwrap();
        assert!(
            summary.ends_with("panicked at src/lib.rs:1:1: boom"),
            "{summary}"
        );
        assert_eq!(summary.chars().count(), LAST_WORDS_QUOTED);
        assert!(words.0.lock().unwrap().len() <= LAST_WORDS_CAP);
    }

    #[test]
    fn guest_timeouts_are_capped_by_the_host() {
        let options = with_default_timeouts(Some(RequestOptions {
            connect_timeout: Some(Duration::from_secs(3600)),
            first_byte_timeout: Some(Duration::from_secs(1)),
            between_bytes_timeout: None,
        }));
        assert_eq!(options.connect_timeout, Some(CONNECT_TIMEOUT));
        assert_eq!(options.first_byte_timeout, Some(Duration::from_secs(1)));
        assert_eq!(options.between_bytes_timeout, Some(IDLE_TIMEOUT));
    }
}
