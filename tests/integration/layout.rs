//! Layout stores: the OCI image layout component, loaded the way a third
//! party's component would be, with one preopened folder; and the built-in
//! `default` store that works with no config file and no network.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::common::cli::{artifact_store, Config, Run, Store};
use crate::common::content::{files_only, snapshot, templates, write_files};
use crate::common::process;
use crate::common::registry::Registry;

/// A run of the CLI with a private cache and home, so that neither the
/// caller's config nor an earlier run's default store is used.
struct Sandbox {
    home: tempfile::TempDir,
}

impl Sandbox {
    fn new() -> Sandbox {
        Sandbox {
            home: tempfile::tempdir().unwrap(),
        }
    }

    fn root(&self) -> &Path {
        self.home.path()
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = artifact_store();
        command
            .current_dir(self.root())
            .env("HOME", self.root())
            .env_remove("XDG_CONFIG_HOME")
            .env_remove("XDG_CACHE_HOME")
            .env("ARTIFACT_STORE_CACHE_DIR", self.root().join("cache"))
            .args(args);
        command
    }

    fn run(&self, args: &[&str]) -> Run {
        Run::from(process::run(self.command(args), Duration::from_secs(180)))
    }

    /// Writes a config with one layout store and returns its path.
    fn config(&self, name: &str, layout: &Path, writable: bool) -> PathBuf {
        let path = self.root().join("artifact-store.toml");
        let text = format!(
            "[[store]]\nkind = \"oci-layout\"\nname = \"{name}\"\npath = \"{}\"\nwritable = {writable}\n",
            layout.display()
        );
        fs::write(&path, text).unwrap();
        path
    }
}

fn default_file(path: &str) -> Vec<u8> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("defaults");
    fs::read(root.join(path)).unwrap()
}

#[test]
fn the_default_store_serves_the_anonymization_config_with_no_config_file() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["pull", "default/anonymization:latest", "--output", "out"])
        .success();

    let pulled = files_only(snapshot(&sandbox.root().join("out")));
    assert_eq!(
        pulled,
        BTreeMap::from([(
            "anonymization.json".to_owned(),
            default_file("anonymization/anonymization.json")
        )])
    );
    let config: Value = serde_json::from_slice(&pulled["anonymization.json"]).unwrap();
    assert_eq!(config["fhirVersion"], "R4");
    assert!(config["processingErrors"].is_string());
    let rules = config["fhirPathRules"].as_array().unwrap();
    assert!(rules
        .iter()
        .all(|rule| rule["path"].is_string() && rule["method"].is_string()));
    assert!(config["parameters"]["dateShiftKey"].is_string());
}

#[test]
fn the_default_store_serves_the_sample_templates() {
    let sandbox = Sandbox::new();
    sandbox
        .run(&["pull", "default/templates", "--output", "templates"])
        .success();

    let pulled = files_only(snapshot(&sandbox.root().join("templates")));
    let expected: BTreeMap<String, Vec<u8>> = [
        "Bundle.liquid",
        "Patient.liquid",
        "partials/_ContactPoint.liquid",
        "partials/_HumanName.liquid",
    ]
    .into_iter()
    .map(|name| (name.to_owned(), default_file(&format!("templates/{name}"))))
    .collect();
    assert_eq!(pulled, expected);

    // A second pull reads the layout written by the first.
    let digest = sandbox.run(&["resolve", "default/templates:latest"]);
    assert!(digest.success().trim().starts_with("sha256:"));
}

#[test]
fn the_default_store_is_read_only() {
    let sandbox = Sandbox::new();
    fs::write(sandbox.root().join("x.json"), b"{}").unwrap();
    sandbox
        .run(&["push", "x.json", "default/anonymization:latest"])
        .failure("Forbidden");
}

#[test]
fn an_unregistered_store_name_fails_before_anything_runs() {
    let sandbox = Sandbox::new();
    let line = sandbox
        .run(&["pull", "local/anonymization:latest", "--output", "out"])
        .failure("FailedToConnectToArtifactStore");
    assert!(line.contains("local"), "{line}");
    assert!(!sandbox.root().join("out").exists());
}

#[test]
fn push_then_pull_round_trips_through_a_layout_store() {
    let sandbox = Sandbox::new();
    let layout = sandbox.root().join("layout");
    let config = sandbox.config("local", &layout, true);
    let config = config.to_str().unwrap();

    write_files(&sandbox.root().join("templates"), &templates());
    fs::write(
        sandbox.root().join("config.json"),
        b"{\"fhirVersion\":\"R4\"}",
    )
    .unwrap();

    let folder = sandbox
        .run(&[
            "--config",
            config,
            "push",
            "templates",
            "local/templates:v1",
        ])
        .success()
        .trim()
        .to_owned();
    let again = sandbox
        .run(&[
            "--config",
            config,
            "push",
            "templates",
            "local/templates:v1",
        ])
        .success()
        .trim()
        .to_owned();
    assert_eq!(folder, again, "the same folder pushed twice");
    sandbox
        .run(&["--config", config, "push", "config.json", "local/deid:v1"])
        .success();
    assert!(layout.join("oci-layout").is_file());
    assert!(layout.join("index.json").is_file());

    sandbox
        .run(&[
            "--config",
            config,
            "pull",
            "local/templates:v1",
            "--output",
            "a",
        ])
        .success();
    let expected: BTreeMap<String, Vec<u8>> = templates()
        .into_iter()
        .map(|(path, bytes)| (format!("templates/{path}"), bytes))
        .collect();
    assert_eq!(files_only(snapshot(&sandbox.root().join("a"))), expected);

    let by_digest = format!("local/templates@{folder}");
    sandbox
        .run(&["--config", config, "pull", &by_digest, "--output", "b"])
        .success();
    assert_eq!(files_only(snapshot(&sandbox.root().join("b"))), expected);

    sandbox
        .run(&["--config", config, "pull", "local/deid:v1", "--output", "c"])
        .success();
    assert_eq!(
        fs::read(sandbox.root().join("c/config.json")).unwrap(),
        b"{\"fhirVersion\":\"R4\"}"
    );
}

#[test]
fn a_layout_push_gives_the_digest_a_registry_push_gives() {
    let sandbox = Sandbox::new();
    let layout = sandbox.root().join("layout");
    let config = sandbox.config("local", &layout, true);
    write_files(&sandbox.root().join("templates"), &templates());
    let to_layout = sandbox
        .run(&[
            "--config",
            config.to_str().unwrap(),
            "push",
            "templates",
            "local/t:v1",
        ])
        .success()
        .trim()
        .to_owned();

    let registry = Registry::anonymous();
    let registry_config = Config::new(&[Store::oci(registry.authority())], &[]);
    let reference = format!("{}/t:v1", registry.authority());
    let to_registry = registry_config
        .push(sandbox.root(), "templates", &reference, &[])
        .success()
        .trim()
        .to_owned();
    assert_eq!(to_layout, to_registry);
}

#[test]
fn a_read_only_layout_store_refuses_push_and_still_serves_pulls() {
    let sandbox = Sandbox::new();
    let layout = sandbox.root().join("layout");
    let writable = sandbox.config("local", &layout, true);
    fs::write(sandbox.root().join("a.json"), b"[1]").unwrap();
    sandbox
        .run(&[
            "--config",
            writable.to_str().unwrap(),
            "push",
            "a.json",
            "local/a:v1",
        ])
        .success();

    let read_only = sandbox.config("local", &layout, false);
    let read_only = read_only.to_str().unwrap();
    let before = snapshot(&layout);
    sandbox
        .run(&["--config", read_only, "push", "a.json", "local/b:v1"])
        .failure("Forbidden");
    assert_eq!(
        snapshot(&layout),
        before,
        "a refused push changed the layout"
    );
    sandbox
        .run(&[
            "--config",
            read_only,
            "pull",
            "local/a:v1",
            "--output",
            "out",
        ])
        .success();
}

/// The component sees one folder. A blob in the layout that is a link to a
/// file outside it, with the right content, must not be readable: if the
/// component could follow it, the pull would succeed.
#[test]
fn the_layout_component_cannot_read_outside_its_folder() {
    let sandbox = Sandbox::new();
    let layout = sandbox.root().join("layout");
    let config = sandbox.config("local", &layout, true);
    let config = config.to_str().unwrap();
    let secret = b"outside the layout".to_vec();
    fs::write(sandbox.root().join("secret.txt"), &secret).unwrap();
    sandbox
        .run(&["--config", config, "push", "secret.txt", "local/s:v1"])
        .success();

    // Move the blob out of the layout and leave links behind: one absolute,
    // one relative that climbs out.
    let blob = find_blob(&layout, &secret);
    let outside = sandbox.root().join("outside-blob");
    fs::rename(&blob, &outside).unwrap();
    for target in [outside.clone(), PathBuf::from("../../../outside-blob")] {
        let _ = fs::remove_file(&blob);
        std::os::unix::fs::symlink(&target, &blob).unwrap();
        let out = format!("out-{}", target.is_absolute());
        let run = sandbox.run(&["--config", config, "pull", "local/s:v1", "--output", &out]);
        run.failure_one_of(&[
            "ArtifactNotFound",
            "StoreError",
            "InvalidContent",
            "Forbidden",
        ]);
        assert!(!sandbox.root().join(&out).exists());
    }
}

/// The path of the blob in `layout` whose content is `bytes`.
fn find_blob(layout: &Path, bytes: &[u8]) -> PathBuf {
    use sha2::Digest;
    let hex = format!("{:x}", sha2::Sha256::digest(bytes));
    let path = layout.join("blobs/sha256").join(hex);
    assert!(path.is_file(), "no blob {} in the layout", path.display());
    path
}
