//! Loading provider components and calling them under limits.
//!
//! One [`Runtime`] holds the wasmtime engine and a pre-instantiated
//! component. Each call gets a fresh store and instance, so nothing (no
//! token, no buffer) survives from one call to the next, with its own
//! memory cap, epoch deadline and wall-clock timeout.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Store, UpdateDeadline};

use crate::error::{Error, ErrorKind};
use crate::sandbox::{Grant, MemoryCap, Policy, Preopen, State};

mod bindings {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "artifact-provider",
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
        },
    });
}

pub use bindings::artifact_store::provider::types::{
    Artifact as GuestArtifact, BasicCredentials, BlobAccount, Credentials,
    Descriptor as GuestDescriptor, Error as GuestError, FetchRequest, File as GuestFile,
    Folder as GuestFolder, PushLayer, PushRequest, SharedKey, StoreAccess,
};
use bindings::ArtifactProviderPre;

/// The first-party provider, built from `guest/` by the build script.
pub static FIRST_PARTY_PROVIDER: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/provider.wasm"));

/// The OCI image layout store, built from `layout/` by the build script.
pub static LAYOUT_COMPONENT: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/layout.wasm"));

/// How often the epoch advances. Deadlines are checked this often while
/// guest code runs, which also lets a busy guest yield to the executor.
const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The environment variable that moves the compiled-component cache.
pub const CACHE_DIR_ENV: &str = "ARTIFACT_STORE_CACHE_DIR";

/// Limits for one call into a component.
#[derive(Debug, Clone)]
pub struct CallLimits {
    /// Most bytes of linear memory the instance may have.
    pub memory: usize,
    /// Longest the call may take, waiting on the network included.
    pub timeout: Duration,
    /// The one folder the component may see, if any.
    pub preopen: Option<Preopen>,
}

/// A compiled provider component, ready to be instantiated per call.
pub struct Runtime {
    engine: Engine,
    pre: ArtifactProviderPre<State>,
}

impl Runtime {
    /// Loads a component from its bytes, compiling it or taking it from
    /// `cache` (a directory) when given.
    pub fn load(wasm: &[u8], cache: Option<&Path>) -> Result<Runtime, Error> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(host_failure)?;
        start_epoch_ticker(&engine);

        let component = load_component(&engine, wasm, cache)?;

        let mut linker: Linker<State> = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).map_err(host_failure)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker).map_err(host_failure)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|err| provider_failure(format!("the component cannot be linked: {err:#}")))?;
        let pre = ArtifactProviderPre::new(pre).map_err(|err| {
            provider_failure(format!(
                "the component does not export the artifact-provider world: {err:#}"
            ))
        })?;
        Ok(Runtime { engine, pre })
    }

    /// Calls `fetch` in a fresh instance.
    pub async fn fetch(
        &self,
        grant: Grant,
        limits: CallLimits,
        received: Arc<AtomicU64>,
        request: &FetchRequest,
    ) -> Result<GuestArtifact, Error> {
        match self
            .call(grant, limits, received, Call::Fetch(request))
            .await?
        {
            Answer::Fetch(artifact) => Ok(artifact),
            _ => unreachable!("fetch answered as another call"),
        }
    }

    /// Calls `push` in a fresh instance.
    pub async fn push(
        &self,
        grant: Grant,
        limits: CallLimits,
        received: Arc<AtomicU64>,
        request: &PushRequest,
    ) -> Result<GuestDescriptor, Error> {
        match self
            .call(grant, limits, received, Call::Push(request))
            .await?
        {
            Answer::Descriptor(descriptor) => Ok(descriptor),
            _ => unreachable!("push answered as another call"),
        }
    }

    /// Calls `resolve` in a fresh instance.
    pub async fn resolve(
        &self,
        grant: Grant,
        limits: CallLimits,
        reference: &str,
        access: &StoreAccess,
    ) -> Result<GuestDescriptor, Error> {
        match self
            .call(
                grant,
                limits,
                Arc::default(),
                Call::Resolve(reference, access),
            )
            .await?
        {
            Answer::Descriptor(descriptor) => Ok(descriptor),
            _ => unreachable!("resolve answered as another call"),
        }
    }

    async fn call(
        &self,
        grant: Grant,
        limits: CallLimits,
        received: Arc<AtomicU64>,
        call: Call<'_>,
    ) -> Result<Answer, Error> {
        let state = State::new(
            Policy::new(grant, received),
            MemoryCap::new(limits.memory),
            limits.preopen.as_ref(),
        )
        .map_err(|err| {
            Error::new(
                ErrorKind::FailedToConnectToArtifactStore,
                format!("cannot open the store's folder: {err}"),
            )
        })?;
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.memory);
        // What the guest hands back (the files) is copied into the host in
        // one call; it cannot exceed the guest's memory, so neither may the
        // copy. wasmtime's default of 128 MiB would refuse larger artifacts.
        store.set_hostcall_fuel(limits.memory);

        // The epoch deadline stops guest code that computes for too long;
        // the timeout below stops a call that waits for too long.
        let started = Instant::now();
        let deadline = started.checked_add(limits.timeout).unwrap_or(started);
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            if Instant::now() >= deadline {
                Ok(UpdateDeadline::Interrupt)
            } else {
                Ok(UpdateDeadline::Yield(1))
            }
        });

        let timeout_error = || {
            Error::new(
                ErrorKind::Timeout,
                format!(
                    "the store did not answer within {} s; raise the store's timeout \
                     in the config if it is only slow",
                    limits.timeout.as_secs_f64()
                ),
            )
        };
        let outcome: Result<wasmtime::Result<Result<Answer, GuestError>>, _> =
            tokio::time::timeout(limits.timeout, async {
                let instance = self.pre.instantiate_async(&mut store).await?;
                let provider = instance.artifact_store_provider_provider();
                wasmtime::Result::Ok(match call {
                    Call::Fetch(request) => provider
                        .call_fetch(&mut store, request)
                        .await?
                        .map(Answer::Fetch),
                    Call::Resolve(reference, access) => provider
                        .call_resolve(&mut store, reference, access)
                        .await?
                        .map(Answer::Descriptor),
                    Call::Push(request) => provider
                        .call_push(&mut store, request)
                        .await?
                        .map(Answer::Descriptor),
                })
            })
            .await;

        match outcome {
            Err(_elapsed) => Err(timeout_error()),
            Ok(Ok(Ok(value))) => Ok(value),
            Ok(Ok(Err(guest))) => {
                let err = from_guest(guest);
                // The guest only saw an error code; the host knows why the
                // handshake failed and what it trusted.
                match store.data().tls_failure() {
                    Some(failure) => Err(Error::new(
                        err.kind(),
                        format!("{}; the host saw: {failure}", err.message()),
                    )),
                    None => Err(err),
                }
            }
            Ok(Err(trap)) => {
                if store.data().memory.was_hit() {
                    return Err(provider_failure(format!(
                        "the provider needed more than its memory cap of {} MiB",
                        store.data().memory.limit() >> 20
                    )));
                }
                if matches!(
                    trap.downcast_ref::<wasmtime::Trap>(),
                    Some(wasmtime::Trap::Interrupt)
                ) {
                    return Err(timeout_error());
                }
                Err(provider_failure(format!("the provider crashed: {trap:#}")))
            }
        }
    }
}

/// A call into the provider's exports.
enum Call<'a> {
    Fetch(&'a FetchRequest),
    Resolve(&'a str, &'a StoreAccess),
    Push(&'a PushRequest),
}

/// What a [`Call`] returned: an artifact, or a descriptor (from `resolve`
/// and `push`).
enum Answer {
    Fetch(GuestArtifact),
    Descriptor(GuestDescriptor),
}

/// Maps the guest's error value to the name users see.
fn from_guest(error: GuestError) -> Error {
    let (kind, message) = match error {
        GuestError::InvalidReference(m) => (ErrorKind::InvalidReference, m),
        GuestError::StoreNotReachable(m) => (ErrorKind::FailedToConnectToArtifactStore, m),
        GuestError::Unauthorized(m) => (ErrorKind::Unauthorized, m),
        GuestError::Forbidden(m) => (ErrorKind::Forbidden, m),
        GuestError::NotFound(m) => (ErrorKind::ArtifactNotFound, m),
        GuestError::TooLarge(m) => (ErrorKind::TooLargeArtifacts, m),
        GuestError::DigestMismatch(m) => (ErrorKind::DigestMismatch, m),
        GuestError::InvalidManifest(m) => (ErrorKind::InvalidManifest, m),
        GuestError::InvalidContent(m) => (ErrorKind::InvalidContent, m),
        GuestError::PreconditionFailed(m) => (ErrorKind::PreconditionFailed, m),
        GuestError::Timeout(m) => (ErrorKind::Timeout, m),
        GuestError::Denied(m) => (ErrorKind::RequestDenied, m),
        GuestError::Other(m) => (ErrorKind::StoreError, m),
    };
    Error::new(kind, message)
}

fn provider_failure(message: String) -> Error {
    Error::new(ErrorKind::ProviderFailed, message)
}

fn host_failure(err: wasmtime::Error) -> Error {
    Error::new(ErrorKind::ProviderFailed, format!("wasmtime: {err:#}"))
}

/// Advances the engine's epoch every [`EPOCH_TICK`] until the engine is
/// dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        })
        .expect("spawning the epoch ticker thread");
}

/// `$ARTIFACT_STORE_CACHE_DIR`, else `$XDG_CACHE_HOME/artifact-store`, else
/// `~/.cache/artifact-store`.
pub fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
    Some(base.join("artifact-store"))
}

/// Compiles a component, or loads the machine code compiled by an earlier
/// run. The cache key covers the component's bytes and everything about
/// the engine that affects the code (wasmtime version, settings, CPU
/// features), so a stale entry is never used. A cache that cannot be read
/// or written only costs a compile.
fn load_component(engine: &Engine, wasm: &[u8], cache: Option<&Path>) -> Result<Component, Error> {
    let compile = || {
        Component::new(engine, wasm)
            .map_err(|err| provider_failure(format!("the component does not compile: {err:#}")))
    };
    let Some(cache) = cache else { return compile() };

    let mut engine_hash = std::collections::hash_map::DefaultHasher::new();
    engine
        .precompile_compatibility_hash()
        .hash(&mut engine_hash);
    let key = format!(
        "{:x}-{:016x}.cwasm",
        Sha256::digest(wasm),
        engine_hash.finish()
    );
    let path = cache.join(key);

    if path.is_file() {
        // SAFETY: the file was written by `Component::serialize` below into
        // the user's own cache directory (created private to the user), and
        // its name binds it to these component bytes and this engine.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(component) => {
                tracing::debug!(path = %path.display(), "compiled component loaded from cache");
                return Ok(component);
            }
            Err(err) => {
                tracing::warn!(path = %path.display(), "ignoring unusable cache entry: {err:#}")
            }
        }
    }

    let component = compile()?;
    if let Err(err) = store_in_cache(&component, cache, &path) {
        tracing::warn!(dir = %cache.display(), "cannot cache the compiled component: {err}");
    }
    Ok(component)
}

fn store_in_cache(component: &Component, dir: &Path, path: &Path) -> std::io::Result<()> {
    create_private_dir(dir)?;
    let bytes = component
        .serialize()
        .map_err(|err| std::io::Error::other(format!("{err:#}")))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)?;
    std::io::Write::write_all(&mut file, &bytes)?;
    file.persist(path).map_err(|err| err.error)?;
    Ok(())
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
