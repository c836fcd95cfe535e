//! Runs an axum app on a loopback port in a background thread, in plain
//! HTTP or over TLS.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::thread;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::oneshot;

use super::tls::ServerCert;

/// An in-process HTTP server. Dropping it stops the server and joins its
/// thread.
pub struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Server {
    /// Binds a free loopback port now (so the address is known before the
    /// function returns) and serves `app` on it until dropped.
    pub fn start(app: axum::Router) -> Server {
        Server::start_with(app, None)
    }

    /// As [`Server::start`], serving HTTPS with `cert`.
    pub fn start_tls(app: axum::Router, cert: &ServerCert) -> Server {
        let certs = CertificateDer::pem_slice_iter(cert.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("server certificate PEM");
        let key = PrivateKeyDer::from_pem_slice(cert.key_pem.as_bytes()).expect("server key PEM");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("server TLS config");
        Server::start_with(app, Some(tokio_rustls::TlsAcceptor::from(Arc::new(config))))
    }

    fn start_with(app: axum::Router, tls: Option<tokio_rustls::TlsAcceptor>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let addr = listener.local_addr().expect("listener address");
        let (stop, stopped) = oneshot::channel::<()>();

        let thread = thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
                let stopped = async {
                    let _ = stopped.await;
                };
                match tls {
                    None => axum::serve(listener, app)
                        .with_graceful_shutdown(stopped)
                        .await
                        .expect("serve"),
                    Some(acceptor) => axum::serve(TlsListener { listener, acceptor }, app)
                        .with_graceful_shutdown(stopped)
                        .await
                        .expect("serve"),
                }
            });
        });

        Server {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A listener whose connections have done their TLS handshake. A client
/// that fails the handshake is dropped and the next one accepted.
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.listener.accept().await else {
                continue;
            };
            if let Ok(stream) = self.acceptor.accept(tcp).await {
                return (stream, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }
}
