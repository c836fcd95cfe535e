//! The three operations on an OCI image layout rooted at a folder: fetch,
//! resolve and push. Everything is relative to the root, and every path
//! below it is built from fixed names and validated sha256 digests only.

use std::fs;
use std::io::{self, Read};
use std::path::PathBuf;

use artifact_store_core::is_sha256_digest;
use artifact_store_core::layers::{self, File, FileSet};
use artifact_store_core::manifest::{
    Descriptor, Manifest, ManifestDescriptor, MAX_MANIFEST_SIZE, OCI_MANIFEST,
};
use artifact_store_core::pack::{self, Contents};
use artifact_store_core::verify::{ChunkSource, VerifyingReader};
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::index::LayoutIndex;
use crate::reference::LayoutReference;

/// How many indexes may stand between a reference and its image manifest,
/// as for the registry provider.
const MAX_INDEX_DEPTH: usize = 2;

/// The largest `index.json` read: it lists every tag of the layout, so it
/// may outgrow a manifest, but it is read whole.
const MAX_INDEX_SIZE: u64 = 16 << 20;

/// How much of a blob file is read at a time.
const READ_CHUNK: usize = 64 << 10;

/// The content of `oci-layout` this store writes (OCI image spec, "OCI
/// Layout File").
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// A fetched, verified artifact.
#[derive(Debug)]
pub struct Fetched {
    pub manifest: ManifestDescriptor,
    pub manifest_bytes: Vec<u8>,
    pub files: Vec<File>,
}

/// An OCI image layout on disk.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

/// A manifest read from the layout and verified against its digest.
struct Loaded {
    bytes: Vec<u8>,
    digest: String,
    media_type: String,
    manifest: Manifest,
}

impl Layout {
    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    /// Fetches an artifact: its manifest (through an index if need be),
    /// then every layer, verified and unpacked, within `max_size`.
    pub fn fetch(&self, reference: &str, max_size: u64) -> Result<Fetched> {
        let reference = LayoutReference::parse(reference)?;
        self.check_layout()?;
        let mut loaded = self.locate(&reference)?;

        // Indexes resolve to one of their entries, as the registry
        // provider picks them.
        for _ in 0..MAX_INDEX_DEPTH {
            let Manifest::Index(index) = &loaded.manifest else {
                break;
            };
            let entry = index
                .select()
                .map_err(|e| e.context(format!("index {}", loaded.digest)))?;
            let what = format!("manifest {} (from index {})", entry.digest, loaded.digest);
            loaded = self.load_manifest(entry, &what)?;
        }
        let image = match loaded.manifest {
            Manifest::Image(image) => image,
            Manifest::Index(_) => {
                return Err(Error::InvalidManifest(format!(
                    "{reference} nests indexes more than {MAX_INDEX_DEPTH} deep"
                )))
            }
        };

        // Declared sizes first, so nothing is read for an artifact that
        // cannot fit.
        let mut declared: u64 = 0;
        for layer in &image.layers {
            declared = declared.saturating_add(layer.size);
        }
        if declared > max_size {
            return Err(Error::TooLarge(format!(
                "the layers of {reference} declare {declared} bytes, more than max-size \
                 ({max_size} bytes)"
            )));
        }

        // Every layer, hashed while it is read and unpacked as it comes.
        let mut files = FileSet::new(max_size);
        for layer in &image.layers {
            let blob = self.open_blob(&layer.digest, layer.size, "layer")?;
            layers::unpack_verified(layer, blob, &mut files)?;
        }

        let artifact_type = image.artifact_type();
        Ok(Fetched {
            manifest: ManifestDescriptor {
                media_type: loaded.media_type,
                digest: loaded.digest,
                size: loaded.bytes.len() as u64,
                artifact_type,
            },
            manifest_bytes: loaded.bytes,
            files: files.into_files(),
        })
    }

    /// The descriptor of the manifest a reference names; for an index, the
    /// index's own.
    pub fn resolve(&self, reference: &str) -> Result<ManifestDescriptor> {
        let reference = LayoutReference::parse(reference)?;
        self.check_layout()?;
        let loaded = self.locate(&reference)?;
        let artifact_type = match &loaded.manifest {
            Manifest::Image(image) => image.artifact_type(),
            Manifest::Index(index) => index.artifact_type.clone(),
        };
        Ok(ManifestDescriptor {
            media_type: loaded.media_type,
            digest: loaded.digest,
            size: loaded.bytes.len() as u64,
            artifact_type,
        })
    }

    /// Publishes an artifact as the registry provider does (same manifest
    /// bytes, so the same digest), then files it in `index.json` under
    /// `<repository>:<tag>`, replacing what that name held.
    pub fn push(&self, reference: &str, contents: Contents) -> Result<ManifestDescriptor> {
        let reference = LayoutReference::parse_for_push(reference)?;
        let prepared = pack::prepare(contents)?;

        // A missing root is a missing grant; a root without a layout is a
        // new layout.
        if !self.root.is_dir() {
            return Err(self.unreachable("does not exist or is not a folder"));
        }
        match fs::metadata(self.root.join("oci-layout")) {
            Ok(_) => self.check_layout()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                self.write_atomically("oci-layout", OCI_LAYOUT)?;
            }
            Err(e) => return Err(io_error(e, "reading oci-layout")),
        }
        let blobs = self.root.join("blobs").join("sha256");
        fs::create_dir_all(&blobs).map_err(|e| write_error(e, "creating blobs/sha256"))?;

        // Blobs first and the manifest last, so that whatever the index
        // names is complete.
        for blob in &prepared.blobs {
            self.put_blob(&blob.digest, &blob.bytes)?;
        }
        self.put_blob(&prepared.descriptor.digest, &prepared.manifest)?;

        let old = self.read_index_bytes()?;
        let mut index = match &old {
            Some(bytes) => LayoutIndex::parse(bytes)?,
            None => LayoutIndex::empty(),
        };
        let entry = Descriptor {
            media_type: OCI_MANIFEST.to_owned(),
            digest: prepared.descriptor.digest.clone(),
            size: prepared.descriptor.size,
            annotations: Default::default(),
            platform: None,
            artifact_type: prepared.descriptor.artifact_type.clone(),
        };
        index.file(&reference.ref_name(), &entry);
        let new = index.to_bytes();
        if old.as_deref() != Some(new.as_slice()) {
            self.write_atomically("index.json", &new)?;
        }
        Ok(prepared.descriptor)
    }

    /// Fails unless the root holds an OCI image layout of version 1.
    fn check_layout(&self) -> Result<()> {
        if !self.root.is_dir() {
            return Err(self.unreachable("does not exist or is not a folder"));
        }
        let bytes = match fs::read(self.root.join("oci-layout")) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(
                    self.unreachable("is not an OCI image layout: it has no oci-layout file")
                )
            }
            Err(e) => return Err(io_error(e, "reading oci-layout")),
        };
        #[derive(Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct LayoutFile {
            image_layout_version: String,
        }
        match serde_json::from_slice::<LayoutFile>(&bytes) {
            Ok(f) if f.image_layout_version.starts_with("1.") => Ok(()),
            Ok(f) => Err(self.unreachable(&format!(
                "has layout version {:?}; only 1.x is supported",
                f.image_layout_version
            ))),
            Err(e) => Err(self.unreachable(&format!("has an unreadable oci-layout file: {e}"))),
        }
    }

    fn unreachable(&self, why: &str) -> Error {
        Error::StoreNotReachable(format!(
            "the layout folder {} {why}; check the store's path and the folder granted to it",
            self.root.display()
        ))
    }

    /// The manifest a reference names, read and verified.
    fn locate(&self, reference: &LayoutReference) -> Result<Loaded> {
        let index = match self.read_index_bytes()? {
            Some(bytes) => LayoutIndex::parse(&bytes)?,
            None => LayoutIndex::empty(),
        };
        let what = format!("manifest of {reference}");
        if let Some(entry) = index.find(reference)? {
            return self.load_manifest(&entry, &what);
        }

        // A digest the index does not list may still be a manifest blob,
        // such as one entry of an index.
        if let Some(digest) = &reference.digest {
            let path = self.blob_path(digest)?;
            if let Ok(meta) = fs::metadata(&path) {
                let loaded = self.read_manifest(digest, meta.len(), None, &what)?;
                return Ok(loaded);
            }
            return Err(Error::NotFound(format!(
                "{reference} is not in the layout: it holds no manifest {digest}"
            )));
        }
        Err(Error::NotFound(format!(
            "{reference} is not in the layout: index.json names no manifest {:?}",
            reference.ref_name()
        )))
    }

    fn load_manifest(&self, entry: &Descriptor, what: &str) -> Result<Loaded> {
        if entry.size > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge(format!(
                "{what} is declared as {} bytes, larger than the {MAX_MANIFEST_SIZE}-byte \
                 manifest cap",
                entry.size
            )));
        }
        self.read_manifest(&entry.digest, entry.size, Some(&entry.media_type), what)
    }

    /// Reads a manifest blob whole, checks its size and digest, and parses
    /// it; the descriptor's media type stands in when the document has none.
    fn read_manifest(
        &self,
        digest: &str,
        size: u64,
        media_type: Option<&str>,
        what: &str,
    ) -> Result<Loaded> {
        if size > MAX_MANIFEST_SIZE {
            return Err(Error::TooLarge(format!(
                "{what} is {size} bytes, larger than the {MAX_MANIFEST_SIZE}-byte manifest cap"
            )));
        }
        let mut blob = self.open_blob(digest, size, what)?;
        let mut bytes = Vec::with_capacity(size as usize);
        let read = blob.read_to_end(&mut bytes);
        if let Some(failure) = blob.take_failure() {
            return Err(failure.into());
        }
        read.map_err(|e| io_error(e, what))?;
        blob.finish()?;

        let (manifest, media_type) =
            Manifest::parse(&bytes, media_type).map_err(|e| Error::from(e.context(what)))?;
        Ok(Loaded {
            digest: digest.to_owned(),
            bytes,
            media_type,
            manifest,
        })
    }

    /// Opens a blob for reading; the reader checks size and digest.
    fn open_blob(&self, digest: &str, size: u64, what: &str) -> Result<VerifyingReader<BlobFile>> {
        let path = self.blob_path(digest)?;
        let describe = format!("{what} {digest}");
        let file = fs::File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::NotFound(format!(
                "{describe} is missing from the layout (no blobs/sha256/{})",
                &digest[7..]
            )),
            _ => io_error(e, &format!("opening {describe}")),
        })?;
        let source = BlobFile {
            file,
            what: describe.clone(),
        };
        Ok(VerifyingReader::new(source, describe, digest, size))
    }

    /// `blobs/sha256/<hex>`, for a digest that is exactly `sha256:` and 64
    /// lowercase hex digits, so that no digest can name another path.
    fn blob_path(&self, digest: &str) -> Result<PathBuf> {
        if !is_sha256_digest(digest) {
            return Err(Error::InvalidManifest(format!(
                "{digest:?} is not a sha256 digest; only sha256 digests can be verified"
            )));
        }
        Ok(self.root.join("blobs").join("sha256").join(&digest[7..]))
    }

    fn read_index_bytes(&self) -> Result<Option<Vec<u8>>> {
        let path = self.root.join("index.json");
        let file = match fs::File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_error(e, "opening index.json")),
        };
        let mut bytes = Vec::new();
        file.take(MAX_INDEX_SIZE + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| io_error(e, "reading index.json"))?;
        if bytes.len() as u64 > MAX_INDEX_SIZE {
            return Err(Error::TooLarge(format!(
                "index.json is larger than {MAX_INDEX_SIZE} bytes"
            )));
        }
        Ok(Some(bytes))
    }

    /// Writes a blob unless the layout has it, through a temporary file so
    /// that a blob is never seen half written.
    fn put_blob(&self, digest: &str, bytes: &[u8]) -> Result<()> {
        let path = self.blob_path(digest)?;
        if path.is_file() {
            return Ok(());
        }
        let hex = &digest[7..];
        let tmp = self
            .root
            .join("blobs")
            .join("sha256")
            .join(format!(".{hex}.tmp"));
        fs::write(&tmp, bytes).map_err(|e| write_error(e, &format!("writing blob {digest}")))?;
        fs::rename(&tmp, &path).map_err(|e| write_error(e, &format!("storing blob {digest}")))
    }

    /// Replaces a file at the root: `<name>.tmp` first, then a rename.
    fn write_atomically(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let tmp = self.root.join(format!("{name}.tmp"));
        fs::write(&tmp, bytes).map_err(|e| write_error(e, &format!("writing {name}")))?;
        fs::rename(&tmp, self.root.join(name))
            .map_err(|e| write_error(e, &format!("replacing {name}")))
    }
}

/// A blob file, read in chunks.
pub struct BlobFile {
    file: fs::File,
    what: String,
}

impl ChunkSource for BlobFile {
    type Error = Error;

    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>> {
        let mut chunk = vec![0; READ_CHUNK];
        loop {
            match self.file.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => {
                    chunk.truncate(n);
                    return Ok(Some(chunk));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e, &format!("reading {}", self.what))),
            }
        }
    }
}

/// A failed read.
fn io_error(e: io::Error, doing: &str) -> Error {
    match e.kind() {
        io::ErrorKind::PermissionDenied => {
            Error::Forbidden(format!("{doing} was refused by the file system: {e}"))
        }
        _ => Error::Other(format!("{doing} failed: {e}")),
    }
}

/// A failed write. A read-only grant shows as "not permitted", "read-only"
/// or "access denied", depending on the file system and the WASI host.
fn write_error(e: io::Error, doing: &str) -> Error {
    match e.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => Error::Forbidden(
            format!("{doing} was refused: the store was not granted writes ({e})"),
        ),
        _ => Error::Other(format!("{doing} failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use artifact_store_core::digest_of;
    use artifact_store_core::pack::Layer;

    use super::*;
    use crate::index::ANNOTATION_REF_NAME;

    fn file(path: &str, content: &[u8]) -> File {
        File {
            path: path.into(),
            content: content.to_vec(),
        }
    }

    fn contents(layers: Vec<Layer>) -> Contents {
        Contents {
            layers,
            artifact_type: None,
            annotations: Vec::new(),
        }
    }

    fn sample() -> Contents {
        contents(vec![
            Layer::File(file("config.json", b"{\"fhirVersion\":\"R4\"}")),
            Layer::Folder {
                name: "templates".into(),
                files: vec![file("a.liquid", b"A"), file("sub/b.liquid", b"BB")],
            },
        ])
    }

    fn paths(fetched: &Fetched) -> Vec<(&str, &[u8])> {
        fetched
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.content.as_slice()))
            .collect()
    }

    fn blob(root: &Path, digest: &str) -> PathBuf {
        root.join("blobs/sha256").join(&digest[7..])
    }

    #[test]
    fn push_then_fetch_round_trips_a_file_and_a_folder() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let pushed = layout.push("default/deid:v1", sample()).unwrap();
        assert_eq!(pushed.media_type, OCI_MANIFEST);

        assert_eq!(fs::read(dir.path().join("oci-layout")).unwrap(), OCI_LAYOUT);
        let fetched = layout.fetch("default/deid:v1", 1000).unwrap();
        assert_eq!(fetched.manifest, pushed);
        assert_eq!(digest_of(&fetched.manifest_bytes), pushed.digest);
        assert_eq!(
            paths(&fetched),
            [
                ("config.json", &b"{\"fhirVersion\":\"R4\"}"[..]),
                ("templates/a.liquid", b"A"),
                ("templates/sub/b.liquid", b"BB"),
            ]
        );
        assert_eq!(layout.resolve("other-name/deid:v1").unwrap(), pushed);
        assert!(!dir.path().join("index.json.tmp").exists());

        // The registry provider writes the same manifest for the same input.
        let prepared = pack::prepare(sample()).unwrap();
        assert_eq!(prepared.descriptor, pushed);
    }

    #[test]
    fn same_push_twice_gives_the_same_digest_and_index() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let first = layout.push("default/deid", sample()).unwrap();
        let index = fs::read(dir.path().join("index.json")).unwrap();
        let second = layout.push("default/deid", sample()).unwrap();
        assert_eq!(first, second);
        assert_eq!(fs::read(dir.path().join("index.json")).unwrap(), index);
        let text = String::from_utf8(index).unwrap();
        assert!(
            text.contains(r#""org.opencontainers.image.ref.name":"deid:latest""#),
            "{text}"
        );
    }

    #[test]
    fn repositories_and_tags_live_side_by_side() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let one = |c: &[u8]| contents(vec![Layer::File(file("f", c))]);
        let a1 = layout.push("s/a:v1", one(b"a1")).unwrap();
        let a2 = layout.push("s/a:v2", one(b"a2")).unwrap();
        let b1 = layout.push("s/nested/b:v1", one(b"b1")).unwrap();
        assert_ne!(a1.digest, a2.digest);
        for (reference, want, digest) in [
            ("s/a:v1", b"a1", &a1.digest),
            ("s/a:v2", b"a2", &a2.digest),
            ("s/nested/b:v1", b"b1", &b1.digest),
        ] {
            let fetched = layout.fetch(reference, 100).unwrap();
            assert_eq!(paths(&fetched), [("f", &want[..])], "{reference}");
            assert_eq!(&fetched.manifest.digest, digest);
        }

        // Re-tagging moves the name and keeps the others.
        layout.push("s/a:v1", one(b"a1 again")).unwrap();
        assert_eq!(
            paths(&layout.fetch("s/a:v1", 100).unwrap()),
            [("f", &b"a1 again"[..])]
        );
        assert_eq!(layout.resolve("s/a:v2").unwrap(), a2);
        let index = LayoutIndex::parse(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        assert_eq!(index.entries().unwrap().len(), 3);
    }

    #[test]
    fn digest_references() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let pushed = layout.push("s/a:v1", sample()).unwrap();
        let by_digest = format!("s/a@{}", pushed.digest);
        assert_eq!(layout.fetch(&by_digest, 1000).unwrap().manifest, pushed);
        // The digest wins over a tag the layout does not have.
        let both = format!("s/a:nope@{}", pushed.digest);
        assert_eq!(layout.resolve(&both).unwrap(), pushed);

        let unknown = format!("s/a@sha256:{}", "0".repeat(64));
        assert!(matches!(layout.resolve(&unknown), Err(Error::NotFound(m)) if m.contains("0000")));
        assert!(matches!(
            layout.push(&by_digest, sample()),
            Err(Error::InvalidReference(_))
        ));
    }

    #[test]
    fn tampered_blobs_are_digest_mismatches() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let pushed = layout.push("s/a:v1", sample()).unwrap();
        let manifest = fs::read(blob(dir.path(), &pushed.digest)).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
        let layer = value["layers"][0]["digest"].as_str().unwrap().to_owned();

        // Same length, other bytes.
        fs::write(blob(dir.path(), &layer), b"{\"fhirVersion\":\"R5\"}").unwrap();
        match layout.fetch("s/a:v1", 1000) {
            Err(Error::DigestMismatch(m)) => assert!(m.contains(&layer), "{m}"),
            other => panic!("{other:?}"),
        }

        // A manifest that no longer hashes to its name.
        let mut bad = manifest.clone();
        bad.push(b' ');
        fs::write(blob(dir.path(), &pushed.digest), &bad).unwrap();
        assert!(matches!(
            layout.resolve("s/a:v1"),
            Err(Error::DigestMismatch(_))
        ));

        // A layer that is gone.
        fs::write(blob(dir.path(), &pushed.digest), &manifest).unwrap();
        fs::remove_file(blob(dir.path(), &layer)).unwrap();
        assert!(
            matches!(layout.fetch("s/a:v1", 1000), Err(Error::NotFound(m)) if m.contains(&layer))
        );
    }

    #[test]
    fn missing_tags_layouts_and_limits() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        match layout.fetch("s/a:v1", 1000) {
            Err(Error::StoreNotReachable(m)) => assert!(m.contains("oci-layout"), "{m}"),
            other => panic!("{other:?}"),
        }
        let gone = Layout::new(dir.path().join("missing"));
        assert!(matches!(
            gone.resolve("s/a"),
            Err(Error::StoreNotReachable(_))
        ));
        assert!(matches!(
            gone.push("s/a", sample()),
            Err(Error::StoreNotReachable(_))
        ));

        layout.push("s/a:v1", sample()).unwrap();
        match layout.fetch("s/a:v2", 1000) {
            Err(Error::NotFound(m)) => assert!(m.contains("s/a:v2") && m.contains("a:v2"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(layout.fetch("s/b", 1000), Err(Error::NotFound(_))));
        assert!(matches!(
            layout.fetch("s/a:v1", 10),
            Err(Error::TooLarge(_))
        ));
        assert!(matches!(
            layout.fetch("s/A", 10),
            Err(Error::InvalidReference(_))
        ));
    }

    #[test]
    fn bare_tag_entries_of_other_tools_answer_for_unknown_repositories() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let pushed = layout.push("s/a:v1", sample()).unwrap();

        // Rename the entry as `oras push --oci-layout dir:v1` names it.
        let path = dir.path().join("index.json");
        let text = fs::read_to_string(&path).unwrap();
        let name = format!(r#""{ANNOTATION_REF_NAME}":"a:v1""#);
        assert!(text.contains(&name), "{text}");
        fs::write(
            &path,
            text.replace(&name, &format!(r#""{ANNOTATION_REF_NAME}":"v1""#)),
        )
        .unwrap();

        assert_eq!(layout.resolve("s/anything:v1").unwrap(), pushed);
        assert!(matches!(
            layout.resolve("s/anything:v2"),
            Err(Error::NotFound(_))
        ));

        // Once the repository has a qualified entry, bare tags are not its.
        layout.push("s/a:v2", sample()).unwrap();
        assert!(matches!(layout.resolve("s/a:v1"), Err(Error::NotFound(_))));
        assert_eq!(layout.resolve("s/b:v1").unwrap(), pushed);
    }

    #[test]
    fn an_index_entry_resolves_to_its_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let layout = Layout::new(dir.path());
        let pushed = layout.push("s/a:v1", sample()).unwrap();

        // Wrap the manifest in an image index and file the index as `s/i`.
        let index = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{}","size":{}}}]}}"#,
            pushed.digest, pushed.size
        );
        let digest = digest_of(index.as_bytes());
        fs::write(blob(dir.path(), &digest), &index).unwrap();
        let mut file =
            LayoutIndex::parse(&fs::read(dir.path().join("index.json")).unwrap()).unwrap();
        let entry = Descriptor {
            media_type: "application/vnd.oci.image.index.v1+json".into(),
            digest: digest.clone(),
            size: index.len() as u64,
            annotations: Default::default(),
            platform: None,
            artifact_type: None,
        };
        file.file("i:latest", &entry);
        fs::write(dir.path().join("index.json"), file.to_bytes()).unwrap();

        let fetched = layout.fetch("s/i", 1000).unwrap();
        assert_eq!(fetched.manifest, pushed);
        assert_eq!(fetched.files.len(), 3);
        assert_eq!(layout.resolve("s/i").unwrap().digest, digest);
    }
}
