//! Each way a pull must fail, with the error name a user sees, and the
//! output folder left as it was.

use std::fs;

use crate::common::cli::{Config, Store, Workdir};
use crate::common::content::{self, Entry};
use crate::common::push::{oras_push, Layer, RawPusher};
use crate::common::registry::Registry;
use crate::common::tripwire::Tripwire;

/// Asserts the failure `name` for `reference` and that nothing was written.
fn assert_pull_fails(config: &Config, reference: &str, extra: &[&str], name: &str) -> String {
    let work = Workdir::new();
    let before = work.snapshot();
    let line = config.pull(reference, &work.out(), extra).failure(name);
    work.assert_unchanged(&before);
    line
}

#[test]
fn uppercase_repository_is_an_invalid_reference_before_any_request() {
    let tripwire = Tripwire::new();
    let config = Config::new(&[Store::oci(&tripwire.authority())], &[]);

    let reference = format!("{}/Deid/Config:v1", tripwire.authority());
    let line = assert_pull_fails(&config, &reference, &[], "InvalidReference");
    assert!(
        line.contains("Deid/Config") || line.contains("repository"),
        "the message does not name the bad part: {line}"
    );
    tripwire.assert_untouched();
}

#[test]
fn malformed_digest_is_an_invalid_reference_before_any_request() {
    let tripwire = Tripwire::new();
    let config = Config::new(&[Store::oci(&tripwire.authority())], &[]);

    for digest in [
        "sha256:abc",
        "sha256:",
        "md5:0123456789abcdef0123456789abcdef",
    ] {
        let reference = format!("{}/deid/config@{digest}", tripwire.authority());
        let line = assert_pull_fails(&config, &reference, &[], "InvalidReference");
        assert!(
            line.contains("digest"),
            "the message does not name the digest: {line}"
        );
    }
    let upper = format!("sha256:{}", "AB".repeat(32));
    let reference = format!("{}/deid/config@{upper}", tripwire.authority());
    assert_pull_fails(&config, &reference, &[], "InvalidReference");
    tripwire.assert_untouched();
}

#[test]
fn resolve_checks_the_reference_too() {
    let tripwire = Tripwire::new();
    let config = Config::new(&[Store::oci(&tripwire.authority())], &[]);

    let reference = format!("{}/Deid/config:v1", tripwire.authority());
    config
        .run(&["resolve", &reference], None)
        .failure("InvalidReference");
    tripwire.assert_untouched();
}

#[test]
fn unregistered_registry_fails_to_connect_before_any_request() {
    let registered = Tripwire::new();
    let unregistered = Tripwire::new();
    let config = Config::new(&[Store::oci(&registered.authority())], &[]);

    let reference = format!("{}/deid/config:v1", unregistered.authority());
    assert_pull_fails(&config, &reference, &[], "FailedToConnectToArtifactStore");
    config
        .run(&["resolve", &reference], None)
        .failure("FailedToConnectToArtifactStore");
    registered.assert_untouched();
    unregistered.assert_untouched();
}

#[test]
fn missing_tag_is_not_found() {
    let registry = Registry::anonymous();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("config.json");
    fs::write(&file, content::DEID_CONFIG).unwrap();
    oras_push(registry.authority(), "deid/config:v1", &[&file], None);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);

    let missing_tag = format!("{}/deid/config:v2", registry.authority());
    assert_pull_fails(&config, &missing_tag, &[], "ArtifactNotFound");
    let missing_repository = format!("{}/deid/nothing:v1", registry.authority());
    assert_pull_fails(&config, &missing_repository, &[], "ArtifactNotFound");
    let missing_digest = format!(
        "{}/deid/config@sha256:{}",
        registry.authority(),
        "0".repeat(64)
    );
    assert_pull_fails(&config, &missing_digest, &[], "ArtifactNotFound");
}

#[test]
fn blob_tampered_in_storage_is_a_digest_mismatch() {
    let registry = Registry::anonymous();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("config.json");
    fs::write(&file, content::DEID_CONFIG).unwrap();
    oras_push(registry.authority(), "deid/config:v1", &[&file], None);

    // Same length, one byte changed: only the hash can tell.
    let blob = registry.blob_path(&crate::common::push::sha256(
        content::DEID_CONFIG.as_bytes(),
    ));
    let mut bytes = fs::read(&blob).unwrap();
    assert_eq!(bytes, content::DEID_CONFIG.as_bytes());
    let at = bytes.iter().position(|b| *b == b'R').unwrap();
    bytes[at] = b'S';
    fs::write(&blob, &bytes).unwrap();

    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let reference = format!("{}/deid/config:v1", registry.authority());
    assert_pull_fails(&config, &reference, &[], "DigestMismatch");
}

#[test]
fn declared_size_over_the_operation_limit_is_too_large() {
    let registry = Registry::anonymous();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("config.json");
    // 2 MiB against the anonymization limit of 1 MiB.
    fs::write(&file, vec![b' '; 2 << 20]).unwrap();
    oras_push(registry.authority(), "deid/huge:v1", &[&file], None);
    let config = Config::new(
        &[Store::oci(registry.authority())],
        &[("anonymization", "1MiB")],
    );

    let reference = format!("{}/deid/huge:v1", registry.authority());
    assert_pull_fails(
        &config,
        &reference,
        &["--operation", "anonymization"],
        "TooLargeArtifacts",
    );
    // The same artifact fits the default operation's 1 GiB.
    let work = Workdir::new();
    config.pull(&reference, &work.out(), &[]).success();
}

#[test]
fn layer_over_the_limit_only_after_decompression_is_too_large() {
    let registry = Registry::anonymous();
    // 16 MiB of zeros gzip down to a few KiB: every declared size is far
    // under the 1 MiB limit, only decompression can notice.
    let bomb = content::tar_gz(&[Entry::Zeros("zeros.bin", 16 << 20)]);
    assert!(bomb.len() < 64 << 10, "the bomb is {} bytes", bomb.len());
    let pusher = RawPusher::new(registry.authority());
    pusher.artifact("deid/bomb", "v1", &[Layer::folder("bundle", bomb)]);
    let config = Config::new(
        &[Store::oci(registry.authority())],
        &[("anonymization", "1MiB")],
    );

    let reference = format!("{}/deid/bomb:v1", registry.authority());
    assert_pull_fails(
        &config,
        &reference,
        &["--operation", "anonymization"],
        "TooLargeArtifacts",
    );
}

#[test]
fn files_each_under_the_limit_but_over_it_together_are_too_large() {
    let registry = Registry::anonymous();
    // 20 files of 64 KiB: 1.25 MiB unpacked, from a layer of a few KiB.
    let names: Vec<String> = (0..20).map(|i| format!("bundle/part{i:02}.bin")).collect();
    let entries: Vec<Entry> = names.iter().map(|n| Entry::Zeros(n, 64 << 10)).collect();
    let layer = Layer::folder("bundle", content::tar_gz(&entries));
    let pusher = RawPusher::new(registry.authority());
    pusher.artifact("deid/parts", "v1", &[layer]);
    let config = Config::new(
        &[Store::oci(registry.authority())],
        &[("anonymization", "1MiB")],
    );

    let reference = format!("{}/deid/parts:v1", registry.authority());
    assert_pull_fails(
        &config,
        &reference,
        &["--operation", "anonymization"],
        "TooLargeArtifacts",
    );
}

#[test]
fn registered_store_that_is_not_running_fails_to_connect() {
    // Bound and closed again: nothing listens there now.
    let port = crate::common::process::free_port();
    let authority = format!("127.0.0.1:{port}");
    let config = Config::new(&[Store::oci(&authority)], &[]);

    let reference = format!("{authority}/deid/config:v1");
    assert_pull_fails(&config, &reference, &[], "FailedToConnectToArtifactStore");
}
