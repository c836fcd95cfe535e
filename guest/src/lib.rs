//! The first-party artifact provider: fetches artifacts from OCI registries
//! and publishes them there, over wasi:http, and exports the
//! `artifact-provider` world of `wit/`.
//!
//! Each module holds one protocol concern; only this file knows the
//! generated bindings, and converts between them and the modules' types.

mod auth;
mod error;
mod http;
mod manifest;
mod pull;
mod push;
mod registry;
mod url;

mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "artifact-provider",
        // Share the `wasi` crate's wasi:http and wasi:io types, so that the
        // HTTP code uses one set of resources.
        with: {
            "wasi:http/types@0.2.12": wasi::http::types,
            "wasi:http/outgoing-handler@0.2.12": wasi::http::outgoing_handler,
            "wasi:io/error@0.2.12": wasi::io::error,
            "wasi:io/poll@0.2.12": wasi::io::poll,
            "wasi:io/streams@0.2.12": wasi::io::streams,
            "wasi:clocks/monotonic-clock@0.2.12": wasi::clocks::monotonic_clock,
        },
    });

    // Native builds (unit tests, clippy) skip the export: its symbol names
    // are component-model names that a native linker's version script
    // cannot spell.
    #[cfg(target_arch = "wasm32")]
    use super::Provider;
    #[cfg(target_arch = "wasm32")]
    export!(Provider);
}

use bindings::artifact_store::provider::types as wit;
use bindings::exports::artifact_store::provider::provider::Guest;

use artifact_store_core::layers::File;
use artifact_store_core::pack::{Contents, Layer};

use crate::auth::Credentials;
use crate::error::Error;
use crate::pull::{Access, ManifestDescriptor};
use crate::push::PushRequest;

/// The exported implementation.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
struct Provider;

impl Guest for Provider {
    fn fetch(request: wit::FetchRequest) -> Result<wit::Artifact, wit::Error> {
        // OCI registries have no entity tags: `if-match` does not apply.
        let access = access(request.access);
        let pulled = pull::fetch(&request.reference, &access, request.max_size)?;
        Ok(wit::Artifact {
            manifest: pulled.manifest.into(),
            manifest_bytes: pulled.manifest_bytes,
            etag: None,
            files: pulled
                .files
                .into_iter()
                .map(|f| wit::File {
                    path: f.path,
                    content: f.content,
                })
                .collect(),
        })
    }

    fn push(request: wit::PushRequest) -> Result<wit::Descriptor, wit::Error> {
        let access = access(request.access);
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
        let request = PushRequest {
            reference: request.reference,
            contents: Contents {
                layers,
                artifact_type: request.artifact_type,
                annotations: request.annotations,
            },
        };
        Ok(push::push(request, &access)?.into())
    }

    fn resolve(reference: String, access: wit::StoreAccess) -> Result<wit::Descriptor, wit::Error> {
        let access = self::access(access);
        Ok(pull::resolve(&reference, &access)?.into())
    }
}

fn file(f: wit::File) -> File {
    File {
        path: f.path,
        content: f.content,
    }
}

fn access(access: wit::StoreAccess) -> Access {
    let credentials = match access.credentials {
        wit::Credentials::Anonymous => Credentials::Anonymous,
        wit::Credentials::Basic(b) => Credentials::Basic {
            username: b.username,
            password: b.password,
        },
        wit::Credentials::Bearer(token) => Credentials::Bearer(token),
    };
    Access {
        plain_http: access.plain_http,
        credentials,
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
            Error::Unauthorized(m) => wit::Error::Unauthorized(m),
            Error::Forbidden(m) => wit::Error::Forbidden(m),
            Error::NotFound(m) => wit::Error::NotFound(m),
            Error::TooLarge(m) => wit::Error::TooLarge(m),
            Error::DigestMismatch(m) => wit::Error::DigestMismatch(m),
            Error::InvalidManifest(m) => wit::Error::InvalidManifest(m),
            Error::InvalidContent(m) => wit::Error::InvalidContent(m),
            Error::Timeout(m) => wit::Error::Timeout(m),
            Error::Denied(m) => wit::Error::Denied(m),
            Error::Other(m) => wit::Error::Other(m),
        }
    }
}
