//! Blob redirects: followed to hosts the config allows, refused by the
//! sandbox for any other.

use std::collections::BTreeMap;

use crate::common::bad_registry::{BadRegistry, Contents};
use crate::common::cli::{Config, Store, Workdir};
use crate::common::content::{self, files_only, snapshot};
use crate::common::push::{sha256, OCI_EMPTY, OCI_MANIFEST, TITLE};

/// A registry whose blobs all answer `307` to `blob_host`, which serves
/// them; the manifest names one file, `config.json`.
fn redirecting_pair() -> (BadRegistry, BadRegistry) {
    let config = b"{}";
    let file = content::DEID_CONFIG.as_bytes();

    let mut blobs = Contents::default();
    blobs.blob(config);
    blobs.blob(file);
    let blob_host = BadRegistry::start(blobs);

    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": "application/vnd.artifact-store.test",
        "config": {"mediaType": OCI_EMPTY, "digest": sha256(config), "size": config.len()},
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": sha256(file),
            "size": file.len(),
            "annotations": {TITLE: "config.json"},
        }],
    });
    let mut front = Contents::default();
    front.manifest("v1", &serde_json::to_vec(&manifest).unwrap());
    front.redirect_blobs_to(&format!("http://{}", blob_host.authority()));
    (BadRegistry::start(front), blob_host)
}

#[test]
fn redirect_to_a_host_the_config_does_not_allow_is_denied() {
    let (registry, blob_host) = redirecting_pair();
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
    let (registry, blob_host) = redirecting_pair();
    let store = Store {
        allow_hosts: vec![blob_host.authority()],
        ..Store::oci(&registry.authority())
    };
    let config = Config::new(&[store], &[]);
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        BTreeMap::from([(
            "config.json".to_owned(),
            content::DEID_CONFIG.as_bytes().to_vec()
        )])
    );
    assert!(
        blob_host.hits() > 0,
        "the blob was not fetched from the redirect target"
    );
}
