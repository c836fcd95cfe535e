//! Publishing an artifact the way the ORAS CLI does: the layers packed and
//! the manifest written in memory first (`artifact_store_core::pack`), so
//! that bad input fails before any request; then the blobs the registry
//! lacks, then the manifest under its tag.

use std::rc::Rc;

use artifact_store_core::manifest::{ManifestDescriptor, OCI_MANIFEST};
use artifact_store_core::pack::{self, Contents};
use artifact_store_core::Reference;

use crate::error::{Error, Result};
use crate::pull::Access;
use crate::registry::Registry;

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub reference: String,
    pub contents: Contents,
}

/// Publishes an artifact and returns its manifest's descriptor.
pub fn push(request: PushRequest, access: &Access) -> Result<ManifestDescriptor> {
    let reference = parse_reference(&request.reference)?;
    let prepared = pack::prepare(request.contents)?;

    let mut registry = Registry::for_push(&reference, access.plain_http, &access.credentials);
    for blob in &prepared.blobs {
        if !registry.blob_exists(&blob.digest)? {
            registry.upload_blob(blob)?;
        }
    }
    registry.put_manifest(
        reference.tag(),
        OCI_MANIFEST,
        Rc::clone(&prepared.manifest),
        &prepared.descriptor.digest,
    )?;
    Ok(prepared.descriptor)
}

/// A reference to push to: a tag, never a digest.
fn parse_reference(reference: &str) -> Result<Reference> {
    let parsed = Reference::parse(reference)
        .map_err(|e| Error::InvalidReference(format!("invalid reference {reference:?}: {e}")))?;
    if let Some(digest) = &parsed.digest {
        return Err(Error::InvalidReference(format!(
            "cannot push to {reference:?}: it names the digest {digest}, but the digest is what \
             a push produces; name a tag, or none for \"latest\""
        )));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_with_a_digest_are_refused() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let e = parse_reference(&format!("127.0.0.1:5000/a:v1@{digest}")).unwrap_err();
        assert!(
            matches!(&e, Error::InvalidReference(m) if m.contains(&digest)),
            "{e:?}"
        );
        assert!(matches!(
            parse_reference("127.0.0.1:5000/A"),
            Err(Error::InvalidReference(_))
        ));
        assert_eq!(parse_reference("127.0.0.1:5000/a").unwrap().tag(), "latest");
    }
}
