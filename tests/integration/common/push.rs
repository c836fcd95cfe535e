//! Putting artifacts into a registry: with the ORAS Python client, as users
//! do, and with a raw pusher for content that no honest client produces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use super::http;
use super::process::{self, Output};

/// The ORAS Python client sleeps for minutes between retries; a push on
/// loopback takes well under a second.
const ORAS_TIMEOUT: Duration = Duration::from_secs(60);

/// OCI media types used by the crafted manifests.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
pub const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const TITLE: &str = "org.opencontainers.image.title";
/// The ORAS folder annotations: unpack the layer, and the digest of the
/// uncompressed tar.
pub const UNPACK: &str = "io.deis.oras.content.unpack";
pub const CONTENT_DIGEST: &str = "io.deis.oras.content.digest";
/// The `artifactType` of a push without `--artifact-type`.
pub const DEFAULT_ARTIFACT_TYPE: &str = "application/vnd.unknown.artifact.v1";
/// `sha256:` of `{}`, the empty config every artifact names.
pub const EMPTY_CONFIG_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";

/// `sha256:<hex>` of `bytes`.
pub fn sha256(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// The repository root, where `.venv` and `tests/support` live.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("host crate sits in the workspace")
        .to_path_buf()
}

/// Basic credentials for a push.
pub struct Login<'a> {
    pub username: &'a str,
    pub password: &'a str,
}

/// Pushes `paths` (files, or folders that ORAS packs as tar+gzip) to
/// `<authority>/<target>` with the ORAS Python client over plain HTTP, and
/// returns the manifest digest the registry reported.
pub fn oras_push(authority: &str, target: &str, paths: &[&Path], login: Option<Login>) -> String {
    let mut command = oras_command("push", authority, target, login);
    command.args(paths);
    let output = expect_success(process::run(command, ORAS_TIMEOUT));
    let digest = output.stdout.trim().to_owned();
    assert!(
        digest.starts_with("sha256:"),
        "ORAS push printed no digest: {output:?}"
    );
    digest
}

/// Pulls `<authority>/<target>` into `output` with the ORAS Python client
/// over plain HTTP, and returns the paths it reports writing.
pub fn oras_pull(
    authority: &str,
    target: &str,
    output: &Path,
    login: Option<Login>,
) -> Vec<String> {
    let mut command = oras_command("pull", authority, target, login);
    command.arg("--output").arg(output);
    let output = expect_success(process::run(command, ORAS_TIMEOUT));
    output.stdout.lines().map(str::to_owned).collect()
}

/// The Python that has the ORAS client and wasmtime-py: `.venv`'s, unless
/// `ARTIFACT_STORE_TEST_PYTHON` names another.
pub fn python() -> PathBuf {
    std::env::var_os("ARTIFACT_STORE_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"))
}

fn oras_command(verb: &str, authority: &str, target: &str, login: Option<Login>) -> Command {
    let mut command = Command::new(python());
    command
        .arg(repo_root().join("tests/support/oras_push.py"))
        .arg(verb)
        .args(["--registry", authority, "--ref", target, "--plain-http"]);
    if let Some(login) = login {
        // The password travels in the child's environment, not its argv.
        command
            .args(["--username", login.username])
            .args(["--password-env", "ORAS_TEST_PASSWORD"])
            .env("ORAS_TEST_PASSWORD", login.password);
    }
    command
}

fn expect_success(output: Output) -> Output {
    assert!(
        output.status.success(),
        "ORAS Python client failed (run scripts/setup for .venv): {output:?}"
    );
    output
}

/// One layer of a crafted manifest.
pub struct Layer {
    pub media_type: String,
    pub bytes: Vec<u8>,
    pub annotations: Vec<(String, String)>,
}

impl Layer {
    /// A tar+gzip layer titled `folder`, as ORAS folders are.
    pub fn folder(folder: &str, tar_gz: Vec<u8>) -> Layer {
        Layer {
            media_type: LAYER_TAR_GZIP.to_owned(),
            bytes: tar_gz,
            annotations: vec![(TITLE.to_owned(), folder.to_owned())],
        }
    }
}

/// A pusher that speaks the distribution API directly, for crafted content.
pub struct RawPusher {
    agent: ureq::Agent,
    base: String,
    bearer: Option<String>,
}

impl RawPusher {
    pub fn new(authority: &str) -> RawPusher {
        assert!(
            authority.starts_with("127.0.0.1:"),
            "fixtures talk to loopback only"
        );
        RawPusher {
            agent: http::agent(),
            base: format!("http://{authority}"),
            bearer: None,
        }
    }

    /// Sends `Authorization: Bearer <token>` on every request.
    pub fn with_bearer(mut self, token: String) -> RawPusher {
        self.bearer = Some(token);
        self
    }

    fn auth(
        &self,
        request: ureq::RequestBuilder<ureq::typestate::WithBody>,
    ) -> ureq::RequestBuilder<ureq::typestate::WithBody> {
        match &self.bearer {
            Some(token) => request.header("Authorization", format!("Bearer {token}")),
            None => request,
        }
    }

    /// Uploads `bytes` as a blob of `repository` in one request and returns
    /// its digest.
    pub fn blob(&self, repository: &str, bytes: &[u8]) -> String {
        let digest = sha256(bytes);
        let start = self
            .auth(
                self.agent
                    .post(format!("{}/v2/{repository}/blobs/uploads/", self.base)),
            )
            .send_empty()
            .expect("start blob upload");
        assert_eq!(start.status().as_u16(), 202, "blob upload refused");
        let location = start
            .headers()
            .get("Location")
            .and_then(|v| v.to_str().ok())
            .expect("upload Location")
            .to_owned();
        let location = if location.starts_with('/') {
            format!("{}{location}", self.base)
        } else {
            location
        };
        let separator = if location.contains('?') { '&' } else { '?' };
        let done = self
            .auth(
                self.agent
                    .put(format!("{location}{separator}digest={digest}")),
            )
            .header("Content-Type", "application/octet-stream")
            .send(bytes)
            .expect("finish blob upload");
        assert_eq!(done.status().as_u16(), 201, "blob upload not accepted");
        digest
    }

    /// Puts `manifest` under `repository:tag` and returns its digest.
    pub fn manifest(&self, repository: &str, tag: &str, manifest: &[u8]) -> String {
        let response = self
            .auth(
                self.agent
                    .put(format!("{}/v2/{repository}/manifests/{tag}", self.base)),
            )
            .header("Content-Type", OCI_MANIFEST)
            .send(manifest)
            .expect("put manifest");
        let status = response.status().as_u16();
        let body = response.into_body().read_to_string().unwrap_or_default();
        assert_eq!(status, 201, "manifest refused: {body}");
        sha256(manifest)
    }

    /// Pushes an ORAS-style artifact (empty config, `artifactType`) made of
    /// `layers` and returns the manifest digest.
    pub fn artifact(&self, repository: &str, tag: &str, layers: &[Layer]) -> String {
        let manifest = self.artifact_manifest(repository, layers, |_| {});
        self.manifest(repository, tag, &manifest)
    }

    /// Uploads the config and `layers` and returns the manifest bytes, after
    /// `edit` has had its way with the JSON: for manifests that lie.
    pub fn artifact_manifest(
        &self,
        repository: &str,
        layers: &[Layer],
        edit: impl FnOnce(&mut Value),
    ) -> Vec<u8> {
        let config = b"{}";
        let config_digest = self.blob(repository, config);
        let layers: Vec<Value> = layers
            .iter()
            .map(|layer| {
                let digest = self.blob(repository, &layer.bytes);
                let annotations: serde_json::Map<String, Value> = layer
                    .annotations
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                json!({
                    "mediaType": layer.media_type,
                    "digest": digest,
                    "size": layer.bytes.len(),
                    "annotations": annotations,
                })
            })
            .collect();
        let mut manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": "application/vnd.artifact-store.test",
            "config": {"mediaType": OCI_EMPTY, "digest": config_digest, "size": config.len()},
            "layers": layers,
        });
        edit(&mut manifest);
        serde_json::to_vec(&manifest).expect("manifest JSON")
    }
}
