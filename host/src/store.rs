//! The artifact store as operations see it: a reference in, verified files
//! out, routed to the store registered for the reference.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use artifact_store_core::Reference;
use sha2::{Digest, Sha256};

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{Config, CredentialSource, OciStore, Store, DEFAULT_STORE};
use crate::error::{Error, ErrorKind};
use crate::input::PushInput;
use crate::output::OutputFile;
use crate::runtime::{
    cache_dir, BasicCredentials, CallLimits, Credentials, FetchRequest, GuestArtifact,
    GuestDescriptor, GuestFile, GuestFolder, PushLayer, PushRequest, Runtime, StoreAccess,
    FIRST_PARTY_PROVIDER, LAYOUT_COMPONENT,
};
use crate::sandbox::{Authority, Grant, Preopen};

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
    provider: OnceLock<Result<Runtime, Error>>,
    layout: OnceLock<Result<Runtime, Error>>,
    default_layout: OnceLock<Result<tempfile::TempDir, Error>>,
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
    /// A store over the given configuration. Components are loaded on
    /// first use, so that a bad reference fails without them.
    pub fn new(config: Config) -> ArtifactStore {
        ArtifactStore {
            config,
            provider: OnceLock::new(),
            layout: OnceLock::new(),
            default_layout: OnceLock::new(),
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
        let route = self.route(reference)?;
        let access = route.access()?;
        let secrets = secrets_of(&access);
        let request = FetchRequest {
            reference: route.reference.clone(),
            access,
            max_size,
            if_match: options.if_match.clone(),
        };
        tracing::info!(reference = %route.reference, operation = %options.operation, max_size, "pulling");

        let limits = route.limits(max_size, false).await?;
        let artifact = self
            .runtime(route.component)
            .await?
            .fetch(route.grant()?, limits, received, &request)
            .await
            .map_err(|err| route.explain(err, &secrets))?;
        verify(&route, max_size, artifact)
    }

    /// Resolves a reference to its manifest's descriptor without pulling
    /// any layer.
    pub async fn resolve(&self, reference: &str) -> Result<Descriptor, Error> {
        let route = self.route(reference)?;
        let limits = route.limits(0, false).await?;
        let access = route.access()?;
        let secrets = secrets_of(&access);
        let descriptor = self
            .runtime(route.component)
            .await?
            .resolve(route.grant()?, limits, &route.reference, &access)
            .await
            .map_err(|err| route.explain(err, &secrets))?;
        let descriptor = checked_descriptor(descriptor)?;
        if let Some(pinned) = &route.parsed.digest {
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
    /// returns the manifest's descriptor. `received` counts the response
    /// bytes received, for progress reports.
    pub async fn push(
        &self,
        input: PushInput,
        reference: &str,
        options: &PushOptions,
        received: Arc<AtomicU64>,
    ) -> Result<Descriptor, Error> {
        let route = self.route(reference)?;
        if let Some(digest) = &route.parsed.digest {
            return Err(Error::new(
                ErrorKind::InvalidReference,
                format!(
                    "{reference} names a digest ({digest}); push to a tag, the digest is \
                     what a push produces"
                ),
            ));
        }
        let size = input.size();
        let access = route.access()?;
        let secrets = secrets_of(&access);
        let request = PushRequest {
            reference: route.reference.clone(),
            access,
            layers: vec![push_layer(input)],
            artifact_type: options.artifact_type.clone(),
            annotations: options.annotations.clone(),
        };
        tracing::info!(reference = %route.reference, size, "pushing");

        // The guest holds the files, the packed layer and its upload
        // buffers: about three times the input.
        let limits = route.limits(size.saturating_mul(3) / 2, true).await?;
        // Pushes to one layout folder, from this process or another, take
        // turns: each rewrites index.json from what it read.
        let _lock = match &limits.preopen {
            Some(preopen) if preopen.writable => {
                Some(lock_folder(&preopen.host, limits.timeout).await?)
            }
            _ => None,
        };
        let descriptor = self
            .runtime(route.component)
            .await?
            .push(route.grant()?, limits, received, &request)
            .await
            .map_err(|err| route.explain(err, &secrets))?;
        checked_descriptor(descriptor)
    }

    /// Parses the reference and finds its store, before any network call.
    ///
    /// A reference whose first segment is a plain name (no `.` or `:`, not
    /// `localhost`) names a layout store; any other names a registry.
    fn route(&self, reference: &str) -> Result<Route<'_>, Error> {
        let reference = reference.trim();
        if let Some((name, rest)) = reference.split_once('/') {
            if is_store_name(name) {
                return self.route_layout(reference, name, rest);
            }
        }

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
        Ok(Route {
            reference: parsed.to_string(),
            parsed,
            component: Component::Provider,
            store: Target::Oci(store, oci),
        })
    }

    fn route_layout(&self, reference: &str, name: &str, rest: &str) -> Result<Route<'_>, Error> {
        // The rest follows the registry grammar; a placeholder registry
        // lets the same parser check it.
        let parsed = Reference::parse(&format!("localhost/{rest}")).map_err(|err| {
            Error::new(ErrorKind::InvalidReference, format!("{reference}: {err}"))
        })?;
        let target = match self.config.layout_store(name) {
            Some((store, layout)) => Target::Layout {
                path: LayoutPath::Configured(layout.path.clone()),
                writable: layout.writable,
                timeout: store.timeout,
            },
            None if name == DEFAULT_STORE => Target::Layout {
                path: LayoutPath::BuiltIn(self),
                writable: false,
                timeout: DEFAULT_STORE_TIMEOUT,
            },
            None => {
                return Err(Error::new(
                    ErrorKind::FailedToConnectToArtifactStore,
                    format!(
                        "no store named {name} is registered ({}); add a [[store]] with \
                         kind = \"oci-layout\", name = \"{name}\" and its path",
                        self.config.describe_source()
                    ),
                ))
            }
        };
        let canonical = parsed.to_string();
        let canonical = canonical.strip_prefix("localhost/").unwrap_or(&canonical);
        Ok(Route {
            reference: format!("{name}/{canonical}"),
            parsed,
            component: Component::Layout,
            store: target,
        })
    }

    async fn runtime(&self, component: Component) -> Result<&Runtime, Error> {
        let (cell, bytes) = match component {
            Component::Provider => (&self.provider, FIRST_PARTY_PROVIDER),
            Component::Layout => (&self.layout, LAYOUT_COMPONENT),
        };
        cell.get_or_init(|| Runtime::load(bytes, cache_dir().as_deref()))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The folder of the built-in default store, written on first use from
    /// the artifacts compiled into the binary.
    async fn default_layout(&self) -> Result<PathBuf, Error> {
        if self.default_layout.get().is_none() {
            let runtime = self.runtime(Component::Layout).await?;
            let written = crate::defaults::materialize(runtime).await;
            // A concurrent first use may have won; its folder serves as well.
            let _ = self.default_layout.set(written);
        }
        match self.default_layout.get() {
            Some(Ok(folder)) => Ok(folder.path().to_path_buf()),
            Some(Err(err)) => Err(err.clone()),
            None => unreachable!("set just above"),
        }
    }
}

/// Most time the built-in store may take for a call: it reads a few
/// kilobytes from a local folder.
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(60);

/// Whether the first segment of a reference is a store name rather than a
/// registry: registries carry a `.` or a `:`, or are `localhost`.
fn is_store_name(segment: &str) -> bool {
    !segment.is_empty()
        && segment != "localhost"
        && segment
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Which component serves a store.
#[derive(Debug, Clone, Copy)]
enum Component {
    Provider,
    Layout,
}

/// Where a reference leads.
struct Route<'a> {
    /// The reference as the component receives it.
    reference: String,
    /// The reference parsed, for the host's own checks.
    parsed: Reference,
    component: Component,
    store: Target<'a>,
}

enum Target<'a> {
    Oci(&'a Store, &'a OciStore),
    Layout {
        path: LayoutPath<'a>,
        writable: bool,
        timeout: Duration,
    },
}

enum LayoutPath<'a> {
    Configured(PathBuf),
    /// The built-in default store, materialised by its owner on first use.
    BuiltIn(&'a ArtifactStore),
}

impl Route<'_> {
    /// Makes a component's error safe and clear to show: no credential it
    /// was given (a hostile store may echo them), and a layout store's
    /// folder called by its real name rather than the component's view.
    fn explain(&self, err: Error, secrets: &[String]) -> Error {
        let err = err.redact(secrets);
        match &self.store {
            Target::Layout {
                path: LayoutPath::Configured(path),
                ..
            } if err.message().contains(Preopen::GUEST_PATH) => {
                let message = err
                    .message()
                    .replace(Preopen::GUEST_PATH, &path.display().to_string());
                Error::new(err.kind(), message)
            }
            _ => err,
        }
    }

    fn access(&self) -> Result<StoreAccess, Error> {
        match &self.store {
            Target::Oci(_, oci) => access(oci),
            Target::Layout { .. } => Ok(StoreAccess {
                plain_http: false,
                credentials: Credentials::Anonymous,
            }),
        }
    }

    fn grant(&self) -> Result<Grant, Error> {
        match &self.store {
            Target::Oci(store, oci) => grant(store, oci),
            Target::Layout { .. } => Ok(Grant::none()),
        }
    }

    /// The limits of a call handling about `size` bytes; `write` asks for a
    /// layout store's write grant, which only a store configured with
    /// `writable = true` gives.
    async fn limits(&self, size: u64, write: bool) -> Result<CallLimits, Error> {
        let memory = usize::try_from(
            size.saturating_mul(2)
                .saturating_add(MEMORY_HEADROOM)
                .clamp(MEMORY_FLOOR, MEMORY_CEILING),
        )
        .unwrap_or(usize::MAX);
        match &self.store {
            Target::Oci(store, _) => Ok(CallLimits {
                memory,
                timeout: store.timeout,
                preopen: None,
            }),
            Target::Layout {
                path,
                writable,
                timeout,
            } => {
                let host = match path {
                    LayoutPath::Configured(path) => path.clone(),
                    LayoutPath::BuiltIn(owner) => owner.default_layout().await?,
                };
                if write && !writable {
                    let name = self.reference.split('/').next().unwrap_or_default();
                    let message = match path {
                        LayoutPath::BuiltIn(_) => format!(
                            "the built-in store {name} is read-only; push to a layout store \
                             of your own ([[store]] with kind = \"oci-layout\" and \
                             writable = true)"
                        ),
                        LayoutPath::Configured(_) => format!(
                            "the layout store {name} is read-only; set writable = true on \
                             its [[store]] to allow push"
                        ),
                    };
                    return Err(Error::new(ErrorKind::Forbidden, message));
                }
                if !host.is_dir() && !write {
                    return Err(Error::new(
                        ErrorKind::FailedToConnectToArtifactStore,
                        format!("the layout folder {} does not exist", host.display()),
                    ));
                }
                if write {
                    std::fs::create_dir_all(&host).map_err(|err| {
                        Error::new(
                            ErrorKind::FailedToConnectToArtifactStore,
                            format!("cannot create the layout folder {}: {err}", host.display()),
                        )
                    })?;
                }
                Ok(CallLimits {
                    memory,
                    timeout: *timeout,
                    preopen: Some(Preopen {
                        host,
                        writable: write,
                    }),
                })
            }
        }
    }
}

/// The lock file a push to a layout holds while it writes.
const LAYOUT_LOCK: &str = ".artifact-store.lock";

/// How often a push waiting for another one's lock looks again.
const LOCK_POLL: Duration = Duration::from_millis(20);

/// Takes the exclusive lock of a layout folder, waiting at most `timeout`.
/// The lock goes with the returned file.
async fn lock_folder(folder: &std::path::Path, timeout: Duration) -> Result<std::fs::File, Error> {
    let path = folder.join(LAYOUT_LOCK);
    let failed = |err: std::io::Error| {
        Error::new(
            ErrorKind::FailedToConnectToArtifactStore,
            format!("cannot lock {}: {err}", path.display()),
        )
    };
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(failed)?;
    let deadline = std::time::Instant::now() + timeout.min(Duration::from_secs(3600));
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if std::time::Instant::now() < deadline => {
                tokio::time::sleep(LOCK_POLL).await;
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    format!("another push held {} for too long", path.display()),
                ))
            }
            Err(std::fs::TryLockError::Error(err)) => return Err(failed(err)),
        }
    }
}

/// The forms in which a store's credentials could come back in a message:
/// as given, and as an HTTP Basic header carries them.
fn secrets_of(access: &StoreAccess) -> Vec<String> {
    use base64::Engine as _;
    match &access.credentials {
        Credentials::Anonymous => Vec::new(),
        Credentials::Basic(basic) => vec![
            basic.password.clone(),
            base64::engine::general_purpose::STANDARD
                .encode(format!("{}:{}", basic.username, basic.password)),
        ],
        Credentials::Bearer(token) => vec![token.clone()],
    }
}

fn push_layer(input: PushInput) -> PushLayer {
    match input {
        PushInput::File { path, content } => PushLayer::File(GuestFile { path, content }),
        PushInput::Folder { name, files } => PushLayer::Folder(GuestFolder {
            name,
            files: files
                .into_iter()
                .map(|(path, content)| GuestFile { path, content })
                .collect(),
        }),
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
        store: Some(parse(&oci.registry)?),
        extra: store
            .allow_hosts
            .iter()
            .map(|host| parse(host))
            .collect::<Result<_, _>>()?,
        plain_http: oci.plain_http,
    })
}

/// What the host checks itself rather than trusting the provider: the
/// manifest bytes hash to the digest reported and pinned, the files fit the
/// limit, and every path is a plain relative path given once.
fn verify(route: &Route<'_>, max_size: u64, artifact: GuestArtifact) -> Result<Artifact, Error> {
    let reference = &route.parsed;
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
        reference: route.reference.clone(),
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
