//! Azure Blob Storage as a store (issue 4), against a real Azurite on
//! loopback, with Microsoft's Python SDK as the client on the other side.
//! Each test starts its own Azurite. What the submodules share: the store's
//! config, the CLI with its secrets, and the interface's folder digest.

mod access;
mod etag;
mod failures;
mod lies;
mod names;
mod pull;
mod push;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::common::azure_sdk::{Public, Sdk};
use crate::common::azurite::Azurite;
use crate::common::cli::{Config, Run, Workdir};
use crate::common::content::{self, write_files};
use crate::common::push::sha256;

/// The variable the configs name for the account key, as in the issue.
const KEY_ENV: &str = "AZURE_STORAGE_KEY";

/// The variable the configs name for a SAS token.
const SAS_ENV: &str = "ARTIFACT_STORE_TEST_SAS";

/// The container a bare file name resolves to in the export destination.
const EXPORT_CONTAINER: &str = "anonymization";

/// What a folder pull reports as its `mediaType`.
const FOLDER_MEDIA_TYPE: &str = "application/vnd.artifact-store.folder.sha256sum";

const MIB: usize = 1024 * 1024;

/// How a test's store proves who it is.
enum Auth {
    /// Shared Key with Azurite's published key, from [`KEY_ENV`].
    SharedKey,
    /// Shared Key with this key, from [`KEY_ENV`].
    Key(String),
    /// This SAS token, from [`SAS_ENV`].
    Sas(String),
    /// No credentials at all.
    Anonymous,
}

/// One Azurite, the SDK connected to it with the account key, and the way
/// to write a config that names it.
struct Account {
    azurite: Azurite,
    sdk: Sdk,
}

impl Account {
    fn start() -> Account {
        let azurite = Azurite::start();
        let sdk = Sdk::new(&azurite);
        Account { azurite, sdk }
    }

    fn url(&self, container: &str, name: &str) -> String {
        self.azurite.url(container, name)
    }

    /// The CLI with one `azure-blob` store for this account, `store_extra`
    /// (TOML lines) added to the store and `rest` after it.
    fn cli(&self, auth: Auth, store_extra: &str, rest: &str) -> Cli {
        let (auth_line, env) = match auth {
            Auth::SharedKey => (
                format!("account-key-env = \"{KEY_ENV}\""),
                vec![(KEY_ENV, Azurite::KEY.to_owned())],
            ),
            Auth::Key(key) => (
                format!("account-key-env = \"{KEY_ENV}\""),
                vec![(KEY_ENV, key)],
            ),
            Auth::Sas(token) => (format!("sas-env = \"{SAS_ENV}\""), vec![(SAS_ENV, token)]),
            Auth::Anonymous => (String::new(), Vec::new()),
        };
        let endpoint = self.azurite.endpoint();
        let text = format!(
            "[[store]]\n\
             kind = \"azure-blob\"\n\
             endpoint = \"{endpoint}\"\n\
             {auth_line}\n\
             {store_extra}\n\
             \n\
             {rest}\n"
        );
        Cli::new(&text, env)
    }

    /// The CLI with a Shared Key store and nothing else.
    fn shared_key(&self) -> Cli {
        self.cli(Auth::SharedKey, "", "")
    }
}

/// A config file and the secrets its variables name, set on each run's
/// child only.
struct Cli {
    config: Config,
    env: Vec<(&'static str, String)>,
}

impl Cli {
    fn new(text: &str, env: Vec<(&'static str, String)>) -> Cli {
        Cli {
            config: Config::from_toml(text),
            env,
        }
    }

    fn env(&self) -> Vec<(&str, &str)> {
        self.env.iter().map(|(k, v)| (*k, v.as_str())).collect()
    }

    fn run(&self, args: &[&str]) -> Run {
        self.config.run_with_env(args, &self.env())
    }

    /// `pull <reference> --output <output> <extra>`.
    fn pull(&self, reference: &str, output: &Path, extra: &[&str]) -> Run {
        let output = output.to_str().expect("utf-8 temp path");
        let mut args = vec!["pull", reference, "--output", output];
        args.extend_from_slice(extra);
        self.run(&args)
    }

    /// `pull --json`, its report parsed.
    fn pull_json(&self, reference: &str, output: &Path, extra: &[&str]) -> Value {
        let mut extra = extra.to_vec();
        extra.push("--json");
        let run = self.pull(reference, output, &extra);
        serde_json::from_str(run.success().trim())
            .unwrap_or_else(|e| panic!("stdout is not one JSON object ({e}): {}", run.stdout()))
    }

    /// `push <path> <reference> <extra>`, from `dir`.
    fn push(&self, dir: &Path, path: &str, reference: &str, extra: &[&str]) -> Run {
        let mut args = vec!["push", path, reference];
        args.extend_from_slice(extra);
        self.config.run_in_with_env(dir, &args, &self.env())
    }

    /// Asserts the failure `name` for a pull of `reference` and that nothing
    /// was written; returns stderr's last line.
    fn pull_fails(&self, reference: &str, extra: &[&str], name: &str) -> String {
        self.pull_fails_one_of(reference, extra, &[name]).1
    }

    fn pull_fails_one_of(
        &self,
        reference: &str,
        extra: &[&str],
        names: &[&str],
    ) -> (String, String) {
        let work = Workdir::new();
        let before = work.snapshot();
        let failure = self
            .pull(reference, &work.out(), extra)
            .failure_one_of(names);
        work.assert_unchanged(&before);
        failure
    }
}

/// The digest the interface gives a folder, computed here from its files:
/// the sha256 of one `<sha256 hex>  <path>\n` line per file, sorted by path
/// bytewise, which is what `sha256sum` prints for them.
fn folder_digest(files: &BTreeMap<String, Vec<u8>>) -> String {
    // A BTreeMap of Strings iterates in bytewise order of the paths.
    let mut listing = String::new();
    for (path, bytes) in files {
        let hex = sha256(bytes);
        let hex = hex.strip_prefix("sha256:").expect("sha256 digest");
        listing.push_str(&format!("{hex}  {path}\n"));
    }
    sha256(listing.as_bytes())
}

/// A folder to push from (PATHs are relative to it) holding `files`.
fn source_with(files: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("source dir");
    write_files(dir.path(), files);
    dir
}

/// `files` as a map from path to bytes, as snapshots compare.
fn file_map(files: &[(&str, Vec<u8>)]) -> BTreeMap<String, Vec<u8>> {
    files
        .iter()
        .map(|(path, bytes)| ((*path).to_owned(), bytes.clone()))
        .collect()
}

/// The blobs of the folder tests: the template collection, one file
/// deeper down, a folder marker (which a pull skips) and, outside the
/// prefix, blobs whose names merely start the same way.
fn upload_template_folder(
    sdk: &Sdk,
    container: &str,
    public: Option<Public>,
) -> BTreeMap<String, Vec<u8>> {
    let mut files = content::templates();
    files.push(("z/deep/er/notes.txt", b"nested three deep\n".to_vec()));
    let src = source_with(&files);
    sdk.create_container(container, public);
    sdk.upload_dir(container, "templates/", src.path());
    sdk.upload(container, "templates/Resource/", b"", None);
    sdk.upload(container, "templates-old/ADT_A01.liquid", b"old", None);
    sdk.upload(container, "templates.txt", b"beside", None);
    assert_eq!(
        sdk.list(container, "templates/").len(),
        7,
        "seven blobs under the prefix, more than three pages of two"
    );
    file_map(&files)
}
