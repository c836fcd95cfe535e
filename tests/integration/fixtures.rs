//! Checks of the fixtures themselves, independent of artifact-store: if one
//! of these fails, the failure of a CLI test says nothing about the CLI.

use crate::common::push::{oras_push, RawPusher};
use crate::common::registry::{Auth, Registry};
use crate::common::token::{Reply, TokenServer};
use crate::common::{content, http};

#[test]
fn token_server_tokens_are_accepted_by_the_registry() {
    let tokens = TokenServer::start("alice", "s3cret", Reply::Both);
    let registry = Registry::start(Auth::Token(&tokens));
    let agent = http::agent();

    // Without a token the registry challenges with our realm.
    let response = agent.get(format!("{}/v2/", registry.url())).call().unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let challenge = response.headers()["WWW-Authenticate"].to_str().unwrap();
    assert!(challenge.contains(&tokens.realm()), "{challenge}");

    // A minted token lets a raw push through.
    let pusher = RawPusher::new(registry.authority()).with_bearer(tokens.mint("fixture/check"));
    let digest = pusher.blob("fixture/check", b"hello");
    let blob = agent
        .get(format!(
            "{}/v2/fixture/check/blobs/{digest}",
            registry.url()
        ))
        .header(
            "Authorization",
            format!("Bearer {}", tokens.mint("fixture/check")),
        )
        .call()
        .unwrap();
    assert_eq!(blob.status().as_u16(), 200);
    assert_eq!(blob.into_body().read_to_vec().unwrap(), b"hello");
}

#[test]
fn token_server_refuses_wrong_credentials() {
    let tokens = TokenServer::start("alice", "s3cret", Reply::TokenOnly);
    let agent = http::agent();
    let url = format!(
        "{}?service={}&scope=repository:a/b:pull",
        tokens.realm(),
        TokenServer::SERVICE
    );
    let wrong = agent
        .get(&url)
        .header("Authorization", "Basic YWxpY2U6d3Jvbmc=")
        .call()
        .unwrap();
    assert_eq!(wrong.status().as_u16(), 401);
    let right = agent
        .get(&url)
        .header("Authorization", "Basic YWxpY2U6czNjcmV0")
        .call()
        .unwrap();
    assert_eq!(right.status().as_u16(), 200);
    let body: serde_json::Value =
        serde_json::from_str(&right.into_body().read_to_string().unwrap()).unwrap();
    assert!(body["token"].is_string());
    assert!(body.get("access_token").is_none());
}

#[test]
fn oras_pushes_to_a_basic_auth_registry() {
    let registry = Registry::start(Auth::Basic {
        username: "bob",
        password: "hunter2",
    });
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("config.json");
    std::fs::write(&file, content::DEID_CONFIG).unwrap();
    let login = crate::common::push::Login {
        username: "bob",
        password: "hunter2",
    };
    let digest = oras_push(
        registry.authority(),
        "deid/config:v1",
        &[&file],
        Some(login),
    );
    assert!(digest.starts_with("sha256:"));
    let anonymous = http::agent()
        .get(format!("{}/v2/deid/config/manifests/v1", registry.url()))
        .call()
        .unwrap();
    assert_eq!(anonymous.status().as_u16(), 401);
}
