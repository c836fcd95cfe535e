//! `artifact-store push` against a real registry: what it uploads, what
//! the registry then serves, and that a pull gives the same bytes back.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use crate::common::cli::{Config, Run, Store, Workdir, ERROR_NAMES};
use crate::common::content::{
    self, files_only, gunzip, list_tar, snapshot, templates_under, Source,
};
use crate::common::inspect::Inspector;
use crate::common::proxy::{LyingProxy, RangeLie};
use crate::common::push::{
    sha256, CONTENT_DIGEST, DEFAULT_ARTIFACT_TYPE, EMPTY_CONFIG_DIGEST, LAYER_TAR, LAYER_TAR_GZIP,
    OCI_EMPTY, OCI_MANIFEST, TITLE, UNPACK,
};
use crate::common::registry::Registry;

/// A registry and a config with an anonymous store for it.
struct Setup {
    registry: Registry,
    config: Config,
}

impl Setup {
    fn new() -> Setup {
        let registry = Registry::anonymous();
        let config = Config::new(&[Store::oci(registry.authority())], &[]);
        Setup { registry, config }
    }

    /// `<authority>/<repository>:<tag>`.
    fn reference(&self, target: &str) -> String {
        format!("{}/{target}", self.registry.authority())
    }

    /// Pushes `path` (relative to `from`) to `target`; returns the digest
    /// printed.
    fn push(&self, from: &Path, path: &str, target: &str, extra: &[&str]) -> String {
        let run = self.config.push(from, path, &self.reference(target), extra);
        printed_digest(&run)
    }

    /// Pulls `target` and returns the files written.
    fn pull(&self, target: &str) -> BTreeMap<String, Vec<u8>> {
        let work = Workdir::new();
        self.config
            .pull(&self.reference(target), &work.out(), &[])
            .success();
        files_only(snapshot(&work.out()))
    }

    fn inspector(&self) -> Inspector {
        Inspector::new(self.registry.authority())
    }
}

/// The digest a successful push printed, which must be its whole stdout.
fn printed_digest(run: &Run) -> String {
    let digest = run.success().trim().to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "push printed {digest:?}, not a digest"
    );
    digest
}

fn only_config_json() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        "config.json".to_owned(),
        content::DEID_CONFIG.as_bytes().to_vec(),
    )])
}

#[test]
fn pushes_a_file_and_pulls_it_back_byte_for_byte() {
    let setup = Setup::new();
    let source = Source::new();

    let digest = setup.push(source.path(), "config.json", "push/config:v1", &[]);

    let served = setup.inspector().manifest("push/config", "v1");
    assert_eq!(served.digest, digest);
    assert_eq!(sha256(&served.bytes), digest);
    assert_eq!(setup.pull("push/config:v1"), only_config_json());
}

#[test]
fn pushes_a_folder_and_pulls_it_back_byte_for_byte() {
    let setup = Setup::new();
    let source = Source::new();

    let digest = setup.push(source.path(), "templates", "push/templates:v1", &[]);

    let served = setup.inspector().manifest("push/templates", "v1");
    assert_eq!(sha256(&served.bytes), digest);
    assert_eq!(
        setup.pull("push/templates:v1"),
        templates_under("templates")
    );
}

#[test]
fn a_pushed_file_is_an_oci_1_1_artifact_with_the_empty_config() {
    let setup = Setup::new();
    let source = Source::new();
    setup.push(source.path(), "config.json", "push/config:v1", &[]);

    let inspector = setup.inspector();
    let served = inspector.manifest("push/config", "v1");
    assert_eq!(served.content_type, OCI_MANIFEST);
    let manifest = &served.json;
    assert_eq!(manifest["schemaVersion"], 2);
    assert_eq!(manifest["mediaType"], OCI_MANIFEST);
    assert_eq!(manifest["artifactType"], DEFAULT_ARTIFACT_TYPE);
    assert_eq!(
        manifest["config"],
        json!({"mediaType": OCI_EMPTY, "digest": EMPTY_CONFIG_DIGEST, "size": 2})
    );
    assert_eq!(inspector.blob("push/config", EMPTY_CONFIG_DIGEST), b"{}");

    let layers = manifest["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one file is one layer: {manifest}");
    let file = content::DEID_CONFIG.as_bytes();
    assert_eq!(layers[0]["mediaType"], LAYER_TAR);
    assert_eq!(layers[0]["digest"], sha256(file));
    assert_eq!(layers[0]["size"], file.len());
    assert_eq!(layers[0]["annotations"][TITLE], "config.json");
    assert_eq!(inspector.blob("push/config", &sha256(file)), file);
}

#[test]
fn a_pushed_folder_is_one_reproducible_tar_gzip_layer_with_the_unpack_annotations() {
    let setup = Setup::new();
    let source = Source::new();
    setup.push(source.path(), "templates", "push/templates:v1", &[]);

    let inspector = setup.inspector();
    let served = inspector.manifest("push/templates", "v1");
    let layers = served.json["layers"].as_array().expect("layers");
    assert_eq!(layers.len(), 1, "one folder is one layer: {}", served.json);
    let layer = &layers[0];
    assert_eq!(layer["mediaType"], LAYER_TAR_GZIP);
    assert_eq!(layer["annotations"][TITLE], "templates");
    assert_eq!(layer["annotations"][UNPACK], "true");

    let blob = inspector.blob("push/templates", layer["digest"].as_str().unwrap());
    assert_eq!(layer["size"], blob.len());
    let tar = gunzip(&blob);
    assert_eq!(layer["annotations"][CONTENT_DIGEST], sha256(&tar));

    // Every entry sits under the folder's name, with zeroed times and
    // owners (what makes the digest reproducible), and the regular files
    // are exactly the folder's files.
    let entries = list_tar(&tar);
    let mut files = BTreeMap::new();
    for entry in &entries {
        let under = entry.path == "templates" || entry.path.starts_with("templates/");
        assert!(under, "entry {} is outside `templates/`", entry.path);
        assert_eq!(
            (entry.mtime, entry.uid, entry.gid),
            (0, 0, 0),
            "{}",
            entry.path
        );
        match entry.kind {
            tar::EntryType::Regular => {
                files.insert(entry.path.clone(), entry.bytes.clone());
            }
            tar::EntryType::Directory => {}
            other => panic!("entry {} is a {other:?}", entry.path),
        }
    }
    assert_eq!(files, templates_under("templates"));
}

#[test]
fn a_folder_given_as_dot_slash_with_a_trailing_slash_is_titled_by_its_name() {
    let setup = Setup::new();
    let source = Source::new();
    setup.push(source.path(), "./templates/", "push/templates:v1", &[]);

    let served = setup.inspector().manifest("push/templates", "v1");
    assert_eq!(served.json["layers"][0]["annotations"][TITLE], "templates");
    assert_eq!(
        setup.pull("push/templates:v1"),
        templates_under("templates")
    );
}

#[test]
fn artifact_type_and_annotations_reach_the_served_manifest() {
    let setup = Setup::new();
    let source = Source::new();
    let digest = setup.push(
        source.path(),
        "templates",
        "push/templates:v1",
        &[
            "--artifact-type",
            "application/vnd.microsoft.health.templates.v1",
            "--annotation",
            "org.opencontainers.image.description=HL7v2 to FHIR templates",
            "--annotation",
            // Only the first `=` separates the key from the value.
            "com.example.filter=kind=liquid",
        ],
    );

    let served = setup.inspector().manifest("push/templates", "v1");
    assert_eq!(sha256(&served.bytes), digest);
    assert_eq!(
        served.json["artifactType"],
        "application/vnd.microsoft.health.templates.v1"
    );
    let annotations = &served.json["annotations"];
    assert_eq!(
        annotations["org.opencontainers.image.description"],
        "HL7v2 to FHIR templates"
    );
    assert_eq!(annotations["com.example.filter"], "kind=liquid");
}

#[test]
fn json_prints_the_descriptor_of_the_pushed_manifest() {
    let setup = Setup::new();
    let source = Source::new();
    let reference = setup.reference("push/config:v1");

    let run = setup.config.push(
        source.path(),
        "config.json",
        &reference,
        &[
            "--json",
            "--artifact-type",
            "application/vnd.example.deid.v1",
        ],
    );
    let report: Value = serde_json::from_str(run.success().trim())
        .unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {}", run.stdout()));

    let served = setup.inspector().manifest("push/config", "v1");
    assert_eq!(report["reference"], reference);
    assert_eq!(report["mediaType"], OCI_MANIFEST);
    assert_eq!(report["digest"], sha256(&served.bytes));
    assert_eq!(report["size"], served.bytes.len());
    assert_eq!(report["artifactType"], "application/vnd.example.deid.v1");
}

/// Sets every file and folder under `dir` to `when`.
fn touch_all(dir: &Path, when: SystemTime) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            touch_all(&path, when);
        }
        let file = fs::File::options().read(true).open(&path).unwrap();
        file.set_modified(when).unwrap();
    }
}

#[test]
fn the_same_folder_pushed_twice_prints_the_same_digest() {
    let setup = Setup::new();
    let source = Source::new();
    let first = setup.push(source.path(), "templates", "push/templates:a", &[]);

    // Times change, nothing else does.
    let later = SystemTime::now() + Duration::from_secs(3600);
    touch_all(&source.path().join("templates"), later);
    let second = setup.push(source.path(), "templates", "push/templates:b", &[]);
    assert_eq!(first, second);

    // The same files written in the other order, elsewhere, at another
    // time: the folder's listing order and times differ.
    let other = tempfile::tempdir().unwrap();
    let mut reversed = content::templates();
    reversed.reverse();
    content::write_files(&other.path().join("templates"), &reversed);
    touch_all(
        &other.path().join("templates"),
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000),
    );
    let third = setup.push(other.path(), "templates", "push/templates:c", &[]);
    assert_eq!(first, third);

    // One byte more is another artifact.
    let changed = other.path().join("templates/ADT_A01.liquid");
    let mut bytes = fs::read(&changed).unwrap();
    bytes.push(b'\n');
    fs::write(&changed, bytes).unwrap();
    let fourth = setup.push(other.path(), "templates", "push/templates:d", &[]);
    assert_ne!(first, fourth);
}

#[test]
fn blobs_the_registry_has_are_not_uploaded_again() {
    let setup = Setup::new();
    let source = Source::new();
    let repository = "push/templates";

    setup.push(source.path(), "templates", "push/templates:v1", &[]);
    // The empty config and the folder's layer.
    assert_eq!(setup.registry.uploads_started(repository), 2);

    let before = setup.registry.requests().len();
    setup.push(source.path(), "templates", "push/templates:v2", &[]);
    assert_eq!(setup.registry.uploads_started(repository), 2);
    let served = setup.inspector().manifest(repository, "v2");
    let second: Vec<_> = setup.registry.requests().split_off(before);
    for descriptor in served.descriptors() {
        let path = format!(
            "/v2/{repository}/blobs/{}",
            descriptor["digest"].as_str().unwrap()
        );
        assert!(
            second
                .iter()
                .any(|r| r.method == "HEAD" && r.path() == path),
            "the second push did not ask for {path}: {second:?}"
        );
    }

    // A file next to it shares only the empty config.
    setup.push(source.path(), "config.json", "push/templates:v3", &[]);
    assert_eq!(setup.registry.uploads_started(repository), 3);
}

#[test]
fn a_file_over_16_mib_goes_up_in_chunks_and_round_trips() {
    let setup = Setup::new();
    let source = tempfile::tempdir().unwrap();
    let big = content::pseudo_random(40 * 1024 * 1024 + 123, 7);
    fs::write(source.path().join("big.bin"), &big).unwrap();

    setup.push(source.path(), "big.bin", "push/big:v1", &[]);

    // Several PATCHes to one upload session, not one monolithic PUT.
    let patches = setup
        .registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH" && r.path().starts_with("/v2/push/big/blobs/uploads/"))
        .count();
    assert!(patches >= 2, "{patches} PATCH requests for a 40 MiB blob");
    assert_eq!(
        fs::read(setup.registry.blob_path(&sha256(&big))).unwrap(),
        big
    );
    assert_eq!(
        setup.pull("push/big:v1"),
        BTreeMap::from([("big.bin".to_owned(), big)])
    );
}

/// Pushes `path` from `from`, which must fail before anything reaches the
/// registry, with an error name on stderr's last line and the path in it.
fn assert_refused(from: &Path, path: &str) {
    let setup = Setup::new();
    let run = setup
        .config
        .push(from, path, &setup.reference("push/refused:v1"), &[]);
    let (_, line) = run.failure_one_of(ERROR_NAMES);
    assert!(
        line.contains(path),
        "the error does not name {path}: {line}"
    );
    assert_eq!(setup.registry.writes(), Vec::new(), "something was pushed");
    assert!(!setup.inspector().has_manifest("push/refused", "v1"));
}

#[test]
fn an_absolute_path_is_refused_and_nothing_is_pushed() {
    let source = Source::new();
    let absolute = source.path().join("config.json");
    assert_refused(source.path(), absolute.to_str().unwrap());
}

#[test]
fn an_absolute_folder_is_refused_and_nothing_is_pushed() {
    let source = Source::new();
    let absolute = source.path().join("templates");
    assert_refused(source.path(), absolute.to_str().unwrap());
}

#[test]
fn a_path_with_dot_dot_is_refused_and_nothing_is_pushed() {
    let source = Source::new();
    let inner = source.path().join("inner");
    fs::create_dir(&inner).unwrap();
    assert_refused(&inner, "../config.json");
    assert_refused(&inner, "../templates");
    assert_refused(source.path(), "templates/../config.json");
}

/// Pushes a 40 MiB file through a proxy that lies about the upload's
/// `Range`, then pulls it back: the offsets must come from what was sent.
fn chunked_push_ignores_the_range_header(lie: RangeLie) {
    let registry = Registry::anonymous();
    let proxy = LyingProxy::start(registry.authority(), lie);
    let config = Config::new(&[Store::oci(&proxy.authority())], &[]);
    let source = tempfile::tempdir().unwrap();
    let big = content::pseudo_random(40 * 1024 * 1024 + 5, 11);
    fs::write(source.path().join("big.bin"), &big).unwrap();

    let reference = format!("{}/push/big:v1", proxy.authority());
    printed_digest(&config.push(source.path(), "big.bin", &reference, &[]));

    let patches = registry
        .requests()
        .into_iter()
        .filter(|r| r.method == "PATCH")
        .count();
    assert!(patches >= 2, "{patches} PATCH requests for a 40 MiB blob");
    assert_eq!(fs::read(registry.blob_path(&sha256(&big))).unwrap(), big);
    let work = Workdir::new();
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        BTreeMap::from([("big.bin".to_owned(), big)])
    );
}

#[test]
fn chunked_push_survives_a_range_header_that_claims_one_byte() {
    chunked_push_ignores_the_range_header(RangeLie::Say("0-0".to_owned()));
}

#[test]
fn chunked_push_survives_a_missing_range_header() {
    chunked_push_ignores_the_range_header(RangeLie::Omit);
}

#[test]
fn a_missing_path_is_refused_and_nothing_is_pushed() {
    let source = Source::new();
    assert_refused(source.path(), "no-such-config.json");
}

#[test]
fn push_to_a_registry_without_a_store_fails_to_connect_and_sends_nothing() {
    let registry = Registry::anonymous();
    let config = Config::new(&[], &[]);
    let source = Source::new();
    // The fixture's readiness probe is already in the log.
    let before = registry.requests();

    let reference = format!("{}/push/config:v1", registry.authority());
    config
        .push(source.path(), "config.json", &reference, &[])
        .failure("FailedToConnectToArtifactStore");
    assert_eq!(registry.requests(), before);
}

#[test]
fn push_over_the_operation_limit_is_too_large_and_nothing_is_pushed() {
    let registry = Registry::anonymous();
    let config = Config::new(&[Store::oci(registry.authority())], &[("tiny", "64B")]);
    let source = Source::new();
    assert!(content::DEID_CONFIG.len() > 64);

    let reference = format!("{}/push/config:v1", registry.authority());
    config
        .push(
            source.path(),
            "config.json",
            &reference,
            &["--operation", "tiny"],
        )
        .failure("TooLargeArtifacts");
    assert_eq!(registry.writes(), Vec::new(), "something was pushed");
    assert!(!Inspector::new(registry.authority()).has_manifest("push/config", "v1"));
}
