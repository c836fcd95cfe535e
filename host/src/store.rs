//! The artifact store as operations see it: a reference in, verified files
//! out, routed to the store registered for the reference.

use std::sync::atomic::AtomicU64;
use std::sync::{Arc, OnceLock};

use artifact_store_core::blob::{self, BlobLocation, BlobUrl};
use artifact_store_core::{digest_of, is_sha256_digest, Reference};
use sha2::{Digest, Sha256};

use std::path::PathBuf;
use std::time::Duration;

use crate::config::{
    sas_signature, BlobCredentials, BlobStore, ComponentStore, Config, CredentialSource, OciStore,
    Serves, Store, DEFAULT_STORE,
};
use crate::error::{Error, ErrorKind};
use crate::input::PushInput;
use crate::output::OutputFile;
use crate::runtime::{
    cache_dir, BasicCredentials, BlobAccount, CallLimits, Capabilities, Credentials, FetchRequest,
    GuestArtifact, GuestDescriptor, GuestFile, GuestFolder, PushLayer, PushRequest, Runtime,
    SharedKey, StoreAccess, FIRST_PARTY_PROVIDER, LAYOUT_COMPONENT,
};
use crate::sandbox::{Authority, Grant, Preopen};
use crate::tls::Trust;

/// Linear memory a provider instance may use beyond twice the artifact
/// limit (the compressed layers and the unpacked files): code, stacks,
/// manifests and HTTP buffers.
const MEMORY_HEADROOM: u64 = 64 << 20;

/// The least memory cap, so that tiny limits still leave room to work.
const MEMORY_FLOOR: u64 = 128 << 20;

/// A 32-bit component cannot address more.
const MEMORY_CEILING: u64 = 4 << 30;

/// The container of the export destination that bare file names name:
/// `$export`'s de-identification configurations live there.
pub const EXPORT_CONTAINER: &str = "anonymization";

/// The artifacts of the registered stores.
pub struct ArtifactStore {
    config: Config,
    provider: OnceLock<Result<Runtime, Error>>,
    layout: OnceLock<Result<Runtime, Error>>,
    /// The components of `kind = "component"` stores, by the store's
    /// position in the configuration.
    components: Vec<OnceLock<Result<Runtime, Error>>>,
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
    /// The reference as given, in canonical form (for a blob, its URL
    /// under the registered endpoint).
    pub reference: String,
    /// The manifest's descriptor.
    pub manifest: Descriptor,
    /// The manifest bytes as served.
    pub manifest_bytes: Vec<u8>,
    /// The store's entity tag, where it has them (a single blob's ETag,
    /// quotes included).
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
        let components = config.stores().iter().map(|_| OnceLock::new()).collect();
        ArtifactStore {
            config,
            provider: OnceLock::new(),
            layout: OnceLock::new(),
            components,
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
        if let Some(etag) = &options.if_match {
            // It becomes a header value: printable ASCII only.
            if etag.trim().is_empty() || !etag.bytes().all(|b| (b' '..=b'~').contains(&b)) {
                return Err(Error::new(
                    ErrorKind::InvalidConfiguration,
                    "--if-match takes an ETag such as 0x8DC0123456789AB or \"0x8DC0123456789AB\"",
                ));
            }
        }
        if let (Some(_), Target::Blob { location, .. }) = (&options.if_match, &route.store) {
            if location.folder {
                return Err(Error::new(
                    ErrorKind::InvalidReference,
                    format!(
                        "{} is a folder of blobs, which has no ETag; drop --if-match or \
                         name one blob",
                        route.reference
                    ),
                ));
            }
        }
        let access = route.access()?;
        let secrets = secrets_of(&access);
        let request = FetchRequest {
            reference: route.reference.clone(),
            access,
            // A component store's max-output caps what it may return, so a
            // well-behaved one is told the smaller of the two limits.
            max_size: route.max_output().map_or(max_size, |cap| cap.min(max_size)),
            if_match: options.if_match.clone(),
        };
        tracing::info!(reference = %route.reference, operation = %options.operation, max_size, "pulling");

        let limits = route.limits(max_size, false).await?;
        let artifact = self
            .runtime(route.component)
            .await?
            .fetch(route.grant()?, limits, received, &request)
            .await
            .map_err(|err| route.explain(err, &secrets))
            .map_err(|err| with_limit_hint(err, &options.operation))?;
        verify(&route, max_size, artifact).map_err(|err| with_limit_hint(err, &options.operation))
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
        if let Some(pinned) = &route.pinned {
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
        let is_blob = matches!(route.store, Target::Blob { .. });
        if let Some(digest) = &route.pinned {
            let fix = if is_blob {
                "push to the URL without it"
            } else {
                "push to a tag"
            };
            return Err(Error::new(
                ErrorKind::InvalidReference,
                format!(
                    "{} names a digest ({digest}); {fix}, the digest is what a push produces",
                    route.reference
                ),
            ));
        }
        if is_blob && (options.artifact_type.is_some() || !options.annotations.is_empty()) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "--artifact-type and --annotation apply to OCI pushes only; a blob has \
                 neither",
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
    /// An `http(s)://` URL names a blob or a prefix in an Azure Blob store;
    /// a bare file name (no `/`, no `:` before an optional pin) a blob in
    /// the export destination's `anonymization` container. A reference
    /// whose first segment is a plain name (no `.` or `:`, not `localhost`)
    /// names a layout store; any other names a registry.
    fn route(&self, reference: &str) -> Result<Route<'_>, Error> {
        let reference = reference.trim();
        if BlobUrl::looks_like_url(reference) {
            return self.route_blob_url(reference);
        }
        if let Some(name) = reference.strip_prefix("./") {
            if !name.is_empty() && !name.contains('/') {
                return Err(Error::new(
                    ErrorKind::InvalidReference,
                    format!(
                        "{reference} reads as a path; a blob of the export destination is \
                         named without ./ ({name})"
                    ),
                ));
            }
        }
        let (body, pin) = split_pin(reference);
        if !body.contains(['/', ':']) {
            return self.route_bare_name(body, pin);
        }
        if let Some((name, rest)) = reference.split_once('/') {
            if is_store_name(name) {
                return self.route_layout(reference, name, rest);
            }
        }

        let parsed = Reference::parse(reference)
            .map_err(|err| Error::new(ErrorKind::InvalidReference, err.to_string()))?;
        let by_registry = Serves::Registry(parsed.registry.clone());
        if let Some((index, store, component)) = self.config.component_store(&by_registry) {
            return Ok(Route {
                reference: parsed.to_string(),
                pinned: parsed.digest,
                component: Component::ThirdParty(index),
                store: Target::Component(store, component),
            });
        }
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
            pinned: parsed.digest,
            component: Component::Provider,
            store: Target::Oci(store, oci),
        })
    }

    fn route_blob_url(&self, reference: &str) -> Result<Route<'_>, Error> {
        let url = BlobUrl::parse(reference)
            .map_err(|msg| Error::new(ErrorKind::InvalidReference, msg))?;
        match self.config.blob_store(&url)? {
            Some((store, blob, location)) => Ok(blob_route(store, blob, location)),
            None => {
                let endpoint = endpoint_of(&url);
                Err(Error::new(
                    ErrorKind::FailedToConnectToArtifactStore,
                    format!(
                        "no store is registered for the Azure Blob endpoint {endpoint} ({}); \
                         add a [[store]] with kind = \"azure-blob\" and \
                         endpoint = \"{endpoint}\"",
                        self.config.describe_source()
                    ),
                ))
            }
        }
    }

    /// A bare file name is a blob in the export destination's
    /// [`EXPORT_CONTAINER`], taken as written (no percent-decoding).
    fn route_bare_name(&self, name: &str, pin: Option<&str>) -> Result<Route<'_>, Error> {
        let invalid = |msg: String| Error::new(ErrorKind::InvalidReference, msg);
        // In the pin too, whose message quotes it.
        if name.contains(['?', '#']) || pin.is_some_and(|hex| hex.contains(['?', '#'])) {
            // Not quoted: what follows a `?` may be a pasted SAS.
            return Err(invalid(
                "a bare file name may not hold a ? or #; it is one blob name, without a \
                 query (a SAS token goes in the store's sas-env or sas-file)"
                    .into(),
            ));
        }
        blob::check_name(name, false).map_err(|msg| invalid(format!("bare file name: {msg}")))?;
        let digest = match pin {
            Some(hex) => {
                let digest = format!("sha256:{hex}");
                if !is_sha256_digest(&digest) {
                    return Err(invalid(format!(
                        "the digest after @ must be sha256: and 64 lowercase hex digits, \
                         not {digest:?}"
                    )));
                }
                Some(digest)
            }
            None => None,
        };
        let (store, blob) = self.config.export_destination().ok_or_else(|| {
            Error::new(
                ErrorKind::FailedToConnectToArtifactStore,
                format!(
                    "{name:?} is a bare file name, which names a blob in the export \
                     destination's {EXPORT_CONTAINER} container, but no store is one ({}); \
                     set export-destination = true on an \"azure-blob\" [[store]]",
                    self.config.describe_source()
                ),
            )
        })?;
        let location = BlobLocation {
            container: EXPORT_CONTAINER.to_owned(),
            name: name.to_owned(),
            folder: false,
            digest,
        };
        let route = blob_route(store, blob, location);
        tracing::info!(name, reference = %route.reference, "bare file name: export destination");
        Ok(route)
    }

    fn route_layout(&self, reference: &str, name: &str, rest: &str) -> Result<Route<'_>, Error> {
        // The rest follows the registry grammar; a placeholder registry
        // lets the same parser check it.
        let parsed = Reference::parse(&format!("localhost/{rest}")).map_err(|err| {
            Error::new(ErrorKind::InvalidReference, format!("{reference}: {err}"))
        })?;
        let canonical = parsed.to_string();
        let canonical = canonical.strip_prefix("localhost/").unwrap_or(&canonical);
        if let Some((index, store, component)) =
            self.config.component_store(&Serves::Name(name.to_owned()))
        {
            return Ok(Route {
                reference: format!("{name}/{canonical}"),
                pinned: parsed.digest,
                component: Component::ThirdParty(index),
                store: Target::Component(store, component),
            });
        }
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
        Ok(Route {
            reference: format!("{name}/{canonical}"),
            pinned: parsed.digest,
            component: Component::Layout,
            store: target,
        })
    }

    async fn runtime(&self, component: Component) -> Result<&Runtime, Error> {
        let (cell, bytes, granted) = match component {
            Component::Provider => (
                &self.provider,
                FIRST_PARTY_PROVIDER,
                Capabilities {
                    network: true,
                    filesystem: false,
                },
            ),
            Component::Layout => (
                &self.layout,
                LAYOUT_COMPONENT,
                Capabilities {
                    network: false,
                    filesystem: true,
                },
            ),
            Component::ThirdParty(index) => {
                return self.components[index]
                    .get_or_init(|| self.load_third_party(index))
                    .as_ref()
                    .map_err(Clone::clone)
            }
        };
        cell.get_or_init(|| Runtime::load(bytes, cache_dir().as_deref(), granted))
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Reads and checks the component of the store at `index`. It is
    /// compiled once per process (or taken from the cache, keyed by its
    /// hash), and only checked against what that store grants.
    fn load_third_party(&self, index: usize) -> Result<Runtime, Error> {
        let store = &self.config.stores()[index];
        let crate::config::StoreKind::Component(component) = &store.kind else {
            unreachable!("store {index} routed as a component store");
        };
        let bytes = crate::config::read_limited(&component.component, MAX_COMPONENT_FILE).map_err(
            |err| {
                Error::new(
                    ErrorKind::InvalidConfiguration,
                    format!(
                        "store {}: cannot read its component {}: {err}",
                        store.key(),
                        component.component.display()
                    ),
                )
            },
        )?;
        tracing::info!(
            store = %store.key(),
            component = %component.component.display(),
            "loading a third-party store component"
        );
        Runtime::load(
            &bytes,
            cache_dir().as_deref(),
            component.capabilities(store),
        )
        .map_err(|err| {
            Error::new(
                err.kind(),
                format!(
                    "store {} ({}): {}",
                    store.key(),
                    component.component.display(),
                    err.message()
                ),
            )
        })
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

/// The largest component file read: the first-party provider is a few
/// MiB.
const MAX_COMPONENT_FILE: u64 = 256 << 20;

/// Most time the built-in store may take for a call: it reads a few
/// kilobytes from a local folder.
const DEFAULT_STORE_TIMEOUT: Duration = Duration::from_secs(60);

/// A reference without its `@sha256:` suffix, and the suffix's hex digits.
fn split_pin(reference: &str) -> (&str, Option<&str>) {
    match reference.rsplit_once("@sha256:") {
        Some((body, hex)) => (body, Some(hex)),
        None => (reference, None),
    }
}

/// The route to a located blob or prefix: the guest is handed its canonical
/// URL under the store's endpoint, with the pin if there is one.
fn blob_route<'a>(store: &'a Store, blob: &'a BlobStore, location: BlobLocation) -> Route<'a> {
    let mut reference = blob.endpoint.url_of(&location.container, &location.name);
    if let Some(digest) = &location.digest {
        reference.push('@');
        reference.push_str(digest);
    }
    Route {
        reference,
        pinned: location.digest.clone(),
        component: Component::Provider,
        store: Target::Blob {
            store,
            blob,
            location,
        },
    }
}

/// The endpoint a URL under no registered store would be registered as, for
/// the message that says how: `scheme://host[:port]/<account>` for an
/// address or `localhost` (the emulator's path-style), else
/// `scheme://host[:port]`.
fn endpoint_of(url: &BlobUrl) -> String {
    let text = url.to_string();
    let (scheme, rest) = text.split_once("://").unwrap_or(("https", &text));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let host = match authority.rsplit_once(':') {
        Some((host, port)) if !host.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            host
        }
        _ => authority,
    };
    let path_style =
        host == "localhost" || host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
    match path.split('/').next().filter(|s| !s.is_empty()) {
        Some(account) if path_style => format!("{scheme}://{authority}/{account}"),
        _ => format!("{scheme}://{authority}"),
    }
}

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
    /// The component a `kind = "component"` store names, by the store's
    /// position in the configuration.
    ThirdParty(usize),
}

/// Where a reference leads.
struct Route<'a> {
    /// The reference as the component receives it.
    reference: String,
    /// The digest the reference pins, for the host's own checks.
    pinned: Option<String>,
    component: Component,
    store: Target<'a>,
}

enum Target<'a> {
    Oci(&'a Store, &'a OciStore),
    /// A store served by a component the configuration names.
    Component(&'a Store, &'a ComponentStore),
    /// A blob or a prefix in an Azure Blob store.
    Blob {
        store: &'a Store,
        blob: &'a BlobStore,
        location: BlobLocation,
    },
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
        let preopened = match &self.store {
            Target::Layout {
                path: LayoutPath::Configured(path),
                ..
            } => Some(path),
            Target::Component(_, component) => component.preopen.as_ref(),
            _ => None,
        };
        match preopened {
            Some(path) if err.message().contains(Preopen::GUEST_PATH) => {
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
            Target::Component(store, component) => Ok(StoreAccess {
                plain_http: component.plain_http,
                credentials: read_credentials(&component.credentials, &store.key())?,
                blob: None,
            }),
            Target::Blob { blob, .. } => blob_access(blob),
            Target::Layout { .. } => Ok(StoreAccess {
                plain_http: false,
                credentials: Credentials::Anonymous,
                blob: None,
            }),
        }
    }

    fn grant(&self) -> Result<Grant, Error> {
        match &self.store {
            Target::Oci(store, oci) => grant(store, &oci.registry, oci.plain_http),
            Target::Component(store, component) => match &component.serves {
                Serves::Registry(registry) => grant(store, registry, component.plain_http),
                Serves::Name(_) => Ok(Grant {
                    store: None,
                    extra: allowed_hosts(store)?,
                    plain_http: component.plain_http,
                    trust: trust(store)?,
                }),
            },
            Target::Blob { store, blob, .. } => {
                grant(store, blob.endpoint.authority(), !blob.endpoint.https())
            }
            Target::Layout { .. } => Ok(Grant::none()),
        }
    }

    /// The most bytes a component store's component may return, if its
    /// configuration caps it.
    fn max_output(&self) -> Option<u64> {
        match &self.store {
            Target::Component(_, component) => component.max_output,
            _ => None,
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
            Target::Oci(store, _) | Target::Blob { store, .. } => Ok(CallLimits {
                memory,
                timeout: store.timeout,
                cpu_time: None,
                max_output: None,
                preopen: None,
            }),
            Target::Component(store, component) => {
                let preopen = match &component.preopen {
                    Some(host) if !host.is_dir() => {
                        return Err(Error::new(
                            ErrorKind::FailedToConnectToArtifactStore,
                            format!(
                                "store {}: its preopen folder {} does not exist",
                                store.key(),
                                host.display()
                            ),
                        ))
                    }
                    // Read-only, for push too: a component store is
                    // granted no writes.
                    Some(host) => Some(Preopen {
                        host: host.clone(),
                        writable: false,
                    }),
                    None => None,
                };
                Ok(CallLimits {
                    memory: component
                        .memory
                        .map_or(memory, |cap| usize::try_from(cap).unwrap_or(usize::MAX)),
                    timeout: store.timeout,
                    cpu_time: component.cpu_time,
                    max_output: self
                        .max_output()
                        .map(|cap| usize::try_from(cap).unwrap_or(usize::MAX)),
                    preopen,
                })
            }
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
                    cpu_time: None,
                    max_output: None,
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
/// as given, as an HTTP Basic header carries them, and a SAS's signature
/// alone, both as the query writes it and decoded.
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
        Credentials::SharedKey(shared) => vec![shared.key.clone()],
        Credentials::Sas(token) => {
            let mut secrets = vec![token.clone()];
            if let Some(sig) = sas_signature(token) {
                secrets.push(sig.to_owned());
                if let Ok(decoded) = blob::percent_decode(sig) {
                    if decoded != sig {
                        secrets.push(decoded);
                    }
                }
            }
            secrets
        }
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
    Ok(StoreAccess {
        plain_http: oci.plain_http,
        credentials: read_credentials(&oci.credentials, &oci.registry)?,
        blob: None,
    })
}

/// Reads registry-style credentials (of an OCI or a component store) for
/// one call; `store` names the store in messages.
fn read_credentials(source: &CredentialSource, store: &str) -> Result<Credentials, Error> {
    Ok(match source {
        CredentialSource::Anonymous => Credentials::Anonymous,
        CredentialSource::Basic { username, password } => Credentials::Basic(BasicCredentials {
            username: username.clone(),
            password: password.read(store)?.expose().to_owned(),
        }),
        CredentialSource::Bearer(token) => {
            Credentials::Bearer(token.read(store)?.expose().to_owned())
        }
    })
}

/// A `TooLargeArtifacts` error with the operation whose limit it was and
/// how to change it; any other error as it is.
fn with_limit_hint(err: Error, operation: &str) -> Error {
    if err.kind() != ErrorKind::TooLargeArtifacts {
        return err;
    }
    Error::new(
        err.kind(),
        format!(
            "{}; that is the limit of the {operation:?} operation: pull with the --operation \
             the artifact is for, or raise max-size under [operation.{operation}] in the config",
            err.message()
        ),
    )
}

/// Reads an Azure Blob store's credentials for one call.
fn blob_access(blob: &BlobStore) -> Result<StoreAccess, Error> {
    let credentials = match blob.credentials()? {
        BlobCredentials::Anonymous => Credentials::Anonymous,
        BlobCredentials::SharedKey { account, key } => Credentials::SharedKey(SharedKey {
            account,
            key: key.expose().to_owned(),
        }),
        BlobCredentials::Sas(token) => Credentials::Sas(token.expose().to_owned()),
        BlobCredentials::Bearer(token) => Credentials::Bearer(token.expose().to_owned()),
    };
    Ok(StoreAccess {
        plain_http: !blob.endpoint.https(),
        credentials,
        blob: Some(BlobAccount {
            endpoint: blob.endpoint.to_string(),
            list_page_size: blob.list_page_size,
        }),
    })
}

/// The network of a store at `authority`: it, the config's `allow-hosts`,
/// and plain HTTP only if the store speaks it.
fn grant(store: &Store, authority: &str, plain_http: bool) -> Result<Grant, Error> {
    Ok(Grant {
        store: Some(parse_authority(authority)?),
        extra: allowed_hosts(store)?,
        plain_http,
        trust: trust(store)?,
    })
}

/// What the store's HTTPS requests trust: the public web roots, and its
/// `ca-file` if it has one.
fn trust(store: &Store) -> Result<Trust, Error> {
    match &store.ca_file {
        Some(path) => Trust::with_ca_file(path),
        None => Ok(Trust::public()),
    }
}

/// The store's `allow-hosts`.
fn allowed_hosts(store: &Store) -> Result<Vec<Authority>, Error> {
    store
        .allow_hosts
        .iter()
        .map(|host| parse_authority(host))
        .collect()
}

fn parse_authority(text: &str) -> Result<Authority, Error> {
    Authority::parse(text).ok_or_else(|| {
        Error::new(
            ErrorKind::InvalidConfiguration,
            format!("{text:?} is not host[:port]"),
        )
    })
}

/// What the host checks itself rather than trusting the provider: the
/// content hashes to the digest reported (the manifest bytes of an OCI
/// artifact, a blob's bytes or a folder's listing) and to the pinned
/// digest, the files fit the limit, and every path is a plain relative path
/// given once.
fn verify(route: &Route<'_>, max_size: u64, artifact: GuestArtifact) -> Result<Artifact, Error> {
    let digest = &artifact.manifest.digest;
    check_digest_syntax(digest)?;
    match &route.store {
        Target::Blob { location, .. } => verify_blob(location, &artifact)?,
        _ => {
            let actual = format!("sha256:{:x}", Sha256::digest(&artifact.manifest_bytes));
            if &actual != digest {
                return Err(Error::new(
                    ErrorKind::DigestMismatch,
                    format!("the manifest bytes hash to {actual}, not to the reported {digest}"),
                ));
            }
            // A descriptor's size is that of the bytes its digest names.
            let held = artifact.manifest_bytes.len() as u64;
            if artifact.manifest.size != held {
                return Err(Error::new(
                    ErrorKind::ProviderFailed,
                    format!(
                        "the provider reported a manifest of {} bytes but returned {held}",
                        artifact.manifest.size
                    ),
                ));
            }
        }
    }
    if let Some(pinned) = &route.pinned {
        if pinned != digest {
            let message = match &route.store {
                Target::Blob { .. } => format!(
                    "the reference pins {pinned} but the content returned is {digest}; \
                     the blobs changed, or the pin is wrong"
                ),
                _ => format!(
                    "the reference pins {pinned} but the manifest returned is {digest}; \
                     pin the digest of an image manifest, not of an index"
                ),
            };
            return Err(Error::new(ErrorKind::DigestMismatch, message));
        }
    }
    check_files(&artifact.files, max_size)?;
    // The ETag is printed as it is; a header value has no control
    // characters, so one that does was made up.
    if artifact
        .etag
        .as_deref()
        .is_some_and(|etag| etag.chars().any(char::is_control))
    {
        return Err(Error::new(
            ErrorKind::ProviderFailed,
            "the provider returned an ETag with control characters",
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

/// Checks a blob artifact against the shape the contract gives it: a
/// single blob is one file, named after the blob, whose bytes hash to the
/// digest; a folder's digest is that of the listing of its files, which is
/// also its manifest bytes.
fn verify_blob(location: &BlobLocation, artifact: &GuestArtifact) -> Result<(), Error> {
    let refuse = |message: String| Error::new(ErrorKind::ProviderFailed, message);
    let reported = &artifact.manifest.digest;
    if location.folder {
        let files = artifact
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.content.as_slice()));
        let actual = blob::folder_digest(files.clone());
        if &actual != reported {
            return Err(Error::new(
                ErrorKind::DigestMismatch,
                format!("the folder's files list to {actual}, not to the reported {reported}"),
            ));
        }
        if artifact.manifest_bytes != blob::folder_listing(files) {
            return Err(refuse(
                "the provider's folder listing does not list the files it returned".into(),
            ));
        }
        if artifact.manifest.media_type != blob::FOLDER_MEDIA_TYPE {
            return Err(refuse(format!(
                "the provider reported a folder as {:?}, not {}",
                artifact.manifest.media_type,
                blob::FOLDER_MEDIA_TYPE
            )));
        }
        if artifact.etag.is_some() {
            return Err(refuse("the provider reported an ETag for a folder".into()));
        }
        return Ok(());
    }

    let expected = location.file_name();
    let file = match artifact.files.as_slice() {
        [file] if file.path == expected => file,
        files => {
            return Err(refuse(format!(
                "the provider returned {} file(s) for one blob, not the one file {expected:?}",
                files.len()
            )))
        }
    };
    if !artifact.manifest_bytes.is_empty() {
        return Err(refuse(
            "the provider returned manifest bytes for a blob, which has none".into(),
        ));
    }
    let actual = digest_of(&file.content);
    if &actual != reported {
        return Err(Error::new(
            ErrorKind::DigestMismatch,
            format!("the blob's bytes hash to {actual}, not to the reported {reported}"),
        ));
    }
    Ok(())
}

/// Every path is a plain relative path given once, and the files together
/// fit the limit.
fn check_files(files: &[GuestFile], max_size: u64) -> Result<(), Error> {
    let refuse = |message: String| Error::new(ErrorKind::ProviderFailed, message);
    let mut total: u64 = 0;
    let mut seen = std::collections::HashSet::new();
    for file in files {
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
    // "a" and "a/b" cannot both be written: one file would have to be a
    // folder.
    for file in files {
        let folders = file.path.match_indices('/').map(|(at, _)| &file.path[..at]);
        if let Some(folder) = folders.into_iter().find(|folder| seen.contains(folder)) {
            return Err(refuse(format!(
                "the provider returned {folder:?} as a file and as the folder of {:?}",
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
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    const EMULATOR: &str = "http://127.0.0.1:10000/devstoreaccount1";

    /// An emulator account that is the export destination, and an OCI
    /// registry.
    fn store() -> ArtifactStore {
        ArtifactStore::new(
            Config::parse(&format!(
                "[[store]]\nkind = \"azure-blob\"\nendpoint = \"{EMULATOR}\"\n\
                 list-page-size = 2\nexport-destination = true\nallow-hosts = [\"cdn.example\"]\n\
                 [[store]]\nkind = \"oci\"\nregistry = \"127.0.0.1:5000\"\nplain-http = true\n"
            ))
            .unwrap(),
        )
    }

    fn location<'a>(route: &'a Route<'_>) -> &'a BlobLocation {
        match &route.store {
            Target::Blob { location, .. } => location,
            _ => panic!("{} was not routed to a blob store", route.reference),
        }
    }

    fn error_of(result: Result<Route<'_>, Error>) -> Error {
        match result {
            Ok(route) => panic!("{} was routed", route.reference),
            Err(err) => err,
        }
    }

    fn blob_artifact(
        digest: &str,
        media_type: &str,
        manifest_bytes: &[u8],
        files: &[(&str, &[u8])],
    ) -> GuestArtifact {
        GuestArtifact {
            manifest: GuestDescriptor {
                media_type: media_type.to_owned(),
                digest: digest.to_owned(),
                size: manifest_bytes.len() as u64,
                artifact_type: None,
            },
            manifest_bytes: manifest_bytes.to_vec(),
            etag: None,
            files: files
                .iter()
                .map(|(path, content)| GuestFile {
                    path: path.to_string(),
                    content: content.to_vec(),
                })
                .collect(),
        }
    }

    #[test]
    fn a_blob_url_under_a_registered_endpoint_goes_to_its_canonical_url() {
        let store = store();
        let route = store
            .route("HTTP://127.0.0.1:10000/devstoreaccount1/deid/configs/my%20config.json")
            .unwrap();
        assert_eq!(
            route.reference,
            format!("{EMULATOR}/deid/configs/my%20config.json")
        );
        let at = location(&route);
        assert_eq!(
            (at.container.as_str(), at.name.as_str()),
            ("deid", "configs/my config.json")
        );
        assert!(!at.folder && route.pinned.is_none());

        let pin = format!("sha256:{}", "a".repeat(64));
        let route = store
            .route(&format!("{EMULATOR}/deid/x.json@{pin}"))
            .unwrap();
        assert_eq!(route.reference, format!("{EMULATOR}/deid/x.json@{pin}"));
        assert_eq!(route.pinned.as_deref(), Some(pin.as_str()));

        let route = store.route(&format!("{EMULATOR}/deid/templates/")).unwrap();
        assert_eq!(route.reference, format!("{EMULATOR}/deid/templates/"));
        assert!(location(&route).folder);
        let route = store.route(&format!("{EMULATOR}/deid")).unwrap();
        assert_eq!(route.reference, format!("{EMULATOR}/deid/"));
    }

    #[test]
    fn a_blob_store_is_reached_at_its_endpoint_only() {
        let store = store();
        let route = store.route(&format!("{EMULATOR}/deid/x.json")).unwrap();
        let access = route.access().unwrap();
        assert!(access.plain_http);
        assert!(matches!(access.credentials, Credentials::Anonymous));
        let account = access.blob.unwrap();
        assert_eq!(
            (account.endpoint.as_str(), account.list_page_size),
            (EMULATOR, 2)
        );

        let grant = route.grant().unwrap();
        assert_eq!(grant.store, Authority::parse("127.0.0.1:10000"));
        assert_eq!(grant.extra, vec![Authority::parse("cdn.example").unwrap()]);
        assert!(grant.plain_http);

        // OCI stores carry no blob account.
        let route = store.route("127.0.0.1:5000/deid/config:v1").unwrap();
        assert!(route.access().unwrap().blob.is_none());
    }

    #[test]
    fn a_blob_url_under_no_endpoint_says_how_to_register_it() {
        let store = store();
        let err = error_of(store.route("http://127.0.0.1:10001/devstoreaccount1/deid/x.json"));
        assert_eq!(err.kind(), ErrorKind::FailedToConnectToArtifactStore);
        assert!(
            err.message()
                .contains("endpoint = \"http://127.0.0.1:10001/devstoreaccount1\""),
            "{err}"
        );
        assert!(err.message().contains("kind = \"azure-blob\""), "{err}");

        let err = error_of(store.route("https://acct.blob.core.windows.net/deid/x.json"));
        assert!(
            err.message()
                .contains("endpoint = \"https://acct.blob.core.windows.net\""),
            "{err}"
        );
        let err = error_of(store.route("http://[::1]:10000/devstoreaccount1/deid/x"));
        assert!(
            err.message()
                .contains("\"http://[::1]:10000/devstoreaccount1\""),
            "{err}"
        );
    }

    #[test]
    fn blob_urls_with_a_query_or_a_bad_name_are_invalid() {
        let store = store();
        for reference in [
            format!("{EMULATOR}/deid/x.json?sv=1&sig=s3cr3tsig"),
            format!("{EMULATOR}/deid/x.json#top"),
            format!("{EMULATOR}/deid/a/../b"),
            format!("{EMULATOR}/deid/100%"),
            format!("{EMULATOR}/"),
        ] {
            let err = error_of(store.route(&reference));
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidReference,
                "{reference}: {err}"
            );
            assert!(!err.message().contains("s3cr3tsig"), "{err}");
        }
    }

    #[test]
    fn a_bare_name_is_a_blob_in_the_export_destinations_anonymization_container() {
        let store = store();
        let route = store.route("config-file.json").unwrap();
        assert_eq!(
            route.reference,
            format!("{EMULATOR}/anonymization/config-file.json")
        );
        let at = location(&route);
        assert_eq!(
            (at.container.as_str(), at.name.as_str()),
            ("anonymization", "config-file.json")
        );

        // Taken as written: a % is part of the name.
        let route = store.route("my config 100%.json").unwrap();
        assert_eq!(location(&route).name, "my config 100%.json");
        assert_eq!(
            route.reference,
            format!("{EMULATOR}/anonymization/my%20config%20100%25.json")
        );

        let pin = format!("sha256:{}", "b".repeat(64));
        let route = store.route(&format!("config-file.json@{pin}")).unwrap();
        assert_eq!(route.pinned.as_deref(), Some(pin.as_str()));
        assert!(route
            .reference
            .ends_with(&format!("/config-file.json@{pin}")));
    }

    #[test]
    fn a_bare_name_written_as_a_path_says_to_drop_the_dot_slash() {
        let err = error_of(store().route("./config-file.json"));
        assert_eq!(err.kind(), ErrorKind::InvalidReference, "{err}");
        assert!(
            err.message().contains("without ./ (config-file.json)"),
            "{err}"
        );
    }

    #[test]
    fn too_large_errors_name_the_operation_and_how_to_raise_it() {
        let err = with_limit_hint(
            Error::new(
                ErrorKind::TooLargeArtifacts,
                "x is 20 bytes, more than max-size",
            ),
            "anonymization",
        );
        assert_eq!(err.kind(), ErrorKind::TooLargeArtifacts);
        assert!(
            err.message().contains("\"anonymization\" operation")
                && err.message().contains("[operation.anonymization]"),
            "{err}"
        );
        let other = with_limit_hint(Error::new(ErrorKind::Timeout, "slow"), "anonymization");
        assert_eq!(other.message(), "slow");
    }

    #[test]
    fn bare_names_that_are_no_blob_name_are_invalid() {
        let store = store();
        for name in [
            "..",
            ".",
            "",
            "x.json?sig=s3cr3tsig",
            "x.json@sha256:abc",
            "x.json@sha256:abc?sig=s3cr3tsig",
            "a\\..\\x.json",
        ] {
            let err = error_of(store.route(name));
            assert_eq!(err.kind(), ErrorKind::InvalidReference, "{name:?}: {err}");
            assert!(!err.message().contains("s3cr3tsig"), "{err}");
        }
    }

    #[test]
    fn a_bare_name_without_an_export_destination_says_how_to_set_one() {
        let store = ArtifactStore::new(
            Config::parse(&format!(
                "[[store]]\nkind = \"azure-blob\"\nendpoint = \"{EMULATOR}\"\n"
            ))
            .unwrap(),
        );
        let err = error_of(store.route("config-file.json"));
        assert_eq!(err.kind(), ErrorKind::FailedToConnectToArtifactStore);
        assert!(err.message().contains("export-destination = true"), "{err}");
    }

    #[tokio::test]
    async fn if_match_on_a_folder_is_refused_before_any_call() {
        let options = PullOptions {
            if_match: Some("0x8D1".into()),
            ..PullOptions::default()
        };
        let err = store()
            .pull(
                &format!("{EMULATOR}/deid/templates/"),
                &options,
                Arc::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidReference);
        assert!(err.message().contains("--if-match"), "{err}");

        let options = PullOptions {
            if_match: Some("0x8D1\r\nX-Injected: 1".into()),
            ..PullOptions::default()
        };
        let err = store()
            .pull(&format!("{EMULATOR}/deid/a.json"), &options, Arc::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
    }

    #[tokio::test]
    async fn blob_pushes_refuse_oci_options_and_pins() {
        let input = || PushInput::File {
            path: "x.json".into(),
            content: b"{}".to_vec(),
        };
        let store = store();
        let options = PushOptions {
            artifact_type: Some("application/x".into()),
            annotations: Vec::new(),
        };
        let err = store
            .push(
                input(),
                &format!("{EMULATOR}/deid/x.json"),
                &options,
                Arc::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.message().contains("OCI pushes only"), "{err}");

        let pinned = format!("{EMULATOR}/deid/x.json@sha256:{}", "c".repeat(64));
        let err = store
            .push(input(), &pinned, &PushOptions::default(), Arc::default())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidReference);
    }

    #[test]
    fn a_sas_signature_is_redacted_raw_and_decoded() {
        let access = StoreAccess {
            plain_http: false,
            credentials: Credentials::Sas("sv=2022-11-02&sig=ab%2Bcd%3D".into()),
            blob: None,
        };
        let secrets = secrets_of(&access);
        for secret in ["sv=2022-11-02&sig=ab%2Bcd%3D", "ab%2Bcd%3D", "ab+cd="] {
            assert!(secrets.iter().any(|s| s == secret), "{secret} missing");
        }
        let err =
            Error::new(ErrorKind::Forbidden, "the signature ab+cd= did not match").redact(&secrets);
        assert_eq!(err.message(), "the signature [redacted] did not match");

        let access = StoreAccess {
            plain_http: false,
            credentials: Credentials::SharedKey(SharedKey {
                account: "devstoreaccount1".into(),
                key: "a2V5a2V5".into(),
            }),
            blob: None,
        };
        assert_eq!(secrets_of(&access), vec!["a2V5a2V5".to_owned()]);
    }

    #[test]
    fn a_single_blob_must_be_one_file_hashing_to_its_digest() {
        let store = store();
        let route = store
            .route(&format!("{EMULATOR}/deid/configs/a.json"))
            .unwrap();
        let digest = digest_of(b"{}");

        let mut good = blob_artifact(&digest, "application/json", b"", &[("a.json", b"{}")]);
        good.etag = Some("\"0x8DC\"".into());
        let artifact = verify(&route, 1024, good.clone()).unwrap();
        assert_eq!(artifact.etag.as_deref(), Some("\"0x8DC\""));
        assert_eq!(
            artifact.reference,
            format!("{EMULATOR}/deid/configs/a.json")
        );

        good.etag = Some("\"0x8DC\u{1b}]0;pwned\u{7}\"".into());
        assert_eq!(
            verify(&route, 1024, good).unwrap_err().kind(),
            ErrorKind::ProviderFailed
        );

        let renamed = blob_artifact(
            &digest,
            "application/json",
            b"",
            &[("configs/a.json", b"{}")],
        );
        assert_eq!(
            verify(&route, 1024, renamed).unwrap_err().kind(),
            ErrorKind::ProviderFailed
        );
        let two = blob_artifact(&digest, "x", b"", &[("a.json", b"{}"), ("b.json", b"{}")]);
        assert_eq!(
            verify(&route, 1024, two).unwrap_err().kind(),
            ErrorKind::ProviderFailed
        );
        let lying = blob_artifact(&digest, "x", b"", &[("a.json", b"[]")]);
        assert_eq!(
            verify(&route, 1024, lying).unwrap_err().kind(),
            ErrorKind::DigestMismatch
        );
        let big = blob_artifact(&digest, "x", b"", &[("a.json", b"{}")]);
        assert_eq!(
            verify(&route, 1, big).unwrap_err().kind(),
            ErrorKind::TooLargeArtifacts
        );

        let pinned = format!("{EMULATOR}/deid/configs/a.json@{}", digest_of(b"other"));
        let route = store.route(&pinned).unwrap();
        let good = blob_artifact(&digest, "x", b"", &[("a.json", b"{}")]);
        let err = verify(&route, 1024, good).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::DigestMismatch);
        assert!(err.message().contains(&digest), "{err}");
    }

    #[test]
    fn a_folders_digest_is_that_of_its_listing() {
        let store = store();
        let route = store.route(&format!("{EMULATOR}/deid/templates/")).unwrap();
        let files: [(&str, &[u8]); 2] = [("b.liquid", b"b"), ("a/c.liquid", b"c")];
        let listing = blob::folder_listing(files);
        let digest = blob::folder_digest(files);

        let good = blob_artifact(&digest, blob::FOLDER_MEDIA_TYPE, &listing, &files);
        let artifact = verify(&route, 1024, good).unwrap();
        assert_eq!(artifact.files.len(), 2);

        let wrong = blob_artifact(
            &digest_of(&listing[1..]),
            blob::FOLDER_MEDIA_TYPE,
            &listing,
            &files,
        );
        assert_eq!(
            verify(&route, 1024, wrong).unwrap_err().kind(),
            ErrorKind::DigestMismatch
        );
        let other_listing = blob_artifact(&digest, blob::FOLDER_MEDIA_TYPE, b"", &files);
        assert_eq!(
            verify(&route, 1024, other_listing).unwrap_err().kind(),
            ErrorKind::ProviderFailed
        );
        let escaping: [(&str, &[u8]); 1] = [("../x", b"x")];
        let unsafe_path = blob_artifact(
            &blob::folder_digest(escaping),
            blob::FOLDER_MEDIA_TYPE,
            &blob::folder_listing(escaping),
            &escaping,
        );
        assert_eq!(
            verify(&route, 1024, unsafe_path).unwrap_err().kind(),
            ErrorKind::ProviderFailed
        );
    }

    #[test]
    fn registry_and_layout_references_route_as_before() {
        let store = store();
        let route = store.route("127.0.0.1:5000/deid/config").unwrap();
        assert_eq!(route.reference, "127.0.0.1:5000/deid/config");
        assert!(matches!(route.store, Target::Oci(..)));
        let route = store.route("default/anonymization:latest").unwrap();
        assert!(matches!(route.store, Target::Layout { .. }));
        let err = error_of(store.route("localhost:5001/x"));
        assert_eq!(err.kind(), ErrorKind::FailedToConnectToArtifactStore);
    }

    fn guest_files(paths: &[&str]) -> Vec<GuestFile> {
        paths
            .iter()
            .map(|path| GuestFile {
                path: path.to_string(),
                content: b"x".to_vec(),
            })
            .collect()
    }

    #[test]
    fn a_path_that_is_both_a_file_and_a_folder_is_refused() {
        for paths in [&["a", "a/b"][..], &["x/y/z", "x/y"], &["d/e", "d"]] {
            let err = check_files(&guest_files(paths), 1 << 20).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ProviderFailed, "{paths:?}");
            assert!(
                err.message().contains("as a file and as the folder"),
                "{err}"
            );
        }
        check_files(&guest_files(&["a/b", "a/c", "ab", "a.b/c"]), 1 << 20).unwrap();
    }

    #[test]
    fn an_endless_component_file_is_refused_without_reading_it_all() {
        let store = ArtifactStore::new(
            Config::parse(
                "[[store]]\nkind = \"component\"\nname = \"zero\"\ncomponent = \"/dev/zero\"\n",
            )
            .unwrap(),
        );
        let err = store.load_third_party(0).err().unwrap();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
        assert!(err.message().contains("more than 256 MiB"), "{err}");
    }

    #[test]
    fn a_manifest_size_that_disagrees_with_its_bytes_is_refused() {
        let store = ArtifactStore::new(
            Config::parse(
                "[[store]]\nkind = \"component\"\nname = \"c\"\ncomponent = \"c.wasm\"\n",
            )
            .unwrap(),
        );
        let route = store.route("c/x:1").unwrap();
        let bytes = br#"{"schemaVersion":2}"#;
        let mut artifact = blob_artifact(
            &digest_of(bytes),
            "application/vnd.oci.image.manifest.v1+json",
            bytes,
            &[("a.txt", b"a")],
        );
        verify(&route, 1024, artifact.clone()).unwrap();
        artifact.manifest.size = 1 << 40;
        let err = verify(&route, 1024, artifact).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ProviderFailed);
        assert!(
            err.message()
                .contains("1099511627776 bytes but returned 19"),
            "{err}"
        );
    }
}
