//! Pulls of artifacts that the ORAS Python client pushed, as users push
//! them: content, digests and the CLI's output contract.

use std::collections::BTreeMap;
use std::fs;

use serde_json::Value;

use crate::common::cli::{artifact_store, Config, Store, Workdir};
use crate::common::content::{self, files_only, snapshot};
use crate::common::push::{oras_push, Layer, RawPusher, TITLE};
use crate::common::registry::Registry;
use crate::common::{http, process};

/// Pushes the de-identification config as `config.json` to
/// `deid/config:v1` and returns the manifest digest.
fn push_deid_config(registry: &Registry) -> String {
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("config.json");
    fs::write(&file, content::DEID_CONFIG).unwrap();
    oras_push(registry.authority(), "deid/config:v1", &[&file], None)
}

fn only_config_json() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        "config.json".to_owned(),
        content::DEID_CONFIG.as_bytes().to_vec(),
    )])
}

#[test]
fn pulls_a_deid_config_pushed_by_oras_byte_for_byte() {
    let registry = Registry::anonymous();
    push_deid_config(&registry);
    let config = Config::new(
        &[Store::oci(registry.authority())],
        &[("anonymization", "1MiB")],
    );
    let work = Workdir::new();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config
        .pull(&reference, &work.out(), &["--operation", "anonymization"])
        .success();

    let pulled = snapshot(&work.out());
    assert_eq!(
        pulled,
        BTreeMap::from([(
            "config.json".to_owned(),
            Some(content::DEID_CONFIG.as_bytes().to_vec())
        )])
    );
}

#[test]
fn pulls_a_template_folder_pushed_by_oras_byte_for_byte() {
    let registry = Registry::anonymous();
    let src = tempfile::tempdir().unwrap();
    let folder = src.path().join("hl7v2-templates");
    let templates = content::templates();
    content::write_files(&folder, &templates);
    oras_push(
        registry.authority(),
        "templates/hl7v2:2024.1",
        &[&folder],
        None,
    );
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();

    let reference = format!("{}/templates/hl7v2:2024.1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();

    // ORAS's own pull writes a folder layer under the folder's name.
    let expected: BTreeMap<String, Vec<u8>> = templates
        .into_iter()
        .map(|(path, bytes)| (format!("hl7v2-templates/{path}"), bytes))
        .collect();
    assert_eq!(files_only(snapshot(&work.out())), expected);
}

#[test]
fn resolve_prints_the_digest_the_registry_reports() {
    let registry = Registry::anonymous();
    let pushed = push_deid_config(&registry);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);

    let head = http::agent()
        .head(format!("{}/v2/deid/config/manifests/v1", registry.url()))
        .header("Accept", crate::common::push::OCI_MANIFEST)
        .call()
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    let served = head.headers()["Docker-Content-Digest"].to_str().unwrap();
    assert_eq!(served, pushed);

    let reference = format!("{}/deid/config:v1", registry.authority());
    let run = config.run(&["resolve", &reference], None);
    assert_eq!(run.success().trim(), served);
}

#[test]
fn pulls_by_digest_and_by_tag_with_digest() {
    let registry = Registry::anonymous();
    let digest = push_deid_config(&registry);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let authority = registry.authority();

    for reference in [
        format!("{authority}/deid/config@{digest}"),
        format!("{authority}/deid/config:v1@{digest}"),
        // The digest wins: the tag is not even looked up.
        format!("{authority}/deid/config:no-such-tag@{digest}"),
    ] {
        let work = Workdir::new();
        config.pull(&reference, &work.out(), &[]).success();
        assert_eq!(
            files_only(snapshot(&work.out())),
            only_config_json(),
            "{reference}"
        );
    }
}

#[test]
fn pull_json_reports_reference_digest_and_files() {
    let registry = Registry::anonymous();
    let digest = push_deid_config(&registry);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();
    let reference = format!("{}/deid/config:v1", registry.authority());

    let run = config.pull(&reference, &work.out(), &["--json"]);
    let report: Value = serde_json::from_str(run.success().trim())
        .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", run.stdout()));

    let size = content::DEID_CONFIG.len() as u64;
    assert_eq!(report["reference"], reference.as_str());
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(
        report["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        report["files"],
        serde_json::json!([{"path": "config.json", "size": size}])
    );
    assert_eq!(report["size"], size);
}

#[test]
fn pulls_into_an_existing_empty_folder() {
    let registry = Registry::anonymous();
    push_deid_config(&registry);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();
    fs::create_dir(work.out()).unwrap();

    let reference = format!("{}/deid/config:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(files_only(snapshot(&work.out())), only_config_json());
}

#[test]
fn refuses_a_non_empty_output_folder_and_leaves_it_alone() {
    let registry = Registry::anonymous();
    push_deid_config(&registry);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();
    fs::create_dir(work.out()).unwrap();
    fs::write(work.out().join("keep.txt"), b"mine").unwrap();
    let before = work.snapshot();

    let reference = format!("{}/deid/config:v1", registry.authority());
    let run = config.pull(&reference, &work.out(), &[]);
    assert!(
        !run.output.status.success(),
        "pulled into a non-empty folder"
    );
    work.assert_unchanged(&before);
}

#[test]
fn reads_the_config_named_by_the_environment() {
    let registry = Registry::anonymous();
    let digest = push_deid_config(&registry);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);

    let reference = format!("{}/deid/config:v1", registry.authority());
    let mut command = artifact_store();
    command
        .env("ARTIFACT_STORE_CONFIG", config.path())
        .args(["resolve", &reference]);
    let output = process::run(command, std::time::Duration::from_secs(180));
    assert!(output.status.success(), "{}", output.stderr);
    assert_eq!(output.stdout.trim(), digest);
}

#[test]
fn the_default_operation_takes_its_limit_from_the_config() {
    let registry = Registry::anonymous();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("big.json");
    fs::write(&file, vec![b' '; 4096]).unwrap();
    oras_push(registry.authority(), "deid/big:v1", &[&file], None);
    let config = Config::new(
        &[Store::oci(registry.authority())],
        &[("default", "1KiB"), ("anonymization", "1MiB")],
    );
    let reference = format!("{}/deid/big:v1", registry.authority());

    let work = Workdir::new();
    let before = work.snapshot();
    config
        .pull(&reference, &work.out(), &[])
        .failure("TooLargeArtifacts");
    work.assert_unchanged(&before);

    config
        .pull(&reference, &work.out(), &["--operation", "anonymization"])
        .success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        BTreeMap::from([("big.json".to_owned(), vec![b' '; 4096])])
    );
}

/// Regression: wasmtime lets one call copy at most 128 MiB from a guest to
/// the host unless the host raises that budget, and the host did not, so
/// every artifact over 128 MiB failed with `ProviderFailed` although the
/// `templates` limit is 256 MiB.
#[test]
fn pulls_an_artifact_larger_than_128_mib() {
    let registry = Registry::anonymous();
    let size = (128 << 20) + (2 << 20);
    let mut big = Vec::with_capacity(size);
    let mut state: u32 = 0x9e37_79b9;
    while big.len() < size {
        // xorshift: cheap bytes that are neither gzip nor tar.
        state ^= state << 13;
        state ^= state >> 17;
        state ^= state << 5;
        big.extend_from_slice(&state.to_le_bytes());
    }
    big.truncate(size);
    let layer = Layer {
        media_type: "application/octet-stream".to_owned(),
        bytes: big,
        annotations: vec![(TITLE.to_owned(), "big.bin".to_owned())],
    };
    RawPusher::new(registry.authority()).artifact("big", "v1", std::slice::from_ref(&layer));

    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();
    let reference = format!("{}/big:v1", registry.authority());
    config
        .pull(&reference, &work.out(), &["--operation", "templates"])
        .success();
    let pulled = fs::read(work.out().join("big.bin")).unwrap();
    assert_eq!(pulled.len(), size);
    assert!(
        pulled == layer.bytes,
        "pulled bytes differ from the pushed ones"
    );
}

/// The compiled component is cached on disk: the first run writes one
/// entry, and a second run uses it rather than compiling and writing again.
#[test]
fn a_second_run_reuses_the_compiled_component() {
    let registry = Registry::anonymous();
    push_deid_config(&registry);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let cache = tempfile::tempdir().unwrap();
    let reference = format!("{}/deid/config:v1", registry.authority());

    let resolve = || {
        let mut command = artifact_store();
        command
            .env("ARTIFACT_STORE_CACHE_DIR", cache.path())
            .arg("--config")
            .arg(config.path())
            .args(["resolve", &reference]);
        process::run(command, std::time::Duration::from_secs(120))
    };
    let entries = || -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        fs::read_dir(cache.path())
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.path(), e.metadata().unwrap().modified().unwrap())
            })
            .collect()
    };

    assert!(resolve().status.success());
    let first = entries();
    assert_eq!(
        first.len(),
        1,
        "one cache entry after the first run: {first:?}"
    );
    assert!(first[0].0.extension().is_some_and(|e| e == "cwasm"));

    assert!(resolve().status.success());
    assert_eq!(entries(), first, "the second run rewrote the cache");
}
