//! Microsoft's Python SDK for Blob Storage (`azure-storage-blob`), driven
//! through `tests/support/azure_blob.py`: it puts into Azurite what the
//! tests pull, and reads back what `artifact-store push` wrote.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::azurite::Azurite;
use super::content::{files_only, snapshot};
use super::process::{self, Output};
use super::push::{python, repo_root};

/// A call to a loopback Azurite takes well under a second; uploading the
/// 20 MiB test blob a few. The script retries once, after 1 s.
const SDK_TIMEOUT: Duration = Duration::from_secs(60);

/// Who may read a container without credentials, as Azure's
/// `x-ms-blob-public-access` has it.
#[derive(Clone, Copy)]
pub enum Public {
    /// Anyone may read its blobs, but not list them.
    Blob,
    /// Anyone may read and list its blobs.
    Container,
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub name: String,
    pub size: u64,
    /// As List Blobs reports it: without quotes.
    pub etag: String,
}

/// What Get Blob Properties and Get Block List say about one blob.
#[derive(Debug, Clone)]
pub struct Properties {
    pub size: u64,
    /// As the `ETag` header carries it: with its quotes.
    pub etag: String,
    pub content_type: Option<String>,
    /// The sizes of the committed blocks: empty for a blob written with
    /// one Put Blob.
    pub blocks: Vec<u64>,
}

/// The SDK, connected to one Azurite with the account key.
pub struct Sdk {
    connection_string: String,
    /// A PEM file of the authorities to trust over HTTPS, if not the
    /// system's.
    ca_file: Option<PathBuf>,
}

impl Sdk {
    pub fn new(azurite: &Azurite) -> Sdk {
        Sdk {
            connection_string: azurite.connection_string(),
            ca_file: None,
        }
    }

    /// The SDK trusting only the authorities in `ca_file` (through
    /// `requests`' `REQUESTS_CA_BUNDLE`), for an Azurite serving HTTPS.
    pub fn trusting(azurite: &Azurite, ca_file: &Path) -> Sdk {
        Sdk {
            ca_file: Some(ca_file.to_path_buf()),
            ..Sdk::new(azurite)
        }
    }

    pub fn create_container(&self, name: &str, public: Option<Public>) {
        let mut args = vec!["create-container", name];
        match public {
            Some(Public::Blob) => args.extend(["--public", "blob"]),
            Some(Public::Container) => args.extend(["--public", "container"]),
            None => {}
        }
        self.run(&args);
    }

    /// Uploads `bytes` as the block blob `container/name` (replacing any),
    /// with the SDK's default Content-Type unless `content_type` is given.
    pub fn upload(&self, container: &str, name: &str, bytes: &[u8], content_type: Option<&str>) {
        let dir = tempfile::tempdir().expect("upload temp dir");
        let file = dir.path().join("blob");
        fs::write(&file, bytes).expect("write upload file");
        let file = path_arg(&file);
        let mut args = vec!["upload", container, name, &file];
        if let Some(content_type) = content_type {
            args.extend(["--content-type", content_type]);
        }
        self.run(&args);
    }

    /// Uploads every file under `dir` as `<prefix><path relative to dir>`.
    pub fn upload_dir(&self, container: &str, prefix: &str, dir: &Path) {
        self.run(&["upload-dir", container, prefix, &path_arg(dir)]);
    }

    /// The bytes of `container/name`.
    pub fn download(&self, container: &str, name: &str) -> Vec<u8> {
        let dir = tempfile::tempdir().expect("download temp dir");
        let file = dir.path().join("blob");
        self.run(&["download", container, name, &path_arg(&file)]);
        fs::read(&file).expect("read downloaded blob")
    }

    /// Every blob under `prefix`, by its name relative to the prefix (folder
    /// markers left out), with its bytes.
    pub fn download_prefix(&self, container: &str, prefix: &str) -> BTreeMap<String, Vec<u8>> {
        let dir = tempfile::tempdir().expect("download temp dir");
        self.run(&["download-prefix", container, prefix, &path_arg(dir.path())]);
        files_only(snapshot(dir.path()))
    }

    /// The blobs under `prefix` (all of them for `""`), in name order.
    pub fn list(&self, container: &str, prefix: &str) -> Vec<Listed> {
        let output = self.run(&["list", container, "--prefix", prefix]);
        let listed: Value = serde_json::from_str(&output.stdout).expect("list prints JSON");
        listed
            .as_array()
            .expect("a JSON array")
            .iter()
            .map(|item| Listed {
                name: item["name"].as_str().expect("name").to_owned(),
                size: item["size"].as_u64().expect("size"),
                etag: item["etag"].as_str().expect("etag").to_owned(),
            })
            .collect()
    }

    /// The blob's ETag as the SDK reports it (the header's value, quoted).
    pub fn etag(&self, container: &str, name: &str) -> String {
        self.run(&["etag", container, name])
            .stdout
            .trim()
            .to_owned()
    }

    pub fn properties(&self, container: &str, name: &str) -> Properties {
        let output = self.run(&["properties", container, name]);
        let props: Value = serde_json::from_str(&output.stdout).expect("properties JSON");
        Properties {
            size: props["size"].as_u64().expect("size"),
            etag: props["etag"].as_str().expect("etag").to_owned(),
            content_type: props["contentType"].as_str().map(str::to_owned),
            blocks: props["blocks"]
                .as_array()
                .expect("blocks")
                .iter()
                .map(|b| b.as_u64().expect("block size"))
                .collect(),
        }
    }

    /// A service SAS for `container` (or for one blob in it) with
    /// `permissions` (`r`, `l`, `w`, ... as Azure spells them), valid for
    /// two hours: the query string without a leading `?`.
    pub fn sas(&self, container: &str, permissions: &str, blob: Option<&str>) -> String {
        let mut args = vec!["sas", container, "--permissions", permissions];
        if let Some(blob) = blob {
            args.extend(["--blob", blob]);
        }
        self.run(&args).stdout.trim().to_owned()
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut command = Command::new(python());
        command
            .arg(repo_root().join("tests/support/azure_blob.py"))
            .args(args)
            // The key travels in the child's environment, not its argv.
            .env("AZURE_STORAGE_CONNECTION_STRING", &self.connection_string);
        if let Some(ca_file) = &self.ca_file {
            command.env("REQUESTS_CA_BUNDLE", ca_file);
        }
        let output = process::run(command, SDK_TIMEOUT);
        assert!(
            output.status.success(),
            "azure_blob.py {args:?} failed (run scripts/setup for .venv): {}",
            output.stderr
        );
        output
    }
}

fn path_arg(path: &Path) -> String {
    path.to_str().expect("utf-8 temp path").to_owned()
}
