//! The first-party artifact provider: fetches artifacts from OCI registries
//! and Azure Blob Storage and publishes them there, over wasi:http, and
//! exports the `artifact-provider` world of `wit/`.
//!
//! Each module holds one protocol concern; only this file knows the
//! generated bindings, and converts between them and the modules' types.

mod auth;
mod blob;
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
        if let Some(account) = blob_account(&request.access)? {
            let fetched = blob::fetch(
                &request.reference,
                &account,
                request.max_size,
                request.if_match.as_deref(),
            )?;
            return Ok(wit::Artifact {
                manifest: fetched.descriptor.into(),
                manifest_bytes: fetched.listing,
                etag: fetched.etag,
                files: fetched.files.into_iter().map(wit_file).collect(),
            });
        }

        // OCI registries have no entity tags: `if-match` does not apply.
        let access = access(request.access)?;
        let pulled = pull::fetch(&request.reference, &access, request.max_size)?;
        Ok(wit::Artifact {
            manifest: pulled.manifest.into(),
            manifest_bytes: pulled.manifest_bytes,
            etag: None,
            files: pulled.files.into_iter().map(wit_file).collect(),
        })
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
        if let Some(account) = blob_account(&request.access)? {
            let descriptor = blob::push(
                &request.reference,
                &account,
                layers,
                request.artifact_type.as_deref(),
                &request.annotations,
            )?;
            return Ok(descriptor.into());
        }

        let access = access(request.access)?;
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
        if let Some(account) = blob_account(&access)? {
            return Ok(blob::resolve(&reference, &account)?.into());
        }
        let access = self::access(access)?;
        Ok(pull::resolve(&reference, &access)?.into())
    }
}

fn file(f: wit::File) -> File {
    File {
        path: f.path,
        content: f.content,
    }
}

fn wit_file(f: File) -> wit::File {
    wit::File {
        path: f.path,
        content: f.content,
    }
}

/// How to reach a registry; Azure credentials do not apply to one.
fn access(access: wit::StoreAccess) -> Result<Access, Error> {
    let credentials = match access.credentials {
        wit::Credentials::Anonymous => Credentials::Anonymous,
        wit::Credentials::Basic(b) => Credentials::Basic {
            username: b.username,
            password: b.password,
        },
        wit::Credentials::Bearer(token) => Credentials::Bearer(token),
        wit::Credentials::SharedKey(_) | wit::Credentials::Sas(_) => {
            return Err(Error::InvalidReference(
                "an account key or SAS token was given for an OCI registry; they apply to \
                 Azure Blob stores only"
                    .into(),
            ))
        }
    };
    Ok(Access {
        plain_http: access.plain_http,
        credentials,
    })
}

/// The Blob account of a call, if the store is one.
fn blob_account(access: &wit::StoreAccess) -> Result<Option<blob::Account>, Error> {
    let Some(account) = &access.blob else {
        return Ok(None);
    };
    let auth = match &access.credentials {
        wit::Credentials::Anonymous => blob::Auth::Anonymous,
        wit::Credentials::SharedKey(key) => blob::Auth::SharedKey {
            account: key.account.clone(),
            key: key.key.clone(),
        },
        wit::Credentials::Sas(token) => {
            let token = token.trim().trim_start_matches('?');
            if token.is_empty() || token.contains(['#', ' ', '\n', '\r']) {
                return Err(Error::Unauthorized(
                    "the SAS token is not a query string such as sv=...&sig=...".into(),
                ));
            }
            blob::Auth::Sas(token.to_owned())
        }
        wit::Credentials::Bearer(token) => blob::Auth::Bearer(token.clone()),
        wit::Credentials::Basic(_) => {
            return Err(Error::Unauthorized(
                "a user name and password do not apply to Azure Blob Storage; give an \
                 account key, a SAS token or a bearer token"
                    .into(),
            ))
        }
    };
    Ok(Some(blob::Account {
        endpoint: account.endpoint.clone(),
        list_page_size: account.list_page_size,
        plain_http: access.plain_http,
        auth,
    }))
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
            Error::PreconditionFailed(m) => wit::Error::PreconditionFailed(m),
            Error::Timeout(m) => wit::Error::Timeout(m),
            Error::Denied(m) => wit::Error::Denied(m),
            Error::Other(m) => wit::Error::Other(m),
        }
    }
}
