//! The two operations: fetch an artifact, and resolve a reference.

use artifact_store_core::layers::{self, File, FileSet};
pub use artifact_store_core::manifest::ManifestDescriptor;
use artifact_store_core::manifest::{Manifest, MAX_MANIFEST_SIZE};
use artifact_store_core::{is_sha256_digest, Reference};

use crate::auth::Credentials;
use crate::error::{Error, Result};
use crate::registry::{FetchedManifest, Registry};

/// How many indexes may stand between a reference and its image manifest.
/// An index of indexes exists in the wild (nested platform lists); deeper
/// nesting is treated as a malformed artifact rather than followed.
const MAX_INDEX_DEPTH: usize = 2;

/// How to reach a store, as the host passes it.
#[derive(Debug)]
pub struct Access {
    pub plain_http: bool,
    pub credentials: Credentials,
}

/// A fetched, verified artifact.
#[derive(Debug)]
pub struct Pulled {
    pub manifest: ManifestDescriptor,
    pub manifest_bytes: Vec<u8>,
    pub files: Vec<File>,
}

/// Fetches an artifact: its manifest (through an index if need be), then
/// every layer, verified and unpacked, within `max_size`.
pub fn fetch(reference: &str, access: &Access, max_size: u64) -> Result<Pulled> {
    let reference = parse_reference(reference)?;
    let mut registry = Registry::new(&reference, access.plain_http, &access.credentials);

    // The manifest, resolving indexes to one of their entries.
    let mut fetched = registry.get_manifest(reference.manifest_selector())?;
    for _ in 0..MAX_INDEX_DEPTH {
        let Manifest::Index(index) = &fetched.manifest else {
            break;
        };
        let entry = index
            .select()
            .map_err(|e| e.context(format!("index {}", fetched.digest)))?;
        if !is_sha256_digest(&entry.digest) {
            return Err(Error::InvalidManifest(format!(
                "index {} points at {:?}; only sha256 digests can be verified",
                fetched.digest, entry.digest
            )));
        }
        if entry.size > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge(format!(
                "index {} points at a {}-byte manifest, larger than the {MAX_MANIFEST_SIZE}-byte cap",
                fetched.digest, entry.size
            )));
        }
        let (digest, size) = (entry.digest.clone(), entry.size);
        let child = registry.get_manifest(&digest)?;
        if child.bytes.len() as u64 != size {
            return Err(Error::DigestMismatch(format!(
                "manifest {digest} is {} bytes long, but index {} declares {size}",
                child.bytes.len(),
                fetched.digest
            )));
        }
        fetched = child;
    }
    let FetchedManifest {
        bytes,
        digest,
        media_type,
        manifest,
    } = fetched;
    let image = match manifest {
        Manifest::Image(image) => image,
        Manifest::Index(_) => {
            return Err(Error::InvalidManifest(format!(
                "{reference} nests indexes more than {MAX_INDEX_DEPTH} deep"
            )))
        }
    };

    // Declared sizes first, so nothing is downloaded for an artifact that
    // cannot fit.
    let mut declared: u64 = 0;
    for (i, layer) in image.layers.iter().enumerate() {
        if !is_sha256_digest(&layer.digest) {
            return Err(Error::InvalidManifest(format!(
                "layer {i} of {reference} has digest {:?}; only sha256 digests can be verified",
                layer.digest
            )));
        }
        declared = declared.saturating_add(layer.size);
    }
    if declared > max_size {
        return Err(Error::TooLarge(format!(
            "the layers of {reference} declare {declared} bytes, more than max-size \
             ({max_size} bytes)"
        )));
    }

    // Every layer, hashed while it streams and unpacked as it arrives.
    let mut files = FileSet::new(max_size);
    for layer in &image.layers {
        let blob = registry.open_blob(&layer.digest, layer.size)?;
        layers::unpack_verified(layer, blob, &mut files)?;
    }

    let artifact_type = image.artifact_type();
    Ok(Pulled {
        manifest: ManifestDescriptor {
            media_type,
            digest,
            size: bytes.len() as u64,
            artifact_type,
        },
        manifest_bytes: bytes,
        files: files.into_files(),
    })
}

/// Looks a reference up without downloading layers. A HEAD request answers
/// when the registry sends digest, type and length; otherwise the manifest
/// is fetched. For an index the descriptor is the index's own.
pub fn resolve(reference: &str, access: &Access) -> Result<ManifestDescriptor> {
    let reference = parse_reference(reference)?;
    let mut registry = Registry::new(&reference, access.plain_http, &access.credentials);
    let selector = reference.manifest_selector();

    if let Some(head) = registry.head_manifest(selector)? {
        return Ok(ManifestDescriptor {
            media_type: head.media_type,
            digest: head.digest,
            size: head.size,
            // A HEAD carries no body to read it from.
            artifact_type: None,
        });
    }
    let fetched = registry.get_manifest(selector)?;
    Ok(ManifestDescriptor {
        artifact_type: fetched.artifact_type(),
        media_type: fetched.media_type,
        digest: fetched.digest,
        size: fetched.bytes.len() as u64,
    })
}

fn parse_reference(reference: &str) -> Result<Reference> {
    Reference::parse(reference)
        .map_err(|e| Error::InvalidReference(format!("invalid reference {reference:?}: {e}")))
}
