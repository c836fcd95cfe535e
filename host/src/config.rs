//! The registered stores and the operations' size limits, read from a TOML
//! file.
//!
//! ```toml
//! [[store]]
//! kind = "oci"
//! registry = "myregistry.azurecr.io"
//! username = "alice"
//! password-env = "REGISTRY_PASSWORD"
//!
//! [operation.anonymization]
//! max-size = "1MiB"
//! ```
//!
//! An Azure Blob Storage account is a store too; its references are URLs
//! under its endpoint:
//!
//! ```toml
//! [[store]]
//! kind = "azure-blob"
//! endpoint = "https://myaccount.blob.core.windows.net"
//! account-key-env = "AZURE_STORAGE_KEY"
//! export-destination = true
//! ```
//!
//! Secrets never sit in the file itself: a store names the environment
//! variable or file that holds them, and they are read only when a call to
//! that store is made, so a store that is not used cannot fail a run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use artifact_store_core::blob::{BlobLocation, BlobUrl, Endpoint};
use base64::Engine as _;
use serde::Deserialize;

use crate::error::{Error, ErrorKind};

/// The environment variable that names the config file when `--config` is
/// not given.
pub const CONFIG_ENV: &str = "ARTIFACT_STORE_CONFIG";

/// The operation used when a caller names none.
pub const DEFAULT_OPERATION: &str = "default";

/// Built-in operations and their size limits, used unless the config file
/// sets them. Template collections are the largest artifacts a FHIR server
/// uses; configurations are a few kilobytes, so their limit is tight.
const BUILTIN_OPERATIONS: &[(&str, u64)] = &[
    (DEFAULT_OPERATION, GIB),
    ("templates", 256 * MIB),
    ("anonymization", 16 * MIB),
    ("cdm", 16 * MIB),
];

/// How long one call into a provider may take, unless the store says.
/// Long enough for a gigabyte over a slow link, short enough that a hung
/// store does not hang a server's operation for ever.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest timeout a store may set: longer is a hung call, not a slow
/// one.
const MAX_TIMEOUT: Duration = Duration::from_secs(24 * 60 * 60);

/// Azure's most, and so the default, blobs per List Blobs page.
const MAX_LIST_PAGE_SIZE: u32 = 5000;

/// The account the storage emulator (Azurite) serves, as
/// `UseDevelopmentStorage=true` means it.
const DEV_ACCOUNT: &str = "devstoreaccount1";

/// The emulator's account key. Microsoft publishes it; it opens nothing but
/// a local emulator.
const DEV_ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;
const GIB: u64 = 1024 * MIB;

/// A parsed and checked configuration.
#[derive(Debug, Clone)]
pub struct Config {
    stores: Vec<Store>,
    operations: BTreeMap<String, u64>,
    /// Where the configuration came from, for messages.
    source: Option<PathBuf>,
}

/// A registered store.
#[derive(Debug, Clone)]
pub struct Store {
    /// What serves the artifacts.
    pub kind: StoreKind,
    /// Longest a single call to this store may take.
    pub timeout: Duration,
    /// Authorities (`host:port`) besides the store's own that its
    /// component may reach, such as the blob host a registry redirects to.
    pub allow_hosts: Vec<String>,
    /// A PEM file of certificate authorities that this store's HTTPS
    /// requests trust besides the public web roots (`ca-file`). It is read
    /// when a call to the store is made.
    pub ca_file: Option<PathBuf>,
}

/// The kinds of store the host knows.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// An OCI distribution registry, such as Azure Container Registry.
    Oci(OciStore),
    /// An OCI image layout in a folder, served by the layout component.
    Layout(LayoutStore),
    /// An Azure Blob Storage account.
    Blob(BlobStore),
    /// A store served by a component the configuration names, which the
    /// host runs untrusted under the grant the configuration gives it.
    Component(ComponentStore),
}

/// A store served by a component of the user's choosing (`kind =
/// "component"`), given only what its table grants.
#[derive(Debug, Clone)]
pub struct ComponentStore {
    /// The component's `.wasm` file.
    pub component: PathBuf,
    /// What references call the store by.
    pub serves: Serves,
    /// Whether plain HTTP is granted (to the registry and `allow-hosts`).
    pub plain_http: bool,
    /// The credentials handed to the component with each call.
    pub credentials: CredentialSource,
    /// A folder the component may read, at `/layout` in its view.
    pub preopen: Option<PathBuf>,
    /// The component's memory cap in bytes, instead of the one derived
    /// from the operation's limit.
    pub memory: Option<u64>,
    /// Longest the component's own code may run during one call.
    pub cpu_time: Option<Duration>,
    /// Most bytes the component may return from one call.
    pub max_output: Option<u64>,
}

/// What a component store answers for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Serves {
    /// References `<registry>/<repository>[:<tag>][@<digest>]` to this
    /// authority, which the component is granted.
    Registry(String),
    /// References `<name>/<repository>[:<tag>][@<digest>]`, as layout
    /// stores are named.
    Name(String),
}

impl ComponentStore {
    /// The network and files its component is granted, which decide the
    /// imports it may have.
    pub fn capabilities(&self, store: &Store) -> crate::runtime::Capabilities {
        crate::runtime::Capabilities {
            network: matches!(self.serves, Serves::Registry(_)) || !store.allow_hosts.is_empty(),
            filesystem: self.preopen.is_some(),
        }
    }
}

/// The least memory cap a component store may set: a few wasm pages and a
/// stack.
const MIN_COMPONENT_MEMORY: u64 = 4 * MIB;

/// The most a 32-bit component can address.
const MAX_COMPONENT_MEMORY: u64 = 4 * GIB;

/// An Azure Blob Storage account, reached at its endpoint.
#[derive(Debug, Clone)]
pub struct BlobStore {
    /// The account's endpoint, with the account name it signs with.
    pub endpoint: Endpoint,
    /// Where the credentials come from.
    pub credentials: BlobCredentialSource,
    /// Whether bare file names resolve to this account's `anonymization`
    /// container. At most one store says so.
    pub export_destination: bool,
    /// Most blobs asked for per List Blobs page (1 to 5000).
    pub list_page_size: u32,
}

/// Where an Azure Blob store's credentials are read from when a call needs
/// them.
#[derive(Debug, Clone, Default)]
pub enum BlobCredentialSource {
    /// No credentials: public containers only.
    #[default]
    Anonymous,
    /// The account key (base64), for Shared Key signing.
    AccountKey(SecretSource),
    /// A shared access signature: the query string Azure gives.
    Sas(SecretSource),
    /// An Azure AD (Entra ID) bearer token.
    Bearer(SecretSource),
    /// A connection string (`AccountName=...;AccountKey=...`), which holds
    /// an account key or a SAS.
    ConnectionString(SecretSource),
}

/// An Azure Blob store's credentials, read for one call. `Debug` shows
/// none of the secrets.
#[derive(Debug, Clone)]
pub enum BlobCredentials {
    Anonymous,
    /// Sign with Shared Key as `account`.
    SharedKey {
        account: String,
        key: Secret,
    },
    /// A SAS token without its leading `?`.
    Sas(Secret),
    Bearer(Secret),
}

/// A store kept as an OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct LayoutStore {
    /// What references call it: `<name>/<repository>:<tag>`.
    pub name: String,
    /// The layout folder (holding `oci-layout` and `index.json`).
    pub path: PathBuf,
    /// Whether `push` may write to the folder. Pulls never can.
    pub writable: bool,
}

/// The name of the layout store built into the binary.
pub const DEFAULT_STORE: &str = "default";

/// An OCI registry store.
#[derive(Debug, Clone)]
pub struct OciStore {
    /// The registry's authority as references spell it: `host` or
    /// `host:port`.
    pub registry: String,
    /// Speak HTTP rather than HTTPS; for registries on loopback.
    pub plain_http: bool,
    /// Where the credentials come from.
    pub credentials: CredentialSource,
}

/// Where a store's credentials are read from when a call needs them.
#[derive(Debug, Clone, Default)]
pub enum CredentialSource {
    /// No credentials.
    #[default]
    Anonymous,
    /// A user name and a password read from an environment variable or a
    /// file.
    Basic {
        username: String,
        password: SecretSource,
    },
    /// A bearer token read from an environment variable or a file.
    Bearer(SecretSource),
}

impl CredentialSource {
    fn secret_source_mut(&mut self) -> Option<&mut SecretSource> {
        match self {
            CredentialSource::Anonymous => None,
            CredentialSource::Basic { password, .. } => Some(password),
            CredentialSource::Bearer(token) => Some(token),
        }
    }
}

impl StoreKind {
    /// Where the store's secret is read from, to resolve a relative file.
    fn secret_source_mut(&mut self) -> Option<&mut SecretSource> {
        match self {
            StoreKind::Oci(oci) => oci.credentials.secret_source_mut(),
            StoreKind::Component(component) => component.credentials.secret_source_mut(),
            StoreKind::Blob(blob) => match &mut blob.credentials {
                BlobCredentialSource::Anonymous => None,
                BlobCredentialSource::AccountKey(source)
                | BlobCredentialSource::Sas(source)
                | BlobCredentialSource::Bearer(source)
                | BlobCredentialSource::ConnectionString(source) => Some(source),
            },
            StoreKind::Layout(_) => None,
        }
    }
}

/// An environment variable or a file that holds a secret.
#[derive(Debug, Clone)]
pub enum SecretSource {
    Env(String),
    File(PathBuf),
}

/// A secret read from its source. `Debug` does not show it.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    /// The secret itself, for passing to the provider.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

impl BlobStore {
    /// Reads the store's credentials for one call. An account key must be
    /// base64, a SAS must carry a signature, and a connection string must
    /// name this store's account and endpoint.
    pub fn credentials(&self) -> Result<BlobCredentials, Error> {
        let store = self.endpoint.to_string();
        let checked = |result: Result<BlobCredentials, String>| {
            result.map_err(|msg| config_error(format!("store {store}: {msg}")))
        };
        match &self.credentials {
            BlobCredentialSource::Anonymous => Ok(BlobCredentials::Anonymous),
            BlobCredentialSource::AccountKey(source) => {
                let key = source.read(&store)?;
                checked(
                    check_account_key(key.expose()).map(|key| BlobCredentials::SharedKey {
                        account: self.endpoint.account().to_owned(),
                        key,
                    }),
                )
            }
            BlobCredentialSource::Sas(source) => {
                checked(check_sas(source.read(&store)?.expose()).map(BlobCredentials::Sas))
            }
            BlobCredentialSource::Bearer(source) => {
                Ok(BlobCredentials::Bearer(source.read(&store)?))
            }
            BlobCredentialSource::ConnectionString(source) => checked(
                ConnectionString::parse(source.read(&store)?.expose())
                    .and_then(|parsed| parsed.credentials_for(&self.endpoint)),
            ),
        }
    }
}

/// Checks that an account key is base64, as the portal shows it. The key
/// never appears in a message.
fn check_account_key(key: &str) -> Result<Secret, String> {
    let key = key.trim();
    match base64::engine::general_purpose::STANDARD.decode(key) {
        Ok(bytes) if !bytes.is_empty() => Ok(Secret(key.to_owned())),
        _ => Err(
            "its account key is not base64; copy key1 or key2 from the account's \
             Access keys"
                .into(),
        ),
    }
}

/// A SAS token without its leading `?`, checked to be a query string with
/// a signature. The token never appears in a message.
fn check_sas(token: &str) -> Result<Secret, String> {
    let token = token.trim();
    let token = token.strip_prefix('?').unwrap_or(token);
    if token.contains("://") {
        return Err(
            "its SAS is a whole URL; keep only the query after `?` (sv=...&sig=...)".into(),
        );
    }
    if sas_signature(token).is_none() {
        return Err("its SAS has no sig= parameter; give the whole token (sv=...&sig=...)".into());
    }
    Ok(Secret(token.to_owned()))
}

/// The `sig=` value of a SAS token, as written (percent-encoded).
pub fn sas_signature(token: &str) -> Option<&str> {
    let token = token.strip_prefix('?').unwrap_or(token);
    token
        .split('&')
        .find_map(|pair| pair.strip_prefix("sig="))
        .filter(|sig| !sig.is_empty())
}

/// An Azure Storage connection string, as the portal and the emulator's
/// documentation give it: `Key=Value` pairs separated by `;`. Keys are
/// matched without regard to case; keys for other services
/// (`QueueEndpoint`, `TableEndpoint`, ...) are ignored.
#[derive(Default)]
struct ConnectionString {
    account: Option<String>,
    key: Option<Secret>,
    sas: Option<Secret>,
    blob_endpoint: Option<String>,
    protocol: Option<String>,
    suffix: Option<String>,
    development: bool,
}

impl ConnectionString {
    /// Parses the pairs. Messages name keys and positions, never values,
    /// since the string holds a secret.
    fn parse(text: &str) -> Result<ConnectionString, String> {
        let mut parsed = ConnectionString::default();
        for (index, pair) in text.trim().split(';').enumerate() {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let Some((key, value)) = pair.split_once('=') else {
                return Err(format!(
                    "its connection string's part {} is not Key=Value",
                    index + 1
                ));
            };
            let value = value.trim().to_owned();
            match key.trim().to_ascii_lowercase().as_str() {
                "accountname" => parsed.account = Some(value),
                "accountkey" => parsed.key = Some(Secret(value)),
                "sharedaccesssignature" => parsed.sas = Some(Secret(value)),
                "blobendpoint" => parsed.blob_endpoint = Some(value),
                "defaultendpointsprotocol" => parsed.protocol = Some(value.to_ascii_lowercase()),
                "endpointsuffix" => parsed.suffix = Some(value),
                "usedevelopmentstorage" => {
                    parsed.development = value.eq_ignore_ascii_case("true");
                }
                _ => {}
            }
        }
        if parsed.development {
            if parsed.account.is_some() || parsed.key.is_some() || parsed.sas.is_some() {
                return Err(
                    "its connection string says UseDevelopmentStorage=true and also \
                     names an account, key or SAS; keep one of the two"
                        .into(),
                );
            }
            parsed.account = Some(DEV_ACCOUNT.to_owned());
            parsed.key = Some(Secret(DEV_ACCOUNT_KEY.to_owned()));
        }
        Ok(parsed)
    }

    /// The credentials it gives for `endpoint`, after checking that it
    /// speaks of that account and endpoint.
    fn credentials_for(self, endpoint: &Endpoint) -> Result<BlobCredentials, String> {
        if let Some(account) = &self.account {
            if !account.eq_ignore_ascii_case(endpoint.account()) {
                return Err(format!(
                    "its connection string is for account {account:?}, but the store's \
                     endpoint is for {:?}; make them agree",
                    endpoint.account()
                ));
            }
        }
        // The endpoint the string names, explicitly or through its suffix.
        // (UseDevelopmentStorage=true implies the emulator's default port,
        // but the emulator may listen on another: the store's endpoint
        // says where.)
        let named = match (&self.blob_endpoint, &self.suffix, &self.account) {
            (Some(url), _, _) => Some(url.clone()),
            (None, Some(suffix), Some(account)) => {
                let protocol = self.protocol.as_deref().unwrap_or("https");
                Some(format!("{protocol}://{account}.blob.{suffix}"))
            }
            _ => None,
        };
        if let Some(url) = named {
            let named = Endpoint::parse(&url)
                .map_err(|msg| format!("its connection string's BlobEndpoint: {msg}"))?;
            if named.to_string() != endpoint.to_string() {
                return Err(format!(
                    "its connection string's blob endpoint is {named}, but the store's \
                     endpoint is {endpoint}; make them agree"
                ));
            }
        } else if let Some(protocol) = &self.protocol {
            let expected = if endpoint.https() { "https" } else { "http" };
            if protocol != expected {
                return Err(format!(
                    "its connection string says DefaultEndpointsProtocol={protocol}, but the \
                     store's endpoint is {endpoint}; make them agree"
                ));
            }
        }

        match (self.key, self.sas) {
            (Some(_), Some(_)) => Err("its connection string holds both an AccountKey and a \
                 SharedAccessSignature; keep one"
                .into()),
            (Some(_), None) if self.account.is_none() => {
                Err("its connection string has an AccountKey but no AccountName".into())
            }
            (Some(key), None) => Ok(BlobCredentials::SharedKey {
                account: endpoint.account().to_owned(),
                key: check_account_key(key.expose())?,
            }),
            (None, Some(sas)) => check_sas(sas.expose()).map(BlobCredentials::Sas),
            (None, None) => Err("its connection string holds no AccountKey or \
                 SharedAccessSignature (or UseDevelopmentStorage=true)"
                .into()),
        }
    }
}

impl SecretSource {
    /// Reads the secret. A trailing newline in a file is not part of it.
    pub fn read(&self, store: &str) -> Result<Secret, Error> {
        let value = match self {
            SecretSource::Env(name) => std::env::var(name).map_err(|_| {
                config_error(format!(
                    "store {store}: the environment variable {name} that holds its \
                     secret is not set; set it or change the store's config"
                ))
            })?,
            SecretSource::File(path) => read_limited(path, MAX_SECRET_FILE)
                .and_then(|bytes| {
                    String::from_utf8(bytes).map_err(|_| {
                        std::io::Error::new(
                            std::io::ErrorKind::InvalidData,
                            "stream did not contain valid UTF-8",
                        )
                    })
                })
                .map_err(|err| {
                    config_error(format!(
                        "store {store}: cannot read its secret from {}: {err}",
                        path.display()
                    ))
                })?,
        };
        let value = value.trim_end_matches(['\r', '\n']).to_owned();
        if value.is_empty() {
            return Err(config_error(format!("store {store}: its secret is empty")));
        }
        Ok(Secret(value))
    }
}

impl Default for Config {
    /// No stores, and the built-in operations.
    fn default() -> Self {
        Config {
            stores: Vec::new(),
            operations: builtin_operations(),
            source: None,
        }
    }
}

fn builtin_operations() -> BTreeMap<String, u64> {
    BUILTIN_OPERATIONS
        .iter()
        .map(|(name, size)| (name.to_string(), *size))
        .collect()
}

impl Config {
    /// Reads the configuration: `explicit` if given (it must exist), else
    /// the file named by `ARTIFACT_STORE_CONFIG` (it must exist), else the
    /// default path if there is a file there, else an empty configuration.
    pub fn load(explicit: Option<&Path>) -> Result<Config, Error> {
        let path = match explicit {
            Some(path) => Some(path.to_path_buf()),
            None => std::env::var_os(CONFIG_ENV)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
        };
        match path {
            Some(path) => Config::from_file(&path),
            None => match default_path() {
                Some(path) if path.is_file() => Config::from_file(&path),
                _ => Ok(Config::default()),
            },
        }
    }

    /// Reads and checks one file.
    pub fn from_file(path: &Path) -> Result<Config, Error> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            config_error(format!("cannot read config file {}: {err}", path.display()))
        })?;
        let mut config = Config::parse(&text)
            .map_err(|err| config_error(format!("{}: {}", path.display(), err.message())))?;
        // A relative layout path means relative to the file that says it,
        // not to wherever the command happens to run.
        let base = path.parent().unwrap_or(Path::new(""));
        for store in &mut config.stores {
            if let StoreKind::Layout(layout) = &mut store.kind {
                if layout.path.is_relative() {
                    layout.path = base.join(&layout.path);
                }
            }
            if let Some(ca_file) = &mut store.ca_file {
                if ca_file.is_relative() {
                    *ca_file = base.join(&*ca_file);
                }
            }
            if let Some(SecretSource::File(path)) = store.kind.secret_source_mut() {
                if path.is_relative() {
                    *path = base.join(&*path);
                }
            }
            if let StoreKind::Component(component) = &mut store.kind {
                let paths =
                    std::iter::once(&mut component.component).chain(component.preopen.as_mut());
                for path in paths {
                    if path.is_relative() {
                        *path = base.join(&*path);
                    }
                }
            }
        }
        config.source = Some(path.to_path_buf());
        Ok(config)
    }

    /// Parses and checks configuration text.
    pub fn parse(text: &str) -> Result<Config, Error> {
        let raw: RawConfig =
            toml::from_str(text).map_err(|err| config_error(one_line(&err.to_string())))?;

        let mut stores: Vec<Store> = Vec::new();
        for (index, entry) in raw.store.into_iter().enumerate() {
            let store = entry
                .check()
                .map_err(|msg| config_error(format!("[[store]] number {}: {msg}", index + 1)))?;
            if let Some(other) = stores.iter().find(|s| s.key() == store.key()) {
                return Err(config_error(format!(
                    "store {} is registered twice; keep one entry",
                    other.key()
                )));
            }
            if store.is_export_destination() {
                if let Some(other) = stores.iter().find(|s| s.is_export_destination()) {
                    return Err(config_error(format!(
                        "stores {} and {} both set export-destination = true; keep it on one",
                        other.key(),
                        store.key()
                    )));
                }
            }
            stores.push(store);
        }

        let mut operations = builtin_operations();
        for (name, op) in raw.operation {
            let size = op
                .max_size
                .bytes()
                .map_err(|msg| config_error(format!("[operation.{name}] max-size: {msg}")))?;
            operations.insert(name, size);
        }

        Ok(Config {
            stores,
            operations,
            source: None,
        })
    }

    /// The store registered for a registry authority (`host[:port]`),
    /// compared without regard to case.
    pub fn oci_store(&self, registry: &str) -> Option<(&Store, &OciStore)> {
        self.stores.iter().find_map(|store| match &store.kind {
            StoreKind::Oci(oci) if oci.registry.eq_ignore_ascii_case(registry) => {
                Some((store, oci))
            }
            _ => None,
        })
    }

    /// The component store that answers for `key`, a registry authority
    /// (compared without regard to case) or a store name, with its
    /// position among the stores.
    pub fn component_store(&self, key: &Serves) -> Option<(usize, &Store, &ComponentStore)> {
        self.stores
            .iter()
            .enumerate()
            .find_map(|(index, store)| match &store.kind {
                StoreKind::Component(component) => {
                    let matches = match (&component.serves, key) {
                        (Serves::Registry(ours), Serves::Registry(asked)) => {
                            ours.eq_ignore_ascii_case(asked)
                        }
                        (Serves::Name(ours), Serves::Name(asked)) => ours == asked,
                        _ => false,
                    };
                    matches.then_some((index, store, component))
                }
                _ => None,
            })
    }

    /// The layout store of that name.
    pub fn layout_store(&self, name: &str) -> Option<(&Store, &LayoutStore)> {
        self.stores.iter().find_map(|store| match &store.kind {
            StoreKind::Layout(layout) if layout.name == name => Some((store, layout)),
            _ => None,
        })
    }

    /// The Azure Blob store whose endpoint `url` is under, and where under
    /// it `url` points; `None` if no registered endpoint holds it. A
    /// path-style endpoint (`http://host:port/<account>`) is preferred to a
    /// host-style one on the same host, being the more specific.
    pub fn blob_store(
        &self,
        url: &BlobUrl,
    ) -> Result<Option<(&Store, &BlobStore, BlobLocation)>, Error> {
        let blob_stores = || {
            self.stores.iter().filter_map(|store| match &store.kind {
                StoreKind::Blob(blob) => Some((store, blob)),
                _ => None,
            })
        };
        let path_style = blob_stores().filter(|(_, blob)| blob.endpoint.path_style());
        let host_style = blob_stores().filter(|(_, blob)| !blob.endpoint.path_style());
        for (store, blob) in path_style.chain(host_style) {
            let located = blob
                .endpoint
                .locate(url)
                .map_err(|msg| Error::new(ErrorKind::InvalidReference, msg))?;
            if let Some(location) = located {
                return Ok(Some((store, blob, location)));
            }
        }
        Ok(None)
    }

    /// The store that bare file names resolve to: the one with
    /// `export-destination = true`, if any.
    pub fn export_destination(&self) -> Option<(&Store, &BlobStore)> {
        self.stores.iter().find_map(|store| match &store.kind {
            StoreKind::Blob(blob) if blob.export_destination => Some((store, blob)),
            _ => None,
        })
    }

    /// The size limit of an operation.
    pub fn max_size(&self, operation: &str) -> Result<u64, Error> {
        self.operations.get(operation).copied().ok_or_else(|| {
            let known: Vec<&str> = self.operations.keys().map(String::as_str).collect();
            config_error(format!(
                "unknown operation {operation:?}; known operations are {}, \
                 or add [operation.{operation}] with a max-size to the config",
                known.join(", ")
            ))
        })
    }

    /// The registered stores, in file order.
    pub fn stores(&self) -> &[Store] {
        &self.stores
    }

    /// A phrase naming where the configuration came from.
    pub fn describe_source(&self) -> String {
        match &self.source {
            Some(path) => format!("config file {}", path.display()),
            None => format!(
                "no config file (pass --config FILE, set {CONFIG_ENV}, or create {})",
                default_path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "~/.config/artifact-store/config.toml".into())
            ),
        }
    }
}

impl Store {
    /// What references use to name the store: a registry's authority, a
    /// layout store's name, or an account's canonical endpoint.
    pub fn key(&self) -> String {
        match &self.kind {
            StoreKind::Oci(oci) => oci.registry.clone(),
            StoreKind::Layout(layout) => layout.name.clone(),
            StoreKind::Blob(blob) => blob.endpoint.to_string(),
            StoreKind::Component(component) => match &component.serves {
                Serves::Registry(registry) => registry.clone(),
                Serves::Name(name) => name.clone(),
            },
        }
    }

    fn is_export_destination(&self) -> bool {
        matches!(&self.kind, StoreKind::Blob(blob) if blob.export_destination)
    }
}

/// `$XDG_CONFIG_HOME/artifact-store/config.toml`, else
/// `~/.config/artifact-store/config.toml`.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("artifact-store").join("config.toml"))
}

/// The longest secret file read: tokens and connection strings are a few
/// kilobytes.
const MAX_SECRET_FILE: u64 = MIB;

/// Reads a file the configuration names, refusing one longer than `limit`
/// bytes without reading further, so that a wrong path (`/dev/zero`, a
/// disk image) fails at once instead of filling the memory.
pub fn read_limited(path: &Path, limit: u64) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!(
                "it holds more than {}, the most read; is it the right file?",
                human_size(limit)
            ),
        ));
    }
    Ok(bytes)
}

fn human_size(bytes: u64) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{bytes} bytes")
    }
}

/// Parses a size such as `1MiB`, `512 KiB`, `10MB` or `1048576`.
pub fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let unit = unit.trim();
    let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" => 1000,
        "kib" => KIB,
        "m" | "mb" => 1000 * 1000,
        "mib" => MIB,
        "g" | "gb" => 1000 * 1000 * 1000,
        "gib" => GIB,
        _ => {
            return Err(format!(
                "unknown unit {unit:?} in {text:?}; use B, KB, KiB, MB, MiB, GB or GiB"
            ))
        }
    };
    let invalid = || format!("{text:?} is not a size; write it like \"1MiB\" or \"1048576\"");
    let bytes = if number.contains('.') {
        let value: f64 = number.parse().map_err(|_| invalid())?;
        let bytes = value * multiplier as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
            return Err(invalid());
        }
        bytes.round() as u64
    } else {
        let value: u64 = number.parse().map_err(|_| invalid())?;
        value.checked_mul(multiplier).ok_or_else(invalid)?
    };
    Ok(bytes)
}

/// Parses a duration such as `30s`, `5m`, `1h` or `500ms`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let invalid = || format!("{text:?} is not a duration; write it like \"30s\" or \"5m\"");
    let value: u64 = number.parse().map_err(|_| invalid())?;
    let duration = match unit.trim() {
        "ms" => Duration::from_millis(value),
        "s" | "" => Duration::from_secs(value),
        "m" | "min" => Duration::from_secs(value.saturating_mul(60)),
        "h" => Duration::from_secs(value.saturating_mul(3600)),
        _ => return Err(invalid()),
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is zero; give a positive duration"));
    }
    if duration > MAX_TIMEOUT {
        return Err(format!("{text:?} is longer than the most allowed, 24h"));
    }
    Ok(duration)
}

fn config_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidConfiguration, message)
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The file as written, before checking.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    store: Vec<RawStore>,
    #[serde(default)]
    operation: BTreeMap<String, RawOperation>,
}

/// One `[[store]]` table. Fields of every kind are listed here so that a
/// misspelt key is reported rather than ignored; `check` says which fields
/// a kind accepts.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawStore {
    kind: String,
    registry: Option<String>,
    #[serde(default)]
    plain_http: bool,
    username: Option<String>,
    password_env: Option<String>,
    password_file: Option<PathBuf>,
    token_env: Option<String>,
    token_file: Option<PathBuf>,
    #[serde(default)]
    allow_hosts: Vec<String>,
    timeout: Option<String>,
    ca_file: Option<PathBuf>,
    name: Option<String>,
    path: Option<PathBuf>,
    writable: Option<bool>,
    endpoint: Option<String>,
    account: Option<String>,
    account_key_env: Option<String>,
    account_key_file: Option<PathBuf>,
    sas_env: Option<String>,
    sas_file: Option<PathBuf>,
    connection_string_env: Option<String>,
    connection_string_file: Option<PathBuf>,
    export_destination: Option<bool>,
    list_page_size: Option<i64>,
    component: Option<PathBuf>,
    preopen: Option<PathBuf>,
    memory: Option<RawSize>,
    cpu_time: Option<String>,
    max_output: Option<RawSize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawOperation {
    max_size: RawSize,
}

/// A size written as a string with a unit or as a number of bytes.
#[derive(Deserialize)]
#[serde(
    untagged,
    expecting = "a size such as \"1MiB\" or a whole number of bytes"
)]
enum RawSize {
    Bytes(u64),
    Text(String),
}

impl RawSize {
    fn bytes(&self) -> Result<u64, String> {
        match self {
            RawSize::Bytes(n) => Ok(*n),
            RawSize::Text(text) => parse_size(text),
        }
    }
}

impl RawStore {
    fn check(self) -> Result<Store, String> {
        let timeout = match &self.timeout {
            Some(text) => parse_duration(text).map_err(|msg| format!("timeout: {msg}"))?,
            None => DEFAULT_TIMEOUT,
        };
        let mut allow_hosts = Vec::new();
        for host in &self.allow_hosts {
            allow_hosts.push(check_authority(host).map_err(|msg| format!("allow-hosts: {msg}"))?);
        }
        let ca_file = self.ca_file.clone();
        if ca_file
            .as_ref()
            .is_some_and(|path| path.as_os_str().is_empty())
        {
            return Err("ca-file is empty; give the path of a PEM certificate file".into());
        }

        if self.kind != "component" {
            self.refuse_component_keys()?;
        }
        let kind = match self.kind.as_str() {
            "oci" => {
                self.refuse_blob_keys("oci")?;
                StoreKind::Oci(self.check_oci()?)
            }
            "oci-layout" => {
                self.refuse_blob_keys("oci-layout")?;
                StoreKind::Layout(self.check_layout()?)
            }
            "azure-blob" => StoreKind::Blob(self.check_blob()?),
            "component" => {
                self.refuse_blob_keys("component")?;
                StoreKind::Component(self.check_component()?)
            }
            other => {
                return Err(format!(
                    "kind {other:?} is not a store kind this version knows; \
                     use \"oci\", \"oci-layout\", \"azure-blob\" or \"component\""
                ))
            }
        };
        Ok(Store {
            kind,
            timeout,
            allow_hosts,
            ca_file,
        })
    }

    /// Refuses the keys only a component store takes.
    fn refuse_component_keys(&self) -> Result<(), String> {
        let only_component = [
            ("component", self.component.is_some()),
            ("preopen", self.preopen.is_some()),
            ("memory", self.memory.is_some()),
            ("cpu-time", self.cpu_time.is_some()),
            ("max-output", self.max_output.is_some()),
        ];
        match only_component.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(format!(
                "{key} does not apply to an \"{}\" store, only to \"component\"",
                self.kind
            )),
            None => Ok(()),
        }
    }

    fn check_component(self) -> Result<ComponentStore, String> {
        let not_component = [
            ("path", self.path.is_some()),
            ("writable", self.writable.is_some()),
        ];
        if let Some((key, _)) = not_component.iter().find(|(_, set)| *set) {
            return Err(format!(
                "{key} does not apply to a \"component\" store (preopen = \"<folder>\" \
                 grants a folder, read-only)"
            ));
        }
        let component = self.component.ok_or(
            "a \"component\" store needs component = \"<file>.wasm\", the store's \
             component",
        )?;
        let serves = match (self.registry, self.name) {
            (Some(registry), None) => Serves::Registry(
                check_authority(&registry).map_err(|msg| format!("registry: {msg}"))?,
            ),
            (None, Some(name)) => {
                check_store_name(&name)?;
                Serves::Name(name)
            }
            _ => {
                return Err("a \"component\" store answers for one registry = \
                     \"<host>[:<port>]\" or one name = \"<name>\"; give exactly one"
                    .into())
            }
        };
        let credentials = oci_credentials(
            self.username,
            secret_source("password", self.password_env, self.password_file)?,
            secret_source("token", self.token_env, self.token_file)?,
        )?;

        let memory = match &self.memory {
            None => None,
            Some(size) => {
                let bytes = size.bytes().map_err(|msg| format!("memory: {msg}"))?;
                if !(MIN_COMPONENT_MEMORY..=MAX_COMPONENT_MEMORY).contains(&bytes) {
                    return Err(format!(
                        "memory must be between 4MiB and 4GiB (a 32-bit component \
                         addresses no more), not {bytes} bytes"
                    ));
                }
                Some(bytes)
            }
        };
        let cpu_time = match &self.cpu_time {
            None => None,
            Some(text) => Some(parse_duration(text).map_err(|msg| format!("cpu-time: {msg}"))?),
        };
        let max_output = match &self.max_output {
            None => None,
            Some(size) => match size.bytes().map_err(|msg| format!("max-output: {msg}"))? {
                0 => return Err("max-output is 0, which refuses every answer".into()),
                bytes => Some(bytes),
            },
        };

        Ok(ComponentStore {
            component,
            serves,
            plain_http: self.plain_http,
            credentials,
            preopen: self.preopen,
            memory,
            cpu_time,
            max_output,
        })
    }

    /// Refuses the keys only an Azure Blob store takes.
    fn refuse_blob_keys(&self, kind: &str) -> Result<(), String> {
        let only_blob = [
            ("endpoint", self.endpoint.is_some()),
            ("account", self.account.is_some()),
            ("account-key-env", self.account_key_env.is_some()),
            ("account-key-file", self.account_key_file.is_some()),
            ("sas-env", self.sas_env.is_some()),
            ("sas-file", self.sas_file.is_some()),
            (
                "connection-string-env",
                self.connection_string_env.is_some(),
            ),
            (
                "connection-string-file",
                self.connection_string_file.is_some(),
            ),
            ("export-destination", self.export_destination.is_some()),
            ("list-page-size", self.list_page_size.is_some()),
        ];
        match only_blob.iter().find(|(_, set)| *set) {
            Some((key, _)) => Err(format!(
                "{key} does not apply to an \"{kind}\" store, only to \"azure-blob\""
            )),
            None => Ok(()),
        }
    }

    fn check_blob(self) -> Result<BlobStore, String> {
        let not_blob = [
            ("registry", self.registry.is_some()),
            ("plain-http", self.plain_http),
            ("username", self.username.is_some()),
            ("password-env", self.password_env.is_some()),
            ("password-file", self.password_file.is_some()),
            ("name", self.name.is_some()),
            ("path", self.path.is_some()),
            ("writable", self.writable.is_some()),
        ];
        if let Some((key, _)) = not_blob.iter().find(|(_, set)| *set) {
            let hint = match *key {
                "plain-http" => " (the endpoint's http:// or https:// says it)",
                "registry" => " (give its endpoint = \"https://<account>.blob.core.windows.net\")",
                _ => "",
            };
            return Err(format!(
                "{key} does not apply to an \"azure-blob\" store{hint}"
            ));
        }

        let endpoint = self.endpoint.ok_or(
            "an \"azure-blob\" store needs endpoint = \"https://<account>.blob.core.windows.net\" \
             (or the emulator's \"http://127.0.0.1:10000/devstoreaccount1\")",
        )?;
        // Core's message quotes the text; a query may be a pasted SAS.
        if endpoint.contains('?') {
            return Err("endpoint must be the account's URL alone, without a query \
                 (a SAS token goes in sas-env or sas-file)"
                .into());
        }
        let mut endpoint = Endpoint::parse(&endpoint).map_err(|msg| format!("endpoint: {msg}"))?;
        if let Some(account) = &self.account {
            endpoint = endpoint.with_account(account);
        }
        endpoint
            .check_account()
            .map_err(|msg| format!("account: {msg}"))?;

        let sources = [
            secret_source("account-key", self.account_key_env, self.account_key_file)?
                .map(BlobCredentialSource::AccountKey),
            secret_source("sas", self.sas_env, self.sas_file)?.map(BlobCredentialSource::Sas),
            secret_source("token", self.token_env, self.token_file)?
                .map(BlobCredentialSource::Bearer),
            secret_source(
                "connection-string",
                self.connection_string_env,
                self.connection_string_file,
            )?
            .map(BlobCredentialSource::ConnectionString),
        ];
        let mut sources = sources.into_iter().flatten();
        let credentials = sources.next().unwrap_or_default();
        if sources.next().is_some() {
            return Err(
                "give one of account-key-*, sas-*, token-* and connection-string-*, \
                 not several"
                    .into(),
            );
        }

        let list_page_size = match self.list_page_size {
            None => MAX_LIST_PAGE_SIZE,
            Some(n) => u32::try_from(n)
                .ok()
                .filter(|n| (1..=MAX_LIST_PAGE_SIZE).contains(n))
                .ok_or_else(|| {
                    format!("list-page-size {n} is not between 1 and {MAX_LIST_PAGE_SIZE}")
                })?,
        };

        Ok(BlobStore {
            endpoint,
            credentials,
            export_destination: self.export_destination.unwrap_or(false),
            list_page_size,
        })
    }

    fn check_layout(self) -> Result<LayoutStore, String> {
        let only_oci = [
            ("registry", self.registry.is_some()),
            ("plain-http", self.plain_http),
            ("username", self.username.is_some()),
            ("password-env", self.password_env.is_some()),
            ("password-file", self.password_file.is_some()),
            ("token-env", self.token_env.is_some()),
            ("token-file", self.token_file.is_some()),
            ("allow-hosts", !self.allow_hosts.is_empty()),
            ("ca-file", self.ca_file.is_some()),
        ];
        if let Some((key, _)) = only_oci.iter().find(|(_, set)| *set) {
            return Err(format!("{key} does not apply to an \"oci-layout\" store"));
        }
        let name = self
            .name
            .ok_or("an \"oci-layout\" store needs name = \"<name>\" (references are <name>/<repository>:<tag>)")?;
        check_store_name(&name)?;
        let path = self
            .path
            .ok_or("an \"oci-layout\" store needs path = \"<folder of the layout>\"")?;
        Ok(LayoutStore {
            name,
            path,
            writable: self.writable.unwrap_or(false),
        })
    }

    fn check_oci(self) -> Result<OciStore, String> {
        if let Some((key, _)) = [
            ("name", self.name.is_some()),
            ("path", self.path.is_some()),
            ("writable", self.writable.is_some()),
        ]
        .iter()
        .find(|(_, set)| *set)
        {
            return Err(format!("{key} does not apply to an \"oci\" store"));
        }
        let registry = self
            .registry
            .ok_or("an \"oci\" store needs registry = \"<host>[:<port>]\"")?;
        let registry = check_authority(&registry).map_err(|msg| format!("registry: {msg}"))?;

        let credentials = oci_credentials(
            self.username,
            secret_source("password", self.password_env, self.password_file)?,
            secret_source("token", self.token_env, self.token_file)?,
        )?;

        Ok(OciStore {
            registry,
            plain_http: self.plain_http,
            credentials,
        })
    }
}

/// Registry credentials: none, a user name with a password, or a token.
fn oci_credentials(
    username: Option<String>,
    password: Option<SecretSource>,
    token: Option<SecretSource>,
) -> Result<CredentialSource, String> {
    match (username, password, token) {
        (None, None, None) => Ok(CredentialSource::Anonymous),
        (Some(username), Some(password), None) => {
            Ok(CredentialSource::Basic { username, password })
        }
        (None, None, Some(token)) => Ok(CredentialSource::Bearer(token)),
        (Some(_), None, None) => Err("username is set but no password-env or password-file".into()),
        (None, Some(_), None) => Err("a password is set but no username".into()),
        (_, _, Some(_)) => Err("a token cannot be combined with a username or password".into()),
    }
}

/// Checks a store name as references write it before the first `/`.
fn check_store_name(name: &str) -> Result<(), String> {
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "name {name:?} must be 1 to 64 of a-z, 0-9, - and _ (no dots or colons, \
             which would make it read as a registry)"
        ))
    }
}

/// The secret named by `<what>-env` or `<what>-file`, if either is given.
fn secret_source(
    what: &str,
    env: Option<String>,
    file: Option<PathBuf>,
) -> Result<Option<SecretSource>, String> {
    match (env, file) {
        (Some(_), Some(_)) => Err(format!("give {what}-env or {what}-file, not both")),
        (Some(name), None) => Ok(Some(SecretSource::Env(name))),
        (None, Some(path)) => Ok(Some(SecretSource::File(path))),
        (None, None) => Ok(None),
    }
}

/// Checks a `host[:port]` authority and returns it lowercased.
fn check_authority(text: &str) -> Result<String, String> {
    let lower = text.trim().to_ascii_lowercase();
    let bad = || format!("{text:?} is not a host or host:port (no scheme, path or user part)");
    if lower.is_empty() || lower.contains(['/', '@', ' ', '?', '#']) {
        return Err(bad());
    }
    let uri: http::uri::Authority = lower.parse().map_err(|_| bad())?;
    let port = lower
        .strip_prefix(uri.host())
        .and_then(|rest| rest.strip_prefix(':'));
    let bad_port = port.is_some_and(|port| !port.parse::<u16>().is_ok_and(|port| port > 0));
    if uri.host().is_empty() || bad_port {
        return Err(bad());
    }
    Ok(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_endless_secret_file_is_refused_without_reading_it_all() {
        let source = SecretSource::File(PathBuf::from("/dev/zero"));
        let err = source.read("registry.example").unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
        assert!(err.message().contains("more than 1 MiB"), "{err}");
    }

    #[test]
    fn the_issue_example_parses() {
        let config = Config::parse(
            r#"
[[store]]
kind = "oci"
registry = "127.0.0.1:5000"
plain-http = true
# username = "alice"
# password-env = "REGISTRY_PASSWORD"

[operation.anonymization]
max-size = "1MiB"
"#,
        )
        .unwrap();
        let (_, oci) = config.oci_store("127.0.0.1:5000").unwrap();
        assert!(oci.plain_http);
        assert!(matches!(oci.credentials, CredentialSource::Anonymous));
        assert_eq!(config.max_size("anonymization").unwrap(), 1024 * 1024);
        assert_eq!(config.max_size("default").unwrap(), GIB);
        assert!(config.oci_store("127.0.0.1:5001").is_none());
    }

    #[test]
    fn the_layout_example_parses() {
        let config = Config::parse(
            r#"
[[store]]
kind = "oci-layout"
name = "local"
path = "/srv/artifacts/layout"
"#,
        )
        .unwrap();
        let (_, layout) = config.layout_store("local").unwrap();
        assert_eq!(layout.path, PathBuf::from("/srv/artifacts/layout"));
        assert!(!layout.writable);
        assert!(config.layout_store("other").is_none());
    }

    #[test]
    fn relative_layout_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stores.toml");
        std::fs::write(
            &file,
            "[[store]]\nkind = \"oci-layout\"\nname = \"local\"\npath = \"layout\"\n",
        )
        .unwrap();
        let config = Config::from_file(&file).unwrap();
        let (_, layout) = config.layout_store("local").unwrap();
        assert_eq!(layout.path, dir.path().join("layout"));
    }

    #[test]
    fn ca_files_follow_the_config_file_and_apply_to_network_stores() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("stores.toml");
        std::fs::write(
            &file,
            "[[store]]\nkind = \"oci\"\nregistry = \"r.example\"\nca-file = \"certs/ca.pem\"\n\n\
             [[store]]\nkind = \"azure-blob\"\nendpoint = \"https://acct.blob.core.windows.net\"\n\
             ca-file = \"/etc/ssl/private-ca.pem\"\n\n\
             [[store]]\nkind = \"oci\"\nregistry = \"plain.example\"\n",
        )
        .unwrap();
        let config = Config::from_file(&file).unwrap();
        let (oci, _) = config.oci_store("r.example").unwrap();
        assert_eq!(oci.ca_file, Some(dir.path().join("certs/ca.pem")));
        assert_eq!(
            config.stores()[1].ca_file,
            Some(PathBuf::from("/etc/ssl/private-ca.pem"))
        );
        let (plain, _) = config.oci_store("plain.example").unwrap();
        assert_eq!(plain.ca_file, None);
    }

    #[test]
    fn secret_files_follow_the_config_file_like_every_other_path() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("secrets")).unwrap();
        std::fs::write(dir.path().join("secrets/password"), "hunter2\n").unwrap();
        std::fs::write(dir.path().join("secrets/sas"), "sv=1&sig=abc\n").unwrap();
        let file = dir.path().join("stores.toml");
        std::fs::write(
            &file,
            "[[store]]\nkind = \"oci\"\nregistry = \"r.example\"\nusername = \"u\"\n\
             password-file = \"secrets/password\"\n\n\
             [[store]]\nkind = \"azure-blob\"\nendpoint = \"https://acct.blob.core.windows.net\"\n\
             sas-file = \"secrets/sas\"\n\n\
             [[store]]\nkind = \"oci\"\nregistry = \"abs.example\"\ntoken-file = \"/run/token\"\n",
        )
        .unwrap();
        let config = Config::from_file(&file).unwrap();

        let (_, oci) = config.oci_store("r.example").unwrap();
        let CredentialSource::Basic { password, .. } = &oci.credentials else {
            panic!("not Basic credentials")
        };
        assert!(
            matches!(password, SecretSource::File(p) if *p == dir.path().join("secrets/password"))
        );
        assert_eq!(password.read("r.example").unwrap().expose(), "hunter2");

        let StoreKind::Blob(blob) = &config.stores()[1].kind else {
            panic!("not a blob store")
        };
        assert!(matches!(
            &blob.credentials,
            BlobCredentialSource::Sas(SecretSource::File(p)) if *p == dir.path().join("secrets/sas")
        ));

        let (_, abs) = config.oci_store("abs.example").unwrap();
        assert!(matches!(
            &abs.credentials,
            CredentialSource::Bearer(SecretSource::File(p)) if *p == Path::new("/run/token")
        ));
    }

    #[test]
    fn ca_files_are_refused_where_they_mean_nothing() {
        let err = Config::parse(
            "[[store]]\nkind = \"oci-layout\"\nname = \"l\"\npath = \"/x\"\nca-file = \"ca.pem\"\n",
        )
        .unwrap_err();
        assert!(err.message().contains("ca-file does not apply"), "{err}");
        let err = Config::parse("[[store]]\nkind = \"oci\"\nregistry = \"r.io\"\nca-file = \"\"\n")
            .unwrap_err();
        assert!(err.message().contains("ca-file is empty"), "{err}");
        let err = Config::parse("[[store]]\nkind = \"oci\"\nregistry = \"r.io\"\nca-file = 1\n")
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
    }

    #[test]
    fn layout_names_that_read_as_registries_are_refused() {
        for name in ["my.store", "host:5000", "Upper", ""] {
            let text =
                format!("[[store]]\nkind = \"oci-layout\"\nname = \"{name}\"\npath = \"/x\"\n");
            assert!(Config::parse(&text).is_err(), "{name}");
        }
        let err = Config::parse(
            "[[store]]\nkind = \"oci-layout\"\nname = \"a\"\npath = \"/x\"\nregistry = \"r.io\"\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not apply"), "{err}");
    }

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("1MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("1 MiB").unwrap(), 1 << 20);
        assert_eq!(parse_size("10MB").unwrap(), 10_000_000);
        assert_eq!(parse_size("1.5KiB").unwrap(), 1536);
        assert_eq!(parse_size("42").unwrap(), 42);
        assert!(parse_size("1 parsec").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn absurd_timeouts_are_refused() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert!(parse_duration("9223372036854775807s").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn misspelt_keys_are_reported() {
        let err =
            Config::parse("[[store]]\nkind = \"oci\"\nregistry = \"r.io\"\npasword-env = \"X\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("pasword-env"), "{err}");
    }

    #[test]
    fn username_without_password_is_refused() {
        let err =
            Config::parse("[[store]]\nkind = \"oci\"\nregistry = \"r.io\"\nusername = \"a\"\n")
                .unwrap_err();
        assert!(err.to_string().contains("password-env"), "{err}");
    }

    #[test]
    fn registry_with_scheme_is_refused() {
        let err =
            Config::parse("[[store]]\nkind = \"oci\"\nregistry = \"https://r.io\"\n").unwrap_err();
        assert!(err.to_string().contains("no scheme"), "{err}");
    }

    #[test]
    fn impossible_ports_are_refused() {
        for registry in ["127.0.0.1:99999", "127.0.0.1:", "127.0.0.1:0"] {
            let text = format!("[[store]]\nkind = \"oci\"\nregistry = \"{registry}\"\n");
            assert!(Config::parse(&text).is_err(), "{registry}");
        }
    }

    #[test]
    fn a_size_of_the_wrong_type_says_what_is_expected() {
        let err = Config::parse("[operation.x]\nmax-size = -1\n").unwrap_err();
        assert!(err.to_string().contains("1MiB"), "{err}");
    }

    #[test]
    fn unknown_operation_names_the_known_ones() {
        let err = Config::default().max_size("nope").unwrap_err();
        assert!(err.to_string().contains("anonymization"), "{err}");
    }

    /// The configuration of issue 4, as its text gives it.
    const BLOB_EXAMPLE: &str = r#"
[[store]]
kind = "azure-blob"
endpoint = "http://127.0.0.1:10000/devstoreaccount1"   # path-style (emulator), or
# endpoint = "https://<account>.blob.core.windows.net"  # host-style
account-key-env = "AZURE_STORAGE_KEY"      # Shared Key; or account-key-file = "/path"
# sas-env = "AZURE_SAS" / sas-file = "..."   a SAS token (query string, with or without leading '?')
# token-env / token-file                     a bearer (Azure AD) token
# connection-string-env = "AZURE_STORAGE_CONNECTION_STRING"  (AccountName + AccountKey [+ BlobEndpoint])
# (none of these: anonymous, for public containers)
# account = "name"        # optional; default: the endpoint's single path segment (path-style)
#                         # or the first label of the host (host-style)
# list-page-size = 5000   # optional: maxresults per List Blobs page (1..=5000); tests use 2
# timeout = "5m"
export-destination = true  # at most one store; bare file names resolve to its `anonymization` container
"#;

    const EMULATOR: &str = "http://127.0.0.1:10000/devstoreaccount1";

    fn blob_config(keys: &str) -> Result<Config, Error> {
        Config::parse(&format!("[[store]]\nkind = \"azure-blob\"\n{keys}\n"))
    }

    fn only_blob_store(config: &Config) -> &BlobStore {
        match &config.stores()[0].kind {
            StoreKind::Blob(blob) => blob,
            other => panic!("not a blob store: {other:?}"),
        }
    }

    fn connection(text: &str, endpoint: &str) -> Result<BlobCredentials, String> {
        ConnectionString::parse(text)?.credentials_for(&Endpoint::parse(endpoint).unwrap())
    }

    #[test]
    fn the_blob_example_parses() {
        let config = Config::parse(BLOB_EXAMPLE).unwrap();
        let (store, blob) = config.export_destination().unwrap();
        assert_eq!(store.key(), EMULATOR);
        assert_eq!(blob.endpoint.account(), "devstoreaccount1");
        assert!(!blob.endpoint.https());
        assert_eq!(blob.list_page_size, 5000);
        assert_eq!(store.timeout, DEFAULT_TIMEOUT);
        assert!(matches!(
            &blob.credentials,
            BlobCredentialSource::AccountKey(SecretSource::Env(name)) if name == "AZURE_STORAGE_KEY"
        ));

        let url = BlobUrl::parse(&format!("{EMULATOR}/deid/configs/my%20config.json")).unwrap();
        let (_, _, location) = config.blob_store(&url).unwrap().unwrap();
        assert_eq!(location.container, "deid");
        assert_eq!(location.name, "configs/my config.json");
        let elsewhere = BlobUrl::parse("http://127.0.0.1:10001/devstoreaccount1/deid/x").unwrap();
        assert!(config.blob_store(&elsewhere).unwrap().is_none());
    }

    #[test]
    fn host_style_endpoints_take_the_account_from_the_host() {
        let config = blob_config(
            "endpoint = \"https://MyAcct.blob.core.windows.net/\"\nlist-page-size = 2\n\
             sas-file = \"/run/sas\"\ntimeout = \"30s\"",
        )
        .unwrap();
        let blob = only_blob_store(&config);
        assert_eq!(blob.endpoint.account(), "myacct");
        assert_eq!(
            config.stores()[0].key(),
            "https://myacct.blob.core.windows.net"
        );
        assert_eq!(blob.list_page_size, 2);
        assert!(matches!(blob.credentials, BlobCredentialSource::Sas(_)));
        assert!(config.export_destination().is_none());

        let config =
            blob_config("endpoint = \"https://blobs.example.com\"\naccount = \"shop\"").unwrap();
        assert_eq!(only_blob_store(&config).endpoint.account(), "shop");
        assert!(matches!(
            only_blob_store(&config).credentials,
            BlobCredentialSource::Anonymous
        ));
    }

    #[test]
    fn two_export_destinations_are_refused_naming_both() {
        let text = format!(
            "{BLOB_EXAMPLE}\n[[store]]\nkind = \"azure-blob\"\n\
             endpoint = \"https://other.blob.core.windows.net\"\nexport-destination = true\n"
        );
        let err = Config::parse(&text).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
        assert!(err.message().contains(EMULATOR), "{err}");
        assert!(
            err.message()
                .contains("https://other.blob.core.windows.net"),
            "{err}"
        );
        // One destination and another store that says false is fine.
        let text = text.replace(
            "export-destination = true\n",
            "export-destination = false\n",
        );
        assert!(Config::parse(&text).is_ok());
    }

    #[test]
    fn the_same_endpoint_twice_is_refused() {
        let text = format!(
            "{BLOB_EXAMPLE}\n[[store]]\nkind = \"azure-blob\"\n\
             endpoint = \"HTTP://127.0.0.1:10000/devstoreaccount1/\"\n"
        );
        let err = Config::parse(&text).unwrap_err();
        assert!(err.message().contains("registered twice"), "{err}");
    }

    #[test]
    fn bad_endpoints_are_refused() {
        for (endpoint, says) in [
            ("ftp://a.blob.core.windows.net", "http"),
            ("a.blob.core.windows.net", "http"),
            ("https://a.blob.core.windows.net/?sv=1&sig=secret", "query"),
            ("http://127.0.0.1:10000/a/b", "more than one path segment"),
            ("http://127.0.0.1:10000", "account"),
            ("https://Under_Score.example.com", "account"),
        ] {
            let err = blob_config(&format!("endpoint = \"{endpoint}\"")).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
            assert!(err.message().contains(says), "{endpoint}: {err}");
            assert!(!err.message().contains("secret"), "{err}");
        }
        let err = blob_config("account-key-env = \"K\"").unwrap_err();
        assert!(err.message().contains("needs endpoint"), "{err}");
        let err = blob_config(&format!("endpoint = \"{EMULATOR}\"\naccount = \"NO\"")).unwrap_err();
        assert!(err.message().contains("account"), "{err}");
    }

    #[test]
    fn keys_of_other_kinds_are_refused() {
        let endpoint = format!("endpoint = \"{EMULATOR}\"");
        for key in [
            "registry = \"r.io\"",
            "plain-http = true",
            "username = \"a\"",
            "password-env = \"P\"",
            "name = \"x\"",
            "path = \"/x\"",
            "writable = true",
        ] {
            let err = blob_config(&format!("{endpoint}\n{key}")).unwrap_err();
            assert!(err.message().contains("does not apply"), "{key}: {err}");
        }
        for key in [
            "endpoint = \"https://a.blob.core.windows.net\"",
            "account = \"a\"",
            "account-key-env = \"K\"",
            "sas-file = \"/s\"",
            "connection-string-env = \"C\"",
            "export-destination = true",
            "list-page-size = 2",
        ] {
            for other in [
                "kind = \"oci\"\nregistry = \"r.io\"",
                "kind = \"oci-layout\"\nname = \"l\"\npath = \"/x\"",
            ] {
                let err = Config::parse(&format!("[[store]]\n{other}\n{key}\n")).unwrap_err();
                assert!(
                    err.message().contains("only to \"azure-blob\""),
                    "{key}: {err}"
                );
            }
        }
        let err = Config::parse("[[store]]\nkind = \"blob\"\n").unwrap_err();
        assert!(err.message().contains("\"azure-blob\""), "{err}");
    }

    #[test]
    fn one_credential_source_at_most() {
        let endpoint = format!("endpoint = \"{EMULATOR}\"");
        for keys in [
            "account-key-env = \"K\"\nsas-env = \"S\"",
            "token-file = \"/t\"\nconnection-string-env = \"C\"",
        ] {
            let err = blob_config(&format!("{endpoint}\n{keys}")).unwrap_err();
            assert!(err.message().contains("not several"), "{keys}: {err}");
        }
        let err =
            blob_config(&format!("{endpoint}\nsas-env = \"S\"\nsas-file = \"/s\"")).unwrap_err();
        assert!(err.message().contains("not both"), "{err}");
        let config = blob_config(&format!("{endpoint}\ntoken-env = \"T\"")).unwrap();
        assert!(matches!(
            only_blob_store(&config).credentials,
            BlobCredentialSource::Bearer(_)
        ));
    }

    #[test]
    fn list_page_sizes_outside_azures_range_are_refused() {
        for size in ["0", "5001", "-1"] {
            let err = blob_config(&format!(
                "endpoint = \"{EMULATOR}\"\nlist-page-size = {size}"
            ))
            .unwrap_err();
            assert!(
                err.message().contains("between 1 and 5000"),
                "{size}: {err}"
            );
        }
    }

    #[test]
    fn connection_strings_give_a_key_or_a_sas_for_their_endpoint() {
        let azurite = format!(
            "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;\
             AccountKey={DEV_ACCOUNT_KEY};BlobEndpoint={EMULATOR};\
             QueueEndpoint=http://127.0.0.1:10001/devstoreaccount1;"
        );
        match connection(&azurite, EMULATOR).unwrap() {
            BlobCredentials::SharedKey { account, key } => {
                assert_eq!(account, "devstoreaccount1");
                assert_eq!(key.expose(), DEV_ACCOUNT_KEY);
            }
            other => panic!("{other:?}"),
        }

        let portal = "DefaultEndpointsProtocol=https;AccountName=myacct;AccountKey=a2V5;\
                      EndpointSuffix=core.windows.net";
        assert!(connection(portal, "https://myacct.blob.core.windows.net").is_ok());
        let err = connection(portal, "https://other.blob.core.windows.net").unwrap_err();
        assert!(
            err.contains("\"myacct\"") && err.contains("\"other\""),
            "{err}"
        );

        let sas = "BlobEndpoint=https://myacct.blob.core.windows.net/;\
                   SharedAccessSignature=sv=2022-11-02&sig=c2ln%3D";
        match connection(sas, "https://myacct.blob.core.windows.net").unwrap() {
            BlobCredentials::Sas(token) => assert_eq!(token.expose(), "sv=2022-11-02&sig=c2ln%3D"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn use_development_storage_means_the_emulators_account_and_key() {
        // On whatever port the store's endpoint names.
        let endpoint = "http://127.0.0.1:41234/devstoreaccount1";
        match connection("UseDevelopmentStorage=true", endpoint).unwrap() {
            BlobCredentials::SharedKey { account, key } => {
                assert_eq!(account, "devstoreaccount1");
                assert_eq!(key.expose(), DEV_ACCOUNT_KEY);
            }
            other => panic!("{other:?}"),
        }
        let err = connection(
            "UseDevelopmentStorage=true",
            "https://acct.blob.core.windows.net",
        )
        .unwrap_err();
        assert!(err.contains("devstoreaccount1"), "{err}");
        let err = connection("UseDevelopmentStorage=true;AccountKey=a2V5", endpoint).unwrap_err();
        assert!(err.contains("keep one"), "{err}");
    }

    #[test]
    fn connection_strings_that_disagree_or_lack_a_secret_are_refused() {
        let key = "AccountKey=c2VjcmV0LWtleQ==";
        for (text, says) in [
            (
                format!(
                    "AccountName=devstoreaccount1;{key};\
                     BlobEndpoint=http://127.0.0.1:9/devstoreaccount1"
                ),
                "make them agree",
            ),
            (
                format!("DefaultEndpointsProtocol=https;AccountName=devstoreaccount1;{key}"),
                "make them agree",
            ),
            (format!("AccountName=other;{key}"), "make them agree"),
            (key.to_owned(), "no AccountName"),
            ("AccountName=devstoreaccount1".to_owned(), "no AccountKey"),
            (
                format!("AccountName=devstoreaccount1;{key};SharedAccessSignature=sig=x"),
                "keep one",
            ),
            (
                "AccountName=devstoreaccount1;AccountKey=not base64!".to_owned(),
                "not base64",
            ),
            ("c2VjcmV0LWtleQ".to_owned(), "not Key=Value"),
            // A pasted key splits at its padding into an unknown key.
            ("c2VjcmV0LWtleQ==".to_owned(), "no AccountKey"),
        ] {
            let err = connection(&text, EMULATOR).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
            assert!(!err.contains("c2VjcmV0LWtleQ"), "the key leaked: {err}");
        }
    }

    #[test]
    fn blob_secrets_are_checked_when_read() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.display().to_string()
        };
        let sas = write("sas", "?sv=2022-11-02&ss=b&sig=abc%2Bdef\n");
        let config =
            blob_config(&format!("endpoint = \"{EMULATOR}\"\nsas-file = \"{sas}\"")).unwrap();
        match only_blob_store(&config).credentials().unwrap() {
            BlobCredentials::Sas(token) => {
                assert_eq!(token.expose(), "sv=2022-11-02&ss=b&sig=abc%2Bdef")
            }
            other => panic!("{other:?}"),
        }

        let unsigned = write("unsigned", "sv=2022-11-02&ss=b");
        let config = blob_config(&format!(
            "endpoint = \"{EMULATOR}\"\nsas-file = \"{unsigned}\""
        ))
        .unwrap();
        let err = only_blob_store(&config).credentials().unwrap_err();
        assert!(err.message().contains("no sig="), "{err}");

        let key = write("key", "hunter2 is not base64");
        let config = blob_config(&format!(
            "endpoint = \"{EMULATOR}\"\naccount-key-file = \"{key}\""
        ))
        .unwrap();
        let err = only_blob_store(&config).credentials().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfiguration);
        assert!(err.message().contains("not base64"), "{err}");
        assert!(!err.message().contains("hunter2"), "{err}");
        assert!(!format!("{:?}", BlobCredentials::Sas(Secret("s3cr3t".into()))).contains("s3cr3t"));
    }

    #[test]
    fn a_path_style_endpoint_wins_over_a_host_style_one_on_its_host() {
        let config = Config::parse(&format!(
            "[[store]]\nkind = \"azure-blob\"\nendpoint = \"http://127.0.0.1:10000\"\n\
             account = \"whole\"\n\
             [[store]]\nkind = \"azure-blob\"\nendpoint = \"{EMULATOR}\"\n"
        ))
        .unwrap();
        let url = BlobUrl::parse(&format!("{EMULATOR}/cfg/x.json")).unwrap();
        let (store, _, location) = config.blob_store(&url).unwrap().unwrap();
        assert_eq!(store.key(), EMULATOR);
        assert_eq!(location.container, "cfg");
        let url = BlobUrl::parse("http://127.0.0.1:10000/cfg/x.json").unwrap();
        let (store, _, _) = config.blob_store(&url).unwrap().unwrap();
        assert_eq!(store.key(), "http://127.0.0.1:10000");
    }

    #[test]
    fn secrets_do_not_show_in_debug() {
        let secret = Secret("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
    #[test]
    fn the_component_example_parses() {
        let config = Config::parse(
            r#"
[[store]]
kind = "component"
registry = "127.0.0.1:5000"
plain-http = true
component = "path/to/provider.wasm"
allow-hosts = ["127.0.0.1:5000"]
memory = "64MiB"
timeout = "30s"
"#,
        )
        .unwrap();
        let key = Serves::Registry("127.0.0.1:5000".into());
        let (index, store, component) = config.component_store(&key).unwrap();
        assert_eq!(index, 0);
        assert_eq!(component.component, Path::new("path/to/provider.wasm"));
        assert!(component.plain_http);
        assert_eq!(component.memory, Some(64 * MIB));
        assert_eq!((component.cpu_time, component.max_output), (None, None));
        assert_eq!(store.timeout, Duration::from_secs(30));
        assert_eq!(store.allow_hosts, ["127.0.0.1:5000"]);
        assert_eq!(
            component.capabilities(store),
            crate::runtime::Capabilities {
                network: true,
                filesystem: false
            }
        );
        // Registries compare without regard to case; it is no OCI store.
        assert!(config
            .component_store(&Serves::Registry("127.0.0.1:5000".to_uppercase()))
            .is_some());
        assert!(config.oci_store("127.0.0.1:5000").is_none());
    }

    #[test]
    fn a_named_component_store_takes_a_folder_and_limits() {
        let config = Config::parse(
            "[[store]]\nkind = \"component\"\nname = \"mine\"\ncomponent = \"/c.wasm\"\n\
             preopen = \"/srv/data\"\ncpu-time = \"2s\"\nmax-output = \"1MiB\"\n\
             username = \"u\"\npassword-env = \"P\"\n",
        )
        .unwrap();
        let (_, store, component) = config
            .component_store(&Serves::Name("mine".into()))
            .unwrap();
        assert_eq!(component.preopen.as_deref(), Some(Path::new("/srv/data")));
        assert_eq!(component.cpu_time, Some(Duration::from_secs(2)));
        assert_eq!(component.max_output, Some(MIB));
        assert!(matches!(
            component.credentials,
            CredentialSource::Basic { .. }
        ));
        assert_eq!(
            component.capabilities(store),
            crate::runtime::Capabilities {
                network: false,
                filesystem: true
            }
        );
        assert!(config.layout_store("mine").is_none());
    }

    #[test]
    fn relative_component_paths_follow_the_config_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stores.toml");
        std::fs::write(
            &path,
            "[[store]]\nkind = \"component\"\nname = \"mine\"\ncomponent = \"c/p.wasm\"\n\
             preopen = \"data\"\n",
        )
        .unwrap();
        let config = Config::from_file(&path).unwrap();
        let (_, _, component) = config
            .component_store(&Serves::Name("mine".into()))
            .unwrap();
        assert_eq!(component.component, dir.path().join("c/p.wasm"));
        assert_eq!(component.preopen, Some(dir.path().join("data")));
    }

    #[test]
    fn bad_component_stores_are_refused() {
        let component = "kind = \"component\"\ncomponent = \"/c.wasm\"";
        for (keys, says) in [
            ("kind = \"component\"\nname = \"x\"", "needs component"),
            (component, "exactly one"),
            (
                &format!("{component}\nname = \"x\"\nregistry = \"r.io\""),
                "exactly one",
            ),
            (&format!("{component}\nname = \"a.b\""), "must be 1 to 64"),
            (
                &format!("{component}\nregistry = \"http://r.io\""),
                "registry:",
            ),
            (
                &format!("{component}\nname = \"x\"\nmemory = \"1MiB\""),
                "between 4MiB and 4GiB",
            ),
            (
                &format!("{component}\nname = \"x\"\nmemory = \"8GiB\""),
                "between 4MiB and 4GiB",
            ),
            (
                &format!("{component}\nname = \"x\"\ncpu-time = \"0s\""),
                "cpu-time:",
            ),
            (
                &format!("{component}\nname = \"x\"\nmax-output = 0"),
                "max-output is 0",
            ),
            (
                &format!("{component}\nname = \"x\"\npath = \"/l\""),
                "preopen",
            ),
            (
                &format!("{component}\nname = \"x\"\nwritable = true"),
                "preopen",
            ),
            (
                &format!("{component}\nname = \"x\"\nsas-env = \"S\""),
                "only to \"azure-blob\"",
            ),
            (
                &format!("{component}\nname = \"x\"\nusername = \"u\""),
                "no password-env",
            ),
        ] {
            let err = Config::parse(&format!("[[store]]\n{keys}\n")).unwrap_err();
            assert!(err.message().contains(says), "{keys}: {err}");
        }
        for other in [
            "kind = \"oci\"\nregistry = \"r.io\"",
            "kind = \"oci-layout\"\nname = \"l\"\npath = \"/x\"",
            "kind = \"azure-blob\"\nendpoint = \"https://a.blob.core.windows.net\"",
        ] {
            for key in [
                "component = \"/c.wasm\"",
                "preopen = \"/d\"",
                "memory = \"64MiB\"",
                "cpu-time = \"1s\"",
                "max-output = \"1MiB\"",
            ] {
                let err = Config::parse(&format!("[[store]]\n{other}\n{key}\n")).unwrap_err();
                assert!(
                    err.message().contains("only to \"component\""),
                    "{key}: {err}"
                );
            }
        }
    }

    #[test]
    fn a_component_store_may_not_share_a_registry_or_name() {
        let err = Config::parse(
            "[[store]]\nkind = \"oci\"\nregistry = \"r.io\"\n\
             [[store]]\nkind = \"component\"\nregistry = \"R.io\"\ncomponent = \"/c.wasm\"\n",
        )
        .unwrap_err();
        assert!(err.message().contains("registered twice"), "{err}");
        let err = Config::parse(
            "[[store]]\nkind = \"oci-layout\"\nname = \"l\"\npath = \"/x\"\n\
             [[store]]\nkind = \"component\"\nname = \"l\"\ncomponent = \"/c.wasm\"\n",
        )
        .unwrap_err();
        assert!(err.message().contains("registered twice"), "{err}");
    }
}
