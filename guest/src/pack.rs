//! Packing a folder into a reproducible tar+gzip layer, as the ORAS CLI
//! does, so that the same files always give the same digest.
//!
//! The archive:
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

use std::io::{self, Write};

use flate2::{Compression, GzBuilder};
use sha2::{Digest, Sha256};
use tar::{EntryType, Header};

use crate::layers::File;
use crate::verify::{digest_of, sha256_digest};

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
    use std::io::Read;

    use flate2::read::GzDecoder;

    use super::*;

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
}
