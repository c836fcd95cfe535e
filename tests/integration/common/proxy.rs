//! A forwarding proxy in front of a real registry that lies in one chosen
//! way, for what no real registry does on purpose: here, a wrong `Range`
//! header on blob upload responses.

use std::sync::{Arc, OnceLock};

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::http;
use super::serve::Server;

/// The largest body the proxy buffers, either way: above the largest blob
/// a test pushes through it.
const BODY_LIMIT: usize = 128 << 20;

/// How the proxy changes upload responses (`POST`, `PATCH` to
/// `/blobs/uploads/`).
#[derive(Clone, Debug)]
pub enum RangeLie {
    /// Replaces the `Range` header with this value.
    Say(String),
    /// Drops the `Range` header.
    Omit,
}

struct Upstream {
    agent: ureq::Agent,
    /// `127.0.0.1:<port>` of the registry.
    authority: String,
    /// `127.0.0.1:<port>` of this proxy, written into `Location` headers so
    /// that clients keep coming through it. Known once the proxy listens.
    own: OnceLock<String>,
    lie: RangeLie,
}

/// A running proxy. Dropping it stops the server.
pub struct LyingProxy {
    server: Server,
}

impl LyingProxy {
    pub fn start(upstream: &str, lie: RangeLie) -> LyingProxy {
        assert!(upstream.starts_with("127.0.0.1:"), "loopback only");
        let state = Arc::new(Upstream {
            agent: http::agent(),
            authority: upstream.to_owned(),
            own: OnceLock::new(),
            lie,
        });
        let app = Router::new().fallback(forward).with_state(state.clone());
        let server = Server::start(app);
        state.own.set(server.authority()).expect("set once");
        LyingProxy { server }
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        self.server.authority()
    }
}

async fn forward(State(upstream): State<Arc<Upstream>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
        return StatusCode::PAYLOAD_TOO_LARGE.into_response();
    };
    let target = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    let is_upload = target.contains("/blobs/uploads/");

    // ureq blocks; run it off the async thread.
    let sent = tokio::task::spawn_blocking(move || {
        let mut builder = axum::http::Request::builder()
            .method(parts.method.clone())
            .uri(format!("http://{}{target}", upstream.authority));
        for (name, value) in &parts.headers {
            if !matches!(name.as_str(), "host" | "content-length" | "connection") {
                builder = builder.header(name, value);
            }
        }
        let request = builder.body(body.to_vec()).expect("upstream request");
        let response = upstream.agent.run(request).map_err(|e| e.to_string())?;
        let (mut head, body) = response.into_parts();
        let bytes = body
            .into_with_config()
            .limit(BODY_LIMIT as u64)
            .read_to_vec()
            .map_err(|e| e.to_string())?;

        if let Some(location) = head.headers.get("location").and_then(|v| v.to_str().ok()) {
            let own = upstream.own.get().expect("proxy listening");
            let rewritten = location.replace(&upstream.authority, own);
            head.headers.insert(
                "location",
                HeaderValue::from_str(&rewritten).expect("location header"),
            );
        }
        if is_upload && matches!(parts.method.as_str(), "POST" | "PATCH") {
            match &upstream.lie {
                RangeLie::Say(value) => {
                    head.headers
                        .insert("range", HeaderValue::from_str(value).expect("range"));
                }
                RangeLie::Omit => {
                    head.headers.remove("range");
                }
            }
        }
        Ok::<_, String>((head, bytes))
    })
    .await
    .expect("proxy task");

    match sent {
        Ok((mut head, bytes)) => {
            head.headers.remove("content-length");
            head.headers.remove("transfer-encoding");
            Response::from_parts(head, Body::from(bytes))
        }
        Err(e) => (StatusCode::BAD_GATEWAY, e).into_response(),
    }
}
