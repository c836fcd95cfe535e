//! The same provider component in three hosts, the Rust one (the
//! `artifact-store` CLI), Node.js (jco and preview2-shim,
//! `examples/node/fetch.mjs`) and Python (wasmtime-py,
//! `examples/python/fetch.py`), against one real registry: for each vector
//! (a pull by tag, by digest, an invalid reference, a missing artifact, a
//! Basic login with the right and a wrong password) all three must give the
//! same digest, the same files in the same order with the same hashes (and
//! write them), or the same error name. And the hostile test component's
//! unsafe answers, which every host must refuse, writing nothing.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use artifact_store::runtime::FIRST_PARTY_PROVIDER;

use crate::common::cli::{Config, Store, Workdir, ERROR_NAMES, PASSWORD_ENV};
use crate::common::content::{self, files_only, snapshot, Snapshot};
use crate::common::process;
use crate::common::push::{oras_push, python, repo_root, Login};
use crate::common::registry::{Auth, Registry};

/// A fetch of a few files takes well under a second in Node and about one
/// in Python, which compiles the component on every run; the first Node
/// run also transpiles it. The margin is for a machine busy compiling.
const EXAMPLE_TIMEOUT: Duration = Duration::from_secs(120);

/// The hosts, in the order results are reported.
const HOSTS: [&str; 3] = ["rust", "node", "python"];

/// What one host made of one reference, in the shape the examples print
/// minus what differs by design (the reference echoed, messages): `ok`,
/// `digest`, `mediaType`, `artifactType`, `size` and `files` (`path`,
/// `size`, `sha256`) on success; `ok` and `error` (the CLI's name) on
/// failure. Beside it, everything in the host's output folder afterwards.
#[derive(Debug)]
struct Outcome {
    result: Value,
    written: Snapshot,
}

/// The component exactly as the CLI embeds it, so that all three hosts run
/// the same bytes.
fn write_component(dir: &Path) -> PathBuf {
    let path = dir.join("artifact_store_provider.wasm");
    fs::write(&path, FIRST_PARTY_PROVIDER).expect("write the component");
    path
}

fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the three hosts share for one registry: the CLI's config, the
/// component file, and the login if the registry wants one.
struct Hosts<'a> {
    config: &'a Config,
    component: &'a Path,
    login: Option<Login<'a>>,
}

impl Hosts<'_> {
    /// Runs the three hosts on `reference` at once, each writing to its
    /// own folder, and returns their outcomes in [`HOSTS`] order.
    fn fetch(&self, reference: &str) -> Vec<Outcome> {
        let work = Workdir::new();
        let outs: Vec<PathBuf> = HOSTS.iter().map(|h| work.path().join(h)).collect();
        let outcomes = thread::scope(|scope| {
            let rust = scope.spawn(|| self.rust(reference, &outs[0]));
            let node = scope.spawn(|| self.node(reference, &outs[1]));
            let python = scope.spawn(|| self.python(reference, &outs[2]));
            [rust, node, python]
                .into_iter()
                .map(|host| host.join().expect("host thread"))
                .collect()
        });

        // Each host stages its files beside its output folder; none may
        // leave a staging folder there.
        let stray: Vec<String> = fs::read_dir(work.path())
            .expect("read the work dir")
            .map(|entry| {
                entry
                    .expect("entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .filter(|name| !HOSTS.contains(&name.as_str()))
            .collect();
        assert!(stray.is_empty(), "{reference}: left behind {stray:?}");
        outcomes
    }

    fn rust(&self, reference: &str, out: &Path) -> Outcome {
        let output = out.to_str().expect("utf-8 temp path");
        let password = self.login.as_ref().map(|login| login.password);
        let run = self
            .config
            .run(&["pull", reference, "--output", output, "--json"], password);
        let result = if run.output.status.success() {
            let printed: Value =
                serde_json::from_str(run.stdout()).expect("pull --json prints JSON");
            // The CLI reports paths and sizes; the hashes come from what it
            // wrote.
            let files: Vec<Value> = printed["files"]
                .as_array()
                .expect("files")
                .iter()
                .map(|file| {
                    let path = file["path"].as_str().expect("path");
                    let bytes = fs::read(out.join(path)).expect("a file the CLI reported");
                    json!({ "path": path, "size": file["size"], "sha256": hex_sha256(&bytes) })
                })
                .collect();
            json!({
                "ok": true,
                "digest": printed["digest"],
                "mediaType": printed["mediaType"],
                "artifactType": printed["artifactType"],
                "size": printed["size"],
                "files": files,
            })
        } else {
            let (name, _) = run.failure_one_of(ERROR_NAMES);
            json!({ "ok": false, "error": name })
        };
        Outcome {
            result,
            written: snapshot(out),
        }
    }

    fn node(&self, reference: &str, out: &Path) -> Outcome {
        let mut command = Command::new("node");
        command
            .arg(repo_root().join("examples/node/fetch.mjs"))
            // One transpile per component, kept across test runs.
            .arg("--cache")
            .arg(Path::new(env!("CARGO_TARGET_TMPDIR")).join("jco"));
        self.example(command, "node", reference, out)
    }

    fn python(&self, reference: &str, out: &Path) -> Outcome {
        let mut command = Command::new(python());
        command.arg(repo_root().join("examples/python/fetch.py"));
        self.example(command, "python", reference, out)
    }

    /// Runs an example and reads its JSON answer, checking that the exit
    /// status agrees with it.
    fn example(&self, mut command: Command, host: &str, reference: &str, out: &Path) -> Outcome {
        command
            .arg("--component")
            .arg(self.component)
            .arg("--output")
            .arg(out)
            .arg("--plain-http");
        if let Some(login) = &self.login {
            // As for the CLI, the password travels in the child's
            // environment only.
            command
                .args(["--username", login.username, "--password-env", PASSWORD_ENV])
                .env(PASSWORD_ENV, login.password);
        }
        command.arg(reference);

        let output = process::run(command, EXAMPLE_TIMEOUT);
        let mut printed: Value = serde_json::from_str(output.stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "the {host} example printed no JSON ({e}; run scripts/setup and cargo build); \
                 stdout:\n{}\nstderr:\n{}",
                output.stdout, output.stderr
            )
        });
        assert_eq!(
            output.status.success(),
            printed["ok"] == json!(true),
            "the {host} example's exit status disagrees with its answer: {output:?}"
        );
        let object = printed.as_object_mut().expect("a JSON object");
        object.remove("reference");
        object.remove("message");
        Outcome {
            result: printed,
            written: snapshot(out),
        }
    }
}

/// `result` with its files sorted by path. The order within the folder
/// layer is the archive's, which the ORAS client takes from the file
/// system; the hosts must agree on it, the test cannot predict it.
fn by_path(result: &Value) -> Value {
    let mut result = result.clone();
    if let Some(files) = result.get_mut("files").and_then(Value::as_array_mut) {
        files.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
    }
    result
}

/// Asserts that every host gave the Rust host's answer, files in the same
/// order, that the answer is `expected` (files sorted by path), and that
/// each host wrote exactly `files`.
fn assert_agree(
    vector: &str,
    outcomes: &[Outcome],
    expected: &Value,
    files: &BTreeMap<String, Vec<u8>>,
) {
    assert_eq!(
        &by_path(&outcomes[0].result),
        expected,
        "{vector}: the Rust host's answer"
    );
    for (host, outcome) in HOSTS.iter().zip(outcomes) {
        assert_eq!(
            outcome.result, outcomes[0].result,
            "{vector}: the {host} host disagrees with the Rust host"
        );
        assert_eq!(
            &files_only(outcome.written.clone()),
            files,
            "{vector}: the {host} host wrote other files"
        );
        if files.is_empty() {
            assert!(
                outcome.written.is_empty(),
                "{vector}: the {host} host left {:?} behind",
                outcome.written.keys().collect::<Vec<_>>()
            );
        }
    }
}

/// Pushes the de-identification config and the template folder to
/// `conformance/bundle:v1` with the ORAS Python client. Returns the
/// manifest digest, the answer a fetch of it must give (files sorted by
/// path), and the files it must write.
fn push_bundle(
    registry: &Registry,
    login: Option<Login>,
) -> (String, Value, BTreeMap<String, Vec<u8>>) {
    let source = content::Source::new();
    let digest = oras_push(
        registry.authority(),
        "conformance/bundle:v1",
        &[
            &source.path().join("config.json"),
            &source.path().join("templates"),
        ],
        login,
    );

    // The config file, and the templates under the folder's name.
    let mut files = BTreeMap::from([(
        "config.json".to_owned(),
        content::DEID_CONFIG.as_bytes().to_vec(),
    )]);
    files.extend(content::templates_under("templates"));
    let listed: Vec<Value> = files
        .iter()
        .map(|(path, bytes)| {
            json!({ "path": path, "size": bytes.len(), "sha256": hex_sha256(bytes) })
        })
        .collect();
    let answer = json!({
        "ok": true,
        "digest": digest,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "artifactType": "application/vnd.unknown.config.v1+json",
        "size": files.values().map(Vec::len).sum::<usize>(),
        "files": listed,
    });
    (digest, answer, files)
}

#[test]
fn rust_node_and_python_hosts_agree_on_every_vector() {
    let registry = Registry::anonymous();
    let (digest, pulled, files) = push_bundle(&registry, None);
    let dir = tempfile::tempdir().unwrap();
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let hosts = Hosts {
        config: &config,
        component: &write_component(dir.path()),
        login: None,
    };

    let authority = registry.authority();
    let nothing = BTreeMap::new();
    let vectors = [
        (
            "pull by tag",
            format!("{authority}/conformance/bundle:v1"),
            pulled.clone(),
            &files,
        ),
        (
            "pull by digest",
            format!("{authority}/conformance/bundle@{digest}"),
            pulled,
            &files,
        ),
        (
            "invalid reference",
            format!("{authority}/conformance/Bundle:v1"),
            json!({ "ok": false, "error": "InvalidReference" }),
            &nothing,
        ),
        (
            "missing artifact",
            format!("{authority}/conformance/missing:v1"),
            json!({ "ok": false, "error": "ArtifactNotFound" }),
            &nothing,
        ),
    ];
    for (vector, reference, expected, written) in &vectors {
        assert_agree(vector, &hosts.fetch(reference), expected, written);
    }
}

#[test]
fn rust_node_and_python_hosts_agree_with_basic_credentials() {
    let (username, password) = ("conformance", "s3cret-Passw0rd");
    let registry = Registry::start(Auth::Basic { username, password });
    let login = || Some(Login { username, password });
    let (_, pulled, files) = push_bundle(&registry, login());
    let dir = tempfile::tempdir().unwrap();
    let component = write_component(dir.path());
    let config = Config::new(&[Store::with_user(registry.authority(), username)], &[]);
    let reference = format!("{}/conformance/bundle:v1", registry.authority());

    let hosts = Hosts {
        config: &config,
        component: &component,
        login: login(),
    };
    assert_agree("basic login", &hosts.fetch(&reference), &pulled, &files);

    let wrong = Hosts {
        login: Some(Login {
            username,
            password: "not-the-password",
        }),
        ..hosts
    };
    let refused = json!({ "ok": false, "error": "Unauthorized" });
    assert_agree(
        "wrong password",
        &wrong.fetch(&reference),
        &refused,
        &BTreeMap::new(),
    );
}

#[test]
fn rust_node_and_python_hosts_all_refuse_a_components_unsafe_paths() {
    // The hostile component answers without a request: the registry is
    // only the authority its references name.
    let registry = Registry::anonymous();
    let authority = registry.authority();
    let component = PathBuf::from(env!("ARTIFACT_STORE_TEST_HOSTILE_WASM"));
    let config = Config::from_toml(&format!(
        "[[store]]\nkind = \"component\"\nregistry = \"{authority}\"\nplain-http = true\n\
         component = \"{}\"\n",
        component.display()
    ));
    let hosts = Hosts {
        config: &config,
        component: &component,
        login: None,
    };

    let refused = json!({ "ok": false, "error": "ProviderFailed" });
    let nothing = BTreeMap::new();
    for (vector, repository) in [
        ("a path climbing out", "escape-dotdot:x"),
        (
            "an absolute path",
            "escape-abs:artifact-store-conformance-x",
        ),
        ("a file that is also a folder", "clash:a"),
        ("a NUL and a newline in a name", "control:x"),
    ] {
        let reference = format!("{authority}/{repository}");
        assert_agree(vector, &hosts.fetch(&reference), &refused, &nothing);
    }
    assert!(!Path::new("/tmp/artifact-store-conformance-x").exists());
}
