//! OCI and Docker manifest documents, the choice of one manifest from an
//! index, and the image manifest a push writes.
//!
//! What a registry adds on the wire (the `Accept` list, its error envelope)
//! stays with the registry client; these types serve any store.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::content::ContentError;

type Result<T, E = ContentError> = std::result::Result<T, E>;

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The largest manifest accepted, as most registries cap them (distribution
/// and ACR at 4 MiB). Bigger ones are refused before being read, or before
/// being written.
pub const MAX_MANIFEST_SIZE: u64 = 4 << 20;

/// The layer title ORAS writes: a file name, or a folder name for a folder.
pub const ANNOTATION_TITLE: &str = "org.opencontainers.image.title";
/// ORAS Go marks folder layers with `true` here.
pub const ANNOTATION_UNPACK: &str = "io.deis.oras.content.unpack";
/// ORAS Go records the digest of a folder's uncompressed tar here.
pub const ANNOTATION_CONTENT_DIGEST: &str = "io.deis.oras.content.digest";
/// The config media type of an artifact without a config (OCI image spec
/// 1.1, "Guidance for an Empty Descriptor").
pub const OCI_EMPTY: &str = "application/vnd.oci.empty.v1+json";
/// The content of the empty config.
pub const EMPTY_CONFIG: &[u8] = b"{}";
/// The digest of [`EMPTY_CONFIG`].
pub const EMPTY_CONFIG_DIGEST: &str =
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a";
/// The `artifactType` the ORAS CLI writes when it is told none.
pub const DEFAULT_ARTIFACT_TYPE: &str = "application/vnd.unknown.artifact.v1";
/// The media type ORAS gives a file pushed as it is.
pub const LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
/// The media type of a folder packed as tar+gzip.
pub const LAYER_TAR_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// Docker's buildx marks attestation entries of an index with this.
const ANNOTATION_DOCKER_REFERENCE_TYPE: &str = "vnd.docker.reference.type";

/// An OCI content descriptor. Serialised with the fields in the order of
/// the image spec's Go types, and annotations sorted by key.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
}

impl Descriptor {
    /// The descriptor of the empty config, `{}`.
    pub fn empty_config() -> Descriptor {
        Descriptor {
            media_type: OCI_EMPTY.to_owned(),
            digest: EMPTY_CONFIG_DIGEST.to_owned(),
            size: EMPTY_CONFIG.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
            artifact_type: None,
        }
    }

    pub fn annotation(&self, name: &str) -> Option<&str> {
        self.annotations.get(name).map(String::as_str)
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
pub struct Platform {
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub architecture: String,
}

/// An OCI image manifest or a Docker v2 manifest: the shape is the same.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// The OCI 1.1 image manifest of an artifact, as a push writes it.
///
/// The bytes are deterministic: fields in the order of the image spec's Go
/// type (`schemaVersion`, `mediaType`, `artifactType`, `config`, `layers`,
/// `annotations`), compact JSON, and every annotation map sorted by key, as
/// Go's `encoding/json` writes maps. Sorting rather than keeping the order
/// annotations were given in means that the same annotations give the same
/// digest however a user orders them.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewImageManifest<'a> {
    schema_version: u32,
    media_type: &'static str,
    artifact_type: &'a str,
    config: Descriptor,
    layers: &'a [Descriptor],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    annotations: &'a BTreeMap<String, String>,
}

impl<'a> NewImageManifest<'a> {
    /// A manifest with the empty config.
    pub fn new(
        artifact_type: &'a str,
        layers: &'a [Descriptor],
        annotations: &'a BTreeMap<String, String>,
    ) -> Self {
        NewImageManifest {
            schema_version: 2,
            media_type: OCI_MANIFEST,
            artifact_type,
            config: Descriptor::empty_config(),
            layers,
            annotations,
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a manifest of strings and numbers serialises")
    }
}

/// An OCI index or a Docker manifest list.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    pub manifests: Vec<Descriptor>,
    #[serde(default)]
    pub artifact_type: Option<String>,
}

/// A parsed manifest document.
#[derive(Debug, Clone)]
pub enum Manifest {
    Image(ImageManifest),
    Index(Index),
}

/// The fields every manifest document may carry, read first to decide what
/// the document is.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    #[serde(default)]
    schema_version: Option<u64>,
    #[serde(default)]
    media_type: Option<String>,
    #[serde(default)]
    manifests: Option<serde_json::Value>,
    #[serde(default)]
    layers: Option<serde_json::Value>,
}

impl Manifest {
    /// Parses manifest bytes. The media type is taken from the document's
    /// `mediaType`, else from the response's `Content-Type`, else from its
    /// shape (`manifests` makes an index, `layers` an image manifest).
    ///
    /// Returns the manifest and its media type.
    pub fn parse(bytes: &[u8], content_type: Option<&str>) -> Result<(Manifest, String)> {
        let head: Head = serde_json::from_slice(bytes).map_err(|e| {
            ContentError::InvalidManifest(format!("manifest is not valid JSON: {e}"))
        })?;
        if head.schema_version == Some(1) {
            return Err(ContentError::InvalidManifest(
                "Docker schema 1 manifests are not supported; push the artifact again \
                 with a current client"
                    .into(),
            ));
        }

        let content_type = content_type
            .map(|c| c.split(';').next().unwrap_or_default().trim())
            .filter(|c| is_known(c));
        let media_type = match (head.media_type, content_type) {
            (Some(declared), _) => declared,
            (None, Some(served)) => served.to_owned(),
            (None, None) if head.manifests.is_some() => OCI_INDEX.to_owned(),
            (None, None) if head.layers.is_some() => OCI_MANIFEST.to_owned(),
            (None, None) => {
                return Err(ContentError::InvalidManifest(
                    "manifest has no media type and neither layers nor manifests".into(),
                ))
            }
        };

        let invalid = |e: serde_json::Error| {
            ContentError::InvalidManifest(format!("{media_type} document is malformed: {e}"))
        };
        let manifest = match media_type.as_str() {
            OCI_MANIFEST | DOCKER_MANIFEST => {
                Manifest::Image(serde_json::from_slice(bytes).map_err(invalid)?)
            }
            OCI_INDEX | DOCKER_LIST => {
                Manifest::Index(serde_json::from_slice(bytes).map_err(invalid)?)
            }
            other => {
                return Err(ContentError::InvalidManifest(format!(
                    "manifest media type {other:?} is not supported; expected an OCI image \
                     manifest or index, or a Docker v2 manifest or manifest list"
                )))
            }
        };
        Ok((manifest, media_type))
    }
}

fn is_known(media_type: &str) -> bool {
    [OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST].contains(&media_type)
}

impl ImageManifest {
    /// `artifactType`, else the config's media type, as the WIT descriptor
    /// documents it.
    pub fn artifact_type(&self) -> Option<String> {
        self.artifact_type
            .clone()
            .or_else(|| Some(self.config.media_type.clone()))
    }
}

impl Index {
    /// Picks the manifest an index stands for: the only entry if there is
    /// one; else the first entry without a platform; else the first for
    /// `linux/amd64`; else the first entry. Docker attestation entries are
    /// never picked.
    pub fn select(&self) -> Result<&Descriptor> {
        let candidates: Vec<&Descriptor> = self
            .manifests
            .iter()
            .filter(|d| {
                d.annotation(ANNOTATION_DOCKER_REFERENCE_TYPE) != Some("attestation-manifest")
            })
            .collect();
        let chosen = match candidates.as_slice() {
            [] => None,
            [only] => Some(*only),
            all => all
                .iter()
                .find(|d| d.platform.is_none())
                .or_else(|| {
                    all.iter().find(|d| {
                        d.platform
                            .as_ref()
                            .is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
                    })
                })
                .or(all.first())
                .copied(),
        };
        chosen
            .ok_or_else(|| ContentError::InvalidManifest("index lists no manifest to fetch".into()))
    }
}

/// The descriptor of a manifest, as the WIT `descriptor` record carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestDescriptor {
    pub media_type: String,
    pub digest: String,
    pub size: u64,
    /// `artifactType`, else the config's media type; `None` when unknown.
    pub artifact_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn entry(platform: Option<(&str, &str)>, attestation: bool) -> String {
        let platform = platform
            .map(|(os, arch)| format!(r#","platform":{{"os":"{os}","architecture":"{arch}"}}"#))
            .unwrap_or_default();
        let annotations = if attestation {
            r#","annotations":{"vnd.docker.reference.type":"attestation-manifest"}"#
        } else {
            ""
        };
        format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","digest":"{D}","size":{}{platform}{annotations}}}"#,
            1
        )
    }

    fn index(entries: &[String]) -> Index {
        let json = format!(
            r#"{{"schemaVersion":2,"manifests":[{}]}}"#,
            entries.join(",")
        );
        match Manifest::parse(json.as_bytes(), None).unwrap() {
            (Manifest::Index(i), t) => {
                assert_eq!(t, OCI_INDEX);
                i
            }
            other => panic!("{other:?}"),
        }
    }

    fn pick(entries: &[String]) -> Option<usize> {
        let i = index(entries);
        let chosen = i.select().ok()?;
        i.manifests.iter().position(|d| std::ptr::eq(d, chosen))
    }

    #[test]
    fn parses_an_oras_manifest() {
        let json = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.x",
            "config":{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{D}","size":2}},
            "layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{D}","size":5,
            "annotations":{{"org.opencontainers.image.title":"a.json"}}}}]}}"#
        );
        let (m, t) = Manifest::parse(json.as_bytes(), Some("application/json")).unwrap();
        assert_eq!(t, OCI_MANIFEST);
        let Manifest::Image(m) = m else { panic!() };
        assert_eq!(m.artifact_type().as_deref(), Some("application/vnd.x"));
        assert_eq!(m.layers[0].annotation(ANNOTATION_TITLE), Some("a.json"));
        assert_eq!(m.layers[0].size, 5);
    }

    #[test]
    fn media_type_from_content_type_or_shape() {
        let json = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"c","digest":"{D}","size":2}},"layers":[]}}"#
        );
        let (m, t) = Manifest::parse(
            json.as_bytes(),
            Some(&format!("{DOCKER_MANIFEST}; charset=utf-8")),
        )
        .unwrap();
        assert_eq!(t, DOCKER_MANIFEST);
        let Manifest::Image(m) = m else { panic!() };
        assert_eq!(m.artifact_type().as_deref(), Some("c"));
        let (_, t) = Manifest::parse(json.as_bytes(), Some("text/plain")).unwrap();
        assert_eq!(t, OCI_MANIFEST);
    }

    #[test]
    fn refuses_bad_documents() {
        let bad = |json: &str| match Manifest::parse(json.as_bytes(), None) {
            Err(ContentError::InvalidManifest(m)) => m,
            other => panic!("{json}: {other:?}"),
        };
        assert!(bad("not json").contains("not valid JSON"));
        assert!(bad(r#"{"schemaVersion":1,"fsLayers":[]}"#).contains("schema 1"));
        assert!(bad(r#"{"schemaVersion":2}"#).contains("no media type"));
        assert!(
            bad(r#"{"mediaType":"application/vnd.oci.artifact.manifest.v1+json"}"#)
                .contains("not supported")
        );
        assert!(
            bad(&format!(r#"{{"mediaType":"{OCI_MANIFEST}","layers":[]}}"#)).contains("config")
        );
        assert!(bad(&format!(
            r#"{{"mediaType":"{OCI_MANIFEST}","config":{{"mediaType":"c","digest":"{D}","size":-1}}}}"#
        ))
        .contains("malformed"));
    }

    #[test]
    fn index_selection_rule() {
        let linux = entry(Some(("linux", "amd64")), false);
        let arm = entry(Some(("linux", "arm64")), false);
        let none = entry(None, false);
        let attest = entry(Some(("unknown", "unknown")), true);

        assert_eq!(pick(std::slice::from_ref(&arm)), Some(0));
        assert_eq!(pick(&[arm.clone(), none.clone(), linux.clone()]), Some(1));
        assert_eq!(pick(&[arm.clone(), linux.clone()]), Some(1));
        assert_eq!(
            pick(&[arm.clone(), entry(Some(("windows", "amd64")), false)]),
            Some(0)
        );
        assert_eq!(pick(&[attest.clone(), arm.clone()]), Some(1));
        assert_eq!(
            pick(&[attest.clone(), linux.clone(), attest.clone()]),
            Some(1)
        );
        assert_eq!(pick(&[attest]), None);
        assert_eq!(pick(&[]), None);
    }

    #[test]
    fn new_manifest_is_compact_ordered_json_that_parses_back() {
        let mut layer = Descriptor::empty_config();
        layer.media_type = LAYER_TAR.into();
        layer.size = 5;
        layer
            .annotations
            .insert(ANNOTATION_TITLE.into(), "a.json".into());
        let annotations =
            BTreeMap::from([("b".to_owned(), "2".to_owned()), ("a".into(), "1".into())]);
        let layers = [layer];
        let bytes = NewImageManifest::new("application/vnd.x", &layers, &annotations).to_bytes();
        let expected = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_MANIFEST}","artifactType":"application/vnd.x","config":{{"mediaType":"{OCI_EMPTY}","digest":"{EMPTY_CONFIG_DIGEST}","size":2}},"layers":[{{"mediaType":"{LAYER_TAR}","digest":"{EMPTY_CONFIG_DIGEST}","size":5,"annotations":{{"org.opencontainers.image.title":"a.json"}}}}],"annotations":{{"a":"1","b":"2"}}}}"#
        );
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);

        let (m, t) = Manifest::parse(&bytes, None).unwrap();
        assert_eq!(t, OCI_MANIFEST);
        let Manifest::Image(m) = m else { panic!() };
        assert_eq!(m.artifact_type().as_deref(), Some("application/vnd.x"));
        assert_eq!(m.layers, layers);

        let none = BTreeMap::new();
        let bytes = NewImageManifest::new("t", &[], &none).to_bytes();
        let text = String::from_utf8(bytes).unwrap();
        assert!(text.ends_with(r#""layers":[]}"#), "{text}");
    }
}
