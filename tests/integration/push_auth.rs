//! Pushes to registries that want credentials: htpasswd Basic and the
//! registry token protocol, which must be asked for `push` as well as
//! `pull`.

use crate::common::cli::{Config, Run, Store, Workdir};
use crate::common::content::{files_only, snapshot, templates_under, Source};
use crate::common::inspect::Inspector;
use crate::common::push::sha256;
use crate::common::registry::{Auth, Registry};
use crate::common::token::{Grant, Reply, TokenServer};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery";
const WRONG: &str = "wrong-horse-battery";
const REPOSITORY: &str = "auth/templates";

fn basic_registry() -> Registry {
    Registry::start(Auth::Basic {
        username: USER,
        password: PASSWORD,
    })
}

/// `push templates <registry>/auth/templates:v1` with `password`.
fn push_templates(registry: &Registry, source: &Source, password: Option<&str>) -> Run {
    let config = Config::new(&[Store::with_user(registry.authority(), USER)], &[]);
    let reference = format!("{}/{REPOSITORY}:v1", registry.authority());
    config.run_in(source.path(), &["push", "templates", &reference], password)
}

/// Pulls `auth/templates:v1` with the right password and checks the files.
fn assert_pulls_templates(registry: &Registry) {
    let config = Config::new(&[Store::with_user(registry.authority(), USER)], &[]);
    let work = Workdir::new();
    let reference = format!("{}/{REPOSITORY}:v1", registry.authority());
    let out = work.out();
    config
        .run(
            &["pull", &reference, "--output", out.to_str().unwrap()],
            Some(PASSWORD),
        )
        .success();
    assert_eq!(files_only(snapshot(&out)), templates_under("templates"));
}

/// Nothing the registry accepted changed it, and the tag is not there.
fn assert_nothing_pushed(registry: &Registry, inspector: &Inspector) {
    let accepted: Vec<_> = registry
        .writes()
        .into_iter()
        .filter(|r| r.status < 400)
        .collect();
    assert_eq!(accepted, Vec::new(), "the registry accepted writes");
    assert!(!inspector.has_manifest(REPOSITORY, "v1"));
}

fn assert_no_secret(run: &Run) {
    for secret in [PASSWORD, WRONG] {
        assert!(
            !run.stderr().contains(secret) && !run.stdout().contains(secret),
            "a password leaked: {run:?}"
        );
    }
}

#[test]
fn pushes_with_basic_credentials() {
    let registry = basic_registry();
    let source = Source::new();

    let run = push_templates(&registry, &source, Some(PASSWORD));
    let digest = run.success().trim().to_owned();

    let inspector = Inspector::new(registry.authority()).with_basic(USER, PASSWORD);
    let served = inspector.manifest(REPOSITORY, "v1");
    assert_eq!(sha256(&served.bytes), digest);
    assert_pulls_templates(&registry);
}

#[test]
fn push_with_a_wrong_basic_password_is_unauthorized() {
    let registry = basic_registry();
    let source = Source::new();

    let run = push_templates(&registry, &source, Some(WRONG));
    run.failure("Unauthorized");
    assert_no_secret(&run);
    let inspector = Inspector::new(registry.authority()).with_basic(USER, PASSWORD);
    assert_nothing_pushed(&registry, &inspector);
}

#[test]
fn push_without_credentials_to_a_basic_registry_is_unauthorized() {
    let registry = basic_registry();
    let source = Source::new();
    let config = Config::new(&[Store::oci(registry.authority())], &[]);

    let reference = format!("{}/{REPOSITORY}:v1", registry.authority());
    config
        .push(source.path(), "templates", &reference, &[])
        .failure("Unauthorized");
    let inspector = Inspector::new(registry.authority()).with_basic(USER, PASSWORD);
    assert_nothing_pushed(&registry, &inspector);
}

#[test]
fn pushes_with_a_token_scoped_for_pull_and_push() {
    let tokens = TokenServer::start(USER, PASSWORD, Reply::Both);
    let registry = Registry::start(Auth::Token(&tokens));
    let source = Source::new();

    let run = push_templates(&registry, &source, Some(PASSWORD));
    let digest = run.success().trim().to_owned();

    // The token server grants only what is asked for, so the push worked
    // because `push` was asked for on this repository.
    let scopes = tokens.scopes();
    let prefix = format!("repository:{REPOSITORY}:");
    let asked_push = scopes.iter().any(|scope| {
        scope
            .split(' ')
            .filter_map(|s| s.strip_prefix(&prefix))
            .any(|actions| actions.split(',').any(|a| a == "push"))
    });
    assert!(asked_push, "no push scope was asked for: {scopes:?}");

    let inspector = Inspector::new(registry.authority()).with_bearer(tokens.mint(REPOSITORY));
    assert_eq!(sha256(&inspector.manifest(REPOSITORY, "v1").bytes), digest);
    assert_pulls_templates(&registry);
}

#[test]
fn push_with_a_wrong_token_password_is_unauthorized() {
    let tokens = TokenServer::start(USER, PASSWORD, Reply::Both);
    let registry = Registry::start(Auth::Token(&tokens));
    let source = Source::new();

    let run = push_templates(&registry, &source, Some(WRONG));
    run.failure("Unauthorized");
    assert_no_secret(&run);
    assert!(tokens.requests() >= 1, "the token server was never asked");
    let inspector = Inspector::new(registry.authority()).with_bearer(tokens.mint(REPOSITORY));
    assert_nothing_pushed(&registry, &inspector);
}

#[test]
fn push_with_a_pull_only_token_is_refused() {
    let tokens = TokenServer::granting(USER, PASSWORD, Reply::Both, Grant::PullOnly);
    let registry = Registry::start(Auth::Token(&tokens));
    let source = Source::new();

    let run = push_templates(&registry, &source, Some(PASSWORD));
    // Distribution answers a token without the action 401 with
    // `error="insufficient_scope"`; either name tells the user the truth.
    let (name, _) = run.failure_one_of(&["Unauthorized", "Forbidden"]);
    eprintln!("a pull-only token gave {name}");
    let inspector = Inspector::new(registry.authority()).with_bearer(tokens.mint(REPOSITORY));
    assert_nothing_pushed(&registry, &inspector);
}
