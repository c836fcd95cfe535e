//! Registries served over TLS with a certificate authority made for the
//! test: trusted through the store's `ca-file`, refused without it or with
//! another authority's, and a handshake that never ends bounded by the
//! connect timeout; and an Azurite over TLS, with Microsoft's SDK on the
//! other side.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use crate::common::azure_sdk::Sdk;
use crate::common::azurite::Azurite;
use crate::common::cli::{Config, Workdir, PASSWORD_ENV};
use crate::common::content::{
    files_only, snapshot, templates, templates_under, Source, DEID_CONFIG,
};
use crate::common::process::POLL;
use crate::common::registry::{Auth, Registry};
use crate::common::tls::TestCa;
use crate::common::token::TokenServer;
use crate::common::tripwire::Tripwire;

/// The variable the Blob store's config names for the account key.
const KEY_ENV: &str = "AZURE_STORAGE_KEY";

/// The host's cap on connecting, TLS handshake included (sandbox.rs).
const HOST_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A registry over HTTPS with a certificate for 127.0.0.1 and localhost
/// that `ca` signed.
fn tls_registry(ca: &TestCa) -> Registry {
    Registry::start_tls(Auth::Anonymous, &ca.issue(&["127.0.0.1", "localhost"]))
}

/// A config with one HTTPS store at `registry`, and `extra` keys.
fn https_store(registry: &str, extra: &str) -> Config {
    Config::from_toml(&format!(
        "[[store]]\nkind = \"oci\"\nregistry = \"{registry}\"\ntimeout = \"60s\"\n{extra}\n"
    ))
}

/// A config whose store trusts `ca` through a `ca-file` beside the config
/// file, named relative to it.
fn trusting(registry: &str, ca: &TestCa) -> Config {
    let config = https_store(registry, "ca-file = \"ca.pem\"");
    ca.write(&config.path().with_file_name("ca.pem"));
    config
}

/// Pulls `reference` expecting the failure `name`; checks that nothing
/// was written and returns the message line.
fn pull_fails(config: &Config, reference: &str, name: &str) -> String {
    let work = Workdir::new();
    let before = work.snapshot();
    let line = config.pull(reference, &work.out(), &[]).failure(name);
    work.assert_unchanged(&before);
    line
}

#[test]
fn pushes_and_pulls_over_tls_with_the_stores_ca_file() {
    let ca = TestCa::new("artifact-store test CA");
    let registry = tls_registry(&ca);
    let config = trusting(registry.authority(), &ca);
    let source = Source::new();

    for (path, target) in [
        ("config.json", "tls/config:v1"),
        ("templates", "tls/templates:v1"),
    ] {
        let reference = format!("{}/{target}", registry.authority());
        let pushed = config.push(source.path(), path, &reference, &[]);
        let digest = pushed.success().trim().to_owned();
        let resolved = config.run(&["resolve", &reference], None);
        assert_eq!(resolved.success().trim(), digest);
    }

    let work = Workdir::new();
    let reference = format!("{}/tls/config:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        [("config.json".to_owned(), DEID_CONFIG.as_bytes().to_vec())].into()
    );

    let work = Workdir::new();
    let reference = format!("{}/tls/templates:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        templates_under("templates")
    );
    assert!(
        registry.requests().iter().any(|r| r.method == "PUT"),
        "the pushes did not reach the registry"
    );
}

#[test]
fn the_token_service_is_trusted_through_the_ca_file_too() {
    let ca = TestCa::new("artifact-store test CA");
    let tokens = TokenServer::start_tls("alice", "s3cret", &ca.issue(&["127.0.0.1"]));
    let registry =
        Registry::start_tls(Auth::Token(&tokens), &ca.issue(&["127.0.0.1", "localhost"]));
    let config = https_store(
        registry.authority(),
        &format!("username = \"alice\"\npassword-env = \"{PASSWORD_ENV}\"\nca-file = \"ca.pem\""),
    );
    ca.write(&config.path().with_file_name("ca.pem"));
    assert!(tokens.realm().starts_with("https://"));

    let source = Source::new();
    let reference = format!("{}/tls/config:v1", registry.authority());
    let push = ["push", "config.json", reference.as_str()];
    config
        .run_in(source.path(), &push, Some("s3cret"))
        .success();
    let work = Workdir::new();
    let out = work.out();
    let pull = [
        "pull",
        reference.as_str(),
        "--output",
        out.to_str().unwrap(),
    ];
    config.run(&pull, Some("s3cret")).success();
    assert_eq!(
        files_only(snapshot(&out)),
        [("config.json".to_owned(), DEID_CONFIG.as_bytes().to_vec())].into()
    );
    assert!(tokens.requests() > 0, "no token was asked for");
}

#[test]
fn without_the_ca_file_the_certificate_is_not_trusted() {
    let ca = TestCa::new("artifact-store test CA");
    let registry = tls_registry(&ca);
    let config = https_store(registry.authority(), "");

    let reference = format!("{}/tls/config:v1", registry.authority());
    let line = pull_fails(&config, &reference, "FailedToConnectToArtifactStore");
    assert!(line.contains("was not trusted"), "{line}");
    assert!(line.contains("ca-file"), "{line}");
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(line.contains("the public web roots only"), "{line}");
    assert!(registry.requests().is_empty(), "a request got through");
}

#[test]
fn a_ca_file_of_another_authority_is_not_trusted() {
    let ca = TestCa::new("artifact-store test CA");
    let other = TestCa::new("some other CA");
    let registry = tls_registry(&ca);
    let config = trusting(registry.authority(), &other);

    let reference = format!("{}/tls/config:v1", registry.authority());
    let line = pull_fails(&config, &reference, "FailedToConnectToArtifactStore");
    assert!(line.contains("was not trusted"), "{line}");
    assert!(line.contains("UnknownIssuer"), "{line}");
    assert!(
        line.contains("ca.pem"),
        "the message does not name the file: {line}"
    );
    assert!(registry.requests().is_empty(), "a request got through");
}

#[test]
fn a_certificate_for_another_name_is_not_trusted() {
    let ca = TestCa::new("artifact-store test CA");
    let registry = Registry::start_tls(Auth::Anonymous, &ca.issue(&["registry.test"]));
    let config = trusting(registry.authority(), &ca);

    let reference = format!("{}/tls/config:v1", registry.authority());
    let line = pull_fails(&config, &reference, "FailedToConnectToArtifactStore");
    assert!(line.contains("was not trusted"), "{line}");
    assert!(line.contains("not valid for name"), "{line}");
}

#[test]
fn https_to_a_plain_http_registry_is_a_tls_failure() {
    let registry = Registry::anonymous();
    let config = https_store(registry.authority(), "");

    let reference = format!("{}/tls/config:v1", registry.authority());
    let line = pull_fails(&config, &reference, "FailedToConnectToArtifactStore");
    assert!(line.contains("TLS with"), "{line}");
    assert!(line.contains("the host saw"), "{line}");
}

#[test]
fn bad_ca_files_are_invalid_configuration_before_any_traffic() {
    let tripwire = Tripwire::new();
    let reference = format!("{}/tls/config:v1", tripwire.authority());
    let ca = TestCa::new("artifact-store test CA");
    let key_only = ca.issue(&["127.0.0.1"]).key_pem;

    let cases: [(&str, Option<&str>, &str); 4] = [
        ("missing.pem", None, "cannot be read"),
        ("empty.pem", Some(""), "holds no PEM certificate"),
        ("key.pem", Some(&key_only), "holds no PEM certificate"),
        (
            "garbage.pem",
            Some("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
            "cannot be a trust anchor",
        ),
    ];
    for (name, text, expected) in cases {
        let config = https_store(&tripwire.authority(), &format!("ca-file = \"{name}\""));
        let path = config.path().with_file_name(name);
        if let Some(text) = text {
            std::fs::write(&path, text).unwrap();
        }
        let line = pull_fails(&config, &reference, "InvalidConfiguration");
        assert!(line.contains(expected), "{line}");
        assert!(
            line.contains(&path.display().to_string()),
            "the message does not name {}: {line}",
            path.display()
        );
    }
    tripwire.assert_untouched();
}

/// A listener that accepts connections and never says a word, as a server
/// that stalls the TLS handshake does.
struct Silent {
    authority: String,
    stop: Arc<AtomicBool>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let authority = listener.local_addr().expect("address").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = thread::spawn(move || {
            let mut held: Vec<TcpStream> = Vec::new();
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(e) if e.kind() == ErrorKind::WouldBlock => thread::sleep(POLL),
                    Err(_) => break,
                }
            }
        });
        Silent {
            authority,
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[test]
fn a_handshake_that_never_ends_times_out_at_the_connect_timeout() {
    let ca = TestCa::new("artifact-store test CA");
    let silent = Silent::start();
    // The store's own timeout is far longer: the connect timeout, which
    // covers the handshake, is what must stop it.
    let config = trusting(&silent.authority, &ca);

    let started = Instant::now();
    let reference = format!("{}/tls/config:v1", silent.authority);
    let line = pull_fails(&config, &reference, "Timeout");
    let took = started.elapsed();
    assert!(line.contains("ConnectionTimeout"), "{line}");
    assert!(
        took >= HOST_CONNECT_TIMEOUT && took < HOST_CONNECT_TIMEOUT * 3,
        "gave up after {took:?}"
    );
}

#[test]
fn an_azure_blob_store_over_tls_trusts_its_ca_file() {
    let ca = TestCa::new("artifact-store test CA");
    let azurite = Azurite::start_tls(&ca.issue(&["127.0.0.1", "localhost"]));
    let store = format!(
        "[[store]]\nkind = \"azure-blob\"\nendpoint = \"{}\"\naccount-key-env = \"{KEY_ENV}\"\n",
        azurite.endpoint()
    );
    let trusted = Config::from_toml(&format!("{store}ca-file = \"ca.pem\"\n"));
    let ca_file = trusted.path().with_file_name("ca.pem");
    ca.write(&ca_file);
    let sdk = Sdk::trusting(&azurite, &ca_file);
    let env = [(KEY_ENV, Azurite::KEY)];

    // What the SDK uploads over HTTPS, the store pulls; what the store
    // pushes, the SDK downloads.
    sdk.create_container("tls", None);
    sdk.upload("tls", "in/config.json", DEID_CONFIG.as_bytes(), None);
    let work = Workdir::new();
    let out = work.out();
    let url = azurite.url("tls", "in/config.json");
    trusted
        .run_with_env(&["pull", &url, "--output", out.to_str().unwrap()], &env)
        .success();
    assert_eq!(
        files_only(snapshot(&out)),
        [("config.json".to_owned(), DEID_CONFIG.as_bytes().to_vec())].into()
    );

    let source = Source::new();
    let url = azurite.url("tls", "out/");
    trusted
        .run_in_with_env(source.path(), &["push", "templates", &url], &env)
        .success();
    let expected: BTreeMap<String, Vec<u8>> = templates()
        .into_iter()
        .map(|(path, bytes)| (path.to_owned(), bytes))
        .collect();
    assert_eq!(sdk.download_prefix("tls", "out/"), expected);

    // Without the ca-file the emulator's certificate is not trusted.
    let untrusted = Config::from_toml(&store);
    let work = Workdir::new();
    let url = azurite.url("tls", "in/config.json");
    let line = untrusted
        .run_with_env(
            &["pull", &url, "--output", work.out().to_str().unwrap()],
            &env,
        )
        .failure("FailedToConnectToArtifactStore");
    assert!(line.contains("was not trusted"), "{line}");
    assert!(line.contains("ca-file"), "{line}");
}

#[test]
fn a_component_store_trusts_its_ca_file_and_nothing_else() {
    let ca = TestCa::new("artifact-store test CA");
    let registry = tls_registry(&ca);
    let authority = registry.authority();
    let source = Source::new();
    let reference = format!("{authority}/tls/config:v1");
    trusting(authority, &ca)
        .push(source.path(), "config.json", &reference, &[])
        .success();

    let component = env!("ARTIFACT_STORE_GUEST_WASM_FILE");
    let store = |extra: &str| {
        Config::from_toml(&format!(
            "[[store]]\nkind = \"component\"\nregistry = \"{authority}\"\n\
             component = \"{component}\"\ntimeout = \"60s\"\n{extra}\n"
        ))
    };

    let config = store("ca-file = \"ca.pem\"");
    ca.write(&config.path().with_file_name("ca.pem"));
    let work = Workdir::new();
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        [("config.json".to_owned(), DEID_CONFIG.as_bytes().to_vec())].into()
    );

    let line = pull_fails(&store(""), &reference, "FailedToConnectToArtifactStore");
    assert!(line.contains("not trusted"), "{line}");
}
