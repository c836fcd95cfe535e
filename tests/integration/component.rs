//! `kind = "component"` stores: a `.wasm` named by the config, run
//! untrusted under the grant its table gives. The first-party provider's
//! own `.wasm` serves a real registry with the issue's config as written;
//! the test programs of `tests/components/` misbehave in every way the
//! sandbox and the host's checks must stop, each with a clear error, while
//! the first-party store beside them keeps serving.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use artifact_store::{ArtifactStore, ErrorKind, PullOptions};

use crate::common::cli::{Config, Workdir};
use crate::common::content::{self, files_only, snapshot};
use crate::common::push::{oras_push, sha256};
use crate::common::registry::Registry;
use crate::common::tripwire::Tripwire;

/// The first-party provider, where the README says the build puts it.
fn provider_wasm() -> PathBuf {
    PathBuf::from(env!("ARTIFACT_STORE_GUEST_WASM_FILE"))
}

fn layout_wasm() -> PathBuf {
    PathBuf::from(env!("ARTIFACT_STORE_LAYOUT_WASM_FILE"))
}

fn hostile_wasm() -> PathBuf {
    PathBuf::from(env!("ARTIFACT_STORE_TEST_HOSTILE_WASM"))
}

fn sockets_wasm() -> PathBuf {
    PathBuf::from(env!("ARTIFACT_STORE_TEST_SOCKETS_WASM"))
}

/// A registry holding the de-identification config at `deid/config:v1`,
/// pushed with the ORAS Python client; returns the manifest digest.
fn registry_with_config() -> (Registry, String) {
    let registry = Registry::anonymous();
    let src = tempfile::tempdir().unwrap();
    let file = src.path().join("config.json");
    fs::write(&file, content::DEID_CONFIG).unwrap();
    let digest = oras_push(registry.authority(), "deid/config:v1", &[&file], None);
    (registry, digest)
}

/// The issue's table, with the registry's real port.
fn issue_store(authority: &str, component: &str) -> String {
    format!(
        "[[store]]\nkind = \"component\"\nregistry = \"{authority}\"\nplain-http = true\n\
         component = \"{component}\"\nallow-hosts = [\"{authority}\"]\nmemory = \"64MiB\"\n\
         timeout = \"30s\"\n\n"
    )
}

/// The hostile test program as the store `hostile`, with network to
/// `granted` only and every limit set tight.
fn hostile_store(granted: &str) -> String {
    format!(
        "[[store]]\nkind = \"component\"\nname = \"hostile\"\ncomponent = \"{}\"\n\
         allow-hosts = [\"{granted}\"]\nplain-http = true\nmemory = \"64MiB\"\n\
         cpu-time = \"1s\"\nmax-output = \"1MiB\"\ntimeout = \"20s\"\n\n",
        hostile_wasm().display()
    )
}

fn only_config_json() -> BTreeMap<String, Vec<u8>> {
    BTreeMap::from([(
        "config.json".to_owned(),
        content::DEID_CONFIG.as_bytes().to_vec(),
    )])
}

/// The issue's config as written, `component = "path/to/provider.wasm"`
/// relative to the config file, with the first-party provider copied
/// there.
#[test]
fn the_issues_config_pulls_with_the_first_party_provider_wasm() {
    let (registry, digest) = registry_with_config();
    let config = Config::from_toml(&issue_store(registry.authority(), "path/to/provider.wasm"));
    let beside = config.path().parent().unwrap().join("path/to");
    fs::create_dir_all(&beside).unwrap();
    fs::copy(provider_wasm(), beside.join("provider.wasm")).unwrap();

    let work = Workdir::new();
    let reference = format!("{}/deid/config:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(files_only(snapshot(&work.out())), only_config_json());

    let resolved = config.run(&["resolve", &reference], None);
    assert_eq!(resolved.success().trim(), digest);
}

/// max-output bounds what a pull returns, not what a push uploads; a
/// well-behaved component is told the smaller limit and says too large.
#[test]
fn max_output_bounds_pulls_not_pushes() {
    let registry = Registry::anonymous();
    let store = issue_store(registry.authority(), &provider_wasm().display().to_string());
    let config = Config::from_toml(&format!("{}\nmax-output = \"64KiB\"\n", store.trim_end()));
    let src = tempfile::tempdir().unwrap();
    fs::write(
        src.path().join("big.bin"),
        content::pseudo_random(200 << 10, 7),
    )
    .unwrap();
    let reference = format!("{}/big/file:v1", registry.authority());
    config
        .push(src.path(), "big.bin", &reference, &[])
        .success();

    let work = Workdir::new();
    let line = config
        .pull(&reference, &work.out(), &[])
        .failure("TooLargeArtifacts");
    assert!(line.contains("65536"), "{line}");
    assert!(!work.out().exists());
}

#[test]
fn the_first_party_wasm_pushes_through_a_component_store() {
    let registry = Registry::anonymous();
    let config = Config::from_toml(&issue_store(
        registry.authority(),
        &provider_wasm().display().to_string(),
    ));
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("config.json"), content::DEID_CONFIG).unwrap();
    let reference = format!("{}/deid/config:v2", registry.authority());
    config
        .push(src.path(), "config.json", &reference, &[])
        .success();

    let work = Workdir::new();
    config.pull(&reference, &work.out(), &[]).success();
    assert_eq!(files_only(snapshot(&work.out())), only_config_json());
}

/// The layout component as a third party's: a name store with a
/// read-only preopen, relative to the config file like layout paths.
#[test]
fn a_name_store_reads_its_preopened_folder() {
    let root = tempfile::tempdir().unwrap();
    let writer = Config::from_toml(&format!(
        "[[store]]\nkind = \"oci-layout\"\nname = \"local\"\npath = \"{}\"\nwritable = true\n",
        root.path().join("layout").display()
    ));
    let src = tempfile::tempdir().unwrap();
    fs::write(src.path().join("config.json"), content::DEID_CONFIG).unwrap();
    writer
        .push(src.path(), "config.json", "local/deid:v1", &[])
        .success();

    let text = format!(
        "[[store]]\nkind = \"component\"\nname = \"mine\"\ncomponent = \"{}\"\n\
         preopen = \"layout\"\n",
        layout_wasm().display()
    );
    fs::write(root.path().join("stores.toml"), text).unwrap();
    let config = root.path().join("stores.toml");
    let work = Workdir::new();
    let out = work.out();
    let run = |args: &[&str]| {
        let mut command = crate::common::cli::artifact_store();
        command.arg("--config").arg(&config).args(args);
        crate::common::cli::Run::from(crate::common::process::run(
            command,
            std::time::Duration::from_secs(180),
        ))
    };
    run(&["pull", "mine/deid:v1", "--output", out.to_str().unwrap()]).success();
    assert_eq!(files_only(snapshot(&out)), only_config_json());

    // Read-only: the component is granted no writes, for push neither.
    let before = snapshot(&root.path().join("layout"));
    let pushed = run(&[
        "push",
        src.path().join("config.json").to_str().unwrap(),
        "mine/deid:v2",
    ]);
    assert!(!pushed.output.status.success(), "{:?}", pushed.output);
    assert_eq!(snapshot(&root.path().join("layout")), before);
}

#[test]
fn a_component_importing_sockets_is_refused_naming_the_imports() {
    let config = Config::from_toml(&format!(
        "[[store]]\nkind = \"component\"\nregistry = \"127.0.0.1:5000\"\nplain-http = true\n\
         component = \"{}\"\n",
        sockets_wasm().display()
    ));
    let work = Workdir::new();
    let line = config
        .pull("127.0.0.1:5000/any/thing:v1", &work.out(), &[])
        .failure("ProviderFailed");
    for import in [
        "wasi:sockets/tcp-create-socket@0.2.12",
        "wasi:sockets/tcp@0.2.12",
        "wasi:sockets/network@0.2.12",
        "wasi:sockets/instance-network@0.2.12",
    ] {
        assert!(line.contains(import), "{import} not named: {line}");
    }
    assert!(line.contains("never granted"), "{line}");
    assert!(!work.out().exists());
}

/// What a component may import follows its grant: wasi:filesystem only
/// with a preopen, wasi:http only with some network.
#[test]
fn imports_beyond_the_grant_are_refused_naming_the_grant() {
    let config = Config::from_toml(&format!(
        "[[store]]\nkind = \"component\"\nname = \"nofolder\"\ncomponent = \"{}\"\n\n\
         [[store]]\nkind = \"component\"\nname = \"nonet\"\ncomponent = \"{}\"\n",
        layout_wasm().display(),
        hostile_wasm().display()
    ));
    let work = Workdir::new();
    let line = config
        .pull("nofolder/deid:v1", &work.out(), &[])
        .failure("ProviderFailed");
    assert!(line.contains("wasi:filesystem/preopens@0.2."), "{line}");
    assert!(line.contains("give the store a preopen"), "{line}");

    let line = config
        .pull("nonet/ok:v1", &work.out(), &[])
        .failure("ProviderFailed");
    assert!(line.contains("wasi:http/outgoing-handler@0.2."), "{line}");
    assert!(line.contains("allow-hosts"), "{line}");
}

/// Each misbehaviour through the CLI, with the error a user sees, and the
/// first-party store of the same config still serving afterwards.
#[test]
fn hostile_components_are_stopped_with_clear_errors() {
    let (registry, _) = registry_with_config();
    let tripwire = Tripwire::new();
    let text = format!(
        "{}{}[operation.small]\nmax-size = \"2MiB\"\n",
        issue_store(registry.authority(), &provider_wasm().display().to_string()),
        hostile_store(registry.authority())
    );
    let config = Config::from_toml(&text);
    let escape_name = format!("artifact-store-escape-{}", std::process::id());

    let cases: Vec<(String, &str, String)> = vec![
        (
            "hostile/spin:x".into(),
            "Timeout",
            "computed for more than its cpu-time of 1 s".into(),
        ),
        (
            "hostile/grow:x".into(),
            "ProviderFailed",
            "memory cap of 64 MiB".into(),
        ),
        (
            format!("hostile/phone-home:p{}", tripwire.port()),
            "RequestDenied",
            format!("refused the request to {}", tripwire.authority()),
        ),
        (
            "hostile/flood:m8".into(),
            "ProviderFailed",
            "more than its max-output of 1048576 bytes".into(),
        ),
        (
            "hostile/lie:x".into(),
            "DigestMismatch",
            "the manifest bytes hash to".into(),
        ),
        (
            "hostile/panic:x".into(),
            "ProviderFailed",
            "crashed (wasm trap: wasm `unreachable` instruction executed); it wrote: ".into(),
        ),
        (
            format!("hostile/escape-dotdot:{escape_name}"),
            "ProviderFailed",
            format!("unsafe path \"../../{escape_name}\""),
        ),
        (
            format!("hostile/escape-abs:{escape_name}"),
            "ProviderFailed",
            format!("unsafe path \"/tmp/{escape_name}\""),
        ),
    ];

    let good = format!("{}/deid/config:v1", registry.authority());
    for (reference, name, says) in cases {
        // Nested two down, so that `../../x` would land in the work dir.
        let work = Workdir::new();
        fs::create_dir_all(work.path().join("a/b")).unwrap();
        let out = work.path().join("a/b/out");
        let before = work.snapshot();

        let line = config
            .pull(&reference, &out, &["--operation", "small"])
            .failure(name);
        assert!(
            line.contains(&says),
            "{reference}: expected {says:?} in {line}"
        );
        if reference.starts_with("hostile/panic") {
            assert!(line.contains("panics on purpose"), "{line}");
        }
        work.assert_unchanged(&before);

        config.pull(&good, &out, &[]).success();
        assert_eq!(
            files_only(snapshot(&out)),
            only_config_json(),
            "after {reference}"
        );
    }
    tripwire.assert_untouched();
    assert!(!Path::new("/tmp").join(&escape_name).exists());
}

/// Without max-output, the operation's limit still bounds what a
/// component may return.
#[test]
fn a_flood_over_the_operation_limit_is_too_large() {
    let config = Config::from_toml(&format!(
        "[[store]]\nkind = \"component\"\nname = \"hostile\"\ncomponent = \"{}\"\n\
         allow-hosts = [\"127.0.0.1:9\"]\n\n[operation.small]\nmax-size = \"1MiB\"\n",
        hostile_wasm().display()
    ));
    let work = Workdir::new();
    let line = config
        .pull("hostile/flood:m4", &work.out(), &["--operation", "small"])
        .failure("TooLargeArtifacts");
    assert!(line.contains("over the operation's limit"), "{line}");
    assert!(!work.out().exists());
}

/// A pinned digest must be that of the manifest bytes the component
/// returns, whatever the component claims.
#[test]
fn a_component_answer_must_match_the_pinned_digest() {
    let config = Config::from_toml(&hostile_store("127.0.0.1:9"));
    let work = Workdir::new();
    let resolved = config.run(&["resolve", "hostile/ok:v1"], None);
    let digest = resolved.success().trim().to_owned();

    config
        .pull(&format!("hostile/ok@{digest}"), &work.out(), &[])
        .success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        BTreeMap::from([("hello.txt".to_owned(), b"hello".to_vec())])
    );

    let other = sha256(b"something else");
    let work = Workdir::new();
    let line = config
        .pull(&format!("hostile/ok@{other}"), &work.out(), &[])
        .failure("DigestMismatch");
    assert!(line.contains(&other), "{line}");
    assert!(!work.out().exists());
}

/// One host process: each hostile call fails on its own while a pull from
/// the first-party store, started alongside it, succeeds; and the host
/// serves again after each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_keeps_serving_while_components_misbehave() {
    let (registry, digest) = registry_with_config();
    let tripwire = Tripwire::new();
    let text = format!(
        "{}{}[[store]]\nkind = \"component\"\nname = \"slow\"\ncomponent = \"{}\"\n\
         allow-hosts = [\"127.0.0.1:9\"]\ntimeout = \"2s\"\n",
        issue_store(registry.authority(), &provider_wasm().display().to_string()),
        hostile_store(registry.authority()),
        hostile_wasm().display()
    );
    let config = Config::from_toml(&text);
    let store = ArtifactStore::new(artifact_store::Config::from_file(&config.path()).unwrap());
    let good = format!("{}/deid/config:v1", registry.authority());
    let options = PullOptions::default();

    let cases = [
        ("hostile/spin:x".to_owned(), ErrorKind::Timeout),
        // No cpu-time: the wall-clock timeout stops the loop.
        ("slow/spin:x".to_owned(), ErrorKind::Timeout),
        ("hostile/grow:x".to_owned(), ErrorKind::ProviderFailed),
        (
            format!("hostile/phone-home:p{}", tripwire.port()),
            ErrorKind::RequestDenied,
        ),
        ("hostile/flood:m8".to_owned(), ErrorKind::ProviderFailed),
        ("hostile/panic:x".to_owned(), ErrorKind::ProviderFailed),
        (
            "hostile/escape-dotdot:x".to_owned(),
            ErrorKind::ProviderFailed,
        ),
        ("hostile/escape-abs:x".to_owned(), ErrorKind::ProviderFailed),
        ("hostile/lie:x".to_owned(), ErrorKind::DigestMismatch),
    ];
    for (reference, kind) in cases {
        let (bad, ok) = tokio::join!(
            store.pull(&reference, &options, Arc::default()),
            store.pull(&good, &options, Arc::default()),
        );
        let err = bad.expect_err(&reference);
        assert_eq!(err.kind(), kind, "{reference}: {err}");
        let ok = ok.unwrap_or_else(|err| panic!("beside {reference}: {err}"));
        assert_eq!(ok.manifest.digest, digest);

        let again = store.pull(&good, &options, Arc::default()).await;
        assert_eq!(again.expect("after the hostile call").files.len(), 1);
    }
    tripwire.assert_untouched();

    // Sanity: the hostile component answers when asked nicely.
    let ok = store.pull("hostile/ok:v1", &options, Arc::default()).await;
    assert_eq!(ok.expect("hostile/ok").files[0].path, "hello.txt");
}
