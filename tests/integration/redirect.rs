//! Blob redirects: followed to hosts the config allows, refused by the
//! sandbox for any other, and never sent the store's credentials.

use std::collections::BTreeMap;

use crate::common::bad_registry::{one_file_artifact, BadRegistry, Contents};
use crate::common::cli::{Config, Store, Workdir, PASSWORD_ENV};
use crate::common::content::{self, files_only, snapshot};

/// A registry whose blobs all answer `307` to a second server, which serves
/// them; the artifact is one file, `config.json`. `front` may add
/// misbehaviour to the first.
fn redirecting_pair(front: impl FnOnce(&mut Contents)) -> (BadRegistry, BadRegistry) {
    let (manifest, blobs) = one_file_artifact("config.json", content::DEID_CONFIG.as_bytes());

    let mut blob_contents = Contents::default();
    for blob in &blobs {
        blob_contents.blob(blob);
    }
    let blob_host = BadRegistry::start(blob_contents);

    let mut front_contents = Contents::default();
    front_contents.manifest("v1", &manifest);
    front_contents.redirect_blobs_to(&format!("http://{}", blob_host.authority()));
    front(&mut front_contents);
    (BadRegistry::start(front_contents), blob_host)
}

fn expected_config() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        "config.json".to_owned(),
        content::DEID_CONFIG.as_bytes().to_vec(),
    )])
}

#[test]
fn redirect_to_a_host_the_config_does_not_allow_is_denied() {
    let (registry, blob_host) = redirecting_pair(|_| {});
    let config = Config::new(&[Store::oci(&registry.authority())], &[]);
    let work = Workdir::new();
    let before = work.snapshot();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config
        .pull(&reference, &work.out(), &[])
        .failure("RequestDenied");
    work.assert_unchanged(&before);
    assert!(registry.hits() > 0, "the registry itself was never asked");
    assert_eq!(blob_host.hits(), 0, "the sandbox let a request through");
}

#[test]
fn redirect_to_an_allowed_host_is_followed() {
    let (registry, blob_host) = redirecting_pair(|_| {});
    let store = Store {
        allow_hosts: vec![blob_host.authority()],
        ..Store::oci(&registry.authority())
    };
    let config = Config::new(&[store], &[]);
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(files_only(snapshot(&work.out())), expected_config());
    assert!(
        blob_host.hits() > 0,
        "the blob was not fetched from the redirect target"
    );
}

#[test]
fn credentials_are_not_sent_to_the_redirect_target() {
    let (registry, blob_host) = redirecting_pair(|front| front.require_basic("alice", "pa55"));
    let store = Store {
        allow_hosts: vec![blob_host.authority()],
        ..Store::with_user(&registry.authority(), "alice")
    };
    let config = Config::new(&[store], &[]);
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    let out = work.out();
    config
        .run(
            &["pull", &reference, "--output", out.to_str().unwrap()],
            Some("pa55"),
        )
        .success();
    assert_eq!(files_only(snapshot(&out)), expected_config());
    assert!(
        registry.authorized_hits() > 0,
        "the registry got no credentials"
    );
    assert!(blob_host.hits() > 0, "the redirect was not followed");
    assert_eq!(
        blob_host.authorized_hits(),
        0,
        "{PASSWORD_ENV}'s password went to another host"
    );
}
