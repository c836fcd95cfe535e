//! An in-process registry that misbehaves on purpose, for what a real
//! registry will not do: answering a blob with a redirect to another host.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::push::{sha256, OCI_MANIFEST};
use super::serve::Server;

#[derive(Default)]
struct Content {
    /// Manifest bytes by tag or digest.
    manifests: HashMap<String, Vec<u8>>,
    /// Blob bytes by digest.
    blobs: HashMap<String, Vec<u8>>,
    /// When set, blob requests are answered with `307` to this base URL.
    redirect_blobs_to: Option<String>,
    /// Every request that reached the server.
    hits: AtomicU64,
}

/// A minimal read-only registry: `/v2/`, manifests and blobs, with no auth.
/// Dropping it stops the server.
pub struct BadRegistry {
    content: Arc<Content>,
    server: Server,
}

/// What to serve.
#[derive(Default)]
pub struct Contents {
    manifests: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    redirect_blobs_to: Option<String>,
}

impl Contents {
    /// Serves `bytes` as a blob; returns its digest.
    pub fn blob(&mut self, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        self.blobs.insert(digest.clone(), bytes.to_vec());
        digest
    }

    /// Serves `manifest` under `tag` and its digest; returns the digest.
    pub fn manifest(&mut self, tag: &str, manifest: &[u8]) -> String {
        let digest = sha256(manifest);
        self.manifests.insert(tag.to_owned(), manifest.to_vec());
        self.manifests.insert(digest.clone(), manifest.to_vec());
        digest
    }

    /// Answers every blob request with `307 Location: <base>/v2/<name>/blobs/<digest>`.
    pub fn redirect_blobs_to(&mut self, base: &str) {
        self.redirect_blobs_to = Some(base.to_owned());
    }
}

impl BadRegistry {
    pub fn start(contents: Contents) -> BadRegistry {
        let content = Arc::new(Content {
            manifests: contents.manifests,
            blobs: contents.blobs,
            redirect_blobs_to: contents.redirect_blobs_to,
            hits: AtomicU64::new(0),
        });
        let app = Router::new().fallback(handle).with_state(content.clone());
        BadRegistry {
            content,
            server: Server::start(app),
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn authority(&self) -> String {
        self.server.authority()
    }

    /// How many requests reached this server.
    pub fn hits(&self) -> u64 {
        self.content.hits.load(Ordering::SeqCst)
    }
}

async fn handle(State(content): State<Arc<Content>>, method: Method, uri: Uri) -> Response {
    content.hits.fetch_add(1, Ordering::SeqCst);
    let path = uri.path();
    if path == "/v2/" {
        return (StatusCode::OK, "{}").into_response();
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let head = method == Method::HEAD;

    if let Some((_name, reference)) = rest.rsplit_once("/manifests/") {
        return match content.manifests.get(reference) {
            Some(bytes) => respond(bytes, OCI_MANIFEST, head),
            None => not_found("MANIFEST_UNKNOWN"),
        };
    }

    if let Some((name, digest)) = rest.rsplit_once("/blobs/") {
        if let Some(base) = &content.redirect_blobs_to {
            let location = format!("{base}/v2/{name}/blobs/{digest}");
            return (
                StatusCode::TEMPORARY_REDIRECT,
                [(header::LOCATION, location)],
            )
                .into_response();
        }
        return match content.blobs.get(digest) {
            Some(bytes) => respond(bytes, "application/octet-stream", head),
            None => not_found("BLOB_UNKNOWN"),
        };
    }

    StatusCode::NOT_FOUND.into_response()
}

fn respond(bytes: &[u8], content_type: &str, head: bool) -> Response {
    let body = if head {
        Body::empty()
    } else {
        Body::from(bytes.to_vec())
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, bytes.len())
        .header("Docker-Content-Digest", sha256(bytes))
        .body(body)
        .expect("response")
}

fn not_found(code: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "application/json")],
        format!(r#"{{"errors":[{{"code":"{code}","message":"unknown"}}]}}"#),
    )
        .into_response()
}
