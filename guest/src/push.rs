//! Publishing an artifact the way the ORAS CLI does: every layer prepared
//! and the manifest written in memory first, so that bad input fails before
//! any request; then the blobs the registry lacks, then the manifest under
//! its tag.

use std::collections::{BTreeMap, HashSet};
use std::rc::Rc;

use artifact_store_core::{normalize_entry_path, Reference};

use crate::error::{Error, Result};
use crate::layers::{self, File};
use crate::manifest::{
    Descriptor, NewImageManifest, ANNOTATION_CONTENT_DIGEST, ANNOTATION_TITLE, ANNOTATION_UNPACK,
    DEFAULT_ARTIFACT_TYPE, EMPTY_CONFIG, EMPTY_CONFIG_DIGEST, LAYER_TAR, LAYER_TAR_GZIP,
    OCI_MANIFEST,
};
use crate::pack;
use crate::pull::{Access, ManifestDescriptor};
use crate::registry::{Blob, Registry, MAX_MANIFEST_SIZE};
use crate::verify::digest_of;

/// One layer to publish.
#[derive(Debug, Clone)]
pub enum Layer {
    /// A file, published as it is and titled with its path.
    File(File),
    /// A folder, packed as tar+gzip and titled with its name.
    Folder { name: String, files: Vec<File> },
}

/// What to publish, and where.
#[derive(Debug, Clone)]
pub struct PushRequest {
    pub reference: String,
    pub layers: Vec<Layer>,
    /// `None` (or empty) means [`DEFAULT_ARTIFACT_TYPE`].
    pub artifact_type: Option<String>,
    /// In order; a key given twice keeps its last value.
    pub annotations: Vec<(String, String)>,
}

/// An artifact ready to upload: its blobs and its manifest.
#[derive(Debug)]
struct Prepared {
    /// The config first, then the layers; a blob that two layers share is
    /// listed once.
    blobs: Vec<Blob>,
    manifest: Rc<Vec<u8>>,
    descriptor: ManifestDescriptor,
}

/// Publishes an artifact and returns its manifest's descriptor.
pub fn push(request: PushRequest, access: &Access) -> Result<ManifestDescriptor> {
    let reference = parse_reference(&request.reference)?;
    let prepared = prepare(request)?;

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

/// Checks the request, packs the layers and writes the manifest.
fn prepare(request: PushRequest) -> Result<Prepared> {
    check_layers(&request.layers)?;

    // The config, then each layer's blob and descriptor.
    let mut blobs = vec![Blob {
        digest: EMPTY_CONFIG_DIGEST.to_owned(),
        bytes: Rc::new(EMPTY_CONFIG.to_vec()),
    }];
    let mut descriptors = Vec::with_capacity(request.layers.len());
    for layer in request.layers {
        let (descriptor, bytes) = match layer {
            Layer::File(file) => file_layer(file),
            Layer::Folder { name, files } => folder_layer(name, &files)?,
        };
        if !blobs.iter().any(|b| b.digest == descriptor.digest) {
            blobs.push(Blob {
                digest: descriptor.digest.clone(),
                bytes: Rc::new(bytes),
            });
        }
        descriptors.push(descriptor);
    }

    // Inserting in order keeps the last value of a repeated key.
    let annotations: BTreeMap<String, String> = request.annotations.into_iter().collect();
    let artifact_type = request
        .artifact_type
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| DEFAULT_ARTIFACT_TYPE.to_owned());
    let manifest = NewImageManifest::new(&artifact_type, &descriptors, &annotations).to_bytes();
    if manifest.len() as u64 > MAX_MANIFEST_SIZE {
        return Err(Error::TooLarge(format!(
            "the manifest would be {} bytes, over the {MAX_MANIFEST_SIZE}-byte cap registries \
             keep; use fewer layers or shorter annotations",
            manifest.len()
        )));
    }

    let descriptor = ManifestDescriptor {
        media_type: OCI_MANIFEST.to_owned(),
        digest: digest_of(&manifest),
        size: manifest.len() as u64,
        artifact_type: Some(artifact_type),
    };
    Ok(Prepared {
        blobs,
        manifest: Rc::new(manifest),
        descriptor,
    })
}

/// Refuses, before anything is packed or sent: no layers; a title or path
/// that is not already a normal relative path; two layers with one title;
/// and two files that would unpack to one path, or to a path that is a file
/// for one and a folder for the other.
fn check_layers(layers: &[Layer]) -> Result<()> {
    if layers.is_empty() {
        return Err(Error::InvalidContent(
            "nothing to push: the request has no layers".into(),
        ));
    }
    let mut titles = HashSet::new();
    let mut unpacked = PathClaims::default();
    for layer in layers {
        let title = match layer {
            Layer::File(file) => {
                check_path(&file.path, "file path")?;
                unpacked.claim_file(&file.path)?;
                &file.path
            }
            Layer::Folder { name, files } => {
                check_path(name, "folder name")?;
                unpacked.claim_folder(name)?;
                for file in files {
                    check_path(&file.path, &format!("path in folder {name:?}"))?;
                    unpacked.claim_file(&format!("{name}/{}", file.path))?;
                }
                name
            }
        };
        if !titles.insert(title.as_str()) {
            return Err(Error::InvalidContent(format!(
                "two layers are titled {title:?}; each file and folder may be pushed once"
            )));
        }
    }
    Ok(())
}

/// A path must already be relative and normal: the pull side would write
/// exactly it, so nothing is silently rewritten on the way.
fn check_path(path: &str, what: &str) -> Result<()> {
    match normalize_entry_path(path) {
        Ok(normal) if normal == path => Ok(()),
        Ok(normal) => Err(Error::InvalidContent(format!(
            "{what} {path:?} is not in normal form; write it as {normal:?}"
        ))),
        Err(e) => Err(Error::InvalidContent(format!(
            "{what} would unpack outside the target folder: {e}"
        ))),
    }
}

/// The paths the artifact will unpack to, to refuse clashes.
#[derive(Default)]
struct PathClaims {
    files: HashSet<String>,
    folders: HashSet<String>,
}

impl PathClaims {
    fn claim_file(&mut self, path: &str) -> Result<()> {
        if self.folders.contains(path) {
            return Err(clash(path));
        }
        self.claim_parents(path)?;
        if !self.files.insert(path.to_owned()) {
            return Err(Error::InvalidContent(format!(
                "{path:?} would be pushed twice; each path may appear once"
            )));
        }
        Ok(())
    }

    fn claim_folder(&mut self, path: &str) -> Result<()> {
        if self.files.contains(path) {
            return Err(clash(path));
        }
        self.claim_parents(path)?;
        self.folders.insert(path.to_owned());
        Ok(())
    }

    fn claim_parents(&mut self, path: &str) -> Result<()> {
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            if self.files.contains(parent) {
                return Err(clash(parent));
            }
            self.folders.insert(parent.to_owned());
        }
        Ok(())
    }
}

fn clash(path: &str) -> Error {
    Error::InvalidContent(format!(
        "{path:?} would be both a file and a folder in the artifact"
    ))
}

/// A file as one layer. A file whose bytes are a gzip-compressed tar is
/// marked `io.deis.oras.content.unpack=false`: without it a pull (ours, and
/// the ORAS Python client's) would take it for a packed folder and unpack
/// it. Other files carry only their title, as the ORAS CLI writes them.
fn file_layer(file: File) -> (Descriptor, Vec<u8>) {
    let mut descriptor = Descriptor {
        media_type: LAYER_TAR.to_owned(),
        digest: digest_of(&file.content),
        size: file.content.len() as u64,
        annotations: BTreeMap::from([(ANNOTATION_TITLE.to_owned(), file.path)]),
        platform: None,
        artifact_type: None,
    };
    if layers::looks_like_gzip_tar(&file.content) {
        descriptor
            .annotations
            .insert(ANNOTATION_UNPACK.to_owned(), "false".to_owned());
    }
    (descriptor, file.content)
}

/// A folder packed as one tar+gzip layer with the ORAS unpack annotations.
fn folder_layer(name: String, files: &[File]) -> Result<(Descriptor, Vec<u8>)> {
    let packed = pack::pack_folder(&name, files)
        .map_err(|e| Error::Other(format!("packing folder {name:?} failed: {e}")))?;
    let descriptor = Descriptor {
        media_type: LAYER_TAR_GZIP.to_owned(),
        digest: packed.digest,
        size: packed.bytes.len() as u64,
        annotations: BTreeMap::from([
            (ANNOTATION_CONTENT_DIGEST.to_owned(), packed.tar_digest),
            (ANNOTATION_UNPACK.to_owned(), "true".to_owned()),
            (ANNOTATION_TITLE.to_owned(), name),
        ]),
        platform: None,
        artifact_type: None,
    };
    Ok((descriptor, packed.bytes))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use serde_json::{json, Value};

    use super::*;
    use crate::layers::{unpack_layer, FileSet};
    use crate::manifest::{LAYER_TAR_GZIP, OCI_EMPTY};
    use crate::verify::{Chunks, VerifyingReader};

    fn file(path: &str, content: &[u8]) -> File {
        File {
            path: path.into(),
            content: content.to_vec(),
        }
    }

    fn folder(name: &str, files: &[(&str, &[u8])]) -> Layer {
        Layer::Folder {
            name: name.into(),
            files: files.iter().map(|(p, c)| file(p, c)).collect(),
        }
    }

    fn request(layers: Vec<Layer>) -> PushRequest {
        PushRequest {
            reference: "127.0.0.1:5000/deid/config:v1".into(),
            layers,
            artifact_type: None,
            annotations: Vec::new(),
        }
    }

    fn manifest_json(prepared: &Prepared) -> Value {
        serde_json::from_slice(&prepared.manifest).unwrap()
    }

    /// Pulls the prepared layers back through the pull-side unpacker.
    fn unpack_all(prepared: &Prepared) -> Vec<(String, Vec<u8>)> {
        let (crate::manifest::Manifest::Image(image), _) =
            crate::manifest::Manifest::parse(&prepared.manifest, None).unwrap()
        else {
            panic!("not an image manifest")
        };
        let mut files = FileSet::new(u64::MAX);
        for layer in &image.layers {
            let blob = prepared
                .blobs
                .iter()
                .find(|b| b.digest == layer.digest)
                .unwrap();
            let mut src = VerifyingReader::new(
                Chunks::of(&blob.bytes, 333),
                "layer".into(),
                &layer.digest,
                layer.size,
            );
            unpack_layer(layer, &mut src, &mut files).unwrap();
            src.finish().unwrap();
        }
        files
            .into_files()
            .into_iter()
            .map(|f| (f.path, f.content))
            .collect()
    }

    #[test]
    fn manifest_has_the_oras_shape() {
        let mut r = request(vec![
            Layer::File(file("config.json", b"{\"a\":1}")),
            folder("templates", &[("b.liquid", b"B"), ("a/x.liquid", b"X")]),
        ]);
        r.annotations = vec![
            ("z.key".into(), "first".into()),
            ("a.key".into(), "1".into()),
            ("z.key".into(), "last".into()),
        ];
        let prepared = prepare(r).unwrap();
        let m = manifest_json(&prepared);

        assert_eq!(m["schemaVersion"], 2);
        assert_eq!(m["mediaType"], OCI_MANIFEST);
        assert_eq!(m["artifactType"], DEFAULT_ARTIFACT_TYPE);
        assert_eq!(
            m["config"],
            json!({"mediaType": OCI_EMPTY, "digest": EMPTY_CONFIG_DIGEST, "size": 2})
        );
        assert_eq!(m["annotations"], json!({"a.key": "1", "z.key": "last"}));

        let file_layer = &m["layers"][0];
        assert_eq!(file_layer["mediaType"], LAYER_TAR);
        assert_eq!(file_layer["digest"], digest_of(b"{\"a\":1}"));
        assert_eq!(file_layer["size"], 7);
        assert_eq!(
            file_layer["annotations"],
            json!({ANNOTATION_TITLE: "config.json"})
        );

        let folder_layer = &m["layers"][1];
        assert_eq!(folder_layer["mediaType"], LAYER_TAR_GZIP);
        let annotations = folder_layer["annotations"].as_object().unwrap();
        let keys: Vec<&str> = annotations.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                ANNOTATION_CONTENT_DIGEST,
                ANNOTATION_UNPACK,
                ANNOTATION_TITLE
            ]
        );
        assert_eq!(annotations[ANNOTATION_UNPACK], "true");
        assert_eq!(annotations[ANNOTATION_TITLE], "templates");

        // The bytes hash to the digest returned, and the blobs are the
        // config and both layers.
        assert_eq!(prepared.descriptor.digest, digest_of(&prepared.manifest));
        assert_eq!(prepared.descriptor.size, prepared.manifest.len() as u64);
        assert_eq!(
            prepared.descriptor.artifact_type.as_deref(),
            Some(DEFAULT_ARTIFACT_TYPE)
        );
        let digests: Vec<&str> = prepared.blobs.iter().map(|b| b.digest.as_str()).collect();
        assert_eq!(
            digests,
            [
                EMPTY_CONFIG_DIGEST,
                file_layer["digest"].as_str().unwrap(),
                folder_layer["digest"].as_str().unwrap()
            ]
        );
        assert_eq!(*prepared.blobs[0].bytes, b"{}");
    }

    #[test]
    fn artifact_type_is_kept_and_empty_annotations_are_left_out() {
        let mut r = request(vec![Layer::File(file("a", b"1"))]);
        r.artifact_type = Some("application/vnd.microsoft.health.deid+json".into());
        let prepared = prepare(r).unwrap();
        let m = manifest_json(&prepared);
        assert_eq!(
            m["artifactType"],
            "application/vnd.microsoft.health.deid+json"
        );
        assert!(m.get("annotations").is_none());
    }

    #[test]
    fn same_request_gives_the_same_digest() {
        let make = |order_reversed: bool| {
            let mut files = vec![("x/1.liquid", &b"1"[..]), ("2.liquid", b"2"), ("x/0", b"0")];
            if order_reversed {
                files.reverse();
            }
            let mut r = request(vec![folder("templates", &files)]);
            r.annotations = vec![("k".into(), "v".into()), ("j".into(), "w".into())];
            if order_reversed {
                r.annotations.reverse();
            }
            prepare(r).unwrap().descriptor.digest
        };
        assert_eq!(make(false), make(false));
        assert_eq!(make(false), make(true));
    }

    #[test]
    fn pushed_layers_pull_back_to_the_same_files() {
        let gz_tar = {
            let mut b = tar::Builder::new(Vec::new());
            let mut h = tar::Header::new_ustar();
            h.set_size(1);
            h.set_cksum();
            b.append_data(&mut h, "inner", &b"i"[..]).unwrap();
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(&b.into_inner().unwrap()).unwrap();
            e.finish().unwrap()
        };
        let r = request(vec![
            folder(
                "templates",
                &[("b.liquid", b"B"), ("sub/c.liquid", b"CC"), ("a", b"")],
            ),
            Layer::File(file("notes/readme.md", b"# hi")),
            Layer::File(file("bundle.tar.gz", &gz_tar)),
        ]);
        let prepared = prepare(r).unwrap();
        assert_eq!(
            unpack_all(&prepared),
            [
                ("templates/a".to_owned(), b"".to_vec()),
                ("templates/b.liquid".to_owned(), b"B".to_vec()),
                ("templates/sub/c.liquid".to_owned(), b"CC".to_vec()),
                ("notes/readme.md".to_owned(), b"# hi".to_vec()),
                ("bundle.tar.gz".to_owned(), gz_tar.clone()),
            ]
        );
        // Only the gzip tar needed the explicit "do not unpack".
        let m = manifest_json(&prepared);
        assert!(m["layers"][1]["annotations"]
            .get(ANNOTATION_UNPACK)
            .is_none());
        assert_eq!(m["layers"][2]["annotations"][ANNOTATION_UNPACK], "false");
    }

    #[test]
    fn identical_layers_are_uploaded_once() {
        let r = request(vec![
            Layer::File(file("a.json", b"{}")),
            Layer::File(file("b.json", b"{}")),
        ]);
        let prepared = prepare(r).unwrap();
        // `{}` is also the empty config's content.
        assert_eq!(prepared.blobs.len(), 1);
        assert_eq!(
            manifest_json(&prepared)["layers"].as_array().unwrap().len(),
            2
        );
    }

    fn refused(layers: Vec<Layer>) -> String {
        match prepare(request(layers)) {
            Err(Error::InvalidContent(m)) => m,
            other => panic!("expected invalid-content, got {other:?}"),
        }
    }

    #[test]
    fn unsafe_or_ambiguous_paths_are_refused() {
        let f = |p: &str| Layer::File(file(p, b"x"));
        assert!(refused(vec![f("/etc/passwd")]).contains("absolute"));
        assert!(refused(vec![f("../up")]).contains(".."));
        assert!(refused(vec![f("a/../../up")]).contains(".."));
        assert!(refused(vec![f("./a")]).contains("write it as \"a\""));
        assert!(refused(vec![f("a//b")]).contains("normal form"));
        assert!(refused(vec![folder("/abs", &[("a", b"1")])]).contains("absolute"));
        assert!(refused(vec![folder("t", &[("../a", b"1")])]).contains(".."));
        assert!(refused(vec![folder("t", &[("a\\b", b"1")])]).contains("backslash"));
        assert!(refused(vec![]).contains("no layers"));
    }

    #[test]
    fn duplicates_and_clashes_are_refused() {
        let f = |p: &str| Layer::File(file(p, b"x"));
        assert!(refused(vec![f("a.json"), f("a.json")]).contains("twice"));
        assert!(refused(vec![folder("t", &[("a", b"1"), ("a", b"2")])]).contains("twice"));
        assert!(refused(vec![
            folder("t", &[("a", b"1")]),
            folder("t", &[("b", b"2")])
        ])
        .contains("titled \"t\""));
        assert!(refused(vec![f("t/a"), folder("t", &[("a", b"2")])]).contains("twice"));
        assert!(refused(vec![f("t"), folder("t", &[("a", b"2")])]).contains("both"));
        assert!(refused(vec![folder("t", &[("a", b"1"), ("a/b", b"2")])]).contains("both"));
        assert!(refused(vec![folder("t", &[("a/b", b"1"), ("a", b"2")])]).contains("both"));
    }

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

    #[test]
    fn oversized_manifest_is_refused_before_upload() {
        let mut r = request(vec![Layer::File(file("a", b"1"))]);
        r.annotations = vec![("big".into(), "x".repeat(MAX_MANIFEST_SIZE as usize))];
        match prepare(r) {
            Err(Error::TooLarge(m)) => assert!(m.contains("4194304"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
