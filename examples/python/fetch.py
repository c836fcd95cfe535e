"""Fetch an artifact from an OCI registry with the first-party provider
component, run in Python by wasmtime-py (the `wasmtime` package, installed
into .venv/ by scripts/setup), which links WASI 0.2 and wasi:http itself.
The component is the same file the Rust host embeds.

    .venv/bin/python examples/python/fetch.py [--plain-http] [--max-size BYTES]
        [--output DIR] [--username USER --password-env VAR]
        [--component FILE] REFERENCE

Prints one JSON object on stdout, the same shape as examples/node/fetch.mjs
prints:

    {"ok":true,"reference":...,"digest":...,"mediaType":...,
     "artifactType":...,"size":...,"files":[{"path","size","sha256"}]}
    {"ok":false,"error":"ArtifactNotFound","message":...}

and exits 0 on success, 1 on failure, 2 on a usage error. Error names are
the ones the artifact-store CLI prints, mapped from the WIT error cases.

What this host lacks, unlike the Rust one: wasmtime-py's wasi:http sends
the component's requests to any host it names, redirects included (there
is no outbound allow-list), and there is no memory cap or call timeout.
Run it only against registries you trust. It does check what it can: the
manifest bytes hash to the digest reported, a pinned digest matches, and
every file path is relative and given once before anything is written.
"""

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

from wasmtime import Engine, Store, WasiConfig, WasmtimeError
from wasmtime.component import Component, Linker, Record, Variant

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_COMPONENT = (
    REPO_ROOT / "target/guest/wasm32-wasip2/release/artifact_store_provider.wasm"
)
PROVIDER_INTERFACE = "artifact-store:provider/provider@0.1.0"

# The CLI's default operation limit, 1 GiB.
DEFAULT_MAX_SIZE = 1 << 30

# WIT error case to the name the artifact-store CLI prints.
ERROR_NAMES = {
    "invalid-reference": "InvalidReference",
    "store-not-reachable": "FailedToConnectToArtifactStore",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not-found": "ArtifactNotFound",
    "too-large": "TooLargeArtifacts",
    "digest-mismatch": "DigestMismatch",
    "invalid-manifest": "InvalidManifest",
    "invalid-content": "InvalidContent",
    "precondition-failed": "PreconditionFailed",
    "timeout": "Timeout",
    "denied": "RequestDenied",
    "other": "StoreError",
}


class Failure(Exception):
    """A failure with the CLI's name for it."""

    def __init__(self, name, message):
        super().__init__(message)
        self.name = name


def record(**fields):
    """A WIT record; wasmtime-py names its attributes as WIT spells the
    fields, with dashes."""
    value = Record()
    for name, field in fields.items():
        setattr(value, name.replace("_", "-"), field)
    return value


def instantiate(component_path):
    """The provider's `fetch`, and the store it runs in."""
    engine = Engine()
    try:
        component = Component.from_file(engine, str(component_path))
    except (OSError, WasmtimeError) as err:
        raise Failure(
            "ProviderFailed",
            f"cannot load the component {component_path}: {err}; cargo build builds it",
        ) from err
    linker = Linker(engine)
    linker.add_wasip2()
    linker.add_wasi_http()

    # A fresh WasiConfig grants nothing: no environment, arguments,
    # preopened folders or standard streams.
    store = Store(engine)
    store.set_wasi(WasiConfig())
    store.set_wasi_http()

    instance = linker.instantiate(store, component)
    interface = instance.get_export_index(store, PROVIDER_INTERFACE)
    index = interface and instance.get_export_index(store, "fetch", interface)
    fetch = index and instance.get_func(store, index)
    if fetch is None:
        raise Failure("ProviderFailed", f"the component exports no {PROVIDER_INTERFACE}#fetch")
    return store, fetch


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def verify(reference, artifact):
    """What the Rust host checks too, as far as it applies to a registry."""
    manifest = artifact.manifest
    digest = manifest.digest
    manifest_bytes = getattr(artifact, "manifest-bytes")
    if manifest_bytes and f"sha256:{sha256(manifest_bytes)}" != digest:
        raise Failure("DigestMismatch", f"the manifest bytes do not hash to {digest}")
    _, at, pinned = reference.rpartition("@")
    if at and pinned != digest:
        raise Failure(
            "DigestMismatch",
            f"{reference} is pinned to {pinned} but the manifest is {digest}",
        )
    seen = set()
    for file in artifact.files:
        parts = file.path.split("/")
        odd = (
            any(p in ("", ".", "..") for p in parts)
            or "\\" in file.path
            or any(ord(c) < 0x20 or ord(c) == 0x7F for c in file.path)
            or file.path in seen
        )
        if odd:
            raise Failure(
                "ProviderFailed",
                f"the component returned the file path {file.path!r}, "
                "which is not a plain relative path given once",
            )
        seen.add(file.path)
    # A path may not be a file and, for another path, a folder.
    folders = {"/".join(f.path.split("/")[:i]) for f in artifact.files
               for i in range(1, f.path.count("/") + 1)}
    for file in artifact.files:
        if file.path in folders:
            raise Failure(
                "ProviderFailed",
                f"the component returned {file.path!r} both as a file and as a folder",
            )


def write_files(out, files):
    """Writes the files into `out`, which must be missing or empty, through
    a folder beside it that is renamed into place at the end."""
    out = Path(out)
    try:
        if out.exists() and any(out.iterdir()):
            raise Failure("OutputError", f"{out} is not empty; choose an empty or new folder")
        parent = out.resolve().parent
        parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=parent))
        try:
            for file in files:
                target = staging.joinpath(*file.path.split("/"))
                target.parent.mkdir(parents=True, exist_ok=True)
                with open(target, "xb") as handle:
                    handle.write(file.content)
            if out.exists():
                out.rmdir()
            staging.rename(out)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
    except OSError as err:
        raise Failure("OutputError", f"cannot write {out}: {err}") from err


def fetch_artifact(args):
    credentials = Variant("anonymous")
    if args.username is not None:
        password = os.environ.get(args.password_env)
        if password is None:
            raise Failure("InvalidConfiguration", f"the variable {args.password_env} is not set")
        credentials = Variant("basic", record(username=args.username, password=password))
    store, fetch = instantiate(args.component)

    request = record(
        reference=args.reference,
        access=record(plain_http=args.plain_http, credentials=credentials, blob=None),
        max_size=args.max_size,
        if_match=None,
    )
    try:
        result = fetch(store, request)
        fetch.post_return(store)
    except WasmtimeError as err:
        raise Failure("ProviderFailed", f"the component failed: {err}") from err
    # wasmtime-py returns a result's value itself: the artifact record, or
    # the error variant.
    if isinstance(result, Variant):
        name = ERROR_NAMES.get(result.tag)
        if name is None:
            raise Failure("ProviderFailed", f"the component returned the unknown error {result.tag}")
        raise Failure(name, result.payload)

    verify(args.reference, result)
    if args.output is not None:
        write_files(args.output, result.files)
    manifest = result.manifest
    return {
        "ok": True,
        "reference": args.reference,
        "digest": manifest.digest,
        "mediaType": getattr(manifest, "media-type"),
        "artifactType": getattr(manifest, "artifact-type"),
        "size": sum(len(f.content) for f in result.files),
        "files": [
            {"path": f.path, "size": len(f.content), "sha256": sha256(f.content)}
            for f in result.files
        ],
    }


def parse(argv):
    parser = argparse.ArgumentParser(
        prog=".venv/bin/python examples/python/fetch.py",
        description="Fetch an artifact with the provider component in wasmtime-py.",
    )
    parser.add_argument("reference")
    parser.add_argument("--plain-http", action="store_true")
    parser.add_argument("--max-size", type=int, default=DEFAULT_MAX_SIZE, metavar="BYTES")
    parser.add_argument("--output", metavar="DIR")
    parser.add_argument("--username", metavar="USER")
    parser.add_argument("--password-env", metavar="VAR")
    parser.add_argument("--component", type=Path, default=DEFAULT_COMPONENT, metavar="FILE")
    args = parser.parse_args(argv)
    if args.max_size < 0:
        parser.error("--max-size takes a number of bytes")
    if (args.username is None) != (args.password_env is None):
        parser.error("--username and --password-env go together")
    return args


def main(argv):
    args = parse(argv)
    try:
        answer = fetch_artifact(args)
    except Failure as failure:
        answer = {"ok": False, "error": failure.name, "message": str(failure)}
        print(f"{failure.name}: {failure}", file=sys.stderr)
    print(json.dumps(answer, separators=(",", ":"), ensure_ascii=False))
    return 0 if answer["ok"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
