//! An in-process token server for the registry token protocol.
//!
//! The registry answers 401 with `WWW-Authenticate: Bearer realm=...`; the
//! client asks the realm for a token with Basic credentials and the scopes it
//! needs, and presents the token to the registry. Distribution 2.8 checks
//! the JWT's `iss`, `aud` (a plain string equal to its `service`), `exp`,
//! `nbf`, the `access` list, and the signature with the key that the header
//! identifies; here the header carries the signing certificate in `x5c`,
//! which must chain to the registry's `rootcertbundle` (it is that bundle).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use serde_json::json;

use super::serve::Server;
use super::tls::ServerCert;

/// How long a token stays valid. Long enough for any one test.
const TOKEN_LIFETIME_SECS: u64 = 300;

/// Which fields carry the token in the reply. Registries' token services
/// differ: Docker Hub sends both, some send only one of them.
#[derive(Clone, Copy, Debug)]
pub enum Reply {
    Both,
    TokenOnly,
    AccessTokenOnly,
}

/// Which actions a token grants, whatever the client asked for.
#[derive(Clone, Copy, Debug)]
pub enum Grant {
    /// The `pull` and `push` actions asked for.
    Asked,
    /// Only `pull`, even when `push` is asked for: a reader's account.
    PullOnly,
    /// Both `pull` and `push` on every repository asked about, even when
    /// only `pull` is asked for, as token services that grant what the user
    /// may do answer. The ORAS Python client needs this to push: it keeps
    /// the first (pull-only) token it got.
    Everything,
}

struct Signer {
    key: EcdsaKeyPair,
    cert_der: Vec<u8>,
    rng: SystemRandom,
}

struct State_ {
    signer: Signer,
    username: String,
    password: String,
    reply: Reply,
    grant: Grant,
    issued: AtomicU64,
    requests: AtomicU64,
    /// Every `scope` asked for, in order.
    scopes: Mutex<Vec<String>>,
}

/// A running token server with one user. Dropping it stops the server.
pub struct TokenServer {
    state: Arc<State_>,
    cert_pem: String,
    server: Server,
    /// Whether it serves HTTPS.
    tls: bool,
}

impl TokenServer {
    /// The `service` the registry is configured with and expects in `aud`.
    pub const SERVICE: &'static str = "artifact-store-tests";
    /// The `issuer` the registry is configured with and expects in `iss`.
    pub const ISSUER: &'static str = "artifact-store-test-token-server";

    /// A server granting the actions asked for.
    pub fn start(username: &str, password: &str, reply: Reply) -> TokenServer {
        TokenServer::granting(username, password, reply, Grant::Asked)
    }

    /// A server whose tokens grant what `grant` says.
    pub fn granting(username: &str, password: &str, reply: Reply, grant: Grant) -> TokenServer {
        TokenServer::start_with(username, password, reply, grant, None)
    }

    /// A server granting the actions asked for, over HTTPS with `cert`.
    pub fn start_tls(username: &str, password: &str, cert: &ServerCert) -> TokenServer {
        TokenServer::start_with(username, password, Reply::Both, Grant::Asked, Some(cert))
    }

    fn start_with(
        username: &str,
        password: &str,
        reply: Reply,
        grant: Grant,
        tls: Option<&ServerCert>,
    ) -> TokenServer {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("key pair");
        let params =
            rcgen::CertificateParams::new(vec!["token.test".to_owned()]).expect("cert params");
        let cert = params.self_signed(&key).expect("self-signed cert");
        let rng = SystemRandom::new();
        let signer = Signer {
            key: EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                &key.serialize_der(),
                &rng,
            )
            .expect("ring key from pkcs8"),
            cert_der: cert.der().to_vec(),
            rng,
        };

        let state = Arc::new(State_ {
            signer,
            username: username.to_owned(),
            password: password.to_owned(),
            reply,
            grant,
            issued: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            scopes: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/token", get(token))
            .with_state(state.clone());

        TokenServer {
            state,
            cert_pem: cert.pem(),
            server: match tls {
                Some(tls) => Server::start_tls(app, tls),
                None => Server::start(app),
            },
            tls: tls.is_some(),
        }
    }

    /// The realm URL the registry names in its challenge.
    pub fn realm(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}/token", self.server.authority())
    }

    /// The PEM certificate the registry trusts as `rootcertbundle`.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// How many requests reached `/token`, granted or not.
    pub fn requests(&self) -> u64 {
        self.state.requests.load(Ordering::SeqCst)
    }

    /// Every `scope` parameter asked for so far, in order.
    pub fn scopes(&self) -> Vec<String> {
        self.state.scopes.lock().expect("scopes lock").clone()
    }

    /// A token granting `pull,push` on `repository`, minted directly, for
    /// fixtures that push without going through the challenge.
    pub fn mint(&self, repository: &str) -> String {
        let access = vec![Access {
            kind: "repository".to_owned(),
            name: repository.to_owned(),
            actions: vec!["pull".to_owned(), "push".to_owned()],
        }];
        self.state.sign(&self.state.username, &access)
    }
}

struct Access {
    kind: String,
    name: String,
    actions: Vec<String>,
}

impl State_ {
    fn sign(&self, subject: &str, access: &[Access]) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs();
        let id = self.issued.fetch_add(1, Ordering::SeqCst);
        let header = json!({
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [STANDARD.encode(&self.signer.cert_der)],
        });
        let access: Vec<_> = access
            .iter()
            .map(|a| json!({"type": a.kind, "name": a.name, "actions": a.actions}))
            .collect();
        let claims = json!({
            "iss": TokenServer::ISSUER,
            "sub": subject,
            "aud": TokenServer::SERVICE,
            "exp": now + TOKEN_LIFETIME_SECS,
            // A little slack, as real token servers give, for clock skew.
            "nbf": now - 10,
            "iat": now,
            "jti": format!("test-token-{id}"),
            "access": access,
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self
            .signer
            .key
            .sign(&self.signer.rng, signing_input.as_bytes())
            .expect("sign token");
        format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        )
    }

    fn credentials_match(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some(encoded) = value.strip_prefix("Basic ") else {
            return false;
        };
        let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
            return false;
        };
        decoded == format!("{}:{}", self.username, self.password).as_bytes()
    }
}

/// `GET /token?service=...&scope=...`: checks the Basic credentials and
/// grants the actions the server's [`Grant`] allows. No or wrong credentials get
/// 401, as a registry's token service answers.
async fn token(
    State(state): State<Arc<State_>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    state.requests.fetch_add(1, Ordering::SeqCst);
    if !state.credentials_match(&headers) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::CONTENT_TYPE, "application/json")],
            r#"{"errors":[{"code":"UNAUTHORIZED","message":"bad credentials"}]}"#,
        )
            .into_response();
    }

    let mut service_ok = false;
    let mut access = Vec::new();
    for (key, value) in parse_query(query.as_deref().unwrap_or("")) {
        match key.as_str() {
            "service" => service_ok = value == TokenServer::SERVICE,
            // A client may ask for several scopes, in several parameters or
            // space-separated in one.
            "scope" => {
                state
                    .scopes
                    .lock()
                    .expect("scopes lock")
                    .push(value.clone());
                access.extend(
                    value
                        .split(' ')
                        .filter_map(|scope| parse_scope(scope, state.grant)),
                );
            }
            _ => {}
        }
    }
    if !service_ok {
        return (StatusCode::BAD_REQUEST, "unknown service").into_response();
    }

    let token = state.sign(&state.username, &access);
    let body = match state.reply {
        Reply::Both => json!({
            "token": token,
            "access_token": token,
            "expires_in": TOKEN_LIFETIME_SECS,
        }),
        Reply::TokenOnly => json!({"token": token, "expires_in": TOKEN_LIFETIME_SECS}),
        Reply::AccessTokenOnly => {
            json!({"access_token": token, "expires_in": TOKEN_LIFETIME_SECS})
        }
    };
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// `repository:deid/config:pull,push` into its parts, with the actions
/// `grant` allows.
fn parse_scope(scope: &str, grant: Grant) -> Option<Access> {
    let (kind, rest) = scope.split_once(':')?;
    let (name, actions) = rest.rsplit_once(':')?;
    let asked = actions.split(',');
    let actions = match grant {
        Grant::Asked => asked.filter(|a| matches!(*a, "pull" | "push")).collect(),
        Grant::PullOnly => asked.filter(|a| *a == "pull").collect(),
        Grant::Everything => vec!["pull", "push"],
    };
    let actions = actions.into_iter().map(str::to_owned).collect();
    Some(Access {
        kind: kind.to_owned(),
        name: name.to_owned(),
        actions,
    })
}

/// Splits a query string into decoded pairs, repeated keys kept.
fn parse_query(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b'+', _) => {
                out.push(b' ');
                i += 1;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
