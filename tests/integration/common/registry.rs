//! A real CNCF distribution registry (`docker-registry`, 2.8) on loopback.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http;
use super::process::{free_port, POLL};
use super::tls::ServerCert;
use super::token::TokenServer;

/// Where Debian's `docker-registry` package puts the binary.
const REGISTRY_BIN: &str = "/usr/bin/docker-registry";

/// How long a registry may take to answer its first request. It is ready in
/// about 30 ms; the margin is for a machine busy compiling.
const READY_WITHIN: Duration = Duration::from_secs(10);

/// How a registry wants clients to prove who they are.
pub enum Auth<'a> {
    Anonymous,
    /// htpasswd Basic auth with one user.
    Basic {
        username: &'a str,
        password: &'a str,
    },
    /// The registry token protocol, with tokens from `server`.
    Token(&'a TokenServer),
}

/// A running registry with its storage in a temporary folder. Dropping it
/// kills the process and removes the folder.
pub struct Registry {
    child: Child,
    authority: String,
    /// Whether it serves HTTPS.
    tls: bool,
    dir: TempDir,
}

/// One line of the registry's access log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    pub status: u16,
}

impl Request {
    /// The path without the query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or_default()
    }
}

impl Registry {
    /// A registry that anyone may push to and pull from.
    pub fn anonymous() -> Registry {
        Registry::start(Auth::Anonymous)
    }

    pub fn start(auth: Auth<'_>) -> Registry {
        Registry::start_with(auth, None)
    }

    /// A registry serving HTTPS with `cert`.
    pub fn start_tls(auth: Auth<'_>, cert: &ServerCert) -> Registry {
        Registry::start_with(auth, Some(cert))
    }

    fn start_with(auth: Auth<'_>, cert: Option<&ServerCert>) -> Registry {
        let dir = tempfile::tempdir().expect("registry temp dir");
        let auth_yaml = auth_section(&auth, dir.path());
        let tls_yaml = match cert {
            None => String::new(),
            Some(cert) => {
                let cert_path = dir.path().join("server.pem");
                let key_path = dir.path().join("server.key");
                fs::write(&cert_path, &cert.cert_pem).expect("write server certificate");
                fs::write(&key_path, &cert.key_pem).expect("write server key");
                format!(
                    "  tls:\n    certificate: {}\n    key: {}\n",
                    cert_path.display(),
                    key_path.display()
                )
            }
        };
        let config = dir.path().join("config.yml");
        let log_path = dir.path().join("registry.log");

        // The port may be taken between choosing and binding it; a registry
        // that exits at once is started again on another one.
        let mut last_error = String::new();
        for _ in 0..5 {
            let authority = format!("127.0.0.1:{}", free_port());
            let yaml = format!(
                "version: 0.1\n\
                 log:\n  level: error\n  accesslog:\n    disabled: false\n\
                 storage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: {authority}\n{tls_yaml}{auth_yaml}",
                dir.path().join("storage").display(),
            );
            fs::write(&config, yaml).expect("write registry config");

            let log = fs::File::create(&log_path).expect("registry log");
            let mut child = Command::new(REGISTRY_BIN)
                .arg("serve")
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {REGISTRY_BIN}: {e} (run scripts/setup)"));

            match wait_ready(&mut child, &authority, &log_path) {
                Ok(()) => {
                    return Registry {
                        child,
                        authority,
                        tls: cert.is_some(),
                        dir,
                    }
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = e;
                }
            }
        }
        panic!("registry did not start: {last_error}");
    }

    /// `127.0.0.1:<port>`, as references and the config name it.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// `http://127.0.0.1:<port>`, or `https://` for a TLS registry.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.authority)
    }

    /// Every request the registry has answered so far, oldest first, read
    /// from its access log (Apache combined format on stdout).
    pub fn requests(&self) -> Vec<Request> {
        let log = fs::read_to_string(self.dir.path().join("registry.log")).unwrap_or_default();
        log.lines().filter_map(parse_access_line).collect()
    }

    /// How many uploads of a blob to `repository` were started
    /// (`POST /v2/<repository>/blobs/uploads/`).
    pub fn uploads_started(&self, repository: &str) -> usize {
        let path = format!("/v2/{repository}/blobs/uploads/");
        self.requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path() == path)
            .count()
    }

    /// Requests that could have changed what the registry holds: any
    /// `POST`, `PUT`, `PATCH` or `DELETE`.
    pub fn writes(&self) -> Vec<Request> {
        self.requests()
            .into_iter()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
            .collect()
    }

    /// Where the filesystem driver keeps a blob's bytes.
    pub fn blob_path(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").expect("sha256 digest");
        self.dir
            .path()
            .join("storage/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `/v2/` until the registry answers anything at all (401 counts: an
/// auth-protected registry is ready too), or gives up. A TLS registry is
/// asked in plain HTTP too: Go's server answers that with a 400, which
/// shows it is listening.
fn wait_ready(child: &mut Child, authority: &str, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    let url = format!("http://{authority}/v2/");
    let agent = http::agent();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let log = fs::read_to_string(log).unwrap_or_default();
            return Err(format!("exited with {status}: {log}"));
        }
        if agent.get(&url).call().is_ok() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!("no answer within {READY_WITHIN:?}"));
        }
        thread::sleep(POLL);
    }
}

/// `127.0.0.1 - - [date] "PUT /v2/a/manifests/v1 HTTP/1.1" 201 0 "" "ua"`
/// into its method, target and status; `None` for any other line (the
/// registry's own error log shares the file).
fn parse_access_line(line: &str) -> Option<Request> {
    let (_, rest) = line.split_once("] \"")?;
    let (request, rest) = rest.split_once('"')?;
    let mut parts = request.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();
    let status = rest.split_whitespace().next()?.parse().ok()?;
    Some(Request {
        method,
        target,
        status,
    })
}

/// The `auth:` section of the registry config, writing any file it names.
fn auth_section(auth: &Auth<'_>, dir: &Path) -> String {
    match auth {
        Auth::Anonymous => String::new(),
        Auth::Basic { username, password } => {
            // bcrypt is the only scheme distribution's htpasswd accepts. Cost
            // 4 (the minimum) keeps every request cheap; strength is beside
            // the point on loopback.
            let hash = bcrypt::hash_with_result(password, 4)
                .expect("bcrypt")
                .format_for_version(bcrypt::Version::TwoY);
            let path = dir.join("htpasswd");
            fs::write(&path, format!("{username}:{hash}\n")).expect("write htpasswd");
            format!(
                "auth:\n  htpasswd:\n    realm: artifact-store-tests\n    path: {}\n",
                path.display()
            )
        }
        Auth::Token(server) => {
            let bundle = dir.join("token-ca.pem");
            fs::write(&bundle, server.cert_pem()).expect("write root cert bundle");
            format!(
                "auth:\n  token:\n    realm: {}\n    service: {}\n    issuer: {}\n    \
                 rootcertbundle: {}\n",
                server.realm(),
                TokenServer::SERVICE,
                TokenServer::ISSUER,
                bundle.display()
            )
        }
    }
}
