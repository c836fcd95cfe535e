//! `index.json`: finding a manifest by name or digest, and filing a pushed
//! one under its name.
//!
//! Names are the annotation `org.opencontainers.image.ref.name`. This store
//! files a tag as `<repository>:<tag>`, so that one layout holds many
//! repositories. Tools that write one artifact per layout (`oras push
//! --oci-layout dir:tag`, `skopeo copy ... oci:dir:tag`) file the bare
//! `<tag>`; such an entry answers for a repository that has no
//! `<repository>:...` entry at all, whatever that repository is called, and
//! is never consulted once the repository has one. When several entries
//! carry the asked-for name, the first wins.
//!
//! The document is kept as JSON values, so writing it back keeps what other
//! tools put there; it is written compact with object keys sorted, so that
//! the same contents always give the same bytes.

use artifact_store_core::manifest::{Descriptor, OCI_INDEX};
use serde_json::{json, Map, Value};

use crate::error::{Error, Result};
use crate::reference::LayoutReference;

/// The annotation that names an entry of `index.json` (OCI image spec,
/// "Pre-Defined Annotation Keys").
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The top-level `index.json` of a layout.
#[derive(Debug, Clone, PartialEq)]
pub struct LayoutIndex {
    doc: Map<String, Value>,
}

impl LayoutIndex {
    /// The index of a layout that holds nothing yet.
    pub fn empty() -> LayoutIndex {
        let Value::Object(doc) = json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [],
        }) else {
            unreachable!("a JSON object literal")
        };
        LayoutIndex { doc }
    }

    pub fn parse(bytes: &[u8]) -> Result<LayoutIndex> {
        let invalid = |why: String| Error::InvalidManifest(format!("index.json {why}"));
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| invalid(format!("is not JSON: {e}")))?;
        let Value::Object(mut doc) = value else {
            return Err(invalid("is not a JSON object".into()));
        };
        match doc.get("manifests") {
            Some(Value::Array(_)) => {}
            None => {
                doc.insert("manifests".into(), Value::Array(Vec::new()));
            }
            Some(_) => return Err(invalid("has a \"manifests\" that is not a list".into())),
        }
        Ok(LayoutIndex { doc })
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&self.doc).expect("JSON values serialise")
    }

    fn manifests(&self) -> &Vec<Value> {
        match self.doc.get("manifests") {
            Some(Value::Array(list)) => list,
            _ => unreachable!("parse and empty guarantee the list"),
        }
    }

    fn manifests_mut(&mut self) -> &mut Vec<Value> {
        match self.doc.get_mut("manifests") {
            Some(Value::Array(list)) => list,
            _ => unreachable!("parse and empty guarantee the list"),
        }
    }

    /// Every entry as a descriptor, in order.
    pub fn entries(&self) -> Result<Vec<Descriptor>> {
        self.manifests()
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                serde_json::from_value(entry.clone()).map_err(|e| {
                    Error::InvalidManifest(format!("entry {i} of index.json is malformed: {e}"))
                })
            })
            .collect()
    }

    /// The entry a reference names: by digest when it has one, else by
    /// `<repository>:<tag>`, else by the bare tag under the rule above.
    pub fn find(&self, reference: &LayoutReference) -> Result<Option<Descriptor>> {
        let entries = self.entries()?;
        if let Some(digest) = &reference.digest {
            return Ok(entries.into_iter().find(|d| d.digest == *digest));
        }

        let ref_name = reference.ref_name();
        let name = |d: &Descriptor| d.annotation(ANNOTATION_REF_NAME).map(str::to_owned);
        if let Some(found) = entries.iter().find(|d| name(d) == Some(ref_name.clone())) {
            return Ok(Some(found.clone()));
        }
        let prefix = format!("{}:", reference.repository);
        let repository_known = entries
            .iter()
            .any(|d| name(d).is_some_and(|n| n.starts_with(&prefix)));
        if repository_known {
            return Ok(None);
        }
        let tag = reference.tag();
        Ok(entries
            .into_iter()
            .find(|d| d.annotation(ANNOTATION_REF_NAME) == Some(tag)))
    }

    /// Files `descriptor` under `ref_name`: in the place of the first entry
    /// of that name, dropping any others, else at the end.
    pub fn file(&mut self, ref_name: &str, descriptor: &Descriptor) {
        let mut descriptor = descriptor.clone();
        descriptor
            .annotations
            .insert(ANNOTATION_REF_NAME.into(), ref_name.into());
        let entry = serde_json::to_value(&descriptor).expect("a descriptor serialises");

        let named = |v: &Value| {
            v.pointer("/annotations")
                .and_then(|a| a.get(ANNOTATION_REF_NAME))
                .and_then(Value::as_str)
                == Some(ref_name)
        };
        let list = self.manifests_mut();
        match list.iter().position(named) {
            Some(first) => {
                list[first] = entry;
                let mut i = 0;
                list.retain(|v| {
                    i += 1;
                    i - 1 == first || !named(v)
                });
            }
            None => list.push(entry),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    fn descriptor(hex: char, name: Option<&str>) -> Descriptor {
        let mut annotations = BTreeMap::new();
        if let Some(name) = name {
            annotations.insert(ANNOTATION_REF_NAME.to_owned(), name.to_owned());
        }
        Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: format!("sha256:{}", hex.to_string().repeat(64)),
            size: 10,
            annotations,
            platform: None,
            artifact_type: None,
        }
    }

    fn index(entries: &[Descriptor]) -> LayoutIndex {
        let mut index = LayoutIndex::empty();
        for d in entries {
            index.manifests_mut().push(serde_json::to_value(d).unwrap());
        }
        index
    }

    fn found(index: &LayoutIndex, reference: &str) -> Option<String> {
        let r = LayoutReference::parse(reference).unwrap();
        index.find(&r).unwrap().map(|d| d.digest[7..8].to_owned())
    }

    #[test]
    fn qualified_names_then_bare_tags_for_unknown_repositories() {
        let index = index(&[
            descriptor('a', Some("templates:v1")),
            descriptor('b', Some("v1")),
            descriptor('c', Some("anonymization:latest")),
            descriptor('d', None),
        ]);
        assert_eq!(found(&index, "s/templates:v1").as_deref(), Some("a"));
        assert_eq!(found(&index, "s/anonymization").as_deref(), Some("c"));
        // `templates` has qualified entries, so the bare `v1` is not its.
        assert_eq!(found(&index, "s/templates:v2"), None);
        assert_eq!(found(&index, "s/anonymization:v1"), None);
        // A repository the layout never names reaches bare tags.
        assert_eq!(found(&index, "s/other:v1").as_deref(), Some("b"));
        let digest = format!("sha256:{}", "d".repeat(64));
        assert_eq!(
            found(&index, &format!("s/x@{digest}")).as_deref(),
            Some("d")
        );
        assert_eq!(
            found(&index, &format!("s/x:v1@{}", digest.replace('d', "e"))),
            None
        );
    }

    #[test]
    fn filing_replaces_in_place_and_keeps_other_entries() {
        let mut index = index(&[
            descriptor('a', Some("t:v1")),
            descriptor('b', Some("u:v1")),
            descriptor('c', Some("t:v1")),
        ]);
        index.file("t:v1", &descriptor('f', None));
        let names: Vec<(String, Option<String>)> = index
            .entries()
            .unwrap()
            .into_iter()
            .map(|d| {
                let name = d.annotation(ANNOTATION_REF_NAME).map(str::to_owned);
                (d.digest[7..8].to_owned(), name)
            })
            .collect();
        assert_eq!(
            names,
            [
                ("f".to_owned(), Some("t:v1".to_owned())),
                ("b".to_owned(), Some("u:v1".to_owned()))
            ]
        );
        let once = index.to_bytes();
        index.file("t:v1", &descriptor('f', None));
        assert_eq!(index.to_bytes(), once);
    }

    #[test]
    fn foreign_fields_survive_and_bad_documents_are_named() {
        let text = br#"{"schemaVersion":2,"manifests":[{"mediaType":"m","digest":"sha256:1","size":1,"urls":["u"]}],"x-tool":1}"#;
        let mut index = LayoutIndex::parse(text).unwrap();
        index.file("t:v1", &descriptor('a', None));
        let out: Value = serde_json::from_slice(&index.to_bytes()).unwrap();
        assert_eq!(out["x-tool"], 1);
        assert_eq!(out["manifests"][0]["urls"][0], "u");
        assert_eq!(
            out["manifests"][1]["annotations"][ANNOTATION_REF_NAME],
            "t:v1"
        );

        for bad in [&b"[]"[..], b"nope", br#"{"manifests":{}}"#] {
            assert!(
                matches!(LayoutIndex::parse(bad), Err(Error::InvalidManifest(m)) if m.contains("index.json"))
            );
        }
    }
}
