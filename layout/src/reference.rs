//! References to a layout store: `<store>/<repository>[:<tag>][@<digest>]`.
//!
//! The store name routed the call here and is not checked again; the rest
//! follows the registry grammar of `artifact_store_core::Reference`, which
//! checks it with a placeholder in the registry's place.

use std::fmt;

use artifact_store_core::reference::DEFAULT_TAG;
use artifact_store_core::Reference;

use crate::error::{Error, Result};

/// Stands in for the registry so that the registry grammar can check the
/// repository, tag and digest. Never shown to users.
const PLACEHOLDER_REGISTRY: &str = "localhost";

/// A parsed reference to an artifact in a layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutReference {
    /// The store name, as given.
    pub store: String,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:` and 64 lowercase hex digits.
    pub digest: Option<String>,
}

impl LayoutReference {
    /// Parses a reference to fetch or resolve.
    pub fn parse(reference: &str) -> Result<LayoutReference> {
        let invalid = |why: &str| {
            Error::InvalidReference(format!(
                "invalid reference {reference:?}: {why}; expected \
                 <store>/<repository>[:<tag>][@<digest>]"
            ))
        };
        let Some((store, rest)) = reference.split_once('/') else {
            return Err(invalid("it names no repository after the store"));
        };
        if store.is_empty() {
            return Err(invalid("the store name is empty"));
        }
        let parsed = Reference::parse(&format!("{PLACEHOLDER_REGISTRY}/{rest}"))
            .map_err(|e| invalid(&e.to_string()))?;
        Ok(LayoutReference {
            store: store.to_owned(),
            repository: parsed.repository,
            tag: parsed.tag,
            digest: parsed.digest,
        })
    }

    /// Parses a reference to push to: a tag, never a digest.
    pub fn parse_for_push(reference: &str) -> Result<LayoutReference> {
        let parsed = LayoutReference::parse(reference)?;
        if let Some(digest) = &parsed.digest {
            return Err(Error::InvalidReference(format!(
                "cannot push to {reference:?}: it names the digest {digest}, but the digest is \
                 what a push produces; name a tag, or none for \"latest\""
            )));
        }
        Ok(parsed)
    }

    /// The tag, or `latest` when the reference named none.
    pub fn tag(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// The `org.opencontainers.image.ref.name` this reference's tag is
    /// filed under: `<repository>:<tag>`.
    pub fn ref_name(&self) -> String {
        format!("{}:{}", self.repository, self.tag())
    }
}

impl fmt::Display for LayoutReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.store, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_repository_tag_and_digest() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let r = LayoutReference::parse(&format!("default/fhir/templates:v1@{digest}")).unwrap();
        assert_eq!(r.store, "default");
        assert_eq!(r.repository, "fhir/templates");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        assert_eq!(r.ref_name(), "fhir/templates:v1");

        let r = LayoutReference::parse("local/anonymization").unwrap();
        assert_eq!(r.ref_name(), "anonymization:latest");
        assert_eq!(r.to_string(), "local/anonymization");
    }

    #[test]
    fn bad_references_name_the_fault_without_the_placeholder() {
        for bad in [
            "default",
            "/x:v1",
            "default/Upper:v1",
            "default/x:bad tag",
            "default/",
        ] {
            match LayoutReference::parse(bad) {
                Err(Error::InvalidReference(m)) => {
                    assert!(m.contains(&format!("{bad:?}")), "{m}");
                    assert!(!m.contains(PLACEHOLDER_REGISTRY), "{m}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        let digest = format!("sha256:{}", "b".repeat(64));
        assert!(matches!(
            LayoutReference::parse_for_push(&format!("default/x@{digest}")),
            Err(Error::InvalidReference(m)) if m.contains(&digest)
        ));
    }
}
