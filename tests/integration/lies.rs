//! A registry that lies about manifests: the bytes must be hashed and
//! compared with the pinned digest and with `Docker-Content-Digest`.

use crate::common::bad_registry::{one_file_artifact, BadRegistry, Contents};
use crate::common::cli::{Config, Store, Workdir};
use crate::common::content;
use crate::common::push::sha256;

/// Serves the one-file artifact with `edit` applied to what is served.
fn lying_registry(edit: impl FnOnce(&mut Contents, &[u8])) -> BadRegistry {
    let (manifest, blobs) = one_file_artifact("config.json", content::DEID_CONFIG.as_bytes());
    let mut contents = Contents::default();
    for blob in &blobs {
        contents.blob(blob);
    }
    edit(&mut contents, &manifest);
    BadRegistry::start(contents)
}

fn assert_digest_mismatch(registry: &BadRegistry, reference: &str) {
    let config = Config::new(&[Store::oci(&registry.authority())], &[]);
    let work = Workdir::new();
    let before = work.snapshot();
    config
        .pull(reference, &work.out(), &[])
        .failure("DigestMismatch");
    work.assert_unchanged(&before);
}

#[test]
fn manifest_that_does_not_hash_to_the_pinned_digest_is_a_digest_mismatch() {
    let pinned = sha256(b"the manifest the user pinned");
    let registry = lying_registry(|contents, manifest| {
        contents.manifest_at(&pinned, manifest);
        // Consistent with the bytes, so only the pin can catch the swap.
        contents.claim_digest(&sha256(manifest));
    });

    let reference = format!("{}/deid/config@{pinned}", registry.authority());
    assert_digest_mismatch(&registry, &reference);
}

#[test]
fn docker_content_digest_that_disagrees_with_the_bytes_is_a_digest_mismatch() {
    let registry = lying_registry(|contents, manifest| {
        contents.manifest("v1", manifest);
        contents.claim_digest(&sha256(b"some other manifest"));
    });

    let reference = format!("{}/deid/config:v1", registry.authority());
    assert_digest_mismatch(&registry, &reference);
}

#[test]
fn an_honest_bad_registry_serves_a_pullable_artifact() {
    // The control for the two lies above: the same server, telling the
    // truth, is pulled without complaint.
    let registry = lying_registry(|contents, manifest| {
        contents.manifest("v1", manifest);
    });
    let config = Config::new(&[Store::oci(&registry.authority())], &[]);
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(
        std::fs::read(work.out().join("config.json")).unwrap(),
        content::DEID_CONFIG.as_bytes()
    );
}

#[test]
fn manifest_over_the_size_cap_is_too_large() {
    // A valid manifest padded with a 5 MiB annotation: more than the
    // provider's 4 MiB cap, which the WIT contract reports as `too-large`.
    let (manifest, blobs) = one_file_artifact("config.json", content::DEID_CONFIG.as_bytes());
    let mut json: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    json["annotations"] = serde_json::json!({"padding": "x".repeat(5 << 20)});
    let manifest = serde_json::to_vec(&json).unwrap();
    let mut contents = Contents::default();
    for blob in &blobs {
        contents.blob(blob);
    }
    contents.manifest("v1", &manifest);
    let registry = BadRegistry::start(contents);
    let config = Config::new(&[Store::oci(&registry.authority())], &[]);
    let work = Workdir::new();
    let before = work.snapshot();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config
        .pull(&reference, &work.out(), &[])
        .failure("TooLargeArtifacts");
    work.assert_unchanged(&before);
}

#[test]
fn manifest_that_is_not_json_is_an_invalid_manifest() {
    let mut contents = Contents::default();
    contents.manifest("v1", b"<html>a proxy's error page</html>");
    let registry = BadRegistry::start(contents);
    let config = Config::new(&[Store::oci(&registry.authority())], &[]);
    let work = Workdir::new();
    let before = work.snapshot();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config
        .pull(&reference, &work.out(), &[])
        .failure("InvalidManifest");
    work.assert_unchanged(&before);
}
