//! Artifact content for the tests: a de-identification config, a folder of
//! Liquid templates, hostile tar archives, and folder snapshots.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::Path;

use flate2::write::GzEncoder;
use flate2::Compression;

/// A de-identification configuration as `$export` consumes it. Written for
/// these tests; the rule set is small but has every section the format has.
pub const DEID_CONFIG: &str = r#"{
  "fhirVersion": "R4",
  "processingErrors": "raise",
  "fhirPathRules": [
    { "path": "Patient.name", "method": "redact" },
    { "path": "Patient.address.postalCode", "method": "substitute", "replaceWith": "00000" },
    { "path": "nodesByType('date')", "method": "dateShift" },
    { "path": "Observation.valueQuantity.value", "method": "perturb", "span": 2, "rangeType": "proportional" },
    { "path": "Resource.id", "method": "cryptoHash" }
  ],
  "parameters": {
    "dateShiftKey": "test-date-shift-key",
    "dateShiftScope": "resource",
    "cryptoHashKey": "test-crypto-hash-key",
    "enablePartialAgesForRedact": true
  }
}
"#;

/// A small Liquid template collection in the layout `$convert-data` uses:
/// an entry template per message type and partials in nested folders.
/// Relative path and content; one file is empty on purpose.
pub fn templates() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "ADT_A01.liquid",
            b"{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"batch\",\n  \"entry\": [\n    {% include 'Resource/Patient' PID: msg.PID -%}\n  ]\n}\n"
                .to_vec(),
        ),
        (
            "Resource/_Patient.liquid",
            b"\"resourceType\": \"Patient\",\n\"id\": \"{{ PID.3.1.Value | generate_uuid }}\",\n\"name\": [ {% include 'DataType/XPN' XPN: PID.5 -%} ],\n"
                .to_vec(),
        ),
        (
            "DataType/_XPN.liquid",
            "\"family\": \"{{ XPN.1.1.Value }}\",\n\"given\": [ \"{{ XPN.2.Value }}\" ], \"text\": \"Zo\u{eb} M\u{fc}ller\"\n"
                .as_bytes()
                .to_vec(),
        ),
        (
            "CodeSystem/CodeSystem/Gender.json",
            b"{ \"F\": { \"code\": \"female\" }, \"M\": { \"code\": \"male\" } }\n".to_vec(),
        ),
        ("Reference/_Empty.liquid", Vec::new()),
    ]
}

/// The template collection as it lies under a folder named `folder`:
/// `<folder>/<path>` to bytes.
pub fn templates_under(folder: &str) -> BTreeMap<String, Vec<u8>> {
    templates()
        .into_iter()
        .map(|(path, bytes)| (format!("{folder}/{path}"), bytes))
        .collect()
}

/// `len` bytes that do not compress, the same for the same `seed`
/// (xorshift64*), so a large blob cannot shrink in transit.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// What a push starts from: a temporary folder holding `config.json` (the
/// de-identification config) and `templates/` (the Liquid templates).
pub struct Source {
    dir: tempfile::TempDir,
}

impl Source {
    pub fn new() -> Source {
        let dir = tempfile::tempdir().expect("source dir");
        fs::write(dir.path().join("config.json"), DEID_CONFIG).expect("write config");
        write_files(&dir.path().join("templates"), &templates());
        Source { dir }
    }

    /// The folder to push from: PATHs are relative to it.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Writes `files` under `dir`, creating folders as needed.
pub fn write_files(dir: &Path, files: &[(&str, Vec<u8>)]) {
    for (path, bytes) in files {
        let path = dir.join(path);
        fs::create_dir_all(path.parent().expect("file in a folder")).expect("create folders");
        fs::write(path, bytes).expect("write fixture file");
    }
}

/// A folder's content: relative path to file bytes, `None` for a folder.
pub type Snapshot = BTreeMap<String, Option<Vec<u8>>>;

/// Everything under `dir`: relative path to file bytes, or `None` for a
/// folder. Links and special files are listed with a marker so that an
/// extraction that creates one shows up in a comparison.
pub fn snapshot(dir: &Path) -> Snapshot {
    let mut out = BTreeMap::new();
    if dir.exists() {
        walk(dir, dir, &mut out);
    }
    out
}

fn walk(root: &Path, dir: &Path, out: &mut Snapshot) {
    for entry in fs::read_dir(dir).expect("read folder") {
        let entry = entry.expect("folder entry");
        let path = entry.path();
        let relative = path
            .strip_prefix(root)
            .expect("under root")
            .to_string_lossy()
            .replace('\\', "/");
        let kind = entry.file_type().expect("file type");
        if kind.is_dir() {
            out.insert(relative, None);
            walk(root, &path, out);
        } else if kind.is_file() {
            out.insert(relative, Some(fs::read(&path).expect("read file")));
        } else {
            let marker = format!("<special file {kind:?}>").into_bytes();
            out.insert(relative, Some(marker));
        }
    }
}

/// Only the regular files of a snapshot.
pub fn files_only(snapshot: Snapshot) -> BTreeMap<String, Vec<u8>> {
    snapshot
        .into_iter()
        .filter_map(|(path, bytes)| bytes.map(|b| (path, b)))
        .collect()
}

/// One tar entry, with its name written byte for byte: the `tar` crate
/// refuses to write `..` or absolute names, and hostile archives need them.
pub enum Entry<'a> {
    File(&'a str, &'a [u8]),
    /// A file of `len` zero bytes, streamed rather than held in memory.
    Zeros(&'a str, u64),
    Symlink(&'a str, &'a str),
    Hardlink(&'a str, &'a str),
    CharDevice(&'a str),
}

/// A gzip-compressed tar archive of `entries`, in order.
pub fn tar_gz(entries: &[Entry]) -> Vec<u8> {
    gzip(&tar(entries))
}

/// An uncompressed tar archive of `entries`, in order.
pub fn tar(entries: &[Entry]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_uid(0);
        header.set_gid(0);
        let (name, size, data): (&str, u64, Box<dyn Read>) = match entry {
            Entry::File(name, bytes) => {
                header.set_entry_type(tar::EntryType::Regular);
                (name, bytes.len() as u64, Box::new(*bytes))
            }
            Entry::Zeros(name, len) => {
                header.set_entry_type(tar::EntryType::Regular);
                (name, *len, Box::new(std::io::repeat(0).take(*len)))
            }
            Entry::Symlink(name, target) | Entry::Hardlink(name, target) => {
                let kind = if matches!(entry, Entry::Symlink(..)) {
                    tar::EntryType::Symlink
                } else {
                    tar::EntryType::Link
                };
                header.set_entry_type(kind);
                raw_field(&mut header.as_old_mut().linkname, target);
                (name, 0, Box::new(std::io::empty()))
            }
            Entry::CharDevice(name) => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_device_major(1).expect("device major");
                header.set_device_minor(3).expect("device minor");
                (name, 0, Box::new(std::io::empty()))
            }
        };
        raw_field(&mut header.as_old_mut().name, name);
        header.set_size(size);
        header.set_cksum();
        builder.append(&header, data).expect("append tar entry");
    }
    builder.into_inner().expect("finish tar")
}

fn raw_field(field: &mut [u8], value: &str) {
    assert!(value.len() < field.len(), "tar name too long: {value}");
    field.fill(0);
    field[..value.len()].copy_from_slice(value.as_bytes());
}

/// One entry of an archive, as [`list_tar`] reads it.
#[derive(Debug)]
pub struct Listed {
    pub path: String,
    pub kind: tar::EntryType,
    pub mtime: u64,
    pub uid: u64,
    pub gid: u64,
    pub bytes: Vec<u8>,
}

/// Every entry of the uncompressed tar `bytes`, in archive order.
pub fn list_tar(bytes: &[u8]) -> Vec<Listed> {
    let mut archive = tar::Archive::new(bytes);
    let mut out = Vec::new();
    for entry in archive.entries().expect("tar entries") {
        let mut entry = entry.expect("tar entry");
        let header = entry.header().clone();
        let path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let mut data = Vec::new();
        entry.read_to_end(&mut data).expect("tar entry data");
        out.push(Listed {
            path,
            kind: header.entry_type(),
            mtime: header.mtime().expect("tar mtime"),
            uid: header.uid().expect("tar uid"),
            gid: header.gid().expect("tar gid"),
            bytes: data,
        });
    }
    out
}

/// `bytes` gunzipped.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// `bytes` gzip-compressed, as a raw stream (not a tar).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gzip = GzEncoder::new(Vec::new(), Compression::best());
    gzip.write_all(bytes).expect("gzip");
    gzip.finish().expect("finish gzip")
}
