//! What `artifact-store push` publishes, other clients read, and the other
//! way round: the ORAS Python client and skopeo on a real registry, with
//! byte-identical round trips.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use crate::common::cli::{Config, Store, Workdir};
use crate::common::content::{self, files_only, snapshot, templates_under, Source};
use crate::common::inspect::Inspector;
use crate::common::push::{oras_pull, oras_push, sha256, Login};
use crate::common::registry::{Auth, Registry};
use crate::common::skopeo;
use crate::common::token::{Grant, Reply, TokenServer};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery";

fn only_config_json() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        "config.json".to_owned(),
        content::DEID_CONFIG.as_bytes().to_vec(),
    )])
}

/// Pushes `path` from `from` to `<registry>/<target>` with artifact-store
/// and returns the digest printed.
fn push(
    config: &Config,
    password: Option<&str>,
    from: &Path,
    path: &str,
    reference: &str,
) -> String {
    let run = config.run_in(from, &["push", path, reference], password);
    let digest = run.success().trim().to_owned();
    assert!(digest.starts_with("sha256:"), "push printed {digest:?}");
    digest
}

/// The files the ORAS Python client writes for `target`.
fn oras_pulled(authority: &str, target: &str, login: Option<Login>) -> BTreeMap<String, Vec<u8>> {
    let out = tempfile::tempdir().unwrap();
    oras_pull(authority, target, out.path(), login);
    files_only(snapshot(out.path()))
}

#[test]
fn oras_python_pulls_what_we_push_byte_for_byte() {
    let registry = Registry::anonymous();
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let source = Source::new();
    let authority = registry.authority();

    push(
        &config,
        None,
        source.path(),
        "config.json",
        &format!("{authority}/interop/config:v1"),
    );
    push(
        &config,
        None,
        source.path(),
        "templates",
        &format!("{authority}/interop/templates:v1"),
    );

    assert_eq!(
        oras_pulled(authority, "interop/config:v1", None),
        only_config_json()
    );
    // The ORAS Python client (0.2.x) unpacks a layer because its media type
    // is tar+gzip; it reads neither `io.deis.oras.content.unpack` nor the
    // content digest, and extracts beside the title, so the entries'
    // `templates/` prefix puts the files under `templates/`.
    assert_eq!(
        oras_pulled(authority, "interop/templates:v1", None),
        templates_under("templates")
    );
}

#[test]
fn skopeo_copies_what_we_push_to_a_folder_with_the_same_manifest_bytes() {
    let registry = Registry::anonymous();
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let source = Source::new();
    let authority = registry.authority();
    let digest = push(
        &config,
        None,
        source.path(),
        "templates",
        &format!("{authority}/interop/templates:v1"),
    );

    let copy = tempfile::tempdir().unwrap();
    let dest = copy.path().join("image");
    skopeo::copy(
        &format!("docker://{authority}/interop/templates:v1"),
        &format!("dir:{}", dest.display()),
    );

    let inspector = Inspector::new(authority);
    let served = inspector.manifest("interop/templates", "v1");
    let copied = fs::read(dest.join("manifest.json")).unwrap();
    assert_eq!(copied, served.bytes, "skopeo rewrote the manifest");
    assert_eq!(sha256(&copied), digest);
    // skopeo's `dir:` layout names each blob by its hex digest.
    for descriptor in served.descriptors() {
        let digest = descriptor["digest"].as_str().unwrap();
        let hex = digest.strip_prefix("sha256:").unwrap();
        let blob = fs::read(dest.join(hex))
            .unwrap_or_else(|e| panic!("skopeo wrote no blob {digest}: {e}"));
        assert_eq!(sha256(&blob), digest);
        assert_eq!(blob, inspector.blob("interop/templates", digest));
    }
}

#[test]
fn skopeo_copies_what_we_push_to_another_repository_and_we_pull_it() {
    let registry = Registry::anonymous();
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let source = Source::new();
    let authority = registry.authority();
    let digest = push(
        &config,
        None,
        source.path(),
        "templates",
        &format!("{authority}/interop/source:v1"),
    );

    skopeo::copy(
        &format!("docker://{authority}/interop/source:v1"),
        &format!("docker://{authority}/interop/copy:v2"),
    );

    let inspector = Inspector::new(authority);
    assert_eq!(
        inspector.manifest("interop/copy", "v2").bytes,
        inspector.manifest("interop/source", "v1").bytes
    );
    let copied = format!("{authority}/interop/copy:v2");
    let resolved = config.run(&["resolve", &copied], None);
    assert_eq!(resolved.success().trim(), digest);

    let work = Workdir::new();
    config.pull(&copied, &work.out(), &[]).success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        templates_under("templates")
    );
}

/// ORAS push → our pull → our push → ORAS pull, for one file and one
/// folder, on `registry` (with `password` for both clients when set).
fn round_trip_through_both_clients(registry: &Registry, password: Option<&str>) {
    let login = || {
        password.map(|password| Login {
            username: USER,
            password,
        })
    };
    let store = match password {
        Some(_) => Store::with_user(registry.authority(), USER),
        None => Store::oci(registry.authority()),
    };
    let config = Config::new(&[store], &[]);
    let authority = registry.authority();

    let original = tempfile::tempdir().unwrap();
    let folder = original.path().join("hl7v2-templates");
    content::write_files(&folder, &content::templates());
    let file = original.path().join("config.json");
    fs::write(&file, content::DEID_CONFIG).unwrap();

    for (name, path, expected) in [
        ("folder", &folder, templates_under("hl7v2-templates")),
        ("file", &file, only_config_json()),
    ] {
        let from_oras = format!("roundtrip/{name}:oras");
        oras_push(authority, &from_oras, &[path.as_path()], login());

        let work = Workdir::new();
        let out = work.out();
        let reference = format!("{authority}/{from_oras}");
        config
            .run(
                &["pull", &reference, "--output", out.to_str().unwrap()],
                password,
            )
            .success();
        assert_eq!(
            files_only(snapshot(&out)),
            expected,
            "our pull of the {name}"
        );

        let title = path.file_name().unwrap().to_str().unwrap();
        let ours = format!("{authority}/roundtrip/{name}:ours");
        push(&config, password, &out, title, &ours);

        assert_eq!(
            oras_pulled(authority, &format!("roundtrip/{name}:ours"), login()),
            expected,
            "ORAS's pull of our push of the {name}"
        );
    }
}

#[test]
fn oras_push_our_pull_our_push_oras_pull_is_byte_identical() {
    let registry = Registry::anonymous();
    round_trip_through_both_clients(&registry, None);
}

#[test]
fn oras_push_our_pull_our_push_oras_pull_on_a_token_registry() {
    // The ORAS Python client keeps the first token it gets, which it asks
    // for with `pull` only; a token service that grants what the user may
    // do lets it push with that token, as real ones do.
    let tokens = TokenServer::granting(USER, PASSWORD, Reply::Both, Grant::Everything);
    let registry = Registry::start(Auth::Token(&tokens));
    round_trip_through_both_clients(&registry, Some(PASSWORD));
}
