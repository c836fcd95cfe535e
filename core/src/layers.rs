//! Turning layers into files.
//!
//! A layer is either one file (ORAS pushes a file as a layer titled with its
//! name) or a tar archive (ORAS folders, FHIR-Converter template layers,
//! image layers), plain or gzip-compressed. Which one is decided from the
//! annotations and from the first bytes, never from the media type alone:
//!
//! - `io.deis.oras.content.unpack` set to `true`, or no title: an archive.
//! - a title and `unpack` set to anything else: one file.
//! - a title and no `unpack`: an archive if the bytes are gzip and what they
//!   inflate to starts with a tar header (how the ORAS Python client pushes
//!   folders, and how template layers are pushed), else one file of that
//!   name (a `.gz` file pushed as a file stays one file).
//!
//! Archive entries keep their paths. Both ORAS clients store a folder
//! `templates` as entries `templates/...`, so the files come out under
//! `templates/` as `oras pull` writes them; template layers, whose entries
//! sit at the archive root, land at the root.
//!
//! Layers merge as the OCI image spec's "Applying Changesets" describes: a
//! later layer's file replaces an earlier one at the same path, and
//! whiteouts delete what the layers below contributed:
//!
//! - `<dir>/.wh.<name>` deletes `<dir>/<name>`, a file or a whole folder;
//! - `<dir>/.wh..wh..opq` (opaque) deletes everything under `<dir>/`;
//! - neither touches what the whiteout's own layer holds, before or after
//!   it in the archive, and a higher layer may add the path again;
//! - other `.wh..wh.*` names are AUFS bookkeeping and are skipped;
//! - whiteout entries themselves are never returned.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read};

use sha2::{Digest, Sha256};
use tar::EntryType;

use crate::content::ContentError;
use crate::manifest::{Descriptor, ANNOTATION_CONTENT_DIGEST, ANNOTATION_TITLE, ANNOTATION_UNPACK};
use crate::path::{normalize_entry_path, PathError, PathErrorKind};
use crate::reference::is_sha256_digest;
use crate::verify::{sha256_digest, ChunkSource, VerifyError, VerifyingReader};

type Result<T, E = ContentError> = std::result::Result<T, E>;

/// Room for tar headers, padding and end blocks on top of the file bytes a
/// layer may inflate to: about 1 KiB per file, so 2,000 files take 3 MiB.
const TAR_OVERHEAD: u64 = 32 << 20;

/// Buffer between the decompressor and the tar reader, which otherwise
/// reads 512-byte headers one call at a time.
const TAR_BUFFER: usize = 64 << 10;

/// How many leading bytes are inspected to tell a gzip tar from a gzip file.
const SNIFF_LEN: usize = 4096;

/// One file of the artifact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct File {
    pub path: String,
    pub content: Vec<u8>,
}

/// A whiteout's name starts with this (OCI image spec, "Whiteouts").
const WHITEOUT_PREFIX: &str = ".wh.";
/// The opaque whiteout: everything below its folder goes.
const OPAQUE_WHITEOUT: &str = ".wh..wh..opq";
/// AUFS keeps its own bookkeeping under names that start with this.
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// The files gathered so far, in the order the layers gave them, each path
/// once, with their total size held under the artifact's limit.
#[derive(Debug)]
pub struct FileSet {
    /// In order of first appearance; a deleted file leaves `None`, so that
    /// the indexes in `by_path` stay valid.
    files: Vec<Option<Layered>>,
    by_path: HashMap<String, usize>,
    /// Folders, each with the last layer that held or implied it.
    dirs: HashMap<String, usize>,
    total: u64,
    max: u64,
    /// The layer being unpacked, counting from 1.
    layer: usize,
}

/// A file and the layer it came from, which whiteouts need.
#[derive(Debug)]
struct Layered {
    file: File,
    layer: usize,
}

impl FileSet {
    pub fn new(max_size: u64) -> FileSet {
        FileSet {
            files: Vec::new(),
            by_path: HashMap::new(),
            dirs: HashMap::new(),
            total: 0,
            max: max_size,
            layer: 0,
        }
    }

    pub fn into_files(self) -> Vec<File> {
        self.files.into_iter().flatten().map(|l| l.file).collect()
    }

    /// Starts the next layer: whiteouts from now on delete only what was
    /// added before this call.
    fn begin_layer(&mut self) {
        self.layer += 1;
    }

    fn size_at(&self, path: &str) -> u64 {
        self.by_path
            .get(path)
            .and_then(|&i| self.files[i].as_ref())
            .map_or(0, |l| l.file.content.len() as u64)
    }

    /// Fails if a file of `size` bytes at `path` would take the total past
    /// the limit. A file replacing one at the same path frees its bytes.
    fn check_room(&self, path: &str, size: u64) -> Result<()> {
        let total = (self.total - self.size_at(path)).saturating_add(size);
        if total > self.max {
            return Err(ContentError::TooLarge(format!(
                "the artifact unpacks to more than max-size ({} bytes): {path:?} brings it \
                 to {total} bytes",
                self.max
            )));
        }
        Ok(())
    }

    /// Adds or replaces a file; a later layer wins over an earlier one.
    fn insert(&mut self, path: String, content: Vec<u8>) -> Result<()> {
        self.check_room(&path, content.len() as u64)?;
        if self.dirs.contains_key(&path) {
            return Err(both_file_and_folder(&path));
        }
        if let Some(parent) = ancestors(&path).find(|a| self.by_path.contains_key(*a)) {
            return Err(both_file_and_folder(parent));
        }
        for dir in ancestors(&path) {
            self.dirs.insert(dir.to_owned(), self.layer);
        }

        self.total = self.total - self.size_at(&path) + content.len() as u64;
        let layered = Layered {
            file: File {
                path: path.clone(),
                content,
            },
            layer: self.layer,
        };
        match self.by_path.get(&path) {
            Some(&i) => self.files[i] = Some(layered),
            None => {
                self.by_path.insert(path, self.files.len());
                self.files.push(Some(layered));
            }
        }
        Ok(())
    }

    /// Records a folder, which only matters for telling it from a file.
    fn insert_dir(&mut self, path: &str) -> Result<()> {
        if self.by_path.contains_key(path) {
            return Err(both_file_and_folder(path));
        }
        self.dirs.insert(path.to_owned(), self.layer);
        for dir in ancestors(path) {
            if self.by_path.contains_key(dir) {
                return Err(both_file_and_folder(dir));
            }
            self.dirs.insert(dir.to_owned(), self.layer);
        }
        Ok(())
    }

    /// Deletes the file or folder at `path` that lower layers contributed.
    fn white_out(&mut self, path: &str) {
        self.delete_lower(|p| p == path || is_below(p, path));
    }

    /// Deletes everything lower layers put below the folder `dir` (the root
    /// when empty), but not the folder itself.
    fn white_out_below(&mut self, dir: &str) {
        self.delete_lower(|p| dir.is_empty() || is_below(p, dir));
    }

    fn delete_lower(&mut self, doomed: impl Fn(&str) -> bool) {
        let layer = self.layer;
        let files = &mut self.files;
        let mut freed = 0;
        self.by_path.retain(|path, &mut i| {
            let lower = files[i].as_ref().is_some_and(|l| l.layer < layer);
            if lower && doomed(path) {
                freed += files[i].take().map_or(0, |l| l.file.content.len() as u64);
                return false;
            }
            true
        });
        self.total -= freed;
        self.dirs
            .retain(|path, &mut dir_layer| dir_layer >= layer || !doomed(path));
    }
}

/// Whether `path` lies inside the folder `dir`.
fn is_below(path: &str, dir: &str) -> bool {
    path.len() > dir.len() && path.starts_with(dir) && path.as_bytes()[dir.len()] == b'/'
}

/// `a/b/c` gives `a/b` and `a`.
fn ancestors(path: &str) -> impl Iterator<Item = &str> {
    path.match_indices('/').map(move |(i, _)| &path[..i])
}

fn both_file_and_folder(path: &str) -> ContentError {
    ContentError::InvalidContent(format!(
        "{path:?} is both a file and a folder in this artifact"
    ))
}

/// How a layer's bytes are compressed, from their magic numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    None,
    Gzip,
    Unsupported(&'static str),
}

fn sniff(head: &[u8]) -> Compression {
    match head {
        [0x1f, 0x8b, ..] => Compression::Gzip,
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Compression::Unsupported("zstd"),
        [0xfd, b'7', b'z', b'X', b'Z', 0x00, ..] => Compression::Unsupported("xz"),
        [b'B', b'Z', b'h', ..] => Compression::Unsupported("bzip2"),
        _ => Compression::None,
    }
}

/// Whether bytes would read as a packed folder under the rule for a titled
/// layer without an unpack annotation: gzip that inflates to a tar header.
pub fn looks_like_gzip_tar(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(SNIFF_LEN)];
    sniff(head) == Compression::Gzip && gzip_holds_tar(head)
}

/// Reads one layer into `files` with [`unpack_layer`], then checks the
/// blob's digest and size. When the archive cannot be read the digest is
/// checked first: corrupt bytes explain an unreadable archive better than
/// the archive reader does.
pub fn unpack_verified<S: ChunkSource>(
    layer: &Descriptor,
    mut blob: VerifyingReader<S>,
    files: &mut FileSet,
) -> Result<(), VerifyError<S>> {
    match unpack_layer(layer, &mut blob, files) {
        Ok(()) => blob.finish(),
        Err(unreadable @ ContentError::InvalidContent(_)) => {
            blob.finish()?;
            Err(unreadable)
        }
        Err(other) => Err(other),
    }
}

/// Reads one verified-while-streaming layer into `files`, as the layer
/// above those read into it before.
///
/// The caller still has to call [`VerifyingReader::finish`]: a layer is
/// only good once its digest checks out.
pub fn unpack_layer<S: ChunkSource>(
    layer: &Descriptor,
    src: &mut VerifyingReader<S>,
    files: &mut FileSet,
) -> Result<(), VerifyError<S>> {
    files.begin_layer();
    let head = src.peek(SNIFF_LEN)?;
    let compression = sniff(head);
    let title = layer.annotation(ANNOTATION_TITLE).filter(|t| !t.is_empty());
    let unpack = layer.annotation(ANNOTATION_UNPACK);

    let archive = match (title, unpack) {
        (_, Some("true")) | (None, _) => true,
        (Some(_), Some(_)) => false,
        (Some(_), None) => compression == Compression::Gzip && gzip_holds_tar(head),
    };
    let result = match (archive, title) {
        (false, Some(title)) => read_file(layer, title, src, files),
        _ => read_archive(layer, compression, src, files),
    };

    // A failure below the decompressor (the network, a blob longer than
    // declared) explains the error better than what the tar reader saw.
    result.map_err(|e| src.take_failure().unwrap_or_else(|| e.widen()))
}

fn read_file<S: ChunkSource>(
    layer: &Descriptor,
    title: &str,
    src: &mut VerifyingReader<S>,
    files: &mut FileSet,
) -> Result<()> {
    let path = normalize_entry_path(title).map_err(|e| {
        ContentError::InvalidContent(format!("layer {} has an unusable title: {e}", layer.digest))
    })?;
    files.check_room(&path, layer.size)?;

    // The descriptor's size is exact (the reader refuses more), so one
    // allocation holds the file.
    let mut content = Vec::with_capacity(usize::try_from(layer.size).unwrap_or(0));
    loop {
        let chunk = src.fill_buf().map_err(|e| io_failure(layer, e))?;
        if chunk.is_empty() {
            break;
        }
        content.extend_from_slice(chunk);
        let n = chunk.len();
        src.consume(n);
    }
    files.insert(path, content)
}

fn read_archive<S: ChunkSource>(
    layer: &Descriptor,
    compression: Compression,
    src: &mut VerifyingReader<S>,
    files: &mut FileSet,
) -> Result<()> {
    match compression {
        Compression::Gzip => read_tar(layer, flate2::bufread::MultiGzDecoder::new(src), files),
        Compression::None => read_tar(layer, src, files),
        Compression::Unsupported(name) => Err(ContentError::InvalidContent(format!(
            "layer {} is {name}-compressed, which is not supported; push it as tar or tar+gzip",
            layer.digest
        ))),
    }
}

/// Unpacks a tar stream, counting what it inflates to, and checks the ORAS
/// content digest of the uncompressed tar when the layer carries one.
fn read_tar<R: Read>(layer: &Descriptor, reader: R, files: &mut FileSet) -> Result<()> {
    let content_digest = layer
        .annotation(ANNOTATION_CONTENT_DIGEST)
        .filter(|d| is_sha256_digest(d));
    let cap = files.max.saturating_add(TAR_OVERHEAD);
    let mut limited = LimitReader::new(reader, cap, content_digest.is_some());

    let outcome = walk_tar(
        layer,
        BufReader::with_capacity(TAR_BUFFER, &mut limited),
        files,
        content_digest.is_some(),
    );
    if let Some(failure) = limited.failure.take() {
        return Err(failure);
    }
    outcome?;

    if let Some(expected) = content_digest {
        let actual = sha256_digest(limited.hasher.take().expect("hashing was requested"));
        if actual != expected {
            return Err(ContentError::DigestMismatch(format!(
                "layer {} unpacks to a tar with digest {actual}, but its {} annotation \
                 says {expected}",
                layer.digest, ANNOTATION_CONTENT_DIGEST
            )));
        }
    }
    Ok(())
}

fn walk_tar<R: Read>(
    layer: &Descriptor,
    reader: R,
    files: &mut FileSet,
    drain: bool,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    for entry in archive.entries().map_err(|e| io_failure(layer, e))? {
        let mut entry = entry.map_err(|e| io_failure(layer, e))?;
        add_entry(layer, &mut entry, files)?;
    }
    if drain {
        // The content digest covers the whole tar, end blocks included.
        io::copy(&mut archive.into_inner(), &mut io::sink()).map_err(|e| io_failure(layer, e))?;
    }
    Ok(())
}

fn add_entry<R: Read>(
    layer: &Descriptor,
    entry: &mut tar::Entry<'_, R>,
    files: &mut FileSet,
) -> Result<()> {
    let raw = entry.path_bytes();
    let Ok(name) = std::str::from_utf8(&raw).map(str::to_owned) else {
        return Err(ContentError::InvalidContent(format!(
            "layer {} holds an entry whose name is not UTF-8: {:?}",
            layer.digest,
            String::from_utf8_lossy(&raw)
        )));
    };
    let refuse = |why: &str| {
        Err(ContentError::InvalidContent(format!(
            "layer {} holds entry {name:?}, which {why}",
            layer.digest
        )))
    };

    // Whiteouts act on the layers below, whatever their entry type, and are
    // never written.
    let base = name
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    if base.starts_with(WHITEOUT_PREFIX) {
        return apply_whiteout(layer, &name, files);
    }

    match entry.header().entry_type() {
        EntryType::Regular | EntryType::Continuous => {
            let path = normalize_entry_path(&name).map_err(|e| refused_path(layer, e))?;
            let size = entry.size();
            files.check_room(&path, size)?;
            let mut content = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
            entry
                .read_to_end(&mut content)
                .map_err(|e| io_failure(layer, e))?;
            if content.len() as u64 != size {
                return refuse("is cut short");
            }
            files.insert(path, content)
        }
        EntryType::Directory => match normalize_entry_path(&name) {
            Ok(path) => files.insert_dir(&path),
            // `./` is the archive root.
            Err(e) if e.kind() == PathErrorKind::Empty => Ok(()),
            Err(e) => Err(refused_path(layer, e)),
        },
        EntryType::Symlink | EntryType::Link => {
            refuse("is a link; links are not allowed in artifacts")
        }
        EntryType::Char | EntryType::Block | EntryType::Fifo => {
            refuse("is a device file or FIFO; only files and folders are allowed")
        }
        // Metadata the tar reader has already applied or that has no file.
        EntryType::XGlobalHeader
        | EntryType::XHeader
        | EntryType::GNULongName
        | EntryType::GNULongLink => Ok(()),
        EntryType::GNUSparse => refuse("is a sparse file, which is not supported"),
        other => refuse(&format!(
            "has the unsupported tar entry type {:?}",
            other.as_byte() as char
        )),
    }
}

fn apply_whiteout(layer: &Descriptor, name: &str, files: &mut FileSet) -> Result<()> {
    let path = normalize_entry_path(name).map_err(|e| refused_path(layer, e))?;
    let (dir, base) = match path.rsplit_once('/') {
        Some((dir, base)) => (dir, base),
        None => ("", path.as_str()),
    };
    if base == OPAQUE_WHITEOUT {
        files.white_out_below(dir);
        return Ok(());
    }
    if base.starts_with(AUFS_META_PREFIX) {
        return Ok(());
    }
    let target = &base[WHITEOUT_PREFIX.len()..];
    if target.is_empty() {
        return Err(ContentError::InvalidContent(format!(
            "layer {} holds the whiteout {name:?}, which names nothing to delete",
            layer.digest
        )));
    }
    if dir.is_empty() {
        files.white_out(target);
    } else {
        files.white_out(&format!("{dir}/{target}"));
    }
    Ok(())
}

fn refused_path(layer: &Descriptor, e: PathError) -> ContentError {
    ContentError::InvalidContent(format!(
        "layer {} holds an entry that would land outside the output folder: {e}",
        layer.digest
    ))
}

fn io_failure(layer: &Descriptor, e: io::Error) -> ContentError {
    ContentError::InvalidContent(format!("layer {} could not be unpacked: {e}", layer.digest))
}

/// Whether the start of a gzip stream inflates to a tar header. A short or
/// undecidable start counts as a tar, the reading the WIT contract gives.
fn gzip_holds_tar(head: &[u8]) -> bool {
    let mut block = [0u8; 512];
    let mut filled = 0;
    let mut decoder = flate2::bufread::GzDecoder::new(head);
    while filled < block.len() {
        match decoder.read(&mut block[filled..]) {
            Ok(0) => return false,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return true,
            Err(_) => return false,
        }
    }
    is_tar_header(&block)
}

/// A tar header's checksum (POSIX ustar, and v7 before it) covers the
/// header with the checksum field read as spaces.
fn is_tar_header(block: &[u8; 512]) -> bool {
    let field = &block[148..156];
    let digits: String = field
        .iter()
        .map(|&b| b as char)
        .take_while(|c| *c != '\0')
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let Ok(stored) = u32::from_str_radix(&digits, 8) else {
        return false;
    };
    let unsigned: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(b)
            }
        })
        .sum();
    let signed: i32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i32::from(b as i8)
            }
        })
        .sum();
    !digits.is_empty() && (stored == unsigned || i64::from(stored) == i64::from(signed))
}

/// Counts (and optionally hashes) what a decompressor yields, and stops it
/// once it passes `cap`: a small gzip can inflate to gigabytes.
struct LimitReader<R> {
    inner: R,
    cap: u64,
    read: u64,
    hasher: Option<Sha256>,
    failure: Option<ContentError>,
}

impl<R: Read> LimitReader<R> {
    fn new(inner: R, cap: u64, hash: bool) -> Self {
        LimitReader {
            inner,
            cap,
            read: 0,
            hasher: hash.then(Sha256::new),
            failure: None,
        }
    }
}

impl<R: Read> Read for LimitReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.cap {
            let message = format!(
                "a layer inflates to more than {} bytes, more than max-size allows",
                self.cap
            );
            self.failure = Some(ContentError::TooLarge(message.clone()));
            return Err(io::Error::other(message));
        }
        if let Some(hasher) = &mut self.hasher {
            hasher.update(&buf[..n]);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Write;

    use flate2::write::GzEncoder;

    use super::*;
    use crate::verify::{digest_of, Chunks};

    fn descriptor(bytes: &[u8], annotations: &[(&str, &str)]) -> Descriptor {
        Descriptor {
            media_type: "application/vnd.oci.image.layer.v1.tar+gzip".into(),
            digest: digest_of(bytes),
            size: bytes.len() as u64,
            annotations: annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            platform: None,
            artifact_type: None,
        }
    }

    /// Unpacks `bytes` as a layer into `files`, verifying like the registry does.
    fn unpack_into(bytes: &[u8], annotations: &[(&str, &str)], files: &mut FileSet) -> Result<()> {
        let layer = descriptor(bytes, annotations);
        let mut src = VerifyingReader::new(
            Chunks::of(bytes, 1000),
            "layer".into(),
            &layer.digest,
            layer.size,
        );
        unpack_layer(&layer, &mut src, files)?;
        src.finish()
    }

    fn unpack(
        bytes: &[u8],
        annotations: &[(&str, &str)],
        max: u64,
    ) -> Result<Vec<(String, Vec<u8>)>> {
        let mut files = FileSet::new(max);
        unpack_into(bytes, annotations, &mut files)?;
        Ok(files
            .into_files()
            .into_iter()
            .map(|f| (f.path, f.content))
            .collect())
    }

    enum E<'a> {
        File(&'a str, &'a [u8]),
        Dir(&'a str),
        Link(&'a str, EntryType),
        Device(&'a str, EntryType),
    }

    /// Builds a tar with raw names (the tar crate's safe API would refuse
    /// the hostile ones).
    fn tar(entries: &[E]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for e in entries {
            let mut h = tar::Header::new_gnu();
            let (name, data, kind): (&str, &[u8], EntryType) = match e {
                E::File(n, d) => (n, d, EntryType::Regular),
                E::Dir(n) => (n, b"", EntryType::Directory),
                E::Link(n, t) | E::Device(n, t) => (n, b"", *t),
            };
            let field = &mut h.as_old_mut().name;
            field[..name.len()].copy_from_slice(name.as_bytes());
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            if let E::Link(..) = e {
                h.set_link_name("target").unwrap();
            }
            h.set_cksum();
            b.append(&h, data).unwrap();
        }
        b.into_inner().unwrap()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    fn paths(files: &[(String, Vec<u8>)]) -> Vec<&str> {
        files.iter().map(|(p, _)| p.as_str()).collect()
    }

    const TITLE: &str = ANNOTATION_TITLE;

    #[test]
    fn oras_single_file() {
        let files = unpack(b"{\"a\":1}", &[(TITLE, "config.json")], 100).unwrap();
        assert_eq!(files, [("config.json".to_owned(), b"{\"a\":1}".to_vec())]);
    }

    #[test]
    fn titled_gzip_that_is_not_a_tar_stays_one_file() {
        let gz = gzip(b"just some text, not a tar");
        let files = unpack(&gz, &[(TITLE, "notes.txt.gz")], 1000).unwrap();
        assert_eq!(files, [("notes.txt.gz".to_owned(), gz)]);
    }

    #[test]
    fn titled_tar_without_gzip_stays_one_file() {
        let t = tar(&[E::File("a", b"1")]);
        let files = unpack(&t, &[(TITLE, "bundle.tar")], 10_000).unwrap();
        assert_eq!(paths(&files), ["bundle.tar"]);
    }

    #[test]
    fn oras_python_folder_keeps_the_folder_name() {
        // `oras push reg/x templates`: title "templates", entries under it.
        let t = gzip(&tar(&[
            E::Dir("templates"),
            E::File("templates/a.liquid", b"A"),
            E::Dir("templates/sub"),
            E::File("templates/sub/b.liquid", b"BB"),
        ]));
        let files = unpack(&t, &[(TITLE, "templates")], 100).unwrap();
        assert_eq!(
            files,
            [
                ("templates/a.liquid".to_owned(), b"A".to_vec()),
                ("templates/sub/b.liquid".to_owned(), b"BB".to_vec())
            ]
        );
    }

    #[test]
    fn oras_go_folder_with_unpack_and_content_digest() {
        let inner = tar(&[E::Dir("templates/"), E::File("templates/a.liquid", b"A")]);
        let t = gzip(&inner);
        let digest = digest_of(&inner);
        let annotations = [
            (TITLE, "templates"),
            (ANNOTATION_UNPACK, "true"),
            (ANNOTATION_CONTENT_DIGEST, digest.as_str()),
        ];
        let files = unpack(&t, &annotations, 100).unwrap();
        assert_eq!(paths(&files), ["templates/a.liquid"]);

        let wrong = digest_of(b"x");
        let annotations = [
            (TITLE, "templates"),
            (ANNOTATION_UNPACK, "true"),
            (ANNOTATION_CONTENT_DIGEST, wrong.as_str()),
        ];
        let e = unpack(&t, &annotations, 100).unwrap_err();
        assert!(
            matches!(&e, ContentError::DigestMismatch(m) if m.contains(&wrong) && m.contains(&digest)),
            "{e:?}"
        );
    }

    #[test]
    fn unpack_false_keeps_a_gzip_tar_as_a_file() {
        let t = gzip(&tar(&[E::File("a", b"1")]));
        let files = unpack(
            &t,
            &[(TITLE, "a.tgz"), (ANNOTATION_UNPACK, "false")],
            10_000,
        )
        .unwrap();
        assert_eq!(paths(&files), ["a.tgz"]);
    }

    #[test]
    fn untitled_template_layers_unpack_at_the_root_later_wins() {
        let first = gzip(&tar(&[
            E::Dir("./"),
            E::File("./ADT_A01.liquid", b"old"),
            E::File("x/y.liquid", b"y"),
        ]));
        let second = tar(&[E::File("ADT_A01.liquid", b"new!")]);
        let mut files = FileSet::new(100);
        unpack_into(&first, &[], &mut files).unwrap();
        unpack_into(&second, &[], &mut files).unwrap();
        assert_eq!(files.total, 5);
        let files: Vec<_> = files
            .into_files()
            .into_iter()
            .map(|f| (f.path, f.content))
            .collect();
        assert_eq!(
            files,
            [
                ("ADT_A01.liquid".to_owned(), b"new!".to_vec()),
                ("x/y.liquid".to_owned(), b"y".to_vec())
            ]
        );
    }

    #[test]
    fn hostile_entries_are_refused_by_name() {
        let cases: [(E, &str); 7] = [
            (E::File("../evil", b"x"), "\"../evil\""),
            (E::File("a/../../evil", b"x"), "a/../../evil"),
            (E::File("/etc/passwd", b"x"), "/etc/passwd"),
            (E::Link("link", EntryType::Symlink), "\"link\""),
            (E::Link("hard", EntryType::Link), "\"hard\""),
            (E::Device("dev", EntryType::Char), "\"dev\""),
            (E::Device("pipe", EntryType::Fifo), "\"pipe\""),
        ];
        for (entry, name) in cases {
            for bytes in [tar(&[entry_clone(&entry)]), gzip(&tar(&[entry]))] {
                match unpack(&bytes, &[], 1000) {
                    Err(ContentError::InvalidContent(m)) => assert!(m.contains(name), "{m}"),
                    other => panic!("{name}: {other:?}"),
                }
            }
        }
    }

    fn entry_clone<'a>(e: &E<'a>) -> E<'a> {
        match e {
            E::File(n, d) => E::File(n, d),
            E::Dir(n) => E::Dir(n),
            E::Link(n, t) => E::Link(n, *t),
            E::Device(n, t) => E::Device(n, *t),
        }
    }

    #[test]
    fn file_and_folder_clash_is_refused() {
        let t = tar(&[E::File("a", b"1"), E::File("a/b", b"2")]);
        assert!(matches!(
            unpack(&t, &[], 100),
            Err(ContentError::InvalidContent(_))
        ));
        let t = tar(&[E::Dir("a"), E::File("a", b"1")]);
        assert!(matches!(
            unpack(&t, &[], 100),
            Err(ContentError::InvalidContent(_))
        ));
    }

    #[test]
    fn declared_entry_size_over_the_limit_stops_before_reading() {
        let t = gzip(&tar(&[E::File("a", &[0; 600]), E::File("b", &[0; 600])]));
        match unpack(&t, &[], 1000) {
            Err(ContentError::TooLarge(m)) => {
                assert!(m.contains("1000") && m.contains("1200"), "{m}")
            }
            other => panic!("{other:?}"),
        }
        assert!(unpack(&t, &[], 1200).is_ok());
    }

    #[test]
    fn gzip_bomb_stops_at_the_cap() {
        // 64 MiB of zeros after the tar, inside a content-digested layer so
        // that the whole stream is read: the cap must stop it.
        let mut inner = tar(&[E::File("a", b"1")]);
        inner.resize(inner.len() + (TAR_OVERHEAD as usize) * 2, 0);
        let digest = digest_of(&inner);
        let t = gzip(&inner);
        assert!(t.len() < 1 << 20);
        let annotations = [
            (ANNOTATION_UNPACK, "true"),
            (ANNOTATION_CONTENT_DIGEST, digest.as_str()),
        ];
        assert!(matches!(
            unpack(&t, &annotations, 10),
            Err(ContentError::TooLarge(_))
        ));
    }

    #[test]
    fn single_file_over_the_limit() {
        assert!(matches!(
            unpack(b"12345", &[(TITLE, "f")], 4),
            Err(ContentError::TooLarge(_))
        ));
        assert!(unpack(b"12345", &[(TITLE, "f")], 5).is_ok());
        assert!(matches!(
            unpack(b"1", &[(TITLE, "f")], 0),
            Err(ContentError::TooLarge(_))
        ));
    }

    #[test]
    fn unsupported_compression_is_named() {
        let zstd = [0x28, 0xb5, 0x2f, 0xfd, 0, 0, 0, 0];
        match unpack(&zstd, &[], 100) {
            Err(ContentError::InvalidContent(m)) => assert!(m.contains("zstd"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn garbage_archive_is_invalid_content() {
        assert!(matches!(
            unpack(&gzip(b"not a tar at all"), &[], 100),
            Err(ContentError::InvalidContent(_))
        ));
        assert!(matches!(
            unpack(&[0x1f, 0x8b, 1, 2, 3], &[], 100),
            Err(ContentError::InvalidContent(_))
        ));
    }

    #[test]
    fn corrupted_blob_reports_the_digest_not_the_tar() {
        let t = gzip(&tar(&[E::File("a", b"1")]));
        let layer = descriptor(&t, &[]);
        let mut bad = t.clone();
        bad.truncate(t.len() - 4);
        bad.extend_from_slice(&[0, 0, 0, 0]);
        let mut src = VerifyingReader::new(
            Chunks::of(&bad, 7),
            "layer".into(),
            &layer.digest,
            layer.size,
        );
        let mut files = FileSet::new(100);
        let unpacked = unpack_layer(&layer, &mut src, &mut files);
        let verified = src.finish();
        assert!(unpacked.is_err() || verified.is_err());
        assert!(matches!(verified, Err(ContentError::DigestMismatch(_))));
    }

    #[test]
    fn tar_header_check() {
        let t = tar(&[E::File("a", b"1")]);
        assert!(is_tar_header(t[..512].try_into().unwrap()));
        assert!(!is_tar_header(&[0; 512]));
        assert!(gzip_holds_tar(&gzip(&t)));
        assert!(!gzip_holds_tar(&gzip(b"plain text")));
    }

    /// Unpacks plain-tar layers in order, bottom first.
    fn merge(layers: &[&[E]]) -> (Vec<(String, Vec<u8>)>, u64) {
        let mut files = FileSet::new(1000);
        for entries in layers {
            unpack_into(&tar(entries), &[], &mut files).unwrap();
        }
        let total = files.total;
        let files = files
            .into_files()
            .into_iter()
            .map(|f| (f.path, f.content))
            .collect();
        (files, total)
    }

    fn merged_paths(layers: &[&[E]]) -> Vec<String> {
        merge(layers).0.into_iter().map(|(p, _)| p).collect()
    }

    #[test]
    fn whiteout_deletes_a_lower_file() {
        let (files, total) = merge(&[
            &[E::File("a.liquid", b"aaa"), E::File("b.liquid", b"b")],
            &[E::File(".wh.a.liquid", b""), E::File("c.liquid", b"c")],
        ]);
        assert_eq!(
            files,
            [
                ("b.liquid".to_owned(), b"b".to_vec()),
                ("c.liquid".to_owned(), b"c".to_vec())
            ]
        );
        assert_eq!(total, 2, "the deleted file's bytes no longer count");
    }

    #[test]
    fn whiteout_deletes_a_lower_folder_and_only_it() {
        let paths = merged_paths(&[
            &[
                E::Dir("d/"),
                E::File("d/x", b"1"),
                E::File("d/sub/y", b"2"),
                E::File("dd/z", b"3"),
                E::File("other/d", b"4"),
            ],
            &[E::File(".wh.d", b"")],
        ]);
        assert_eq!(paths, ["dd/z", "other/d"]);

        // Once the folder is gone, a file may take its name.
        let paths = merged_paths(&[
            &[E::File("d/x", b"1")],
            &[E::File(".wh.d", b""), E::File("d", b"now a file")],
        ]);
        assert_eq!(paths, ["d"]);
    }

    #[test]
    fn whiteout_in_a_subfolder_deletes_there() {
        let paths = merged_paths(&[
            &[
                E::File("x", b"1"),
                E::File("sub/x", b"2"),
                E::File("sub/y", b"3"),
            ],
            &[E::File("./sub/.wh.x", b"")],
        ]);
        assert_eq!(paths, ["x", "sub/y"]);
    }

    #[test]
    fn opaque_whiteout_empties_a_lower_folder() {
        let paths = merged_paths(&[
            &[
                E::File("d/x", b"1"),
                E::File("d/s/y", b"2"),
                E::File("z", b"3"),
            ],
            &[E::File("d/.wh..wh..opq", b""), E::File("d/new", b"4")],
        ]);
        assert_eq!(paths, ["z", "d/new"]);

        let paths = merged_paths(&[
            &[E::File("a", b"1"), E::File("b/c", b"2")],
            &[E::File("keep", b"3"), E::File(".wh..wh..opq", b"")],
        ]);
        assert_eq!(paths, ["keep"]);
    }

    #[test]
    fn whiteout_spares_its_own_layer() {
        // Before or after the whiteout in the same archive, the file stays.
        let paths = merged_paths(&[
            &[E::File("a", b"1")],
            &[
                E::File("b", b"2"),
                E::File(".wh.b", b""),
                E::File(".wh.c", b""),
                E::File("c", b"3"),
                E::File("d/x", b"4"),
                E::File("d/.wh..wh..opq", b""),
            ],
        ]);
        assert_eq!(paths, ["a", "b", "c", "d/x"]);

        // A file replaced in this layer is this layer's, too.
        let (files, _) = merge(&[
            &[E::File("a", b"old")],
            &[E::File("a", b"new"), E::File(".wh.a", b"")],
        ]);
        assert_eq!(files, [("a".to_owned(), b"new".to_vec())]);
    }

    #[test]
    fn higher_layer_adds_back_what_a_whiteout_deleted() {
        let (files, total) = merge(&[
            &[E::File("a", b"first"), E::File("b", b"b")],
            &[E::File(".wh.a", b"")],
            &[E::File("a", b"again")],
        ]);
        assert_eq!(
            files,
            [
                ("b".to_owned(), b"b".to_vec()),
                ("a".to_owned(), b"again".to_vec())
            ]
        );
        assert_eq!(total, 6);
    }

    #[test]
    fn whiteouts_are_never_files_and_aufs_entries_are_skipped() {
        let paths = merged_paths(&[
            &[E::File("a", b"1")],
            &[
                E::File(".wh.missing", b""),
                E::Dir(".wh..wh.plnk/"),
                E::File(".wh..wh.aufs", b""),
            ],
        ]);
        assert_eq!(paths, ["a"]);
    }

    #[test]
    fn hostile_whiteouts_are_refused() {
        for name in ["../.wh.x", "/.wh.etc", ".wh."] {
            match unpack(&tar(&[E::File(name, b"")]), &[], 100) {
                Err(ContentError::InvalidContent(m)) => assert!(m.contains(name), "{m}"),
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
