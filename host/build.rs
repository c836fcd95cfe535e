//! Builds the first-party provider component for `wasm32-wasip2` and puts it
//! in `OUT_DIR`, so that an ordinary `cargo build` of the host embeds a
//! component built from the sources beside it. No prebuilt `.wasm` is kept
//! in the repository.
//!
//! The guest is built by a nested `cargo` into its own target directory
//! (`target/guest`), which the outer build never locks, and always in
//! release: SHA-256 inside wasm is the data path's bottleneck and a debug
//! guest hashes an order of magnitude slower.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const GUEST_PACKAGE: &str = "artifact-store-provider";
const GUEST_TARGET: &str = "wasm32-wasip2";

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap());
    let root = manifest_dir.parent().unwrap().to_path_buf();
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap()).join("provider.wasm");

    for watched in [
        "guest/src",
        "guest/Cargo.toml",
        "core/src",
        "core/Cargo.toml",
        "wit",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-env-changed=ARTIFACT_STORE_GUEST_WASM");

    // An escape hatch for packagers who build the component separately.
    if let Some(prebuilt) = env::var_os("ARTIFACT_STORE_GUEST_WASM") {
        copy(Path::new(&prebuilt), &out);
        return;
    }

    let target_dir = root.join("target").join("guest");
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .current_dir(&root)
        .args(["build", "--release", "--locked", "-p", GUEST_PACKAGE])
        .args(["--target", GUEST_TARGET])
        .arg("--target-dir")
        .arg(&target_dir)
        // The outer build's flags and wrappers (clippy-driver among them)
        // are meant for the host, not for the guest.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET")
        .status()
        .expect("failed to run cargo for the guest component");
    if !status.success() {
        panic!(
            "building the guest component failed; if the target is missing, \
             run `rustup target add {GUEST_TARGET}` (scripts/setup does)"
        );
    }

    let built = target_dir
        .join(GUEST_TARGET)
        .join("release")
        .join(format!("{}.wasm", GUEST_PACKAGE.replace('-', "_")));
    copy(&built, &out);
}

fn copy(from: &Path, to: &Path) {
    if let Err(err) = std::fs::copy(from, to) {
        panic!("copying {} to {}: {err}", from.display(), to.display());
    }
}
