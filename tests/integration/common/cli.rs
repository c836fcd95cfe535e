//! Running the `artifact-store` binary the way a user does, and writing the
//! config files it reads.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::process::{self, Output};

/// The variable the configs name for the store password. Set on the child
/// only, so tests running in parallel never see each other's.
pub const PASSWORD_ENV: &str = "ARTIFACT_STORE_TEST_PASSWORD";

/// Every error name the CLI reports, as the README lists them: for
/// failures whose exact name the contract leaves open.
pub const ERROR_NAMES: &[&str] = &[
    "FailedToConnectToArtifactStore",
    "TooLargeArtifacts",
    "InvalidReference",
    "ArtifactNotFound",
    "Unauthorized",
    "Forbidden",
    "DigestMismatch",
    "InvalidManifest",
    "InvalidContent",
    "PreconditionFailed",
    "Timeout",
    "RequestDenied",
    "InvalidConfiguration",
    "InvalidInput",
    "OutputError",
    "ProviderFailed",
    "StoreError",
];

/// A pull of a few files takes well under a second; the first run of a
/// debug build also compiles the component, which takes longer.
const CLI_TIMEOUT: Duration = Duration::from_secs(180);

/// One `[[store]]` entry.
#[derive(Clone, Default)]
pub struct Store {
    pub registry: String,
    pub username: Option<String>,
    /// When set, `password-env` names [`PASSWORD_ENV`].
    pub password_env: bool,
    pub password_file: Option<PathBuf>,
    pub allow_hosts: Vec<String>,
}

impl Store {
    /// An anonymous plain-HTTP store at `registry`.
    pub fn oci(registry: &str) -> Store {
        Store {
            registry: registry.to_owned(),
            ..Store::default()
        }
    }

    /// A plain-HTTP store with `username` and a password from the
    /// environment.
    pub fn with_user(registry: &str, username: &str) -> Store {
        Store {
            registry: registry.to_owned(),
            username: Some(username.to_owned()),
            password_env: true,
            ..Store::default()
        }
    }
}

/// A config file in its own temporary folder.
pub struct Config {
    dir: tempfile::TempDir,
}

impl Config {
    /// Writes `stores` and the `(operation, max-size)` pairs.
    pub fn new(stores: &[Store], operations: &[(&str, &str)]) -> Config {
        let mut text = String::new();
        for store in stores {
            text.push_str("[[store]]\nkind = \"oci\"\n");
            writeln!(text, "registry = \"{}\"\nplain-http = true", store.registry).unwrap();
            if let Some(username) = &store.username {
                writeln!(text, "username = \"{username}\"").unwrap();
            }
            if store.password_env {
                writeln!(text, "password-env = \"{PASSWORD_ENV}\"").unwrap();
            }
            if let Some(file) = &store.password_file {
                writeln!(text, "password-file = \"{}\"", file.display()).unwrap();
            }
            if !store.allow_hosts.is_empty() {
                let hosts: Vec<String> = store
                    .allow_hosts
                    .iter()
                    .map(|h| format!("\"{h}\""))
                    .collect();
                writeln!(text, "allow-hosts = [{}]", hosts.join(", ")).unwrap();
            }
            text.push('\n');
        }
        for (name, max_size) in operations {
            writeln!(text, "[operation.{name}]\nmax-size = \"{max_size}\"\n").unwrap();
        }

        Config::from_toml(&text)
    }

    /// Writes `text` as the config file, as it stands: for stores that
    /// [`Store`] does not describe, such as Azure Blob accounts.
    pub fn from_toml(text: &str) -> Config {
        let dir = tempfile::tempdir().expect("config dir");
        fs::write(dir.path().join("artifact-store.toml"), text).expect("write config");
        Config { dir }
    }

    pub fn path(&self) -> PathBuf {
        self.dir.path().join("artifact-store.toml")
    }

    /// `artifact-store --config <this> <args>`, with `password` (if any) in
    /// [`PASSWORD_ENV`].
    pub fn run(&self, args: &[&str], password: Option<&str>) -> Run {
        self.command(args, password).run()
    }

    /// As [`Config::run`], with `dir` as the working folder: push takes the
    /// layer titles from its PATH as given, so tests push relative paths.
    pub fn run_in(&self, dir: &Path, args: &[&str], password: Option<&str>) -> Run {
        let mut command = self.command(args, password);
        command.0.current_dir(dir);
        command.run()
    }

    /// `push <path> <reference> <extra>` from `dir`, without a password.
    pub fn push(&self, dir: &Path, path: &str, reference: &str, extra: &[&str]) -> Run {
        let mut args = vec!["push", path, reference];
        args.extend_from_slice(extra);
        self.run_in(dir, &args, None)
    }

    /// As [`Config::run`], with each `(name, value)` of `env` set on the
    /// child only: for secrets in variables that configs name freely.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        self.command_with_env(args, env).run()
    }

    /// As [`Config::run_in`], with `env` set on the child only.
    pub fn run_in_with_env(&self, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut command = self.command_with_env(args, env);
        command.0.current_dir(dir);
        command.run()
    }

    fn command(&self, args: &[&str], password: Option<&str>) -> CliCommand {
        match password {
            Some(password) => self.command_with_env(args, &[(PASSWORD_ENV, password)]),
            None => self.command_with_env(args, &[]),
        }
    }

    fn command_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> CliCommand {
        let mut command = artifact_store();
        command.arg("--config").arg(self.path()).args(args);
        for (name, value) in env {
            command.env(name, value);
        }
        CliCommand(command)
    }

    /// `pull <reference> --output <output> <extra>`.
    pub fn pull(&self, reference: &str, output: &Path, extra: &[&str]) -> Run {
        let output = output.to_str().expect("utf-8 temp path");
        let mut args = vec!["pull", reference, "--output", output];
        args.extend_from_slice(extra);
        self.run(&args, None)
    }
}

/// A CLI invocation not yet started.
struct CliCommand(Command);

impl CliCommand {
    fn run(self) -> Run {
        Run::from(process::run(self.0, CLI_TIMEOUT))
    }
}

/// The binary under test, with a clean environment as far as it matters:
/// no config from the caller's shell, no proxy, quiet logs.
pub fn artifact_store() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_artifact-store"));
    for var in [
        "ARTIFACT_STORE_CONFIG",
        PASSWORD_ENV,
        // The variables Azure tools read, which the Blob tests' configs
        // name too: only what a test sets may reach the child.
        "AZURE_STORAGE_KEY",
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_SAS_TOKEN",
        "RUST_LOG",
        "http_proxy",
        "https_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
    ] {
        command.env_remove(var);
    }
    command
}

/// The result of one CLI run.
#[derive(Debug)]
pub struct Run {
    pub output: Output,
}

impl From<Output> for Run {
    fn from(output: Output) -> Run {
        Run { output }
    }
}

impl Run {
    pub fn stdout(&self) -> &str {
        &self.output.stdout
    }

    pub fn stderr(&self) -> &str {
        &self.output.stderr
    }

    /// Asserts that the run succeeded and returns its stdout.
    pub fn success(&self) -> &str {
        assert!(
            self.output.status.success(),
            "artifact-store failed:\n{}",
            self.output.stderr
        );
        &self.output.stdout
    }

    /// Asserts that the run failed with `name` (the contract: a non-zero
    /// exit, and stderr's last line starts with `<name>: `). Returns that
    /// line.
    pub fn failure(&self, name: &str) -> String {
        self.failure_one_of(&[name]).1
    }

    /// Asserts that the run failed with one of `names`; returns the name
    /// and stderr's last line.
    pub fn failure_one_of(&self, names: &[&str]) -> (String, String) {
        assert!(
            !self.output.status.success(),
            "expected one of {names:?}, but artifact-store succeeded; stdout:\n{}",
            self.output.stdout
        );
        let last = self
            .output
            .stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or_default();
        let Some(name) = names
            .iter()
            .find(|name| last.starts_with(&format!("{name}: ")))
        else {
            panic!(
                "expected the last stderr line to start with one of {names:?} and `: `; \
                 stderr:\n{}",
                self.output.stderr
            );
        };
        // Shown with `--nocapture`, to read what users would see.
        eprintln!("artifact-store said: {last}");
        ((*name).to_owned(), last.to_owned())
    }
}

/// A folder to pull into: `out()` does not exist yet, and
/// [`Workdir::assert_unchanged`] checks that a failed pull left no trace
/// beside it either (no half-written output, no temporary folder).
pub struct Workdir {
    dir: tempfile::TempDir,
}

impl Default for Workdir {
    fn default() -> Workdir {
        Workdir {
            dir: tempfile::tempdir().expect("work dir"),
        }
    }
}

impl Workdir {
    pub fn new() -> Workdir {
        Workdir::default()
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The output folder, `<workdir>/out`.
    pub fn out(&self) -> PathBuf {
        self.dir.path().join("out")
    }

    /// Everything in the work dir now.
    pub fn snapshot(&self) -> super::content::Snapshot {
        super::content::snapshot(self.dir.path())
    }

    /// Asserts that the work dir holds exactly what `before` did.
    pub fn assert_unchanged(&self, before: &super::content::Snapshot) {
        let now = self.snapshot();
        let paths: Vec<&String> = now.keys().collect();
        assert!(
            &now == before,
            "the failed pull changed {}: it now holds {paths:?}",
            self.dir.path().display()
        );
    }
}
