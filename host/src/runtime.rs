//! Loading provider components and calling them under limits.
//!
//! One [`Runtime`] holds the wasmtime engine and a pre-instantiated
//! component. Each call gets a fresh store and instance, so nothing (no
//! token, no buffer) survives from one call to the next, with its own
//! memory cap, epoch deadline, CPU budget, output cap and wall-clock
//! timeout.
//!
//! Before a component is linked, its imports and exports are checked
//! against the `artifact-provider` contract and what its store grants
//! ([`Capabilities`]): a component that asks for more is refused, with
//! every unexpected import named, before any of its code runs.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{CallHook, Engine, Store, UpdateDeadline};

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
    /// Longest the component's own code may run during the call, not
    /// counting the time it waits for the host (the network, the disk).
    /// `None` leaves only `timeout`.
    pub cpu_time: Option<Duration>,
    /// Most bytes the component may hand back from a fetch or a resolve,
    /// counted as they are copied out of it. `None` (and any push) leaves
    /// only the memory cap.
    pub max_output: Option<usize>,
    /// The one folder the component may see, if any.
    pub preopen: Option<Preopen>,
}

/// What a store grants its component, which decides what the component may
/// import. Every component may import the contract's `types` and the WASI
/// 0.2 interfaces that Rust's standard library (and most others) pull in
/// even when unused: `wasi:cli` (an empty environment, no arguments, stdio
/// that goes nowhere), `wasi:clocks`, `wasi:random` and `wasi:io`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// Some network is granted (a registry or `allow-hosts`): `wasi:http`
    /// may be imported, and every request passes the store's policy.
    pub network: bool,
    /// A folder is preopened: `wasi:filesystem` may be imported.
    pub filesystem: bool,
}

/// Interfaces any component may import, without version.
const BASE_IMPORTS: &[&str] = &[
    "wasi:cli/environment",
    "wasi:cli/exit",
    "wasi:cli/stdin",
    "wasi:cli/stdout",
    "wasi:cli/stderr",
    "wasi:cli/terminal-input",
    "wasi:cli/terminal-output",
    "wasi:cli/terminal-stdin",
    "wasi:cli/terminal-stdout",
    "wasi:cli/terminal-stderr",
    "wasi:clocks/monotonic-clock",
    "wasi:clocks/wall-clock",
    "wasi:random/random",
    "wasi:random/insecure",
    "wasi:random/insecure-seed",
    "wasi:io/error",
    "wasi:io/poll",
    "wasi:io/streams",
];

/// Interfaces a component with network may import.
const NETWORK_IMPORTS: &[&str] = &["wasi:http/types", "wasi:http/outgoing-handler"];

/// Interfaces a component with a preopened folder may import.
const FILESYSTEM_IMPORTS: &[&str] = &["wasi:filesystem/types", "wasi:filesystem/preopens"];

/// The contract's own interfaces: the types it imports, and the one
/// interface it must export.
const CONTRACT_TYPES: &str = "artifact-store:provider/types@0.1.0";
const CONTRACT_EXPORT: &str = "artifact-store:provider/provider@0.1.0";

impl Capabilities {
    /// Why `name` may not be imported, or `None` if it may.
    fn refuses(&self, name: &str) -> Option<&'static str> {
        if name == CONTRACT_TYPES {
            return None;
        }
        // WASI 0.2.x releases are compatible; the linker serves the newest.
        let interface = match name.split_once('@') {
            Some((interface, version)) if version.starts_with("0.2.") => interface,
            _ => return Some("not an interface of the contract or of WASI 0.2"),
        };
        if BASE_IMPORTS.contains(&interface) {
            None
        } else if NETWORK_IMPORTS.contains(&interface) {
            (!self.network)
                .then_some("no network is granted: give the store a registry or allow-hosts")
        } else if FILESYSTEM_IMPORTS.contains(&interface) {
            (!self.filesystem).then_some("no folder is granted: give the store a preopen")
        } else if interface.starts_with("wasi:sockets/") {
            Some("sockets are never granted: a store reaches the network through wasi:http")
        } else {
            Some("not part of the artifact-provider contract")
        }
    }
}

/// A compiled provider component, ready to be instantiated per call.
pub struct Runtime {
    engine: Engine,
    pre: ArtifactProviderPre<State>,
}

impl Runtime {
    /// Loads a component from its bytes, compiling it or taking it from
    /// `cache` (a directory) when given, after checking that it imports
    /// nothing that `granted` does not allow and exports the provider
    /// interface and nothing else.
    pub fn load(
        wasm: &[u8],
        cache: Option<&Path>,
        granted: Capabilities,
    ) -> Result<Runtime, Error> {
        let mut config = wasmtime::Config::new();
        config.wasm_component_model(true);
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(host_failure)?;
        start_epoch_ticker(&engine);

        let component = load_component(&engine, wasm, cache)?;
        check_contract(&engine, &component, granted)?;

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
        // A store's max-output is enforced the same way on what fetch and
        // resolve return, before the bytes over it are copied. (A push
        // hands the host its upload through wasi:http writes, which fuel
        // counts as well; its answer is one descriptor.)
        let max_output = match call {
            Call::Push(_) => None,
            Call::Fetch(_) | Call::Resolve(..) => limits.max_output,
        };
        let output_cap = max_output.map_or(limits.memory, |cap| cap.min(limits.memory));
        store.set_hostcall_fuel(output_cap);

        // The CPU clock runs while guest code does: host calls (waiting for
        // the network or the disk among them) stop it.
        let cpu = limits.cpu_time.map(|budget| {
            let clock = Arc::new(Mutex::new(CpuClock::new(budget)));
            let hooked = Arc::clone(&clock);
            store.call_hook(move |_, hook| {
                lock(&hooked).observe(hook, Instant::now());
                Ok(())
            });
            clock
        });

        // The epoch deadline stops guest code that computes for too long;
        // the timeout below stops a call that waits for too long.
        let started = Instant::now();
        let deadline = started.checked_add(limits.timeout).unwrap_or(started);
        let ticking = cpu.clone();
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(move |_| {
            let now = Instant::now();
            let spent = ticking
                .as_ref()
                .is_some_and(|clock| lock(clock).spent_at(now));
            if now >= deadline || spent {
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
                let interrupted = matches!(
                    trap.downcast_ref::<wasmtime::Trap>(),
                    Some(wasmtime::Trap::Interrupt)
                );
                if let Some(clock) = cpu.filter(|clock| interrupted && lock(clock).was_spent()) {
                    return Err(Error::new(
                        ErrorKind::Timeout,
                        format!(
                            "the component computed for more than its cpu-time of {} s",
                            lock(&clock).budget.as_secs_f64()
                        ),
                    ));
                }
                if interrupted {
                    return Err(timeout_error());
                }
                let trap_text = format!("{trap:#}");
                if max_output.is_some() && trap_text.contains(HOSTCALL_FUEL_EXHAUSTED) {
                    return Err(provider_failure(format!(
                        "the component returned more than its max-output of {output_cap} bytes"
                    )));
                }
                // wasmtime's text carries a backtrace; the trap's own
                // reason and what the component said before it are what a
                // reader needs.
                let reason = match trap.downcast_ref::<wasmtime::Trap>() {
                    Some(code) => code.to_string(),
                    None => trap.root_cause().to_string(),
                };
                let message = match store.data().stderr.summary() {
                    Some(said) => format!("the provider crashed ({reason}); it wrote: {said}"),
                    None => format!("the provider crashed ({reason})"),
                };
                tracing::debug!("the provider crashed: {trap_text}");
                Err(provider_failure(message))
            }
        }
    }
}

/// How wasmtime 48 describes a guest that hands the host more than its
/// hostcall fuel allows (the error type itself is private).
const HOSTCALL_FUEL_EXHAUSTED: &str = "fuel allocated for hostcalls has been exhausted";

/// The time guest code has run during one call, against its budget.
struct CpuClock {
    budget: Duration,
    used: Duration,
    /// When guest code last started running, if it is running now.
    running_since: Option<Instant>,
    spent: bool,
}

impl CpuClock {
    fn new(budget: Duration) -> CpuClock {
        CpuClock {
            budget,
            used: Duration::ZERO,
            running_since: None,
            spent: false,
        }
    }

    /// Starts the clock when control enters guest code, stops it when
    /// control leaves.
    fn observe(&mut self, hook: CallHook, now: Instant) {
        match hook {
            CallHook::CallingWasm | CallHook::ReturningFromHost => {
                self.running_since = Some(now);
            }
            CallHook::CallingHost | CallHook::ReturningFromWasm => {
                if let Some(since) = self.running_since.take() {
                    self.used += now.saturating_duration_since(since);
                }
            }
        }
    }

    /// Whether the budget is used up at `now`; remembers it if so.
    fn spent_at(&mut self, now: Instant) -> bool {
        let running = self
            .running_since
            .map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        if self.used + running >= self.budget {
            self.spent = true;
        }
        self.spent
    }

    fn was_spent(&self) -> bool {
        self.spent
    }
}

fn lock(clock: &Mutex<CpuClock>) -> std::sync::MutexGuard<'_, CpuClock> {
    clock.lock().unwrap_or_else(|e| e.into_inner())
}

/// Checks a component's imports against what its store grants and its
/// exports against the contract, naming everything unexpected at once.
fn check_contract(
    engine: &Engine,
    component: &Component,
    granted: Capabilities,
) -> Result<(), Error> {
    let ty = component.component_type();
    // Grouped by reason, in the order first met.
    let mut refused: Vec<(&str, Vec<&str>)> = Vec::new();
    for (name, _) in ty.imports(engine) {
        let Some(reason) = granted.refuses(name) else {
            continue;
        };
        match refused.iter_mut().find(|(r, _)| *r == reason) {
            Some((_, names)) => names.push(name),
            None => refused.push((reason, vec![name])),
        }
    }
    if !refused.is_empty() {
        let groups: Vec<String> = refused
            .iter()
            .map(|(reason, names)| format!("{} ({reason})", names.join(", ")))
            .collect();
        return Err(provider_failure(format!(
            "the component imports what its store does not grant, so it was not \
             started: {}",
            groups.join("; ")
        )));
    }
    let exports: Vec<&str> = ty.exports(engine).map(|(name, _)| name).collect();
    let extra: Vec<&str> = exports
        .iter()
        .copied()
        .filter(|name| *name != CONTRACT_EXPORT)
        .collect();
    if !extra.is_empty() {
        return Err(provider_failure(format!(
            "the component exports more than the artifact-provider contract, so it was \
             not started: {}",
            extra.join(", ")
        )));
    }
    if !exports.contains(&CONTRACT_EXPORT) {
        return Err(provider_failure(format!(
            "the component does not export {CONTRACT_EXPORT}, so it is no artifact store"
        )));
    }
    Ok(())
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
    Error::new(kind, shortened(message))
}

/// The most characters of a component's error message that are kept: a
/// message is one line for a person, and a hostile component's could be
/// as long as its memory.
const GUEST_MESSAGE_CHARS: usize = 2000;

fn shortened(message: String) -> String {
    match message.char_indices().nth(GUEST_MESSAGE_CHARS) {
        None => message,
        Some((cut, _)) => format!(
            "{} ... ({} more bytes)",
            &message[..cut],
            message.len() - cut
        ),
    }
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
        // A core module (version 1 in its header) is what a wasm32 target
        // other than wasm32-wasip2 builds; a component's header says 0xd.
        if wasm.starts_with(b"\0asm\x01\0\0\0") {
            return Err(provider_failure(
                "the file is a core WebAssembly module, not a component; build for \
                 wasm32-wasip2, or wrap it with `wasm-tools component new`"
                    .into(),
            ));
        }
        Component::new(engine, wasm)
            .map_err(|err| provider_failure(format!("the component does not compile: {err:#}")))
    };
    let Some(cache) = cache else { return compile() };
    // Loading an entry runs its machine code: a folder that someone else
    // could have written to is not used at all.
    if cache.exists() {
        if let Some(why) = untrusted(cache, true) {
            tracing::warn!(dir = %cache.display(), "not using the compile cache: {why}; compiling instead");
            return compile();
        }
    }

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

    if let Some(why) = path.exists().then(|| untrusted(&path, false)).flatten() {
        tracing::warn!(path = %path.display(), "ignoring a cache entry: {why}");
    } else if path.exists() {
        // SAFETY: the file was written by `Component::serialize` below into
        // a cache folder that, like the file, belongs to this user and that
        // nobody else may write to (checked above), and its name binds it
        // to these component bytes and this engine.
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

/// Why machine code at `path` (a folder if `folder`) cannot be trusted, if
/// it cannot: it must be a plain file or folder (a link is not followed for
/// a file) that belongs to this user, and that nobody else may write to.
#[cfg(unix)]
fn untrusted(path: &Path, folder: bool) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = if folder {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    };
    let meta = match meta {
        Ok(meta) => meta,
        Err(err) => return Some(format!("cannot inspect it: {err}")),
    };
    let (plain, kind) = if folder {
        (meta.is_dir(), "folder")
    } else {
        (meta.file_type().is_file(), "file")
    };
    if !plain {
        return Some(format!("it is not a plain {kind}"));
    }
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me {
        return Some(format!(
            "it belongs to user {}, not to this one ({me})",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "others may write to it (mode {:o}); make it private with chmod go-w",
            meta.mode() & 0o7777
        ));
    }
    None
}

#[cfg(not(unix))]
fn untrusted(_path: &Path, _folder: bool) -> Option<String> {
    None
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn only_a_private_cache_is_trusted() {
        use std::os::unix::fs::PermissionsExt;
        let set_mode = |path: &Path, mode: u32| {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap()
        };
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        create_private_dir(&cache).unwrap();
        let entry = cache.join("x.cwasm");
        std::fs::write(&entry, b"code").unwrap();
        set_mode(&entry, 0o600);
        assert_eq!(untrusted(&cache, true), None);
        assert_eq!(untrusted(&entry, false), None);

        set_mode(&entry, 0o666);
        let why = untrusted(&entry, false).unwrap();
        assert!(why.contains("others may write to it (mode 666)"), "{why}");
        set_mode(&entry, 0o600);

        set_mode(&cache, 0o777);
        let why = untrusted(&cache, true).unwrap();
        assert!(why.contains("mode 777"), "{why}");
        set_mode(&cache, 0o700);

        let link = cache.join("link.cwasm");
        std::os::unix::fs::symlink(&entry, &link).unwrap();
        assert!(untrusted(&link, false)
            .unwrap()
            .contains("not a plain file"));
        assert!(untrusted(&cache.join("missing"), false).is_some());
    }

    #[cfg(unix)]
    #[test]
    fn a_shared_cache_folder_is_not_loaded_from() {
        use std::os::unix::fs::PermissionsExt;
        let engine = Engine::default();
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache");
        create_private_dir(&cache).unwrap();
        load_component(&engine, FIRST_PARTY_PROVIDER, Some(&cache)).unwrap();
        let entries = || std::fs::read_dir(&cache).unwrap().count();
        assert_eq!(entries(), 1, "the compiled component is cached");

        // Made writable by everyone, the folder is neither read nor written:
        // an entry that is not machine code at all would fail to load.
        let entry = std::fs::read_dir(&cache)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        std::fs::write(&entry, b"not machine code").unwrap();
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777)).unwrap();
        load_component(&engine, FIRST_PARTY_PROVIDER, Some(&cache)).unwrap();
        assert_eq!(std::fs::read(&entry).unwrap(), b"not machine code");
        assert_eq!(entries(), 1);
    }

    #[test]
    fn imports_follow_the_grant() {
        let none = Capabilities::default();
        let network = Capabilities {
            network: true,
            filesystem: false,
        };
        let folder = Capabilities {
            network: false,
            filesystem: true,
        };
        for base in [
            "wasi:cli/environment@0.2.0",
            "wasi:io/streams@0.2.12",
            "wasi:random/insecure-seed@0.2.4",
            CONTRACT_TYPES,
        ] {
            assert_eq!(none.refuses(base), None, "{base}");
        }
        assert!(none.refuses("wasi:http/outgoing-handler@0.2.12").is_some());
        assert_eq!(network.refuses("wasi:http/outgoing-handler@0.2.12"), None);
        assert!(network.refuses("wasi:filesystem/preopens@0.2.12").is_some());
        assert_eq!(folder.refuses("wasi:filesystem/preopens@0.2.12"), None);
        for never in [
            "wasi:sockets/tcp@0.2.12",
            "wasi:http/outgoing-handler@0.3.0",
            "wasi:io/streams",
            "artifact-store:provider/types@0.2.0",
            "example:evil/backdoor@1.0.0",
            "host-function",
        ] {
            let all = Capabilities {
                network: true,
                filesystem: true,
            };
            assert!(all.refuses(never).is_some(), "{never}");
        }
    }

    #[test]
    fn a_huge_error_message_from_a_component_is_cut() {
        let err = from_guest(GuestError::Other("é".repeat(50 << 20)));
        assert_eq!(err.kind(), ErrorKind::StoreError);
        assert!(
            err.message().len() < 2 * GUEST_MESSAGE_CHARS + 100,
            "{}",
            err.message().len()
        );
        assert!(
            err.message().ends_with(" ... (104853600 more bytes)"),
            "{}",
            &err.message()[3900..]
        );
        let short = from_guest(GuestError::NotFound("no such tag".into()));
        assert_eq!(short.message(), "no such tag");
    }

    #[test]
    fn a_core_module_is_refused_saying_what_it_is() {
        let err = match Runtime::load(b"\0asm\x01\0\0\0", None, Capabilities::default()) {
            Ok(_) => panic!("a core module was loaded"),
            Err(err) => err,
        };
        assert_eq!(err.kind(), ErrorKind::ProviderFailed);
        assert!(
            err.message()
                .contains("core WebAssembly module, not a component"),
            "{err}"
        );
    }

    #[test]
    fn the_cpu_clock_counts_guest_time_only() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let mut clock = CpuClock::new(Duration::from_millis(100));
        clock.observe(CallHook::CallingWasm, at(0));
        clock.observe(CallHook::CallingHost, at(60));
        // Ten seconds waiting in the host do not count.
        assert!(!clock.spent_at(at(10_000)));
        clock.observe(CallHook::ReturningFromHost, at(10_000));
        assert!(!clock.spent_at(at(10_030)));
        assert!(clock.spent_at(at(10_040)));
        assert!(clock.was_spent());
    }

    #[test]
    fn the_first_party_components_pass_the_contract_check() {
        let engine = Engine::default();
        let provider = Component::new(&engine, FIRST_PARTY_PROVIDER).unwrap();
        let network = Capabilities {
            network: true,
            filesystem: false,
        };
        check_contract(&engine, &provider, network).unwrap();
        let err = check_contract(&engine, &provider, Capabilities::default()).unwrap_err();
        assert!(
            err.message().contains("wasi:http/outgoing-handler@"),
            "{err}"
        );

        let layout = Component::new(&engine, LAYOUT_COMPONENT).unwrap();
        let folder = Capabilities {
            network: false,
            filesystem: true,
        };
        check_contract(&engine, &layout, folder).unwrap();
        let err = check_contract(&engine, &layout, network).unwrap_err();
        assert!(err.message().contains("wasi:filesystem/preopens@"), "{err}");
    }
}
