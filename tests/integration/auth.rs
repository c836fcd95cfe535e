//! Pulls from registries that want credentials: htpasswd Basic and the
//! registry token protocol.

use std::collections::BTreeMap;
use std::fs;

use crate::common::cli::{Config, Store, Workdir};
use crate::common::content::{self, files_only, snapshot};
use crate::common::push::{oras_push, Layer, Login, RawPusher, TITLE};
use crate::common::registry::{Auth, Registry};
use crate::common::token::{Reply, TokenServer};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery";
const WRONG: &str = "wrong-horse-battery";

fn expected_config() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        "config.json".to_owned(),
        content::DEID_CONFIG.as_bytes().to_vec(),
    )])
}

fn basic_registry_with_config() -> Registry {
    let registry = Registry::start(Auth::Basic {
        username: USER,
        password: PASSWORD,
    });
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("config.json");
    fs::write(&file, content::DEID_CONFIG).unwrap();
    let login = Login {
        username: USER,
        password: PASSWORD,
    };
    oras_push(
        registry.authority(),
        "deid/config:v1",
        &[&file],
        Some(login),
    );
    registry
}

/// A token-auth registry holding `deid/config:v1`, pushed with a minted
/// token so that the pull is the first client of the token server.
fn token_registry_with_config(tokens: &TokenServer) -> (Registry, String) {
    let registry = Registry::start(Auth::Token(tokens));
    let pusher = RawPusher::new(registry.authority()).with_bearer(tokens.mint("deid/config"));
    let layer = Layer {
        media_type: "application/vnd.oci.image.layer.v1.tar".to_owned(),
        bytes: content::DEID_CONFIG.as_bytes().to_vec(),
        annotations: vec![(TITLE.to_owned(), "config.json".to_owned())],
    };
    let digest = pusher.artifact("deid/config", "v1", &[layer]);
    (registry, digest)
}

fn assert_no_secret(output: &str) {
    for secret in [PASSWORD, WRONG] {
        assert!(!output.contains(secret), "a password leaked: {output}");
    }
}

#[test]
fn pulls_with_basic_credentials_from_the_environment() {
    let registry = basic_registry_with_config();
    let config = Config::new(&[Store::with_user(registry.authority(), USER)], &[]);
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    let out = work.out();
    let run = config.run(
        &["pull", &reference, "--output", out.to_str().unwrap()],
        Some(PASSWORD),
    );
    run.success();
    assert_eq!(files_only(snapshot(&out)), expected_config());
}

#[test]
fn pulls_with_basic_credentials_from_a_password_file() {
    let registry = basic_registry_with_config();
    let secrets = tempfile::tempdir().unwrap();
    let password_file = secrets.path().join("password");
    // A trailing newline, as `echo` writes it, is not part of the password.
    fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    let store = Store {
        username: Some(USER.to_owned()),
        password_file: Some(password_file),
        ..Store::oci(registry.authority())
    };
    let config = Config::new(&[store], &[]);
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(files_only(snapshot(&work.out())), expected_config());
}

#[test]
fn wrong_basic_password_is_unauthorized() {
    let registry = basic_registry_with_config();
    let config = Config::new(&[Store::with_user(registry.authority(), USER)], &[]);
    let work = Workdir::new();
    let before = work.snapshot();

    let reference = format!("{}/deid/config:v1", registry.authority());
    let out = work.out();
    let run = config.run(
        &["pull", &reference, "--output", out.to_str().unwrap()],
        Some(WRONG),
    );
    run.failure("Unauthorized");
    assert_no_secret(run.stderr());
    assert_no_secret(run.stdout());
    work.assert_unchanged(&before);
}

#[test]
fn no_credentials_for_a_basic_registry_is_unauthorized() {
    let registry = basic_registry_with_config();
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();
    let before = work.snapshot();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config
        .pull(&reference, &work.out(), &[])
        .failure("Unauthorized");
    work.assert_unchanged(&before);
}

fn pulls_with_a_token(reply: Reply) {
    let tokens = TokenServer::start(USER, PASSWORD, reply);
    let (registry, _) = token_registry_with_config(&tokens);
    let config = Config::new(&[Store::with_user(registry.authority(), USER)], &[]);
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    let out = work.out();
    let run = config.run(
        &["pull", &reference, "--output", out.to_str().unwrap()],
        Some(PASSWORD),
    );
    run.success();
    assert_eq!(files_only(snapshot(&out)), expected_config());
    // One token serves the manifest and every blob of one pull.
    assert_eq!(tokens.requests(), 1, "the token was not reused");
}

#[test]
fn pulls_with_a_token_from_a_token_field() {
    pulls_with_a_token(Reply::TokenOnly);
}

#[test]
fn pulls_with_a_token_from_an_access_token_field() {
    pulls_with_a_token(Reply::AccessTokenOnly);
}

#[test]
fn pulls_with_a_token_when_both_fields_are_sent() {
    pulls_with_a_token(Reply::Both);
}

#[test]
fn resolves_with_a_token() {
    let tokens = TokenServer::start(USER, PASSWORD, Reply::Both);
    let (registry, pushed) = token_registry_with_config(&tokens);
    let config = Config::new(&[Store::with_user(registry.authority(), USER)], &[]);

    let reference = format!("{}/deid/config:v1", registry.authority());
    let run = config.run(&["resolve", &reference], Some(PASSWORD));
    assert_eq!(run.success().trim(), pushed);
}

#[test]
fn wrong_token_password_is_unauthorized() {
    let tokens = TokenServer::start(USER, PASSWORD, Reply::Both);
    let (registry, _) = token_registry_with_config(&tokens);
    let config = Config::new(&[Store::with_user(registry.authority(), USER)], &[]);
    let work = Workdir::new();
    let before = work.snapshot();

    let reference = format!("{}/deid/config:v1", registry.authority());
    let out = work.out();
    let run = config.run(
        &["pull", &reference, "--output", out.to_str().unwrap()],
        Some(WRONG),
    );
    run.failure("Unauthorized");
    assert!(tokens.requests() >= 1, "the token server was never asked");
    assert_no_secret(run.stderr());
    assert_no_secret(run.stdout());
    work.assert_unchanged(&before);
}
