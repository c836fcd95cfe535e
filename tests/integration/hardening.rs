//! Regression tests for what hostile review found: each pins the behaviour
//! that was wrong.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::common::cli::{artifact_store, Config, Run, Store, PASSWORD_ENV};
use crate::common::process;
use crate::common::serve::Server;

const PASSWORD: &str = "S3cr3t-PW-zz9";

/// A registry that answers every request 403 with the `Authorization`
/// header it received quoted in its JSON error.
fn echoing_registry() -> Server {
    let app = axum::Router::new().fallback(get(|headers: HeaderMap| async move {
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("nothing")
            .to_owned();
        if sent == "nothing" {
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", "Basic realm=\"echo\"")],
                String::new(),
            )
                .into_response();
        }
        let body = format!(r#"{{"errors":[{{"code":"DENIED","message":"you sent {sent}"}}]}}"#);
        (
            StatusCode::FORBIDDEN,
            [("content-type", "application/json")],
            body,
        )
            .into_response()
    }));
    Server::start(app)
}

#[test]
fn credentials_a_registry_echoes_back_are_redacted() {
    let registry = echoing_registry();
    let config = Config::new(&[Store::with_user(&registry.authority(), "alice")], &[]);
    let work = tempfile::tempdir().unwrap();
    let reference = format!("{}/deid/config:v1", registry.authority());
    let out = work.path().join("out");
    let run = config.run(
        &["pull", &reference, "--output", out.to_str().unwrap()],
        Some(PASSWORD),
    );
    let line = run.failure("Forbidden");
    assert!(line.contains("[redacted]"), "{line}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("alice:{PASSWORD}"));
    for secret in [PASSWORD, basic.as_str()] {
        assert!(!run.stderr().contains(secret), "stderr: {}", run.stderr());
        assert!(!run.stdout().contains(secret), "stdout: {}", run.stdout());
    }
}

fn layout_config(dir: &Path, layout: &Path, timeout: &str) -> std::path::PathBuf {
    let path = dir.join("stores.toml");
    fs::write(
        &path,
        format!(
            "[[store]]\nkind = \"oci-layout\"\nname = \"local\"\npath = \"{}\"\nwritable = true\ntimeout = \"{timeout}\"\n",
            layout.display()
        ),
    )
    .unwrap();
    path
}

fn cli_in(dir: &Path, args: &[&str]) -> Command {
    let mut command = artifact_store();
    command
        .current_dir(dir)
        .env("ARTIFACT_STORE_CACHE_DIR", dir.join("cache"))
        .env_remove(PASSWORD_ENV)
        .args(args);
    command
}

/// Parallel pushes of different tags to one layout each used to rewrite
/// index.json from a stale read through one shared temporary name: some
/// reported success and were missing, others failed and were present.
#[test]
fn parallel_pushes_to_one_layout_all_land() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let config = layout_config(dir.path(), &layout, "60s");
    let config = config.to_str().unwrap().to_owned();
    fs::write(dir.path().join("a.json"), b"{\"a\":1}").unwrap();

    let children: Vec<_> = (0..5)
        .map(|i| {
            let reference = format!("local/t{i}:v1");
            let mut command = cli_in(
                dir.path(),
                &["--config", &config, "push", "a.json", &reference],
            );
            command
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped());
            command.spawn().unwrap()
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(180);
    for mut child in children {
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "a parallel push failed");
                break;
            }
            assert!(Instant::now() < deadline, "a parallel push hung");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    let mut names: Vec<String> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["annotations"]["org.opencontainers.image.ref.name"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    names.sort();
    let expected: Vec<String> = (0..5).map(|i| format!("t{i}:v1")).collect();
    assert_eq!(names, expected);
}

/// A FIFO in a layout blocks the component's open() for ever. The call
/// times out, and the process used to hang at exit waiting for the blocked
/// thread; it must exit right after reporting the timeout.
#[test]
fn a_fifo_in_a_layout_times_out_and_the_process_exits() {
    let dir = tempfile::tempdir().unwrap();
    let layout = dir.path().join("layout");
    let config = layout_config(dir.path(), &layout, "2s");
    let config = config.to_str().unwrap().to_owned();
    fs::write(dir.path().join("a.json"), b"{}").unwrap();
    let pushed = Run::from(process::run(
        cli_in(
            dir.path(),
            &["--config", &config, "push", "a.json", "local/f:v1"],
        ),
        Duration::from_secs(120),
    ));
    pushed.success();

    fs::remove_file(layout.join("index.json")).unwrap();
    let status = Command::new("mkfifo")
        .arg(layout.join("index.json"))
        .status()
        .unwrap();
    assert!(status.success());

    let started = Instant::now();
    let run = Run::from(process::run(
        cli_in(
            dir.path(),
            &["--config", &config, "pull", "local/f:v1", "--output", "out"],
        ),
        Duration::from_secs(60),
    ));
    run.failure("Timeout");
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "exited only after {:?}",
        started.elapsed()
    );
}

/// The default store used to be written once into a predictable folder
/// (under the shared temporary folder when there was no cache) and then
/// trusted; another user could plant a layout there. It is now written per
/// process into a private folder, so it works with no writable cache or
/// home at all.
#[test]
fn the_default_store_needs_no_writable_cache_or_home() {
    let dir = tempfile::tempdir().unwrap();
    let mut command = artifact_store();
    command
        .current_dir(dir.path())
        .env("HOME", "/nonexistent-home")
        .env("XDG_CACHE_HOME", "/proc/nonexistent-cache")
        .env("ARTIFACT_STORE_CACHE_DIR", "/proc/nonexistent-cache")
        .args(["pull", "default/anonymization:latest", "--output", "out"]);
    Run::from(process::run(command, Duration::from_secs(120))).success();
    assert!(dir.path().join("out/anonymization.json").is_file());
}

/// File names with terminal escapes used to reach stderr raw in push
/// errors.
#[test]
fn terminal_escapes_in_push_errors_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("d");
    fs::create_dir(&folder).unwrap();
    fs::write(folder.join("\u{1b}]0;pwned\u{7}x"), b"1").unwrap();
    let config = Config::new(&[Store::oci("127.0.0.1:9")], &[]);
    let run = config.push(dir.path(), "d", "127.0.0.1:9/x:v1", &[]);
    let line = run.failure("InvalidInput");
    assert!(!run.stderr().contains('\u{1b}'), "{line}");
    assert!(line.contains("\\u{1b}"), "{line}");
}

/// A registry whose upload `Location` names a host the store was not
/// granted. The refused request used to be reported by the failed body
/// write, as `FailedToConnectToArtifactStore`; the refusal is the reason.
#[test]
fn an_upload_location_on_an_ungranted_host_is_request_denied() {
    let elsewhere = free_port();
    let location = format!("http://127.0.0.1:{elsewhere}/upload?state=1");
    let app = axum::Router::new()
        .route("/v2/", get(|| async { StatusCode::OK }))
        .route(
            "/v2/x/blobs/uploads/",
            axum::routing::post(move || {
                let location = location.clone();
                async move { (StatusCode::ACCEPTED, [("location", location)]).into_response() }
            }),
        )
        .fallback(|| async { StatusCode::NOT_FOUND });
    let registry = Server::start(app);

    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("big.bin"), vec![7u8; 2 << 20]).unwrap();
    let config = Config::new(&[Store::oci(&registry.authority())], &[]);
    let reference = format!("{}/x:v1", registry.authority());
    let line = config
        .push(dir.path(), "big.bin", &reference, &[])
        .failure("RequestDenied");
    assert!(line.contains(&elsewhere.to_string()), "{line}");
}

fn free_port() -> u16 {
    crate::common::process::free_port()
}
