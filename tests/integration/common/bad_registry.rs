//! An in-process registry that misbehaves on purpose, for what a real
//! registry will not do: answering a blob with a redirect to another host,
//! serving a manifest under a digest it does not have, or reporting a
//! `Docker-Content-Digest` that disagrees with the bytes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::push::{sha256, OCI_EMPTY, OCI_MANIFEST, TITLE};
use super::serve::Server;

#[derive(Default)]
struct Content {
    /// Manifest bytes by tag or digest.
    manifests: HashMap<String, Vec<u8>>,
    /// Blob bytes by digest.
    blobs: HashMap<String, Vec<u8>>,
    /// When set, blob requests are answered with `307` to this base URL.
    redirect_blobs_to: Option<String>,
    /// When set, the `Docker-Content-Digest` sent with every manifest.
    claimed_digest: Option<String>,
    /// When set, the `user:password` that `/v2/` requests must present as
    /// Basic credentials.
    basic: Option<String>,
    /// Every request that reached the server.
    hits: AtomicU64,
    /// Requests that carried an `Authorization` header.
    authorized_hits: AtomicU64,
}

/// A minimal read-only registry: `/v2/`, manifests and blobs, with no auth.
/// Dropping it stops the server.
pub struct BadRegistry {
    content: Arc<Content>,
    server: Server,
}

/// What to serve, and how to misbehave.
#[derive(Default)]
pub struct Contents {
    manifests: HashMap<String, Vec<u8>>,
    blobs: HashMap<String, Vec<u8>>,
    redirect_blobs_to: Option<String>,
    claimed_digest: Option<String>,
    basic: Option<String>,
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

    /// Serves `manifest` under `key` only, whatever its digest really is.
    pub fn manifest_at(&mut self, key: &str, manifest: &[u8]) {
        self.manifests.insert(key.to_owned(), manifest.to_vec());
    }

    /// Sends `digest` as the `Docker-Content-Digest` of every manifest.
    pub fn claim_digest(&mut self, digest: &str) {
        self.claimed_digest = Some(digest.to_owned());
    }

    /// Answers `401` with a Basic challenge to every `/v2/` request that
    /// does not carry these credentials.
    pub fn require_basic(&mut self, username: &str, password: &str) {
        self.basic = Some(format!("{username}:{password}"));
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
            claimed_digest: contents.claimed_digest,
            basic: contents.basic,
            hits: AtomicU64::new(0),
            authorized_hits: AtomicU64::new(0),
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

    /// How many of them carried an `Authorization` header.
    pub fn authorized_hits(&self) -> u64 {
        self.content.authorized_hits.load(Ordering::SeqCst)
    }
}

async fn handle(
    State(content): State<Arc<Content>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    content.hits.fetch_add(1, Ordering::SeqCst);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorization.is_some() {
        content.authorized_hits.fetch_add(1, Ordering::SeqCst);
    }
    let path = uri.path();
    if let Some(expected) = &content.basic {
        let presented = authorization
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|v| STANDARD.decode(v.trim()).ok());
        if path.starts_with("/v2/") && presented.as_deref() != Some(expected.as_bytes()) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, r#"Basic realm="bad-registry""#)],
            )
                .into_response();
        }
    }
    if path == "/v2/" {
        return (StatusCode::OK, "{}").into_response();
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let head = method == Method::HEAD;

    if let Some((_name, reference)) = rest.rsplit_once("/manifests/") {
        return match content.manifests.get(reference) {
            Some(bytes) => {
                let digest = content
                    .claimed_digest
                    .clone()
                    .unwrap_or_else(|| sha256(bytes));
                respond(bytes, OCI_MANIFEST, &digest, head)
            }
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
            Some(bytes) => respond(bytes, "application/octet-stream", &sha256(bytes), head),
            None => not_found("BLOB_UNKNOWN"),
        };
    }

    StatusCode::NOT_FOUND.into_response()
}

fn respond(bytes: &[u8], content_type: &str, digest: &str, head: bool) -> Response {
    let body = if head {
        Body::empty()
    } else {
        Body::from(bytes.to_vec())
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, bytes.len())
        .header("Docker-Content-Digest", digest)
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

/// An ORAS-style manifest for one file `name` holding `bytes`, and the
/// blobs it names (the empty config and the file), for a server to serve.
pub fn one_file_artifact(name: &str, bytes: &[u8]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let config = b"{}".to_vec();
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.artifact-store.test",
        "config": {"mediaType": OCI_EMPTY, "digest": sha256(&config), "size": config.len()},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": sha256(bytes),
            "size": bytes.len(),
            "annotations": {TITLE: name},
        }],
    });
    let manifest = serde_json::to_vec(&manifest).expect("manifest JSON");
    (manifest, vec![config, bytes.to_vec()])
}
