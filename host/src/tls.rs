//! HTTPS for stores: which certificate authorities a store's requests
//! trust, and the request path that uses them.
//!
//! wasmtime-wasi-http's own request path trusts only the public web roots
//! and bounds the TCP connect but not the TLS handshake. Every HTTPS request
//! a component makes goes through [`send`] instead: the public web roots
//! plus the certificates of the store's `ca-file`, and the handshake inside
//! the connect timeout. Plain HTTP keeps wasmtime-wasi-http's path.

use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::net::TcpStream;
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::{Error, RequestOptions, WasiBody};

use crate::error::ErrorKind;

/// What a request's connection does once the response head is back: it
/// drives the rest of the body and reports how the exchange ended.
pub type Connection = Box<dyn Future<Output = Result<(), Error>> + Send>;

/// The certificate authorities a store's HTTPS requests trust.
#[derive(Clone)]
pub struct Trust {
    config: Arc<rustls::ClientConfig>,
    /// The `ca-file` the extra authorities came from, if any, and how
    /// many certificates it holds.
    ca_file: Option<(PathBuf, usize)>,
}

impl Trust {
    /// The public web roots alone (Mozilla's list, as `webpki-roots` ships
    /// it), which is what wasmtime-wasi-http trusts.
    pub fn public() -> Trust {
        static PUBLIC: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
        let config = PUBLIC.get_or_init(|| client_config(public_roots()));
        Trust {
            config: Arc::clone(config),
            ca_file: None,
        }
    }

    /// The public web roots and every certificate in the PEM file at
    /// `path`. The public roots stay so that a registry's redirect to
    /// public blob storage still works.
    pub fn with_ca_file(path: &Path) -> Result<Trust, crate::Error> {
        let bad = |problem: String| {
            crate::Error::new(
                ErrorKind::InvalidConfiguration,
                format!("ca-file {}: {problem}", path.display()),
            )
        };
        let bytes = crate::config::read_limited(path, MAX_CA_FILE).map_err(|err| {
            bad(format!(
                "cannot be read ({err}); give the path of the certificate authority's \
                 PEM certificate (relative paths start at the config file's folder)"
            ))
        })?;
        let mut roots = public_roots();
        let mut added = 0;
        for (index, certificate) in CertificateDer::pem_slice_iter(&bytes).enumerate() {
            let certificate = certificate
                .map_err(|err| bad(format!("certificate {} is not valid PEM: {err}", index + 1)))?;
            roots.add(certificate).map_err(|err| {
                // rustls words every certificate error as a peer's.
                let reason = match err {
                    rustls::Error::InvalidCertificate(reason) => format!("{reason:?}"),
                    other => other.to_string(),
                };
                bad(format!(
                    "certificate {} cannot be a trust anchor ({reason})",
                    index + 1
                ))
            })?;
            added += 1;
        }
        if added == 0 {
            return Err(bad(
                "holds no PEM certificate (a \"-----BEGIN CERTIFICATE-----\" block); \
                 a DER file converts with `openssl x509 -inform der -in ca.der -out ca.pem`"
                    .into(),
            ));
        }
        tracing::debug!(ca_file = %path.display(), certificates = added, "trusting the store's certificate authorities");
        Ok(Trust {
            config: client_config(roots),
            ca_file: Some((path.to_path_buf(), added)),
        })
    }

    /// What is trusted, in words for messages.
    pub fn describe(&self) -> String {
        match &self.ca_file {
            Some((path, 1)) => format!(
                "the public web roots and the certificate in {}",
                path.display()
            ),
            Some((path, count)) => format!(
                "the public web roots and the {count} certificates in {}",
                path.display()
            ),
            None => "the public web roots only".into(),
        }
    }
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trust")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

/// The longest `ca-file` read: a bundle of every public root is under
/// 300 KiB.
const MAX_CA_FILE: u64 = 4 << 20;

fn public_roots() -> rustls::RootCertStore {
    rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    }
}

/// A client configuration with `roots`, on ring, the provider
/// wasmtime-wasi-http builds rustls with.
fn client_config(roots: rustls::RootCertStore) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    Arc::new(config)
}

/// A TLS handshake that failed, as the host saw it: the guest only gets
/// an error code, so the host keeps the reason to explain the failure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFailure {
    /// `host:port` of the server.
    pub authority: String,
    /// Whether the server's certificate was the problem (rather than the
    /// protocol).
    pub certificate: bool,
    /// rustls's reason, such as "invalid peer certificate: UnknownIssuer".
    pub reason: String,
    /// What was trusted, in words.
    pub trusted: String,
}

impl fmt::Display for TlsFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.authority, self.reason)?;
        if self.certificate {
            write!(f, " (trusted: {})", self.trusted)?;
        }
        Ok(())
    }
}

/// A timeout the options leave unset, as wasmtime-wasi-http has it. The
/// sandbox always sets all three; this only keeps [`send`] total.
const UNSET_TIMEOUT: Duration = Duration::from_secs(600);

/// Sends one HTTPS request: TCP connect and TLS handshake within the
/// connect timeout, HTTP/1.1, the first-byte timeout for the response head
/// and the between-bytes timeout for the body, with errors mapped as
/// wasmtime-wasi-http maps its own. A failed handshake is also written to
/// `failure`.
pub async fn send(
    mut request: http::Request<WasiBody>,
    options: RequestOptions,
    trust: Trust,
    failure: Arc<Mutex<Option<TlsFailure>>>,
) -> Result<(http::Response<WasiBody>, Connection), Error> {
    let uri = request.uri().clone();
    let host = uri.host().ok_or(Error::HttpRequestUriInvalid)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(443);
    let authority = format!("{}:{port}", uri.host().unwrap_or_default());
    let server_name = server_name(host)?;
    let connect_timeout = options.connect_timeout.unwrap_or(UNSET_TIMEOUT);
    let first_byte_timeout = options.first_byte_timeout.unwrap_or(UNSET_TIMEOUT);
    // tokio's interval panics on zero; a nanosecond is as good as zero.
    let between_bytes_timeout = options
        .between_bytes_timeout
        .unwrap_or(UNSET_TIMEOUT)
        .max(Duration::from_nanos(1));

    // Connect. The handshake counts against the connect timeout, so a
    // server that accepts and then says nothing cannot hold the call.
    let connector = tokio_rustls::TlsConnector::from(Arc::clone(&trust.config));
    let connect = async {
        let tcp = TcpStream::connect((host, port))
            .await
            .map_err(Error::Connect)?;
        connector
            .connect(server_name, tcp)
            .await
            .map_err(|err| handshake_error(err, &authority, &trust, &failure))
    };
    let stream = tokio::time::timeout(connect_timeout, connect)
        .await
        .map_err(|_| Error::ConnectionTimeout)??;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;

    // The request line carries the path alone; the Host header has the
    // authority.
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    *request.uri_mut() = path.parse().map_err(|_| Error::HttpRequestUriInvalid)?;

    // Wait for the head, driving the connection meanwhile.
    let mut connection = Some(connection);
    let exchange = tokio::time::timeout(first_byte_timeout, sender.send_request(request));
    let mut exchange = std::pin::pin!(exchange);
    let response = std::future::poll_fn(|cx| {
        if let Poll::Ready(result) = exchange.as_mut().poll(cx) {
            return Poll::Ready(match result {
                Err(_elapsed) => Err(Error::ConnectionReadTimeout),
                Ok(result) => result.map_err(Error::from),
            });
        }
        let Some(conn) = connection.as_mut() else {
            return Poll::Pending;
        };
        let ended = ready!(Pin::new(conn).poll(cx));
        connection = None;
        match ended {
            // The connection finished first; the response is there to take.
            Ok(()) => exchange.as_mut().poll(cx).map(|result| match result {
                Err(_elapsed) => Err(Error::ConnectionReadTimeout),
                Ok(result) => result.map_err(Error::from),
            }),
            Err(err) => Poll::Ready(Err(Error::from(err))),
        }
    })
    .await?;

    let mut idle = tokio::time::interval(between_bytes_timeout);
    idle.reset();
    let response = response.map(|incoming| IdleLimited { incoming, idle }.boxed_unsync());
    let rest: Connection = Box::new(async move {
        match connection {
            None => Ok(()),
            Some(conn) => conn.await.map_err(|err| {
                if err.is_timeout() {
                    Error::HttpResponseTimeout
                } else {
                    Error::from(err)
                }
            }),
        }
    });
    Ok((response, rest))
}

/// The name the certificate must carry: an IP address or a DNS name.
fn server_name(host: &str) -> Result<ServerName<'static>, Error> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_owned()).map_err(Error::InvalidDnsNameError)
}

/// Maps a failed handshake to its error code, and records why it failed.
fn handshake_error(
    err: std::io::Error,
    authority: &str,
    trust: &Trust,
    failure: &Mutex<Option<TlsFailure>>,
) -> Error {
    let tls = err
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let (code, certificate) = match tls {
        Some(rustls::Error::InvalidCertificate(_)) => (Error::TlsCertificateError, true),
        Some(rustls::Error::AlertReceived(alert)) => (
            Error::TlsAlertReceived {
                alert_id: Some(u8::from(*alert)),
                alert_message: Some(format!("{alert:?}")),
            },
            false,
        ),
        Some(_) => (Error::TlsProtocolError, false),
        // Not a TLS problem: the connection itself broke.
        None => return Error::Connect(err),
    };
    let recorded = TlsFailure {
        authority: authority.to_owned(),
        certificate,
        reason: err.to_string(),
        trusted: trust.describe(),
    };
    tracing::info!(%recorded, "TLS handshake failed");
    *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(recorded);
    code
}

/// A response body that fails when the server goes quiet for longer than
/// the between-bytes timeout.
struct IdleLimited {
    incoming: hyper::body::Incoming,
    idle: tokio::time::Interval,
}

impl Body for IdleLimited {
    type Data = Bytes;
    type Error = Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Error>>> {
        match Pin::new(&mut self.incoming).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                self.idle.reset();
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(err))) if err.is_timeout() => {
                Poll::Ready(Some(Err(Error::HttpResponseTimeout)))
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(Error::from(err)))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                ready!(self.idle.poll_tick(cx));
                Poll::Ready(Some(Err(Error::ConnectionReadTimeout)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.incoming.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.incoming.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::net::SocketAddr;

    use rustls::pki_types::PrivateKeyDer;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    fn ca_pem() -> String {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&key).unwrap().pem()
    }

    /// What the in-process server does once the handshake is done.
    #[derive(Clone, Copy)]
    enum Serve {
        /// Answer `200` with `hello`.
        Hello,
        /// Read the request and say nothing.
        Silence,
        /// Send the head and part of the body, then nothing.
        StopMidBody,
    }

    /// A TLS server on loopback with a certificate for 127.0.0.1 from its
    /// own authority, and a [`Trust`] that trusts that authority. The
    /// server lives as long as the test's runtime.
    async fn server(serve: Serve) -> (SocketAddr, Trust, tempfile::TempDir) {
        let ca_key = rcgen::KeyPair::generate().unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_cert = ca_params.self_signed(&ca_key).unwrap();
        let issuer = rcgen::Issuer::new(ca_params, ca_key);
        let key = rcgen::KeyPair::generate().unwrap();
        let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned()]).unwrap();
        let cert = params.signed_by(&key, &issuer).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, ca_cert.pem()).unwrap();
        let trust = Trust::with_ca_file(&ca_file).unwrap();

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone()],
                PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut stream) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.ends_with(b"\r\n\r\n") {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let answer: &[u8] = match serve {
                        Serve::Hello => b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello",
                        Serve::Silence => b"",
                        Serve::StopMidBody => b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhel",
                    };
                    let _ = stream.write_all(answer).await;
                    let _ = stream.flush().await;
                    // Hold the connection open without a word more.
                    std::future::pending::<()>().await;
                });
            }
        });
        (address, trust, dir)
    }

    fn get(address: SocketAddr) -> http::Request<WasiBody> {
        let body = http_body_util::Empty::<Bytes>::new()
            .map_err(|never| match never {})
            .boxed_unsync();
        http::Request::get(format!("https://{address}/v2/"))
            .header(http::header::HOST, address.to_string())
            .body(body)
            .unwrap()
    }

    fn timeouts(millis: u64) -> RequestOptions {
        let t = Some(Duration::from_millis(millis));
        RequestOptions {
            connect_timeout: t,
            first_byte_timeout: t,
            between_bytes_timeout: t,
        }
    }

    #[tokio::test]
    async fn a_server_the_ca_file_signed_is_trusted() {
        let (address, trust, _dir) = server(Serve::Hello).await;
        let failure = Arc::default();
        let (response, connection) = send(get(address), timeouts(5000), trust, failure)
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"hello");
        drop(connection);
    }

    #[tokio::test]
    async fn an_untrusted_server_is_a_certificate_error_with_its_reason() {
        let (address, _trust, _dir) = server(Serve::Hello).await;
        let failure: Arc<Mutex<Option<TlsFailure>>> = Arc::default();
        let result = send(
            get(address),
            timeouts(5000),
            Trust::public(),
            failure.clone(),
        )
        .await;
        assert!(matches!(result, Err(Error::TlsCertificateError)));
        let failure = failure.lock().unwrap().clone().unwrap();
        assert!(failure.certificate);
        assert_eq!(failure.authority, address.to_string());
        assert!(failure.reason.contains("UnknownIssuer"), "{failure}");
        assert!(
            failure.to_string().contains("the public web roots only"),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn a_server_that_never_answers_is_a_first_byte_timeout() {
        let (address, trust, _dir) = server(Serve::Silence).await;
        let result = send(get(address), timeouts(200), trust, Arc::default()).await;
        assert!(matches!(result, Err(Error::ConnectionReadTimeout)));
    }

    #[tokio::test]
    async fn a_body_that_stops_is_a_between_bytes_timeout() {
        let (address, trust, _dir) = server(Serve::StopMidBody).await;
        let (response, connection) = send(get(address), timeouts(200), trust, Arc::default())
            .await
            .unwrap();
        // The connection future drives the body; the guest's host polls it
        // beside the body, and so does the test.
        let connection = tokio::spawn(Pin::from(connection));
        let body = response.into_body().collect().await;
        assert!(matches!(body, Err(Error::ConnectionReadTimeout)));
        connection.abort();
    }

    #[tokio::test]
    async fn the_handshake_counts_against_the_connect_timeout() {
        // Accepts TCP and never speaks TLS.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let mut held = Vec::new();
            while let Ok((tcp, _)) = listener.accept().await {
                held.push(tcp);
            }
        });
        let started = std::time::Instant::now();
        let result = send(get(address), timeouts(200), Trust::public(), Arc::default()).await;
        assert!(matches!(result, Err(Error::ConnectionTimeout)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    fn load(text: &[u8]) -> Result<Trust, crate::Error> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, text).unwrap();
        Trust::with_ca_file(&path)
    }

    #[test]
    fn a_pem_bundle_is_trusted_with_the_public_roots() {
        let bundle = format!("{}\n{}", ca_pem(), ca_pem());
        let trust = load(bundle.as_bytes()).unwrap();
        let described = trust.describe();
        assert!(described.contains("the public web roots and the 2 certificates in "));
        assert!(described.ends_with("ca.pem"), "{described}");
        assert_eq!(Trust::public().describe(), "the public web roots only");
    }

    #[test]
    fn files_without_a_certificate_are_refused_naming_the_file() {
        let cases: [(&[u8], &str); 4] = [
            (b"", "holds no PEM certificate"),
            (b"\x30\x82\x01\x0a\x02\x82", "holds no PEM certificate"),
            (
                b"-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n",
                "holds no PEM certificate",
            ),
            (
                b"-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
                "cannot be a trust anchor",
            ),
        ];
        for (text, expected) in cases {
            let err = load(text).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
            assert!(err.message().contains("ca.pem"), "{err}");
            assert!(err.message().contains(expected), "{err}");
        }
    }

    #[test]
    fn a_missing_file_is_refused_with_the_fix() {
        let err = Trust::with_ca_file(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
        assert!(err.message().contains("/nonexistent/ca.pem"), "{err}");
        assert!(err.message().contains("config file's folder"), "{err}");
    }

    #[test]
    fn an_endless_file_is_refused_without_reading_it_all() {
        let err = Trust::with_ca_file(Path::new("/dev/zero")).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
        assert!(err.message().contains("/dev/zero"), "{err}");
        assert!(err.message().contains("more than 4 MiB"), "{err}");
    }

    #[test]
    fn server_names_are_ips_or_dns_names() {
        assert_eq!(
            server_name("127.0.0.1").unwrap(),
            ServerName::IpAddress(std::net::Ipv4Addr::LOCALHOST.into())
        );
        assert_eq!(
            server_name("::1").unwrap(),
            ServerName::IpAddress(std::net::Ipv6Addr::LOCALHOST.into())
        );
        assert_eq!(
            server_name("registry.example").unwrap(),
            ServerName::try_from("registry.example").unwrap()
        );
        assert!(server_name("bad name!").is_err());
    }
}
