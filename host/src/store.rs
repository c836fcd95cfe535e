//! The artifact store as operations see it: a reference in, verified files
//! out, routed to the store registered for the reference.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use artifact_store_core::Reference;
use sha2::{Digest, Sha256};

use crate::config::{Config, CredentialSource, OciStore, Store};
use crate::error::{Error, ErrorKind};
use crate::input::PushInput;
use crate::output::OutputFile;
use crate::runtime::{
    BasicCredentials, CallLimits, Credentials, FetchRequest, GuestArtifact, GuestDescriptor,
    GuestFile, GuestFolder, PushLayer, PushRequest, Runtime, StoreAccess,
};
use crate::sandbox::{Authority, Grant};

/// Linear memory a provider instance may use beyond twice the artifact
/// limit (the compressed layers and the unpacked files): code, stacks,
/// manifests and HTTP buffers.
const MEMORY_HEADROOM: u64 = 64 << 20;

/// The least memory cap, so that tiny limits still leave room to work.
const MEMORY_FLOOR: u64 = 128 << 20;

/// A 32-bit component cannot address more.
const MEMORY_CEILING: u64 = 4 << 30;

/// The artifacts of the registered stores.
pub struct ArtifactStore {
    config: Config,
    runtime: OnceLock<Result<Runtime, Error>>,
}

/// How to pull.
#[derive(Debug, Clone)]
pub struct PullOptions {
    /// The operation whose size limit applies.
    pub operation: String,
    /// An entity tag the artifact must still have (stores with entity
    /// tags only).
    pub if_match: Option<String>,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            operation: crate::config::DEFAULT_OPERATION.to_owned(),
            if_match: None,
        }
    }
}

/// How to push.
#[derive(Debug, Clone, Default)]
pub struct PushOptions {
    /// The manifest's `artifactType`; `None` leaves the provider's default
    /// (`application/vnd.unknown.artifact.v1`).
    pub artifact_type: Option<String>,
    /// Annotations of the manifest, in order.
    pub annotations: Vec<(String, String)>,
}

/// A pulled, verified artifact.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The reference as given, in canonical form.
    pub reference: String,
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The manifest bytes as served.
    pub manifest_bytes: Vec<u8>,
    /// The store's entity tag, where it has them.
    pub etag: Option<String>,
    /// The files, each path once.
    pub files: Vec<ArtifactFile>,
}

impl Artifact {
    /// The total size of the files.
    pub fn size(&self) -> u64 {
        self.files.iter().map(|f| f.content.len() as u64).sum()
    }
}

/// One file of an artifact.
#[derive(Debug, Clone)]
pub struct ArtifactFile {
    /// A relative `/`-separated path, checked by the host.
    pub path: String,
    /// The bytes.
    pub content: Vec<u8>,
}

impl OutputFile for ArtifactFile {
    fn path(&self) -> &str {
        &self.path
    }
    fn content(&self) -> &[u8] {
        &self.content
    }
}

/// Content named by its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    pub artifact_type: Option<String>,
}

impl ArtifactStore {
    /// A store over the given configuration. The provider component is
    /// loaded on first use, so that a bad reference fails without it.
    pub fn new(config: Config) -> ArtifactStore {
        ArtifactStore {
            config,
            runtime: OnceLock::new(),
        }
    }

    /// The configuration in use.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Pulls an artifact. `received` counts the bytes that arrive over the
    /// network, for progress reports.
    pub async fn pull(
        &self,
        reference: &str,
        options: &PullOptions,
        received: Arc<AtomicU64>,
    ) -> Result<Artifact, Error> {
        let max_size = self.config.max_size(&options.operation)?;
        let (parsed, store, oci) = self.route(reference)?;
        let request = FetchRequest {
            reference: parsed.to_string(),
            access: access(oci)?,
            max_size,
            if_match: options.if_match.clone(),
        };
        tracing::info!(reference = %parsed, operation = %options.operation, max_size, "pulling");

        let artifact = self
            .runtime()?
            .fetch(
                grant(store, oci)?,
                limits(store, max_size),
                received,
                &request,
            )
            .await?;
        verify(&parsed, max_size, artifact)
    }

    /// Resolves a reference to its manifest's descriptor without pulling
    /// any layer.
    pub async fn resolve(&self, reference: &str) -> Result<Descriptor, Error> {
        let (parsed, store, oci) = self.route(reference)?;
        let descriptor = self
            .runtime()?
            .resolve(
                grant(store, oci)?,
                limits(store, 0),
                &parsed.to_string(),
                &access(oci)?,
            )
            .await?;
        let descriptor = checked_descriptor(descriptor)?;
        if let Some(pinned) = &parsed.digest {
            if *pinned != descriptor.digest {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!(
                        "asked for {pinned} but the provider resolved {}",
                        descriptor.digest
                    ),
                ));
            }
        }
        Ok(descriptor)
    }

    /// Publishes a file or a folder read by [`crate::input::read`], and
    /// returns the manifest's descriptor. `sent` counts the response bytes
    /// received, for progress reports.
    pub async fn push(
        &self,
        input: PushInput,
        reference: &str,
        options: &PushOptions,
        sent: Arc<AtomicU64>,
    ) -> Result<Descriptor, Error> {
        let (parsed, store, oci) = self.route(reference)?;
        if let Some(digest) = &parsed.digest {
            return Err(Error::new(
                ErrorKind::InvalidReference,
                format!("{reference} names a digest ({digest}); push to a tag, the digest is what a push produces"),
            ));
        }
        let size = input.size();
        let layer = match input {
            PushInput::File { path, content } => PushLayer::File(GuestFile { path, content }),
            PushInput::Folder { name, files } => PushLayer::Folder(GuestFolder {
                name,
                files: files
                    .into_iter()
                    .map(|(path, content)| GuestFile { path, content })
                    .collect(),
            }),
        };
        let request = PushRequest {
            reference: parsed.to_string(),
            access: access(oci)?,
            layers: vec![layer],
            artifact_type: options.artifact_type.clone(),
            annotations: options.annotations.clone(),
        };
        tracing::info!(reference = %parsed, size, "pushing");

        // The guest holds the files, the packed layer and its upload
        // buffers: about three times the input.
        let limits = limits(store, size.saturating_mul(3) / 2);
        let descriptor = self
            .runtime()?
            .push(grant(store, oci)?, limits, sent, &request)
            .await?;
        checked_descriptor(descriptor)
    }

    /// Parses the reference and finds its store, before any network call.
    fn route(&self, reference: &str) -> Result<(Reference, &Store, &OciStore), Error> {
        let parsed = Reference::parse(reference)
            .map_err(|err| Error::new(ErrorKind::InvalidReference, err.to_string()))?;
        let (store, oci) = self.config.oci_store(&parsed.registry).ok_or_else(|| {
            Error::new(
                ErrorKind::FailedToConnectToArtifactStore,
                format!(
                    "no store is registered for registry {} ({}); add a [[store]] with \
                     kind = \"oci\" and registry = \"{}\"",
                    parsed.registry,
                    self.config.describe_source(),
                    parsed.registry
                ),
            )
        })?;
        Ok((parsed, store, oci))
    }

    fn runtime(&self) -> Result<&Runtime, Error> {
        self.runtime
            .get_or_init(Runtime::first_party)
            .as_ref()
            .map_err(Clone::clone)
    }
}

/// Reads the store's credentials for one call.
fn access(oci: &OciStore) -> Result<StoreAccess, Error> {
    let credentials = match &oci.credentials {
        CredentialSource::Anonymous => Credentials::Anonymous,
        CredentialSource::Basic { username, password } => Credentials::Basic(BasicCredentials {
            username: username.clone(),
            password: password.read(&oci.registry)?.expose().to_owned(),
        }),
        CredentialSource::Bearer(token) => {
            Credentials::Bearer(token.read(&oci.registry)?.expose().to_owned())
        }
    };
    Ok(StoreAccess {
        plain_http: oci.plain_http,
        credentials,
    })
}

fn grant(store: &Store, oci: &OciStore) -> Result<Grant, Error> {
    let parse = |text: &str| {
        Authority::parse(text).ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidConfiguration,
                format!("{text:?} is not host[:port]"),
            )
        })
    };
    Ok(Grant {
        store: parse(&oci.registry)?,
        extra: store
            .allow_hosts
            .iter()
            .map(|host| parse(host))
            .collect::<Result<_, _>>()?,
        plain_http: oci.plain_http,
    })
}

fn limits(store: &Store, max_size: u64) -> CallLimits {
    let memory = max_size
        .saturating_mul(2)
        .saturating_add(MEMORY_HEADROOM)
        .clamp(MEMORY_FLOOR, MEMORY_CEILING);
    CallLimits {
        memory: usize::try_from(memory).unwrap_or(usize::MAX),
        timeout: store.timeout,
    }
}

/// What the host checks itself rather than trusting the provider: the
/// manifest bytes hash to the digest reported and pinned, the files fit the
/// limit, and every path is a plain relative path given once.
fn verify(
    reference: &Reference,
    max_size: u64,
    artifact: GuestArtifact,
) -> Result<Artifact, Error> {
    let refuse = |message: String| Error::new(ErrorKind::ProviderFailed, message);

    let digest = &artifact.manifest.digest;
    check_digest_syntax(digest)?;
    let actual = format!("sha256:{:x}", Sha256::digest(&artifact.manifest_bytes));
    if &actual != digest {
        return Err(Error::new(
            ErrorKind::DigestMismatch,
            format!("the manifest bytes hash to {actual}, not to the reported {digest}"),
        ));
    }
    if let Some(pinned) = &reference.digest {
        if pinned != digest {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!(
                    "the reference pins {pinned} but the manifest returned is {digest}; \
                     pin the digest of an image manifest, not of an index"
                ),
            ));
        }
    }

    let mut total: u64 = 0;
    let mut seen = std::collections::HashSet::new();
    for file in &artifact.files {
        total = total.saturating_add(file.content.len() as u64);
        match artifact_store_core::normalize_entry_path(&file.path) {
            Ok(normal) if normal == file.path => {}
            _ => {
                return Err(refuse(format!(
                    "the provider returned the unsafe path {:?}",
                    file.path
                )))
            }
        }
        if !seen.insert(file.path.as_str()) {
            return Err(refuse(format!(
                "the provider returned {:?} twice",
                file.path
            )));
        }
    }
    if total > max_size {
        return Err(Error::new(
            ErrorKind::TooLargeArtifacts,
            format!("the artifact holds {total} bytes, over the operation's limit of {max_size}"),
        ));
    }

    Ok(Artifact {
        reference: reference.to_string(),
        manifest: Descriptor {
            media_type: artifact.manifest.media_type,
            digest: artifact.manifest.digest,
            size: artifact.manifest.size,
            artifact_type: artifact.manifest.artifact_type,
        },
        manifest_bytes: artifact.manifest_bytes,
        etag: artifact.etag,
        files: artifact
            .files
            .into_iter()
            .map(|f| ArtifactFile {
                path: f.path,
                content: f.content,
            })
            .collect(),
    })
}

fn checked_descriptor(descriptor: GuestDescriptor) -> Result<Descriptor, Error> {
    check_digest_syntax(&descriptor.digest)?;
    Ok(Descriptor {
        media_type: descriptor.media_type,
        digest: descriptor.digest,
        size: descriptor.size,
        artifact_type: descriptor.artifact_type,
    })
}

fn check_digest_syntax(digest: &str) -> Result<(), Error> {
    let ok = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::ProviderFailed,
            format!("the provider reported {digest:?}, which is not a sha256 digest"),
        ))
    }
}
