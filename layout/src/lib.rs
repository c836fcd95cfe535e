//! A store component for an OCI image layout on disk: fetches artifacts
//! from it and publishes them to it, and exports the `artifact-layout`
//! world of `wit/`.
//!
//! It reads and writes the folder the host preopens at `/layout` with
//! plain `std::fs`, which wasm32-wasip2 maps onto that preopen. The layer
//! handling is the registry provider's, from `artifact_store_core`, so both
//! stores unpack and pack alike and a push gives the same digest in either.
//! Only this file knows the generated bindings.

mod error;
mod index;
mod reference;
mod store;

pub use error::Error;
pub use index::{LayoutIndex, ANNOTATION_REF_NAME};
pub use reference::LayoutReference;
pub use store::{Fetched, Layout};

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "artifact-layout",
        // The WASI types the preopens import pulls in are not used here
        // (std reaches the preopen itself), but each needs a binding.
        generate_all,
    });

    // Native builds (unit tests, clippy) skip the export: its symbol names
    // are component-model names that a native linker's version script
    // cannot spell.
    #[cfg(target_arch = "wasm32")]
    use super::Component;
    #[cfg(target_arch = "wasm32")]
    export!(Component);
}

use artifact_store_core::layers::File;
use artifact_store_core::manifest::ManifestDescriptor;
use artifact_store_core::pack::{Contents, Layer};
use bindings::artifact_store::provider::types as wit;
use bindings::exports::artifact_store::provider::provider::Guest;

/// Where the host preopens the layout folder, as `world.wit` says.
const LAYOUT_ROOT: &str = "/layout";

/// The exported implementation. Credentials and `if-match` do not apply to
/// a folder: the host's grant is the access control, and digests pin
/// content.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Component;

impl Guest for Component {
    fn fetch(request: wit::FetchRequest) -> Result<wit::Artifact, wit::Error> {
        let fetched = Layout::new(LAYOUT_ROOT).fetch(&request.reference, request.max_size)?;
        Ok(wit::Artifact {
            manifest: fetched.manifest.into(),
            manifest_bytes: fetched.manifest_bytes,
            etag: None,
            files: fetched
                .files
                .into_iter()
                .map(|f| wit::File {
                    path: f.path,
                    content: f.content,
                })
                .collect(),
        })
    }

    fn resolve(
        reference: String,
        _access: wit::StoreAccess,
    ) -> Result<wit::Descriptor, wit::Error> {
        Ok(Layout::new(LAYOUT_ROOT).resolve(&reference)?.into())
    }

    fn push(request: wit::PushRequest) -> Result<wit::Descriptor, wit::Error> {
        let layers = request
            .layers
            .into_iter()
            .map(|layer| match layer {
                wit::PushLayer::File(f) => Layer::File(file(f)),
                wit::PushLayer::Folder(folder) => Layer::Folder {
                    name: folder.name,
                    files: folder.files.into_iter().map(file).collect(),
                },
            })
            .collect();
        let contents = Contents {
            layers,
            artifact_type: request.artifact_type,
            annotations: request.annotations,
        };
        Ok(Layout::new(LAYOUT_ROOT)
            .push(&request.reference, contents)?
            .into())
    }
}

fn file(f: wit::File) -> File {
    File {
        path: f.path,
        content: f.content,
    }
}

impl From<ManifestDescriptor> for wit::Descriptor {
    fn from(d: ManifestDescriptor) -> Self {
        wit::Descriptor {
            media_type: d.media_type,
            digest: d.digest,
            size: d.size,
            artifact_type: d.artifact_type,
        }
    }
}

impl From<Error> for wit::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::InvalidReference(m) => wit::Error::InvalidReference(m),
            Error::StoreNotReachable(m) => wit::Error::StoreNotReachable(m),
            Error::Forbidden(m) => wit::Error::Forbidden(m),
            Error::NotFound(m) => wit::Error::NotFound(m),
            Error::TooLarge(m) => wit::Error::TooLarge(m),
            Error::DigestMismatch(m) => wit::Error::DigestMismatch(m),
            Error::InvalidManifest(m) => wit::Error::InvalidManifest(m),
            Error::InvalidContent(m) => wit::Error::InvalidContent(m),
            Error::Other(m) => wit::Error::Other(m),
        }
    }
}
