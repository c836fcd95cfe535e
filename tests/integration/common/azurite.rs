//! Azurite, Microsoft's Blob Storage emulator, on loopback: the real
//! service the Azure Blob tests talk to. `scripts/setup` installs it from
//! npm into `.tools/`.

use std::fs;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::http;
use super::process::{free_port, POLL};
use super::push::repo_root;
use super::tls::ServerCert;

/// Where `scripts/setup` puts Azurite's Blob service entry point.
const MAIN_JS: &str = ".tools/node_modules/azurite/dist/src/blob/main.js";

/// How long Azurite may take to answer its first request. It is ready in
/// about 1.5 s; the margin is for a machine busy compiling.
const READY_WITHIN: Duration = Duration::from_secs(20);

/// A running Azurite Blob service with its storage in a temporary folder.
/// Dropping it kills the whole process group and removes the folder.
pub struct Azurite {
    child: Child,
    port: u16,
    /// Whether it serves HTTPS.
    tls: bool,
    dir: TempDir,
}

impl Azurite {
    /// The emulator's one built-in account.
    pub const ACCOUNT: &'static str = "devstoreaccount1";

    /// The account's key, as Microsoft publishes it for the emulator.
    pub const KEY: &'static str =
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

    pub fn start() -> Azurite {
        Azurite::start_with(None)
    }

    /// Azurite serving HTTPS with `cert`.
    pub fn start_tls(cert: &ServerCert) -> Azurite {
        Azurite::start_with(Some(cert))
    }

    fn start_with(cert: Option<&ServerCert>) -> Azurite {
        let main_js = repo_root().join(MAIN_JS);
        assert!(
            main_js.is_file(),
            "{} is missing (run scripts/setup)",
            main_js.display()
        );
        let dir = tempfile::tempdir().expect("azurite temp dir");
        let log_path = dir.path().join("azurite.log");
        let location = dir.path().join("data");
        fs::create_dir(&location).expect("azurite data dir");
        let mut tls_args = Vec::new();
        if let Some(cert) = cert {
            let cert_path = dir.path().join("server.pem");
            let key_path = dir.path().join("server.key");
            fs::write(&cert_path, &cert.cert_pem).expect("write server certificate");
            fs::write(&key_path, &cert.key_pem).expect("write server key");
            tls_args = vec!["--cert".into(), cert_path, "--key".into(), key_path];
        }

        // The port may be taken between choosing and binding it; an Azurite
        // that exits at once is started again on another one.
        let mut last_error = String::new();
        for _ in 0..5 {
            let port = free_port();
            let log = fs::File::create(&log_path).expect("azurite log");
            let mut command = Command::new("node");
            command
                .arg(&main_js)
                .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
                .arg("--location")
                .arg(&location)
                .args(["--silent", "--skipApiVersionCheck", "--disableTelemetry"])
                .args(&tls_args)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log)
                // Its own group, so that Drop stops anything node started too.
                .process_group(0);
            let mut child = command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start node: {e} (run scripts/setup)"));

            match wait_ready(&mut child, port, cert.is_some(), &log_path) {
                Ok(()) => {
                    return Azurite {
                        child,
                        port,
                        tls: cert.is_some(),
                        dir,
                    }
                }
                Err(e) => {
                    stop(&mut child);
                    last_error = e;
                }
            }
        }
        panic!("Azurite did not start: {last_error}");
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account's URL, path-style as the emulator serves it:
    /// `http://127.0.0.1:<port>/devstoreaccount1` (`https://` with TLS).
    pub fn endpoint(&self) -> String {
        format!(
            "{}://127.0.0.1:{}/{}",
            self.scheme(),
            self.port,
            Azurite::ACCOUNT
        )
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }

    /// A connection string for the SDK, with the endpoint spelt out.
    pub fn connection_string(&self) -> String {
        format!(
            "DefaultEndpointsProtocol={};AccountName={};AccountKey={};BlobEndpoint={};",
            self.scheme(),
            Azurite::ACCOUNT,
            Azurite::KEY,
            self.endpoint()
        )
    }

    /// `<endpoint>/<container>/<name>`, with `name` as given (not escaped).
    pub fn url(&self, container: &str, name: &str) -> String {
        format!("{}/{container}/{name}", self.endpoint())
    }

    /// Where Azurite keeps its database and blob extents.
    pub fn location(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Kills `child`'s process group (its id is the child's, by
/// `process_group(0)`) and reaps the child.
fn stop(child: &mut Child) {
    // A child already reaped has given up its id, which may name another
    // group by now: only a live (or zombie) leader's group is signalled.
    if !matches!(child.try_wait(), Ok(None)) {
        return;
    }
    match libc::pid_t::try_from(child.id()) {
        // SAFETY: killpg only sends a signal, to the group this unreaped
        // child leads.
        Ok(pgid) => unsafe {
            libc::killpg(pgid, libc::SIGKILL);
        },
        Err(_) => {
            let _ = child.kill();
        }
    }
    let _ = child.wait();
}

/// Polls the account until Azurite answers anything at all (an anonymous
/// request gets 403, which shows it is listening), or gives up. Over TLS,
/// which the fixtures' client does not speak, an accepted connection shows
/// it.
fn wait_ready(child: &mut Child, port: u16, tls: bool, log: &Path) -> Result<(), String> {
    let deadline = Instant::now() + READY_WITHIN;
    let url = format!("http://127.0.0.1:{port}/{}?comp=list", Azurite::ACCOUNT);
    let agent = http::agent();
    loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            let log = fs::read_to_string(log).unwrap_or_default();
            return Err(format!("exited with {status}: {log}"));
        }
        let ready = if tls {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        } else {
            agent.get(&url).call().is_ok()
        };
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let log = fs::read_to_string(log).unwrap_or_default();
            return Err(format!("no answer within {READY_WITHIN:?}: {log}"));
        }
        thread::sleep(POLL);
    }
}
