//! Builds the first-party components for `wasm32-wasip2`, the registry
//! provider (`guest/`) and the OCI layout store (`layout/`), and puts them
//! in `OUT_DIR`, so that an ordinary `cargo build` of the host embeds
//! components built from the sources beside it. No prebuilt `.wasm` is kept
//! in the repository.
//!
//! The same nested build makes the test programs of `tests/components/`
//! (components that misbehave on purpose). They are not embedded: the
//! integration tests load them from `target/guest/` by the paths this
//! script passes in `ARTIFACT_STORE_TEST_*_WASM`, with the first-party
//! components' paths in `ARTIFACT_STORE_*_WASM_FILE`, as a user's config
//! would name them.
//!
//! The guest is built by a nested `cargo` into its own target directory
//! (`target/guest`), which the outer build never locks, and always in
//! release: SHA-256 inside wasm is the data path's bottleneck and a debug
//! guest hashes an order of magnitude slower.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The component packages, the file each becomes in `OUT_DIR`, and the
/// variable that can point at a prebuilt one instead.
const COMPONENTS: &[(&str, &str, &str)] = &[
    (
        "artifact-store-provider",
        "provider.wasm",
        "ARTIFACT_STORE_GUEST_WASM",
    ),
    (
        "artifact-store-layout",
        "layout.wasm",
        "ARTIFACT_STORE_LAYOUT_WASM",
    ),
];
/// The test programs, and the variable that tells the integration tests
/// where each one is.
const TEST_COMPONENTS: &[(&str, &str)] = &[
    (
        "artifact-store-test-hostile",
        "ARTIFACT_STORE_TEST_HOSTILE_WASM",
    ),
    (
        "artifact-store-test-sockets",
        "ARTIFACT_STORE_TEST_SOCKETS_WASM",
    ),
];
const GUEST_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").unwrap());

    let watched = [
        "guest/src",
        "guest/Cargo.toml",
        "layout/src",
        "layout/Cargo.toml",
        "core/src",
        "core/Cargo.toml",
        "tests/components",
        "wit",
    ];
    for path in watched {
        println!("cargo:rerun-if-changed={}", root.join(path).display());
    }

    let target_dir = root.join("target").join("guest");
    let built = |package: &str| {
        target_dir
            .join(GUEST_TARGET)
            .join("release")
            .join(format!("{}.wasm", package.replace('-', "_")))
    };

    // Packagers who build the components separately can name them.
    let mut to_build = Vec::new();
    for (package, file, variable) in COMPONENTS {
        println!("cargo:rerun-if-env-changed={variable}");
        let path = match env::var_os(variable) {
            Some(prebuilt) => {
                copy(Path::new(&prebuilt), &out_dir.join(file));
                PathBuf::from(prebuilt)
            }
            None => {
                to_build.push((*package, *file));
                built(package)
            }
        };
        println!("cargo:rustc-env={variable}_FILE={}", path.display());
    }
    for (package, variable) in TEST_COMPONENTS {
        println!("cargo:rustc-env={variable}={}", built(package).display());
    }

    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(&root)
        .args(["build", "--release", "--locked"])
        .args(["--target", GUEST_TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and wrappers (clippy-driver among them)
        // are meant for the host, not for the components.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET");
    for (package, _) in &to_build {
        command.args(["-p", package]);
    }
    for (package, _) in TEST_COMPONENTS {
        command.args(["-p", package]);
    }
    let status = command
        .status()
        .expect("failed to run cargo for the components");
    if !status.success() {
        panic!(
            "building the components failed; if the target is missing, \
             run `rustup target add {GUEST_TARGET}` (scripts/setup does)"
        );
    }

    for (package, file) in to_build {
        copy(&built(package), &out_dir.join(file));
    }
}

fn copy(from: &Path, to: &Path) {
    if let Err(err) = std::fs::copy(from, to) {
        panic!("copying {} to {}: {err}", from.display(), to.display());
    }
}
