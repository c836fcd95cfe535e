//! Preparing an artifact for publishing as the ORAS CLI does: each layer
//! checked and packed, and the manifest written, all in memory, so that bad
//! input fails before a store is touched and the same input always gives
//! the same bytes. A store then only has to write the blobs and the
//! manifest ([`prepare`]).
//!
//! A folder becomes one reproducible tar+gzip layer. The archive:
//!
//! - holds `<name>/` and every folder above each file (`<name>/sub/`), then
//!   the files as `<name>/<path>`; folders are listed explicitly, as the
//!   ORAS Go CLI lists them, so that tools that unpack them see the modes;
//! - orders entries by path, component by component (bytewise within a
//!   component), which is the order of a depth-first walk with sorted names,
//!   the order the ORAS Go CLI writes;
//! - writes POSIX ustar headers: folders 0755, files 0644, time 0, owner and
//!   group 0 with empty names. A path that does not fit ustar's name and
//!   prefix fields, or is not ASCII, gets a PAX extended header (`path`)
//!   first, as Go's `archive/tar` does;
//! - compresses at the fixed level [`GZIP_LEVEL`] with a gzip header that
//!   carries no time, no file name and OS "unknown".
//!
//! The digest is stable for a given build of the provider; another deflate
//! implementation may compress the same tar to other bytes, which is why the
//! layer also records the digest of the uncompressed tar.

use std::collections::{BTreeMap, HashSet};
use std::io::{self, Write};
use std::rc::Rc;

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::content::ContentError;
use crate::layers::{self, File};
use crate::manifest::{
    Descriptor, ManifestDescriptor, NewImageManifest, ANNOTATION_CONTENT_DIGEST, ANNOTATION_TITLE,
    ANNOTATION_UNPACK, DEFAULT_ARTIFACT_TYPE, EMPTY_CONFIG, EMPTY_CONFIG_DIGEST, LAYER_TAR,
    LAYER_TAR_GZIP, MAX_MANIFEST_SIZE, OCI_MANIFEST,
};
use crate::path::normalize_entry_path;
use crate::verify::{digest_of, sha256_digest};

type Result<T, E = ContentError> = std::result::Result<T, E>;

/// zlib's default level: the ORAS Go CLI's choice too, and a fair trade for
/// text such as templates and JSON configurations.
const GZIP_LEVEL: u32 = 6;

/// OS byte of the gzip header: "unknown", as Go's `compress/gzip` writes.
const GZIP_OS_UNKNOWN: u8 = 255;

const DIR_MODE: u32 = 0o755;
const FILE_MODE: u32 = 0o644;

/// Sizes of the ustar `name` and `prefix` fields.
const USTAR_NAME_LEN: usize = 100;
const USTAR_PREFIX_LEN: usize = 155;

/// One layer to publish.
#[derive(Debug, Clone)]
pub enum Layer {
    /// A file, published as it is and titled with its path.
    File(File),
    /// A folder, packed as tar+gzip and titled with its name.
    Folder { name: String, files: Vec<File> },
}

/// What to publish: the layers and the manifest's own fields.
#[derive(Debug, Clone)]
pub struct Contents {
    pub layers: Vec<Layer>,
    /// `None` (or empty) means [`DEFAULT_ARTIFACT_TYPE`].
    pub artifact_type: Option<String>,
    /// In order; a key given twice keeps its last value.
    pub annotations: Vec<(String, String)>,
}

/// A blob to write: its bytes and their digest. The bytes are shared so a
/// store can hand them to an upload without copying.
#[derive(Debug, Clone)]
pub struct Blob {
    pub digest: String,
    pub bytes: Rc<Vec<u8>>,
}

/// An artifact ready to write: its blobs and its manifest.
#[derive(Debug)]
pub struct Prepared {
    /// The config first, then the layers; a blob that two layers share is
    /// listed once.
    pub blobs: Vec<Blob>,
    pub manifest: Rc<Vec<u8>>,
    pub descriptor: ManifestDescriptor,
}

/// Checks the contents, packs the layers and writes the manifest.
pub fn prepare(request: Contents) -> Result<Prepared> {
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
        return Err(ContentError::TooLarge(format!(
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
        return Err(ContentError::InvalidContent(
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
            return Err(ContentError::InvalidContent(format!(
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
        Ok(normal) => Err(ContentError::InvalidContent(format!(
            "{what} {path:?} is not in normal form; write it as {normal:?}"
        ))),
        Err(e) => Err(ContentError::InvalidContent(format!(
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
            return Err(ContentError::InvalidContent(format!(
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

fn clash(path: &str) -> ContentError {
    ContentError::InvalidContent(format!(
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
    // Writing to memory cannot fail, but the tar writer's API says it may.
    let packed = pack_folder(&name, files).map_err(|e| {
        ContentError::InvalidContent(format!("packing folder {name:?} failed: {e}"))
    })?;
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

/// A packed folder.
#[derive(Debug)]
pub struct Packed {
    /// The tar+gzip bytes: the layer blob.
    pub bytes: Vec<u8>,
    /// The digest of `bytes`.
    pub digest: String,
    /// The digest of the uncompressed tar, for
    /// `io.deis.oras.content.digest`.
    pub tar_digest: String,
}

/// Packs `files` (paths relative to the folder, already checked to be
/// normal and distinct) as the folder `name`.
pub fn pack_folder(name: &str, files: &[File]) -> io::Result<Packed> {
    // Every entry with its path split into components, folders marked.
    let mut entries: Vec<(Vec<&str>, Option<&File>)> = Vec::new();
    let mut folders: Vec<Vec<&str>> = Vec::new();
    let root: Vec<&str> = name.split('/').collect();
    for i in 1..=root.len() {
        folders.push(root[..i].to_vec());
    }
    for file in files {
        let mut path = root.clone();
        path.extend(file.path.split('/'));
        for i in root.len() + 1..path.len() {
            folders.push(path[..i].to_vec());
        }
        entries.push((path, Some(file)));
    }
    folders.sort();
    folders.dedup();
    entries.extend(folders.into_iter().map(|f| (f, None)));
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let gzip = GzBuilder::new()
        .mtime(0)
        .operating_system(GZIP_OS_UNKNOWN)
        .write(Vec::new(), Compression::new(GZIP_LEVEL));
    let mut tar = tar::Builder::new(HashingWriter {
        inner: gzip,
        hasher: Sha256::new(),
    });
    for (components, file) in &entries {
        let path = components.join("/");
        match file {
            Some(file) => append(&mut tar, &path, EntryType::Regular, &file.content)?,
            None => append(&mut tar, &format!("{path}/"), EntryType::Directory, &[])?,
        }
    }
    // The two zero blocks that end the archive are part of the tar digest.
    let hashing = tar.into_inner()?;
    let tar_digest = sha256_digest(hashing.hasher);
    let bytes = hashing.inner.finish()?;
    Ok(Packed {
        digest: digest_of(&bytes),
        bytes,
        tar_digest,
    })
}

fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    kind: EntryType,
    data: &[u8],
) -> io::Result<()> {
    let mut header = fixed_header(kind, data.len() as u64);
    if !set_ustar_path(&mut header, path) {
        let records = pax_path_record(path);
        let mut pax = fixed_header(EntryType::XHeader, records.len() as u64);
        set_name_field(&mut pax, "././@PaxHeader");
        pax.set_cksum();
        tar.append(&pax, records.as_slice())?;
        // Readers without PAX support still see a recognisable name.
        set_name_field(&mut header, truncate(path, USTAR_NAME_LEN));
    }
    header.set_cksum();
    tar.append(&header, data)
}

/// A ustar header with everything but the path fixed.
fn fixed_header(kind: EntryType, size: u64) -> Header {
    let mut header = Header::new_ustar();
    header.set_entry_type(kind);
    header.set_mode(if kind == EntryType::Directory {
        DIR_MODE
    } else {
        FILE_MODE
    });
    header.set_uid(0);
    header.set_gid(0);
    header.set_mtime(0);
    header.set_size(size);
    header
}

/// Stores an ASCII path in the ustar `name` field, or split at a `/` over
/// `prefix` and `name`. False when it does not fit.
fn set_ustar_path(header: &mut Header, path: &str) -> bool {
    if !path.is_ascii() {
        return false;
    }
    if path.len() <= USTAR_NAME_LEN {
        set_name_field(header, path);
        return true;
    }
    // The longest prefix that fits, as Go's `archive/tar` splits; a trailing
    // `/` (a folder) stays with the name.
    let searchable = &path[..(path.len() - 1).min(USTAR_PREFIX_LEN + 1)];
    let Some(split) = searchable.rfind('/') else {
        return false;
    };
    let (prefix, name) = (&path[..split], &path[split + 1..]);
    if split == 0 || name.is_empty() || name.len() > USTAR_NAME_LEN {
        return false;
    }
    set_name_field(header, name);
    let ustar = header.as_ustar_mut().expect("the header is ustar");
    ustar.prefix[..prefix.len()].copy_from_slice(prefix.as_bytes());
    true
}

fn set_name_field(header: &mut Header, name: &str) {
    let field = &mut header.as_old_mut().name;
    field.fill(0);
    field[..name.len()].copy_from_slice(name.as_bytes());
}

/// The longest start of `s` of at most `max` bytes that ends on a character.
fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// A PAX record `<length> path=<path>\n`, whose length counts itself.
fn pax_path_record(path: &str) -> Vec<u8> {
    let rest = " path=".len() + path.len() + 1;
    let mut length = rest + 1;
    while length != rest + length.to_string().len() {
        length = rest + length.to_string().len();
    }
    format!("{length} path={path}\n").into_bytes()
}

/// Hashes what passes through on its way to `inner`.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};

    use flate2::read::GzDecoder;

    use serde_json::{json, Value};

    use super::*;
    use crate::layers::{unpack_layer, FileSet};
    use crate::manifest::{Manifest, OCI_EMPTY};
    use crate::verify::{Chunks, VerifyingReader};

    fn file(path: &str, content: &[u8]) -> File {
        File {
            path: path.into(),
            content: content.to_vec(),
        }
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    /// Every entry's path, type, mode, owner, time and names, in order.
    fn listing(tar_bytes: &[u8]) -> Vec<String> {
        let mut archive = tar::Archive::new(tar_bytes);
        archive
            .entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                format!(
                    "{} {:?} {:o} {}:{} {} {:?}:{:?}",
                    String::from_utf8(e.path_bytes().into_owned()).unwrap(),
                    h.entry_type(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                    h.username().unwrap().unwrap_or_default(),
                    h.groupname().unwrap().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn sample() -> Vec<File> {
        vec![
            file("b.liquid", b"B"),
            file("sub/deeper/c.json", b"{}"),
            file("a-z.txt", b"dash"),
            file("a/x.txt", b"x"),
        ]
    }

    #[test]
    fn same_files_in_any_order_give_the_same_bytes() {
        let first = pack_folder("templates", &sample()).unwrap();
        let again = pack_folder("templates", &sample()).unwrap();
        let mut reversed = sample();
        reversed.reverse();
        let reordered = pack_folder("templates", &reversed).unwrap();
        assert_eq!(first.bytes, again.bytes);
        assert_eq!(first.bytes, reordered.bytes);
        assert_eq!(first.digest, digest_of(&first.bytes));
        assert_eq!(first.tar_digest, digest_of(&gunzip(&first.bytes)));

        let other = pack_folder("templates", &[file("b.liquid", b"b")]).unwrap();
        assert_ne!(first.digest, other.digest);
    }

    #[test]
    fn entries_are_sorted_with_folders_and_fixed_metadata() {
        let packed = pack_folder("templates", &sample()).unwrap();
        let listing = listing(&gunzip(&packed.bytes));
        assert_eq!(
            listing,
            [
                r#"templates/ Directory 755 0:0 0 "":"""#,
                r#"templates/a/ Directory 755 0:0 0 "":"""#,
                r#"templates/a/x.txt Regular 644 0:0 0 "":"""#,
                r#"templates/a-z.txt Regular 644 0:0 0 "":"""#,
                r#"templates/b.liquid Regular 644 0:0 0 "":"""#,
                r#"templates/sub/ Directory 755 0:0 0 "":"""#,
                r#"templates/sub/deeper/ Directory 755 0:0 0 "":"""#,
                r#"templates/sub/deeper/c.json Regular 644 0:0 0 "":"""#,
            ]
        );
    }

    #[test]
    fn nested_folder_name_lists_its_parents() {
        let packed = pack_folder("a/b", &[file("f", b"1")]).unwrap();
        let paths: Vec<String> = listing(&gunzip(&packed.bytes))
            .into_iter()
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect();
        assert_eq!(paths, ["a/", "a/b/", "a/b/f"]);
    }

    #[test]
    fn gzip_header_has_no_time_or_name() {
        let packed = pack_folder("t", &[file("f", b"1")]).unwrap();
        let header = &packed.bytes[..10];
        assert_eq!(&header[..3], &[0x1f, 0x8b, 8]);
        assert_eq!(header[3], 0, "no FNAME, FCOMMENT or FEXTRA flag");
        assert_eq!(&header[4..8], &[0, 0, 0, 0], "MTIME is zero");
        assert_eq!(header[9], GZIP_OS_UNKNOWN);
    }

    #[test]
    fn long_and_unicode_paths_round_trip() {
        let long_dir = "d".repeat(90);
        let long_name = "n".repeat(130);
        let files = [
            file(
                &format!("{long_dir}/short.txt"),
                b"split into prefix and name",
            ),
            file(&long_name, b"needs pax"),
            file("ünïcode.json", b"pax too"),
        ];
        let packed = pack_folder("t", &files).unwrap();
        let tar_bytes = gunzip(&packed.bytes);
        let paths: Vec<String> = listing(&tar_bytes)
            .into_iter()
            .map(|l| l.split(' ').next().unwrap().to_owned())
            .collect();
        assert_eq!(
            paths,
            [
                "t/".to_owned(),
                format!("t/{long_dir}/"),
                format!("t/{long_dir}/short.txt"),
                format!("t/{long_name}"),
                "t/ünïcode.json".to_owned(),
            ]
        );
        // `t/<90 d>/short.txt` (102 bytes) splits over prefix and name; the
        // 132-byte name and the non-ASCII one need extended headers.
        let pax_headers = tar_bytes
            .chunks(512)
            .filter(|b| b.len() == 512 && b[156] == b'x' && b.starts_with(b"././@PaxHeader"))
            .count();
        assert_eq!(pax_headers, 2);
    }

    #[test]
    fn pax_record_length_counts_itself() {
        for path in ["a", "abcdefgh", &"x".repeat(91), &"x".repeat(1000)] {
            let record = pax_path_record(path);
            let text = std::str::from_utf8(&record).unwrap();
            let (length, _) = text.split_once(' ').unwrap();
            assert_eq!(length.parse::<usize>().unwrap(), record.len(), "{text}");
        }
    }

    fn folder(name: &str, files: &[(&str, &[u8])]) -> Layer {
        Layer::Folder {
            name: name.into(),
            files: files.iter().map(|(p, c)| file(p, c)).collect(),
        }
    }

    fn request(layers: Vec<Layer>) -> Contents {
        Contents {
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
        let (Manifest::Image(image), _) = Manifest::parse(&prepared.manifest, None).unwrap() else {
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
            Err(ContentError::InvalidContent(m)) => m,
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
    fn oversized_manifest_is_refused_before_upload() {
        let mut r = request(vec![Layer::File(file("a", b"1"))]);
        r.annotations = vec![("big".into(), "x".repeat(MAX_MANIFEST_SIZE as usize))];
        match prepare(r) {
            Err(ContentError::TooLarge(m)) => assert!(m.contains("4194304"), "{m}"),
            other => panic!("{other:?}"),
        }
    }
}
