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
//! Secrets never sit in the file itself: a store names the environment
//! variable or file that holds them, and they are read only when a call to
//! that store is made, so a store that is not used cannot fail a run.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
}

/// The kinds of store the host knows.
#[derive(Debug, Clone)]
pub enum StoreKind {
    /// An OCI distribution registry, such as Azure Container Registry.
    Oci(OciStore),
    /// An OCI image layout in a folder, served by the layout component.
    Layout(LayoutStore),
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
            SecretSource::File(path) => std::fs::read_to_string(path).map_err(|err| {
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

    /// The layout store of that name.
    pub fn layout_store(&self, name: &str) -> Option<(&Store, &LayoutStore)> {
        self.stores.iter().find_map(|store| match &store.kind {
            StoreKind::Layout(layout) if layout.name == name => Some((store, layout)),
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
    /// What references use to name the store.
    pub fn key(&self) -> &str {
        match &self.kind {
            StoreKind::Oci(oci) => &oci.registry,
            StoreKind::Layout(layout) => &layout.name,
        }
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
    name: Option<String>,
    path: Option<PathBuf>,
    writable: Option<bool>,
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

        let kind = match self.kind.as_str() {
            "oci" => StoreKind::Oci(self.check_oci()?),
            "oci-layout" => StoreKind::Layout(self.check_layout()?),
            other => {
                return Err(format!(
                    "kind {other:?} is not a store kind this version knows; \
                     use \"oci\" or \"oci-layout\""
                ))
            }
        };
        Ok(Store {
            kind,
            timeout,
            allow_hosts,
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
        ];
        if let Some((key, _)) = only_oci.iter().find(|(_, set)| *set) {
            return Err(format!("{key} does not apply to an \"oci-layout\" store"));
        }
        let name = self
            .name
            .ok_or("an \"oci-layout\" store needs name = \"<name>\" (references are <name>/<repository>:<tag>)")?;
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !valid_name {
            return Err(format!(
                "name {name:?} must be 1 to 64 of a-z, 0-9, - and _ (no dots or colons, \
                 which would make it read as a registry)"
            ));
        }
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

        let password = match (self.password_env, self.password_file) {
            (Some(_), Some(_)) => return Err("give password-env or password-file, not both".into()),
            (Some(name), None) => Some(SecretSource::Env(name)),
            (None, Some(path)) => Some(SecretSource::File(path)),
            (None, None) => None,
        };
        let token = match (self.token_env, self.token_file) {
            (Some(_), Some(_)) => return Err("give token-env or token-file, not both".into()),
            (Some(name), None) => Some(SecretSource::Env(name)),
            (None, Some(path)) => Some(SecretSource::File(path)),
            (None, None) => None,
        };
        let credentials = match (self.username, password, token) {
            (None, None, None) => CredentialSource::Anonymous,
            (Some(username), Some(password), None) => {
                CredentialSource::Basic { username, password }
            }
            (None, None, Some(token)) => CredentialSource::Bearer(token),
            (Some(_), None, None) => {
                return Err("username is set but no password-env or password-file".into())
            }
            (None, Some(_), None) => {
                return Err("a password is set but no username".into());
            }
            (_, _, Some(_)) => {
                return Err("a token cannot be combined with a username or password".into())
            }
        };

        Ok(OciStore {
            registry,
            plain_http: self.plain_http,
            credentials,
        })
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

    #[test]
    fn secrets_do_not_show_in_debug() {
        let secret = Secret("hunter2".into());
        assert!(!format!("{secret:?}").contains("hunter2"));
    }
}
