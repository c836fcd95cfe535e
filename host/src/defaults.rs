//! The built-in `default` store: a de-identification configuration and a
//! sample Liquid template collection, compiled into the binary, so that
//! `artifact-store pull default/anonymization:latest` works with no config
//! file and no network.
//!
//! On first use the artifacts are pushed, through the layout component with
//! a write grant on a fresh folder, into an OCI image layout in the cache
//! folder; from then on the store is read like any layout store, read-only.
//! The folder's name carries a hash of the artifacts and of the component,
//! so a new binary never reads an old layout.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind};
use crate::runtime::{
    cache_dir, CallLimits, Credentials, GuestFile, PushLayer, PushRequest, Runtime, StoreAccess,
    LAYOUT_COMPONENT,
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

/// Returns the folder of the default store's layout, writing it first if
/// this binary has not written it yet.
pub async fn materialize(runtime: &Runtime) -> Result<PathBuf, Error> {
    let base = cache_dir().unwrap_or_else(|| std::env::temp_dir().join("artifact-store"));
    let target = base.join(format!("default-store-{}", fingerprint()));
    if target.join("index.json").is_file() {
        return Ok(target);
    }

    let failed = |what: &str, err: &dyn std::fmt::Display| {
        Error::new(
            ErrorKind::FailedToConnectToArtifactStore,
            format!(
                "cannot write the default store to {}: {what}: {err}",
                base.display()
            ),
        )
    };
    std::fs::create_dir_all(&base).map_err(|err| failed("creating the folder", &err))?;
    let staging = tempfile::Builder::new()
        .prefix(".default-store-")
        .tempdir_in(&base)
        .map_err(|err| failed("creating a folder", &err))?;

    for artifact in BUILT_IN {
        push(runtime, staging.path(), artifact).await?;
    }

    match std::fs::rename(staging.path(), &target) {
        Ok(()) => {
            let _ = staging.keep();
            Ok(target)
        }
        // Another process wrote the same layout first: use theirs.
        Err(_) if target.join("index.json").is_file() => Ok(target),
        Err(err) => Err(failed("moving it into place", &err)),
    }
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

/// A short hash of the built-in artifacts and of the layout component.
fn fingerprint() -> String {
    let mut hasher = Sha256::new();
    for artifact in BUILT_IN {
        hasher.update(artifact.repository.as_bytes());
        for (path, content) in artifact.files {
            hasher.update(path.as_bytes());
            hasher.update((content.len() as u64).to_le_bytes());
            hasher.update(content);
        }
    }
    hasher.update(LAYOUT_COMPONENT);
    format!("{:x}", hasher.finalize())[..16].to_owned()
}
