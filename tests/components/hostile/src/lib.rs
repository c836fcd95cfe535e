//! A test program, not a store: an `artifact-provider` component that
//! misbehaves in the way the reference's repository names, so that the
//! host's tests can show each misbehaviour stopped by the sandbox or
//! refused by the host's checks, while the host keeps serving other stores.
//!
//! | repository | what the component does |
//! | --- | --- |
//! | `ok` | answers with a valid one-file artifact |
//! | `spin` | computes for ever (the CPU deadline stops it) |
//! | `grow` | allocates without end (the memory cap stops it) |
//! | `phone-home` | sends a request to `127.0.0.1:<port>`, the tag being `p<port>`, which no store grants |
//! | `escape-dotdot` | returns a file at `../../<tag>` |
//! | `escape-abs` | returns a file at `/tmp/<tag>` |
//! | `clash` | returns `<tag>` as a file and `<tag>/inner.txt` beside it |
//! | `control` | returns a file whose name holds a NUL and a newline |
//! | `flood` | returns `<n>` MiB, the tag being `m<n>` |
//! | `lie` | reports a manifest digest that its manifest bytes do not hash to |
//! | `panic` | panics |
//!
//! Every other answer (resolve, push) is that of `ok`, or an error.

use sha2::{Digest, Sha256};

mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit",
        world: "artifact-provider",
        with: {
            "wasi:http/types@0.2.12": wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasi::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasi::io::error,
            "wasi:io/poll@0.2.12": wasi::io::poll,
            "wasi:io/streams@0.2.12": wasi::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasi::clocks::monotonic_clock,
        },
    });

    // Native builds (clippy) skip the export, as in `guest/`.
    #[cfg(target_arch = "wasm32")]
    use super::Hostile;
    #[cfg(target_arch = "wasm32")]
    export!(Hostile);
}

use bindings::artifact_store::provider::types as wit;
use bindings::exports::artifact_store::provider::provider::Guest;

/// The manifest of the `ok` artifact, and of every answer that needs one.
const MANIFEST: &[u8] = br#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","artifactType":"application/vnd.example.hostile","config":{"mediaType":"application/vnd.oci.empty.v1+json","digest":"sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a","size":2},"layers":[]}"#;

#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Hostile;

impl Guest for Hostile {
    fn fetch(request: wit::FetchRequest) -> Result<wit::Artifact, wit::Error> {
        let (repository, tag) = split(&request.reference);
        let file = |path: String, content: Vec<u8>| wit::File { path, content };
        match repository {
            "ok" => Ok(artifact(vec![file("hello.txt".into(), b"hello".to_vec())])),
            "escape-dotdot" => Ok(artifact(vec![
                file("fine.txt".into(), b"fine".to_vec()),
                file(format!("../../{tag}"), b"escaped".to_vec()),
            ])),
            "escape-abs" => Ok(artifact(vec![
                file("fine.txt".into(), b"fine".to_vec()),
                file(format!("/tmp/{tag}"), b"escaped".to_vec()),
            ])),
            "clash" => Ok(artifact(vec![
                file(tag.to_owned(), b"a file".to_vec()),
                file(
                    format!("{tag}/inner.txt"),
                    b"in a folder of the same name".to_vec(),
                ),
            ])),
            "control" => Ok(artifact(vec![
                file("fine.txt".into(), b"fine".to_vec()),
                file("bad\u{0}name\n.txt".into(), b"control".to_vec()),
            ])),
            "flood" => {
                let mib: usize = tag
                    .strip_prefix('m')
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(8);
                Ok(artifact(vec![file(
                    "flood.bin".into(),
                    vec![0x41; mib << 20],
                )]))
            }
            "lie" => {
                let mut lying = artifact(vec![file("hello.txt".into(), b"hello".to_vec())]);
                lying.manifest_bytes.push(b'\n');
                Ok(lying)
            }
            _ => misbehave(repository, tag).map(|()| artifact(Vec::new())),
        }
    }

    fn resolve(
        reference: String,
        _access: wit::StoreAccess,
    ) -> Result<wit::Descriptor, wit::Error> {
        let (repository, tag) = split(&reference);
        misbehave(repository, tag)?;
        Ok(descriptor())
    }

    fn push(_request: wit::PushRequest) -> Result<wit::Descriptor, wit::Error> {
        Err(wit::Error::Other(
            "this test component does not publish".into(),
        ))
    }
}

/// Does what `spin`, `grow`, `phone-home` and `panic` ask; other
/// repositories pass.
fn misbehave(repository: &str, tag: &str) -> Result<(), wit::Error> {
    match repository {
        "spin" => {
            let mut n: u64 = 0;
            loop {
                n = std::hint::black_box(n.wrapping_add(1));
            }
        }
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(std::hint::black_box(vec![1; 1 << 20]));
            }
        }
        "phone-home" => {
            let port = tag.strip_prefix('p').unwrap_or(tag);
            phone_home(&format!("127.0.0.1:{port}"))
        }
        "panic" => panic!("the hostile test component panics on purpose"),
        _ => Ok(()),
    }
}

/// Sends a GET to `authority` and reports how the host answered.
fn phone_home(authority: &str) -> Result<(), wit::Error> {
    use wasi::http::outgoing_handler;
    use wasi::http::types::{ErrorCode, Fields, OutgoingRequest, Scheme};

    let request = OutgoingRequest::new(Fields::new());
    let _ = request.set_scheme(Some(&Scheme::Http));
    let _ = request.set_authority(Some(authority));
    let _ = request.set_path_with_query(Some("/exfiltrate"));
    let outcome = match outgoing_handler::handle(request, None) {
        Err(code) => Err(code),
        Ok(pending) => loop {
            match pending.get() {
                Some(Ok(result)) => break result.map(|_| ()),
                Some(Err(())) => break Ok(()),
                None => pending.subscribe().block(),
            }
        },
    };
    match outcome {
        Err(ErrorCode::HttpRequestDenied) => Err(wit::Error::Denied(format!(
            "the host refused the request to {authority}"
        ))),
        Err(other) => Err(wit::Error::Other(format!(
            "the request to {authority} failed: {other:?}"
        ))),
        Ok(()) => Err(wit::Error::Other(format!(
            "the request to {authority} went through"
        ))),
    }
}

/// The repository and the tag of `<store>/<repository>[:<tag>][@<digest>]`.
fn split(reference: &str) -> (&str, &str) {
    let reference = reference.split('@').next().unwrap_or(reference);
    let path = reference.split_once('/').map_or("", |(_, path)| path);
    path.rsplit_once(':').unwrap_or((path, "latest"))
}

fn descriptor() -> wit::Descriptor {
    wit::Descriptor {
        media_type: "application/vnd.oci.image.manifest.v1+json".into(),
        digest: format!("sha256:{:x}", Sha256::digest(MANIFEST)),
        size: MANIFEST.len() as u64,
        artifact_type: Some("application/vnd.example.hostile".into()),
    }
}

/// An artifact with the shared manifest, correctly digested, and `files`.
fn artifact(files: Vec<wit::File>) -> wit::Artifact {
    wit::Artifact {
        manifest: descriptor(),
        manifest_bytes: MANIFEST.to_vec(),
        etag: None,
        files,
    }
}
