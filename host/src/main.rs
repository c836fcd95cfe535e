//! The `artifact-store` command: argument parsing, progress and printing
//! over the library.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use artifact_store::{
    input, output, Artifact, ArtifactStore, Config, Descriptor, Error, ErrorKind, PullOptions,
    PushOptions,
};
use clap::{Parser, Subcommand};
use serde_json::json;

/// Fetch and publish FHIR operation artifacts (templates,
/// de-identification configs) in OCI registries, OCI image layouts and
/// Azure Blob Storage, through sandboxed store components.
#[derive(Parser)]
#[command(name = "artifact-store", version)]
struct Cli {
    /// The stores and operations to use. Default: $ARTIFACT_STORE_CONFIG,
    /// else ~/.config/artifact-store/config.toml if it exists.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    /// Log protocol steps to stderr (-v decisions, -vv every request).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Fetch an artifact, verify it, and write its files to a folder.
    Pull {
        /// `<registry>/<repository>[:<tag>][@sha256:<hex>]`;
        /// `<store>/<repository>...` for a layout store such as `default`;
        /// a blob URL `<endpoint>/<container>/<name>` (a trailing `/` for
        /// every blob under it, as a folder; `@sha256:<hex>` pins it); or a
        /// bare file name, a blob in the export destination's
        /// `anonymization` container
        reference: String,
        /// The folder to write; it must be missing or empty (see --force).
        #[arg(long, short, value_name = "DIR")]
        output: PathBuf,
        /// The operation whose size limit applies (default, templates,
        /// anonymization, cdm, or one from the config).
        #[arg(long, value_name = "NAME", default_value = artifact_store::config::DEFAULT_OPERATION)]
        operation: String,
        /// Replace the contents of a non-empty output folder.
        #[arg(long)]
        force: bool,
        /// Pull a blob only if it still has this ETag (a bare tag is
        /// quoted); else fail with PreconditionFailed. Blobs only.
        #[arg(long, value_name = "ETAG")]
        if_match: Option<String>,
        /// Print a JSON description of the result on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Publish a file or a folder as an ORAS-compatible artifact, or as
    /// blobs, and print its digest.
    Push {
        /// A file (one layer titled with this path) or a folder (one
        /// tar+gzip layer titled with this path); relative, inside the
        /// current folder. To Azure Blob: a file is one blob, a folder one
        /// blob per file under the prefix.
        path: PathBuf,
        /// `<registry>/<repository>[:<tag>]`, `<store>/<repository>[:<tag>]`
        /// for a layout store, a blob URL, a prefix URL ending in `/`, or a
        /// bare file name in the export destination
        reference: String,
        /// The manifest's artifactType (default
        /// application/vnd.unknown.artifact.v1). OCI pushes only.
        #[arg(long, value_name = "TYPE")]
        artifact_type: Option<String>,
        /// A manifest annotation; repeat for more. OCI pushes only.
        #[arg(long = "annotation", short = 'a', value_name = "KEY=VALUE", value_parser = parse_annotation)]
        annotations: Vec<(String, String)>,
        /// The operation whose size limit applies to what is pushed.
        #[arg(long, value_name = "NAME", default_value = artifact_store::config::DEFAULT_OPERATION)]
        operation: String,
        /// Print a JSON descriptor on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Print the digest of the manifest a reference names (of a blob's or
    /// folder's content, for Azure Blob).
    Resolve {
        /// `<registry>/<repository>[:<tag>][@sha256:<hex>]`, a layout
        /// store's `<store>/<repository>...`, a blob or prefix URL, or a
        /// bare file name in the export destination
        reference: String,
        /// Print a JSON descriptor on stdout.
        #[arg(long)]
        json: bool,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(cli.verbose);

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("Error: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let code = match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("{err}");
            ExitCode::FAILURE
        }
    };
    // A call that timed out may leave a blocking thread behind (a component
    // stuck opening a FIFO, say); waiting for it would hang the exit.
    runtime.shutdown_background();
    code
}

async fn run(cli: Cli) -> Result<(), Error> {
    let config = Config::load(cli.config.as_deref())?;
    let store = ArtifactStore::new(config);
    match cli.command {
        Command::Pull {
            reference,
            output,
            operation,
            force,
            if_match,
            json,
        } => {
            output::check_target(&output, force)?;
            let options = PullOptions {
                operation,
                if_match,
            };
            let started = Instant::now();
            let received = Arc::new(AtomicU64::new(0));
            let progress = Progress::start(
                &format!("pulling {}", shown(&reference)),
                Arc::clone(&received),
                json,
            );
            let result = store.pull(&reference, &options, received).await;
            progress.finish();
            let artifact = result?;
            output::write_atomically(&output, &artifact.files, force)?;
            print_pulled(&artifact, &output, started.elapsed(), json);
        }
        Command::Push {
            path,
            reference,
            artifact_type,
            annotations,
            operation,
            json,
        } => {
            let max_size = store.config().max_size(&operation)?;
            let input = input::read(&path, max_size)?;
            let options = PushOptions {
                artifact_type,
                annotations,
            };
            let progress = Progress::start(
                &format!("pushing {}", shown(&reference)),
                Arc::default(),
                json,
            );
            let result = store
                .push(input, &reference, &options, Arc::default())
                .await;
            progress.finish();
            print_descriptor(&reference, &result?, json);
        }
        Command::Resolve { reference, json } => {
            let descriptor = store.resolve(&reference).await?;
            print_descriptor(&reference, &descriptor, json);
        }
    }
    Ok(())
}

/// The digest alone, or with `--json` the whole descriptor.
fn print_descriptor(reference: &str, descriptor: &Descriptor, json: bool) {
    if json {
        let value = json!({
            "reference": reference,
            "mediaType": descriptor.media_type,
            "digest": descriptor.digest,
            "size": descriptor.size,
            "artifactType": descriptor.artifact_type,
        });
        println!("{value}");
    } else {
        println!("{}", descriptor.digest);
    }
}

fn print_pulled(artifact: &Artifact, output: &Path, elapsed: Duration, json: bool) {
    if json {
        let files: Vec<_> = artifact
            .files
            .iter()
            .map(|f| json!({ "path": f.path, "size": f.content.len() }))
            .collect();
        let value = json!({
            "reference": artifact.reference,
            "digest": artifact.manifest.digest,
            "mediaType": artifact.manifest.media_type,
            "artifactType": artifact.manifest.artifact_type,
            "etag": artifact.etag,
            "output": output,
            "files": files,
            "size": artifact.size(),
            "durationMs": elapsed.as_millis() as u64,
        });
        println!("{value}");
        return;
    }
    println!("Pulled {}", artifact.reference);
    println!("Digest: {}", artifact.manifest.digest);
    if let Some(etag) = &artifact.etag {
        println!("ETag:   {etag}");
    }
    println!(
        "Files:  {} ({}) in {}",
        artifact.files.len(),
        human_bytes(artifact.size()),
        output.display()
    );
    for file in &artifact.files {
        println!(
            "  {}  {}",
            file.path,
            human_bytes(file.content.len() as u64)
        );
    }
}

/// A reference as the progress line shows it: without a query or
/// fragment, which the pull refuses anyway but which may hold a pasted SAS.
fn shown(reference: &str) -> &str {
    reference.split(['?', '#']).next().unwrap_or(reference)
}

fn human_bytes(n: u64) -> String {
    indicatif::HumanBytes(n).to_string()
}

/// A byte counter on stderr while a pull runs, shown only to people: not
/// when stderr is not a terminal, nor with --json.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Progress {
    fn start(what: &str, received: Arc<AtomicU64>, json: bool) -> Progress {
        if json || !std::io::stderr().is_terminal() {
            return Progress {
                bar: None,
                ticker: None,
            };
        }
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {bytes} ({bytes_per_sec})")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(what.to_owned());
        let ticking = bar.clone();
        let ticker = tokio::spawn(async move {
            loop {
                ticking.set_position(received.load(Ordering::Relaxed));
                ticking.tick();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        });
        Progress {
            bar: Some(bar),
            ticker: Some(ticker),
        }
    }

    fn finish(self) {
        if let Some(ticker) = self.ticker {
            ticker.abort();
        }
        if let Some(bar) = self.bar {
            bar.finish_and_clear();
        }
    }
}

/// Parses `KEY=VALUE`.
fn parse_annotation(text: &str) -> Result<(String, String), Error> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(Error::new(
            ErrorKind::InvalidInput,
            format!("annotation {text:?} is not KEY=VALUE"),
        )),
    }
}

fn init_logging(verbose: u8) {
    let default = match verbose {
        0 => "artifact_store=warn",
        1 => "artifact_store=info",
        _ => "artifact_store=debug,wasmtime_wasi_http=info",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("ARTIFACT_STORE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
