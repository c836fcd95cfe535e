//! The built-in `default` store: a de-identification configuration and a
//! sample Liquid template collection, compiled into the binary, so that
//! `artifact-store pull default/anonymization:latest` works with no config
//! file and no network.
//!
//! On first use in a process the artifacts are pushed, through the layout
//! component with a write grant on a fresh private folder, into an OCI
//! image layout; from then on the store is read like any layout store,
//! read-only.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::runtime::{
    CallLimits, Credentials, GuestFile, PushLayer, PushRequest, Runtime, StoreAccess,
};
use crate::sandbox::{Grant, Preopen};

/// One built-in artifact: a repository and its files, each pushed as a
/// layer titled with its path, so a pull writes them at the top of the
/// output folder.
struct BuiltIn {
    repository: &'static str,
    artifact_type: &'static str,
    files: &'static [(&'static str, &'static [u8])],
}

macro_rules! file {
    ($path:literal) => {
        (
            $path,
            include_bytes!(concat!("../defaults/", $path)) as &[u8],
        )
    };
}

/// What the `default` store holds, each at the tag `latest`.
const BUILT_IN: &[BuiltIn] = &[
    BuiltIn {
        repository: "anonymization",
        artifact_type: "application/vnd.microsoft.health.anonymization.config.v1+json",
        files: &[file!("anonymization/anonymization.json")],
    },
    BuiltIn {
        repository: "templates",
        artifact_type: "application/vnd.microsoft.health.templates.liquid.v1",
        files: &[
            file!("templates/Bundle.liquid"),
            file!("templates/Patient.liquid"),
            file!("templates/partials/_ContactPoint.liquid"),
            file!("templates/partials/_HumanName.liquid"),
        ],
    },
];

/// Longest the first-use write may take.
const WRITE_TIMEOUT: Duration = Duration::from_secs(60);

/// Memory for the write: the artifacts are a few kilobytes.
const WRITE_MEMORY: usize = 64 << 20;

/// Writes the default store's layout into a new private temporary folder
/// (mode 0700, random name), removed when the returned value is dropped.
///
/// Each process writes its own: a few kilobytes through the already
/// compiled layout component take milliseconds, and no folder another user
/// could prepare or tamper with is ever trusted.
pub async fn materialize(runtime: &Runtime) -> Result<tempfile::TempDir, Error> {
    let folder = tempfile::Builder::new()
        .prefix("artifact-store-default-")
        .tempdir()
        .map_err(|err| {
            Error::new(
                ErrorKind::FailedToConnectToArtifactStore,
                format!(
                    "cannot create a temporary folder for the default store in {}: {err}",
                    std::env::temp_dir().display()
                ),
            )
        })?;
    for artifact in BUILT_IN {
        push(runtime, folder.path(), artifact).await?;
    }
    Ok(folder)
}

async fn push(runtime: &Runtime, folder: &Path, artifact: &BuiltIn) -> Result<(), Error> {
    let request = PushRequest {
        reference: format!(
            "{}/{}:latest",
            crate::config::DEFAULT_STORE,
            artifact.repository
        ),
        access: StoreAccess {
            plain_http: false,
            credentials: Credentials::Anonymous,
            blob: None,
        },
        layers: artifact
            .files
            .iter()
            .map(|(path, content)| {
                // Titles are relative to the artifact: `Patient.liquid`,
                // `partials/_HumanName.liquid`.
                let title = path
                    .strip_prefix(artifact.repository)
                    .and_then(|rest| rest.strip_prefix('/'))
                    .unwrap_or(path);
                PushLayer::File(GuestFile {
                    path: title.to_owned(),
                    content: content.to_vec(),
                })
            })
            .collect(),
        artifact_type: Some(artifact.artifact_type.to_owned()),
        annotations: Vec::new(),
    };
    let limits = CallLimits {
        memory: WRITE_MEMORY,
        timeout: WRITE_TIMEOUT,
        cpu_time: None,
        max_output: None,
        preopen: Some(Preopen {
            host: folder.to_path_buf(),
            writable: true,
        }),
    };
    runtime
        .push(Grant::none(), limits, Arc::default(), &request)
        .await?;
    Ok(())
}
