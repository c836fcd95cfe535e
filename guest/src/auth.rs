//! Registry authentication: anonymous, Basic, a ready-made bearer token, and
//! the registry token protocol (distribution's "Token Authentication
//! Specification").
//!
//! A registry that wants a token answers 401 with
//! `WWW-Authenticate: Bearer realm=...,service=...`; the provider then asks
//! the realm for a token scoped to `repository:<name>:pull` (`pull,push` for
//! a push), sending Basic credentials there if it has some, and repeats the
//! request with the token.
//!
//! Tokens are kept for the life of the component instance, keyed by realm,
//! service, scope and a hash of the credentials that obtained them, and are
//! reused until shortly before they expire. What kind of challenge each
//! registry sends is remembered too, so that a later call can present a
//! cached token without first collecting a 401.

use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use artifact_store_core::Challenge;
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::http::{self, ReadCapped, Request};
use crate::url::Url;

/// Lifetime assumed for a token whose response has no `expires_in`, as the
/// token specification prescribes.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A cached token is not reused in its last seconds, so that it cannot
/// expire between being chosen and reaching the registry.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// Entries kept per instance; a host juggling more stores than this just
/// fetches tokens more often.
const MAX_CACHED: usize = 64;

/// The largest token response read. JWTs with many claims stay far below.
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;

/// The longest token accepted. It travels in a header, and hosts cap a
/// request's header section (wasmtime-wasi-http at 128 KiB); a longer token
/// would make building the request fail rather than the token service.
const MAX_TOKEN_LEN: usize = 64 << 10;

/// The longest lifetime believed. A token service may claim any
/// `expires_in`; a day is longer than any call, and keeps the arithmetic on
/// instants far from overflow.
const MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// How the provider proves who it is to a registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    Anonymous,
    Basic { username: String, password: String },
    Bearer(String),
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret, even in a debug dump.
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { .. } => f.write_str("Basic(<redacted>)"),
            Credentials::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    /// How a refusal describes what was presented, without the secret.
    pub fn describe(&self) -> &'static str {
        match self {
            Credentials::Anonymous => "anonymous access (no credentials were given)",
            Credentials::Basic { .. } => "the given user name and password",
            Credentials::Bearer(_) => "the given bearer token",
        }
    }

    fn basic_header(&self) -> Option<String> {
        match self {
            Credentials::Basic { username, password } => {
                let pair = format!("{username}:{password}");
                Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                ))
            }
            _ => None,
        }
    }

    /// A hash that tells credentials apart without keeping them.
    fn identity(&self) -> String {
        let mut h = Sha256::new();
        match self {
            Credentials::Anonymous => h.update(b"anonymous"),
            Credentials::Basic { username, password } => {
                h.update(b"basic\0");
                h.update(username.as_bytes());
                h.update(b"\0");
                h.update(password.as_bytes());
            }
            Credentials::Bearer(token) => {
                h.update(b"bearer\0");
                h.update(token.as_bytes());
            }
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// What a call does to a repository, and so the token scope it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actions {
    Pull,
    /// Pushing needs `pull` too: checking which blobs exist is a read.
    PullPush,
}

impl Actions {
    fn scope(self, repository: &str) -> String {
        let actions = match self {
            Actions::Pull => "pull",
            Actions::PullPush => "pull,push",
        };
        format!("repository:{repository}:{actions}")
    }
}

/// The authentication state of one call against one repository.
pub struct Session<'a> {
    credentials: &'a Credentials,
    /// `scheme://authority` of the registry, the key for what it asks.
    registry: String,
    scope: String,
    authorization: Option<String>,
}

impl<'a> Session<'a> {
    pub fn new(
        credentials: &'a Credentials,
        registry: &Url,
        repository: &str,
        actions: Actions,
    ) -> Session<'a> {
        let mut session = Session {
            credentials,
            registry: registry.origin().to_string(),
            scope: actions.scope(repository),
            authorization: None,
        };
        session.authorization = match credentials {
            Credentials::Bearer(token) => Some(format!("Bearer {token}")),
            _ => session.remembered_authorization(Instant::now()),
        };
        session
    }

    /// How a refusal describes the credentials, without the secret.
    pub fn describe_credentials(&self) -> &'static str {
        self.credentials.describe()
    }

    /// Whether any credentials were given.
    pub fn has_credentials(&self) -> bool {
        !matches!(self.credentials, Credentials::Anonymous)
    }

    /// The `Authorization` value for the next registry request, if any.
    pub fn authorization(&self) -> Option<&str> {
        self.authorization.as_deref()
    }

    /// Works out new credentials after the registry answered 401 with
    /// `challenges`. Fails when there is nothing better to send.
    pub fn on_unauthorized(&mut self, challenges: &[Challenge]) -> Result<()> {
        let refused = |why: String| Err(Error::Unauthorized(why));
        if let Credentials::Bearer(_) = self.credentials {
            return refused(format!(
                "{} refused {}",
                self.registry,
                self.credentials.describe()
            ));
        }

        if let Some(bearer) = challenges.iter().find(|c| c.is("bearer")) {
            let Some(realm) = bearer.param("realm").filter(|r| !r.is_empty()) else {
                return Err(Error::Other(format!(
                    "{} asked for a bearer token without naming a realm to get it from",
                    self.registry
                )));
            };
            let service = bearer.param("service").unwrap_or_default();
            let token = self.request_token(realm, service)?;
            remember(
                &self.registry,
                Known::Bearer {
                    realm: realm.to_owned(),
                    service: service.to_owned(),
                },
            );
            self.authorization = Some(format!("Bearer {token}"));
            return Ok(());
        }

        if challenges.iter().any(|c| c.is("basic")) {
            let Some(header) = self.credentials.basic_header() else {
                return refused(format!(
                    "{} requires a user name and password; {}",
                    self.registry,
                    self.credentials.describe()
                ));
            };
            if self.authorization.as_deref() == Some(header.as_str()) {
                return refused(format!(
                    "{} refused {}",
                    self.registry,
                    self.credentials.describe()
                ));
            }
            remember(&self.registry, Known::Basic);
            self.authorization = Some(header);
            return Ok(());
        }

        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        refused(format!(
            "{} answered 401 without a Basic or Bearer challenge (schemes offered: {})",
            self.registry,
            if schemes.is_empty() {
                "none".to_owned()
            } else {
                schemes.join(", ")
            }
        ))
    }

    /// What to send before the registry has asked, from what earlier calls
    /// in this instance learned.
    fn remembered_authorization(&self, now: Instant) -> Option<String> {
        CACHE.with_borrow(|cache| match cache.challenges.get(&self.registry)? {
            Known::Basic => self.credentials.basic_header(),
            Known::Bearer { realm, service } => {
                let key = self.token_key(realm, service);
                cache.token(&key, now).map(|t| format!("Bearer {t}"))
            }
        })
    }

    fn token_key(&self, realm: &str, service: &str) -> TokenKey {
        TokenKey {
            realm: realm.to_owned(),
            service: service.to_owned(),
            scope: self.scope.clone(),
            identity: self.credentials.identity(),
        }
    }

    /// Asks the realm for a fresh token and caches it. A fresh one, because
    /// the registry has just refused whatever was sent before.
    fn request_token(&self, realm: &str, service: &str) -> Result<String> {
        let mut url = Url::parse(realm).map_err(|e| {
            Error::Other(format!(
                "{} named an unusable token realm: {e}",
                self.registry
            ))
        })?;
        if !service.is_empty() {
            url.append_query("service", service);
        }
        url.append_query("scope", &self.scope);
        let origin = url.origin().to_string();

        let mut request = Request::get(url).header("accept", "application/json");
        request.authorization = self.credentials.basic_header();
        let started = Instant::now();
        let response =
            http::send(request).map_err(|e| e.context(format!("token service {origin}")))?;

        let status = response.status;
        if status != 200 {
            let what = format!(
                "token service {origin} answered {status} for {} with {}",
                self.scope,
                self.credentials.describe()
            );
            return Err(match status {
                401 => Error::Unauthorized(what),
                403 => Error::Forbidden(what),
                500..=599 => Error::StoreNotReachable(what),
                _ => Error::Other(what),
            });
        }
        let body = response
            .read_capped(MAX_TOKEN_RESPONSE)
            .map_err(|e| match e {
                ReadCapped::TooLong => Error::Other(format!(
                    "token service {origin} sent more than {MAX_TOKEN_RESPONSE} bytes"
                )),
                ReadCapped::Failed(e) => e.context(format!("token service {origin}")),
            })?;
        let (token, lifetime) = parse_token_response(&body)
            .map_err(|why| Error::Other(format!("token service {origin} {why}")))?;

        let key = self.token_key(realm, service);
        CACHE.with_borrow_mut(|cache| cache.put(key, token.clone(), lifetime, started));
        Ok(token)
    }
}

/// Reads `token` (or the OAuth2 `access_token`) and `expires_in`.
fn parse_token_response(body: &[u8]) -> Result<(String, Duration), String> {
    #[derive(Deserialize)]
    struct TokenResponse {
        #[serde(default)]
        token: Option<String>,
        #[serde(default)]
        access_token: Option<String>,
        #[serde(default)]
        expires_in: Option<u64>,
    }
    let response: TokenResponse = serde_json::from_slice(body)
        .map_err(|_| "answered with something other than JSON".to_owned())?;
    let token = response
        .token
        .filter(|t| !t.is_empty())
        .or(response.access_token.filter(|t| !t.is_empty()))
        .ok_or("answered without a token")?;
    if token.len() > MAX_TOKEN_LEN {
        return Err(format!(
            "answered with a token of {} bytes, over the {MAX_TOKEN_LEN} bytes accepted",
            token.len()
        ));
    }
    let lifetime = response
        .expires_in
        .filter(|&s| s > 0)
        .map_or(DEFAULT_TOKEN_LIFETIME, Duration::from_secs)
        .min(MAX_TOKEN_LIFETIME);
    Ok((token, lifetime))
}

/// What a registry asks for when it answers 401.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Known {
    Basic,
    Bearer { realm: String, service: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct TokenKey {
    realm: String,
    service: String,
    scope: String,
    /// A hash of the credentials, so that one caller's token never serves
    /// another caller's credentials.
    identity: String,
}

struct CachedToken {
    token: String,
    reusable_until: Instant,
}

#[derive(Default)]
struct Cache {
    challenges: HashMap<String, Known>,
    tokens: HashMap<TokenKey, CachedToken>,
}

impl Cache {
    fn token(&self, key: &TokenKey, now: Instant) -> Option<&str> {
        self.tokens
            .get(key)
            .filter(|t| now < t.reusable_until)
            .map(|t| t.token.as_str())
    }

    /// Keeps a token obtained at `obtained` that lives `lifetime`; one too
    /// short-lived to outlast the margin is not kept.
    fn put(&mut self, key: TokenKey, token: String, lifetime: Duration, obtained: Instant) {
        let Some(usable) = lifetime.checked_sub(EXPIRY_MARGIN).filter(|d| !d.is_zero()) else {
            self.tokens.remove(&key);
            return;
        };
        let now = Instant::now().max(obtained);
        if self.tokens.len() >= MAX_CACHED {
            self.tokens.retain(|_, t| now < t.reusable_until);
            if self.tokens.len() >= MAX_CACHED {
                self.tokens.clear();
            }
        }
        self.tokens.insert(
            key,
            CachedToken {
                token,
                reusable_until: obtained.checked_add(usable).unwrap_or(now),
            },
        );
    }
}

thread_local! {
    // A component instance is single-threaded; this is its memory between
    // calls.
    static CACHE: RefCell<Cache> = RefCell::new(Cache::default());
}

fn remember(registry: &str, known: Known) {
    CACHE.with_borrow_mut(|cache| {
        if cache.challenges.len() >= MAX_CACHED {
            cache.challenges.clear();
        }
        cache.challenges.insert(registry.to_owned(), known);
    });
}

#[cfg(test)]
mod tests {
    use artifact_store_core::parse_challenges;

    use super::*;

    fn key(identity: &Credentials) -> TokenKey {
        TokenKey {
            realm: "https://auth.io/token".into(),
            service: "reg.io".into(),
            scope: "repository:a:pull".into(),
            identity: identity.identity(),
        }
    }

    fn basic(user: &str, password: &str) -> Credentials {
        Credentials::Basic {
            username: user.into(),
            password: password.into(),
        }
    }

    #[test]
    fn token_response_fields() {
        let (t, d) = parse_token_response(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!((t.as_str(), d), ("abc", Duration::from_secs(300)));
        let (t, d) = parse_token_response(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!((t.as_str(), d), ("xyz", DEFAULT_TOKEN_LIFETIME));
        let (t, _) =
            parse_token_response(br#"{"token":"","access_token":"xyz","expires_in":0}"#).unwrap();
        assert_eq!(t, "xyz");
        assert!(parse_token_response(br#"{"expires_in":5}"#).is_err());
    }

    #[test]
    fn absurd_token_lifetimes_are_capped() {
        let (_, lifetime) =
            parse_token_response(br#"{"token":"t","expires_in":18446744073709551615}"#).unwrap();
        assert_eq!(lifetime, MAX_TOKEN_LIFETIME);
        let mut cache = Cache::default();
        let key = TokenKey {
            realm: "r".into(),
            service: "s".into(),
            scope: "x".into(),
            identity: "i".into(),
        };
        cache.put(key, "t".into(), Duration::MAX, Instant::now());
    }

    #[test]
    fn tokens_too_long_for_a_header_are_refused() {
        let body = format!(r#"{{"token":"{}"}}"#, "a".repeat(MAX_TOKEN_LEN + 1));
        let err = parse_token_response(body.as_bytes()).unwrap_err();
        assert!(err.contains("bytes accepted"), "{err}");
        assert!(parse_token_response(b"<html>").is_err());
    }

    #[test]
    fn cached_token_is_reused_until_ten_seconds_before_expiry() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let k = key(&Credentials::Anonymous);
        cache.put(k.clone(), "tok".into(), Duration::from_secs(60), t0);
        assert_eq!(cache.token(&k, t0), Some("tok"));
        assert_eq!(cache.token(&k, t0 + Duration::from_secs(49)), Some("tok"));
        assert_eq!(cache.token(&k, t0 + Duration::from_secs(50)), None);
    }

    #[test]
    fn short_lived_tokens_are_not_cached() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        let k = key(&Credentials::Anonymous);
        cache.put(k.clone(), "tok".into(), Duration::from_secs(10), t0);
        assert_eq!(cache.token(&k, t0), None);
    }

    #[test]
    fn tokens_are_kept_apart_by_credentials() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        cache.put(
            key(&basic("u", "p")),
            "for-u".into(),
            Duration::from_secs(300),
            t0,
        );
        assert_eq!(cache.token(&key(&basic("u", "p")), t0), Some("for-u"));
        assert_eq!(cache.token(&key(&basic("u", "other")), t0), None);
        assert_eq!(cache.token(&key(&Credentials::Anonymous), t0), None);
        // The separator keeps "a:b" + "c" apart from "a" + "b:c".
        assert_ne!(basic("a:b", "c").identity(), basic("a", "b:c").identity());
    }

    #[test]
    fn cache_stays_bounded() {
        let mut cache = Cache::default();
        let t0 = Instant::now();
        for i in 0..(MAX_CACHED * 2) {
            let mut k = key(&Credentials::Anonymous);
            k.scope = format!("repository:r{i}:pull");
            cache.put(k, "t".into(), Duration::from_secs(300), t0);
        }
        assert!(cache.tokens.len() <= MAX_CACHED);
    }

    #[test]
    fn debug_redacts_secrets() {
        let dump = format!(
            "{:?} {:?}",
            basic("user", "hunter2"),
            Credentials::Bearer("tok".into())
        );
        assert!(
            !dump.contains("hunter2") && !dump.contains("tok)") && !dump.contains("user"),
            "{dump}"
        );
    }

    #[test]
    fn basic_header_encodes_user_and_password() {
        assert_eq!(
            basic("Aladdin", "open sesame").basic_header().as_deref(),
            Some("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
        );
        assert_eq!(Credentials::Anonymous.basic_header(), None);
    }

    fn session<'a>(credentials: &'a Credentials, authority: &str) -> Session<'a> {
        Session::new(
            credentials,
            &Url::new(true, authority, "/"),
            "a",
            Actions::Pull,
        )
    }

    #[test]
    fn push_asks_for_pull_and_push() {
        assert_eq!(Actions::Pull.scope("a/b"), "repository:a/b:pull");
        assert_eq!(Actions::PullPush.scope("a/b"), "repository:a/b:pull,push");
    }

    #[test]
    fn basic_challenge_uses_basic_credentials_once() {
        let creds = basic("u", "p");
        let mut s = session(&creds, "basic-once.test");
        assert_eq!(s.authorization(), None);
        let challenges = parse_challenges(r#"Basic realm="Registry""#);
        s.on_unauthorized(&challenges).unwrap();
        assert!(s.authorization().unwrap().starts_with("Basic "));
        // Refused again with the same header: give up.
        assert!(matches!(
            s.on_unauthorized(&challenges),
            Err(Error::Unauthorized(_))
        ));
        // The next session against the same registry sends Basic at once.
        assert!(session(&creds, "basic-once.test").authorization().is_some());
    }

    #[test]
    fn basic_challenge_without_credentials_is_unauthorized() {
        let creds = Credentials::Anonymous;
        let mut s = session(&creds, "basic-anon.test");
        let e = s
            .on_unauthorized(&parse_challenges("Basic realm=x"))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unauthorized(m) if m.contains("no credentials")),
            "{e:?}"
        );
    }

    #[test]
    fn bearer_credentials_are_sent_at_once_and_never_renegotiated() {
        let creds = Credentials::Bearer("aad-token".into());
        let mut s = session(&creds, "bearer.test");
        assert_eq!(s.authorization(), Some("Bearer aad-token"));
        let e = s
            .on_unauthorized(&parse_challenges(
                "Bearer realm=\"https://auth.test/token\"",
            ))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unauthorized(m) if !m.contains("aad-token")),
            "{e:?}"
        );
    }

    #[test]
    fn unknown_or_broken_challenges() {
        let creds = basic("u", "p");
        let mut s = session(&creds, "unknown.test");
        let e = s
            .on_unauthorized(&parse_challenges("Negotiate abc=="))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Unauthorized(m) if m.contains("Negotiate")),
            "{e:?}"
        );
        let e = s
            .on_unauthorized(&parse_challenges("Bearer service=x"))
            .unwrap_err();
        assert!(
            matches!(&e, Error::Other(m) if m.contains("realm")),
            "{e:?}"
        );
    }

    #[test]
    fn remembered_bearer_challenge_presents_a_cached_token() {
        let creds = basic("u", "p");
        let registry = "https://remembered.test";
        remember(
            registry,
            Known::Bearer {
                realm: "https://auth.test/token".into(),
                service: "svc".into(),
            },
        );
        let s = session(&creds, "remembered.test");
        assert_eq!(s.authorization(), None);
        let key = s.token_key("https://auth.test/token", "svc");
        CACHE.with_borrow_mut(|c| {
            c.put(
                key,
                "cached".into(),
                Duration::from_secs(300),
                Instant::now(),
            )
        });
        assert_eq!(
            session(&creds, "remembered.test").authorization(),
            Some("Bearer cached")
        );
        let other = basic("v", "p");
        assert_eq!(session(&other, "remembered.test").authorization(), None);
    }
}
