//! Azure Blob Storage: a blob or every blob under a prefix, fetched with
//! its size checked before the download and counted during it, hashed, and
//! published as block blobs.
//!
//! The artifact's digest is the sha256 of the blob's bytes, or for a folder
//! the sha256 of its `sha256sum` listing (`artifact_store_core::blob`), so
//! the host can recompute both from the files it receives.

mod client;
mod sign;
mod xml;

use std::collections::HashSet;
use std::rc::Rc;

use artifact_store_core::blob::{
    self as address, check_name, folder_listing, BlobLocation, BlobUrl, Endpoint, FOLDER_MEDIA_TYPE,
};
use artifact_store_core::layers::File;
use artifact_store_core::manifest::ManifestDescriptor;
use artifact_store_core::pack::Layer;
use artifact_store_core::{digest_of, normalize_entry_path};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::http::{Method, Payload};

pub use client::Auth;
use client::{Call, Client};
use xml::ListedBlob;

/// Blobs up to this size go up in one Put Blob; larger ones in blocks.
/// The same threshold as the registry's monolithic upload.
const SINGLE_PUT_MAX: usize = 16 << 20;

/// The size of each Put Block. Azure allows up to 4000 MiB per block and
/// 50,000 blocks; 8 MiB keeps the request bodies small and a 1 GiB blob
/// at 128 blocks.
const BLOCK_SIZE: usize = 8 << 20;

/// The most blobs a folder may hold. Sizes bound the bytes; this bounds
/// the listing, which zero-length blobs could otherwise make endless.
const MAX_FOLDER_BLOBS: usize = 100_000;

/// The content type given to uploads, from the file's extension.
fn content_type(name: &str) -> &'static str {
    if name.to_ascii_lowercase().ends_with(".json") {
        "application/json"
    } else {
        "application/octet-stream"
    }
}

/// The account, as the host describes it for one call.
pub struct Account {
    pub endpoint: String,
    pub list_page_size: u32,
    pub plain_http: bool,
    pub auth: Auth,
}

/// A fetched, verified blob or folder.
#[derive(Debug)]
pub struct Fetched {
    pub descriptor: ManifestDescriptor,
    /// The folder's listing; empty for a single blob.
    pub listing: Vec<u8>,
    pub etag: Option<String>,
    pub files: Vec<File>,
}

/// Fetches the blob or folder `reference` names, within `max_size`.
pub fn fetch(
    reference: &str,
    account: &Account,
    max_size: u64,
    if_match: Option<&str>,
) -> Result<Fetched> {
    let (client, location) = open(reference, account)?;
    if location.folder {
        if if_match.is_some() {
            return Err(Error::InvalidReference(format!(
                "{reference} is a folder of blobs; if-match applies to one blob"
            )));
        }
        let fetched = fetch_folder(&client, &location, account.list_page_size, max_size, true)?;
        check_pin(&location, &fetched.descriptor.digest)?;
        return Ok(fetched);
    }

    let file_name = location.file_name();
    if normalize_entry_path(file_name).ok().as_deref() != Some(file_name) {
        return Err(Error::InvalidContent(format!(
            "the blob name {:?} cannot be written as a file name",
            location.name
        )));
    }
    let blob = read_blob(
        &client,
        &location,
        &location.name,
        if_match,
        max_size,
        None,
        true,
    )?;
    check_pin(&location, &blob.digest)?;
    Ok(Fetched {
        descriptor: ManifestDescriptor {
            media_type: blob.content_type,
            digest: blob.digest,
            size: blob.size,
            artifact_type: None,
        },
        listing: Vec::new(),
        etag: blob.etag,
        files: vec![File {
            path: file_name.to_owned(),
            content: blob.content,
        }],
    })
}

/// The descriptor a fetch would report, hashing as the bytes stream and
/// keeping none of them.
pub fn resolve(reference: &str, account: &Account) -> Result<ManifestDescriptor> {
    let (client, location) = open(reference, account)?;
    let descriptor = if location.folder {
        fetch_folder(&client, &location, account.list_page_size, u64::MAX, false)?.descriptor
    } else {
        let blob = read_blob(
            &client,
            &location,
            &location.name,
            None,
            u64::MAX,
            None,
            false,
        )?;
        ManifestDescriptor {
            media_type: blob.content_type,
            digest: blob.digest,
            size: blob.size,
            artifact_type: None,
        }
    };
    check_pin(&location, &descriptor.digest)?;
    Ok(descriptor)
}

/// Uploads one file or one folder under `reference` and returns the
/// descriptor a fetch of the same URL would report.
pub fn push(
    reference: &str,
    account: &Account,
    layers: Vec<Layer>,
    artifact_type: Option<&str>,
    annotations: &[(String, String)],
) -> Result<ManifestDescriptor> {
    let (client, location) = open(reference, account)?;
    if location.digest.is_some() {
        return Err(Error::InvalidReference(format!(
            "{reference} pins a digest; push to the blob or prefix URL alone, the digest \
             is what the push reports"
        )));
    }
    if artifact_type.is_some() || !annotations.is_empty() {
        return Err(Error::InvalidContent(
            "artifact types and annotations apply to OCI registries, not to blobs".into(),
        ));
    }
    let [layer] = <[Layer; 1]>::try_from(layers).map_err(|layers| {
        Error::InvalidContent(format!(
            "a push to Blob Storage takes one file or one folder, not {}",
            layers.len()
        ))
    })?;

    // Where each file goes, and what a fetch will call it.
    let (targets, folder) = match layer {
        Layer::File(file) => {
            let name = if location.folder {
                let base = file.path.rsplit('/').next().unwrap_or(&file.path);
                format!("{}{base}", location.name)
            } else {
                location.name.clone()
            };
            (vec![(name, file)], false)
        }
        Layer::Folder { files, .. } => {
            let mut prefix = location.name.clone();
            if !prefix.is_empty() && !prefix.ends_with('/') {
                prefix.push('/');
            }
            let targets = files
                .into_iter()
                .map(|file| (format!("{prefix}{}", file.path), file))
                .collect();
            (targets, true)
        }
    };
    for (name, _) in &targets {
        check_name(name, false)
            .map_err(|why| Error::InvalidContent(format!("cannot upload to {name:?}: {why}")))?;
    }

    for (name, file) in &targets {
        upload(&client, &location.container, name, &file.content)?;
    }

    if folder {
        let listing = folder_listing(
            targets
                .iter()
                .map(|(_, file)| (file.path.as_str(), file.content.as_slice())),
        );
        Ok(ManifestDescriptor {
            media_type: FOLDER_MEDIA_TYPE.to_owned(),
            digest: digest_of(&listing),
            size: listing.len() as u64,
            artifact_type: None,
        })
    } else {
        let (name, file) = &targets[0];
        Ok(ManifestDescriptor {
            media_type: content_type(name).to_owned(),
            digest: digest_of(&file.content),
            size: file.content.len() as u64,
            artifact_type: None,
        })
    }
}

/// The account's client and where the reference points in it.
fn open(reference: &str, account: &Account) -> Result<(Client, BlobLocation)> {
    let endpoint = Endpoint::parse(&account.endpoint)
        .map_err(|why| Error::InvalidReference(format!("the store's endpoint: {why}")))?;
    if !endpoint.https() && !account.plain_http {
        return Err(Error::Denied(format!(
            "{endpoint} is plain HTTP, which the host did not allow"
        )));
    }
    let url = BlobUrl::parse(reference)
        .map_err(|why| Error::InvalidReference(format!("{reference}: {why}")))?;
    let location = endpoint
        .locate(&url)
        .map_err(Error::InvalidReference)?
        .ok_or_else(|| {
            Error::InvalidReference(format!(
                "{url} is not under the store's endpoint {endpoint}"
            ))
        })?;
    Ok((Client::new(endpoint, account.auth.clone()), location))
}

fn check_pin(location: &BlobLocation, digest: &str) -> Result<()> {
    match &location.digest {
        Some(pinned) if pinned != digest => Err(Error::DigestMismatch(format!(
            "the reference pins {pinned} but the content hashes to {digest}"
        ))),
        _ => Ok(()),
    }
}

/// One downloaded (or only hashed) blob.
struct ReadBlob {
    digest: String,
    size: u64,
    content: Vec<u8>,
    etag: Option<String>,
    content_type: String,
}

/// Downloads one blob, failing before the body if its length is over `cap`
/// (or differs from the `listed` size a listing gave) and while reading
/// once more than that arrives.
fn read_blob(
    client: &Client,
    location: &BlobLocation,
    name: &str,
    if_match: Option<&str>,
    cap: u64,
    listed: Option<u64>,
    keep: bool,
) -> Result<ReadBlob> {
    let what = describe(&location.container, name);
    let mut call = Call::new(Method::Get, &location.container, name);
    if let Some(etag) = if_match {
        call = call.header("if-match", address::quote_etag(etag));
    }
    let response = client.send(call)?;
    if response.status != 200 {
        return Err(client.failure(response, &what));
    }
    let declared = response.content_length();
    let unlike_listing = |length: u64| {
        Error::InvalidContent(format!(
            "{what} is {length} bytes, but the listing said {} bytes",
            listed.unwrap_or_default()
        ))
    };
    if let Some(length) = declared.filter(|&n| listed.is_some_and(|listed| n != listed)) {
        return Err(unlike_listing(length));
    }
    if let Some(length) = declared.filter(|&n| n > cap) {
        return Err(Error::TooLarge(format!(
            "{what} is {length} bytes, more than max-size ({cap} bytes)"
        )));
    }
    let etag = response.header("etag").map(str::to_owned);
    let content_type = response
        .header("content-type")
        .filter(|t| !t.is_empty())
        .unwrap_or("application/octet-stream")
        .to_owned();

    let mut body = response.into_body();
    let mut hasher = Sha256::new();
    let mut content = Vec::new();
    if keep {
        content.reserve(usize::try_from(declared.unwrap_or(0)).unwrap_or(0));
    }
    let mut size: u64 = 0;
    while let Some(chunk) = artifact_store_core::verify::ChunkSource::next_chunk(&mut body)? {
        size = size.saturating_add(chunk.len() as u64);
        if listed.is_some_and(|listed| size > listed) {
            return Err(unlike_listing(size));
        }
        if size > cap {
            return Err(Error::TooLarge(format!(
                "{what} sends more than max-size ({cap} bytes)"
            )));
        }
        hasher.update(&chunk);
        if keep {
            content.extend_from_slice(&chunk);
        }
    }
    if declared.is_some_and(|n| n != size) {
        return Err(Error::StoreNotReachable(format!(
            "{what} ended after {size} of its {} bytes",
            declared.unwrap_or_default()
        )));
    }
    if listed.is_some_and(|listed| listed != size) {
        return Err(unlike_listing(size));
    }
    Ok(ReadBlob {
        digest: artifact_store_core::verify::sha256_digest(hasher),
        size,
        content,
        etag,
        content_type,
    })
}

/// Lists a prefix, checks that its blobs fit `max_size` and make a file
/// tree, then downloads each at the ETag the listing gave, so that the
/// folder is one consistent set: a blob replaced meanwhile fails the call
/// with `PreconditionFailed` rather than mixing versions.
fn fetch_folder(
    client: &Client,
    location: &BlobLocation,
    page_size: u32,
    max_size: u64,
    keep: bool,
) -> Result<Fetched> {
    let prefix = &location.name;
    let what = if prefix.is_empty() {
        format!("container {}", location.container)
    } else {
        format!("prefix {prefix:?} in container {}", location.container)
    };
    let listed = list(client, location, page_size, &what)?;
    let entries = folder_entries(listed, prefix, &what)?;
    let total = entries
        .iter()
        .fold(0u64, |total, (_, blob)| total.saturating_add(blob.size));
    if total > max_size {
        return Err(Error::TooLarge(format!(
            "the blobs of {what} hold {total} bytes, more than max-size ({max_size} bytes)"
        )));
    }

    let mut files = Vec::with_capacity(entries.len());
    let mut digests = Vec::with_capacity(entries.len());
    let mut remaining = max_size;
    for (path, blob) in &entries {
        let read = read_blob(
            client,
            location,
            &blob.name,
            Some(&blob.etag),
            remaining,
            Some(blob.size),
            keep,
        )
        .map_err(|e| match e {
            Error::PreconditionFailed(_) => Error::PreconditionFailed(format!(
                "{} changed while {what} was being read; pull again",
                describe(&location.container, &blob.name)
            )),
            other => other,
        })?;
        remaining -= read.size;
        digests.push((path.clone(), read.digest));
        files.push(File {
            path: path.clone(),
            content: read.content,
        });
    }

    let listing = address::listing_of_digests(
        digests
            .iter()
            .map(|(path, digest)| (path.as_str(), digest.as_str())),
    );
    let descriptor = ManifestDescriptor {
        media_type: FOLDER_MEDIA_TYPE.to_owned(),
        digest: digest_of(&listing),
        size: listing.len() as u64,
        artifact_type: None,
    };
    Ok(Fetched {
        descriptor,
        listing,
        etag: None,
        files,
    })
}

/// Which listed blobs become which files: each at its path below `prefix`,
/// which must be a plain relative path, given once, and not also a folder.
fn folder_entries(
    listed: Vec<ListedBlob>,
    prefix: &str,
    what: &str,
) -> Result<Vec<(String, ListedBlob)>> {
    let mut entries: Vec<(String, ListedBlob)> = Vec::new();
    for blob in listed {
        // Zero-length names ending in `/` mark folders (hierarchical
        // accounts, portal uploads); they hold no file.
        if blob.size == 0 && blob.name.ends_with('/') {
            continue;
        }
        // The service was asked for this prefix only; a name outside it is
        // not part of the folder.
        let Some(relative) = blob.name.strip_prefix(prefix) else {
            return Err(Error::InvalidContent(format!(
                "the listing of {what} holds the blob {:?}, which is not under the prefix",
                blob.name
            )));
        };
        if normalize_entry_path(relative).ok().as_deref() != Some(relative) {
            return Err(Error::InvalidContent(format!(
                "the blob {:?} in {what} cannot be written as a file: its name relative to \
                 the prefix must be a plain relative path",
                blob.name
            )));
        }
        entries.push((relative.to_owned(), blob));
    }
    if entries.is_empty() {
        return Err(Error::NotFound(format!("{what} holds no blobs")));
    }
    check_tree(&entries, what)?;
    Ok(entries)
}

/// Every blob under the location's prefix, following `NextMarker` from page
/// to page.
fn list(
    client: &Client,
    location: &BlobLocation,
    page_size: u32,
    what: &str,
) -> Result<Vec<ListedBlob>> {
    // Azure takes 1 to 5000.
    let page_size = page_size.clamp(1, 5000);
    let mut blobs = Vec::new();
    let mut marker: Option<String> = None;
    let mut paging = Paging::default();
    loop {
        let mut call = Call::new(Method::Get, &location.container, "")
            .query("restype", "container")
            .query("comp", "list")
            .query("maxresults", page_size.to_string());
        if !location.name.is_empty() {
            call = call.query("prefix", location.name.clone());
        }
        if let Some(marker) = &marker {
            call = call.query("marker", marker.clone());
        }
        let response = client.send(call)?;
        if response.status != 200 {
            return Err(client.failure(response, what));
        }
        let body = response.read_capped(LIST_PAGE_CAP).map_err(|e| match e {
            crate::http::ReadCapped::TooLong => Error::Other(format!(
                "a listing page of {what} is larger than {LIST_PAGE_CAP} bytes"
            )),
            crate::http::ReadCapped::Failed(e) => e,
        })?;
        let page = xml::parse_list(&body).map_err(|why| Error::Other(format!("{what}: {why}")))?;
        for blob in &page.blobs {
            check_listed(blob, what)?;
        }
        blobs.extend(page.blobs);
        if blobs.len() > MAX_FOLDER_BLOBS {
            return Err(Error::TooLarge(format!(
                "{what} holds more than {MAX_FOLDER_BLOBS} blobs"
            )));
        }
        match paging.next(page.next_marker, what)? {
            Some(next) => marker = Some(next),
            None => return Ok(blobs),
        }
    }
}

/// The most pages one listing may take. A page may hold no blob and still
/// name a next one, so the blob count alone does not end a listing.
const MAX_LIST_PAGES: usize = MAX_FOLDER_BLOBS;

/// The longest page marker sent back. Azure's are a few hundred bytes, a
/// few KiB for the longest names.
const MAX_MARKER_LEN: usize = 16 << 10;

/// The longest ETag taken from a listing. Azure's are about 20 bytes.
const MAX_ETAG_LEN: usize = 1024;

/// Where a listing goes after each page.
#[derive(Default)]
struct Paging {
    /// The sha256 of each marker seen, which may be long.
    seen: HashSet<[u8; 32]>,
    pages: usize,
}

impl Paging {
    /// The marker of the next page after one that named `next`, or `None`
    /// after the last. A marker seen before would loop for ever, and so
    /// would fresh ones without end.
    fn next(&mut self, next: Option<String>, what: &str) -> Result<Option<String>> {
        self.pages += 1;
        let Some(next) = next else {
            return Ok(None);
        };
        if next.len() > MAX_MARKER_LEN {
            return Err(Error::Other(format!(
                "the listing of {what} gives a page marker of {} bytes, more than \
                 {MAX_MARKER_LEN}",
                next.len()
            )));
        }
        if self.pages >= MAX_LIST_PAGES {
            return Err(Error::TooLarge(format!(
                "the listing of {what} goes on for more than {MAX_LIST_PAGES} pages"
            )));
        }
        if !self.seen.insert(Sha256::digest(next.as_bytes()).into()) {
            return Err(Error::Other(format!(
                "the listing of {what} repeats the page marker {next:?}"
            )));
        }
        Ok(Some(next))
    }
}

/// Refuses a listed blob that no blob could be, before it is kept: a name
/// longer than Azure allows, or an ETag far longer than Azure's.
fn check_listed(blob: &ListedBlob, what: &str) -> Result<()> {
    if blob.name.chars().count() > address::MAX_NAME_CHARS {
        // Not quoted: it may be megabytes long.
        return Err(Error::InvalidContent(format!(
            "the listing of {what} holds a blob name longer than Azure's {} characters",
            address::MAX_NAME_CHARS
        )));
    }
    if blob.etag.len() > MAX_ETAG_LEN {
        return Err(Error::Other(format!(
            "the listing of {what} gives an ETag of {} bytes for {:?}",
            blob.etag.len(),
            blob.name
        )));
    }
    Ok(())
}

/// The most bytes one listing page may take. 5000 entries of names up to
/// 1024 characters and their properties stay well below.
const LIST_PAGE_CAP: u64 = 64 << 20;

/// Refuses a folder in which one name is given twice, or is both a file and
/// a folder (`a` and `a/b`), which no file system can hold.
fn check_tree(entries: &[(String, ListedBlob)], what: &str) -> Result<()> {
    let mut files: HashSet<&str> = HashSet::with_capacity(entries.len());
    for (path, _) in entries {
        if !files.insert(path.as_str()) {
            return Err(Error::InvalidContent(format!(
                "{path:?} in {what} is listed twice"
            )));
        }
    }
    for (path, _) in entries {
        for (i, _) in path.match_indices('/') {
            if files.contains(&path[..i]) {
                return Err(Error::InvalidContent(format!(
                    "{:?} in {what} is both a blob and a folder of blobs",
                    &path[..i]
                )));
            }
        }
    }
    Ok(())
}

/// Writes one block blob: a single Put Blob, or Put Block for each slice
/// and Put Block List to commit them.
fn upload(client: &Client, container: &str, name: &str, content: &[u8]) -> Result<()> {
    let what = describe(container, name);
    let content_type = content_type(name);
    let bytes = Rc::new(content.to_vec());
    if content.len() <= SINGLE_PUT_MAX {
        let call = Call::new(Method::Put, container, name)
            .header("x-ms-blob-type", "BlockBlob")
            .header("content-type", content_type)
            .body(Payload::new(bytes));
        let response = client.send(call)?;
        return match response.status {
            201 => Ok(()),
            _ => Err(client.failure(response, &what)),
        };
    }

    let mut ids = Vec::new();
    for (i, start) in (0..content.len()).step_by(BLOCK_SIZE).enumerate() {
        let end = (start + BLOCK_SIZE).min(content.len());
        // Every ID of a blob must have the same length.
        let id = base64::engine::general_purpose::STANDARD.encode(format!("block-{i:06}"));
        let call = Call::new(Method::Put, container, name)
            .query("comp", "block")
            .query("blockid", id.clone())
            .body(Payload::slice(Rc::clone(&bytes), start..end));
        let response = client.send(call)?;
        if response.status != 201 {
            return Err(client.failure(response, &format!("a block of {what}")));
        }
        ids.push(id);
    }
    let mut list = String::from("<?xml version=\"1.0\" encoding=\"utf-8\"?><BlockList>");
    for id in &ids {
        list.push_str("<Latest>");
        list.push_str(id);
        list.push_str("</Latest>");
    }
    list.push_str("</BlockList>");
    let call = Call::new(Method::Put, container, name)
        .query("comp", "blocklist")
        .header("content-type", "application/xml")
        .header("x-ms-blob-content-type", content_type)
        .body(Payload::new(Rc::new(list.into_bytes())));
    let response = client.send(call)?;
    match response.status {
        201 => Ok(()),
        _ => Err(client.failure(response, &what)),
    }
}

fn describe(container: &str, name: &str) -> String {
    format!("blob {name:?} in container {container}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blob(name: &str, size: u64) -> ListedBlob {
        ListedBlob {
            name: name.to_owned(),
            size,
            etag: "\"0x1\"".to_owned(),
        }
    }

    fn paths(listed: &[ListedBlob], prefix: &str) -> Result<Vec<String>> {
        folder_entries(listed.to_vec(), prefix, "prefix")
            .map(|entries| entries.into_iter().map(|(path, _)| path).collect())
    }

    #[test]
    fn a_folder_takes_its_blobs_below_the_prefix_and_skips_markers() {
        let listed = [blob("cfg/", 0), blob("cfg/a.json", 2), blob("cfg/d/b", 1)];
        assert_eq!(paths(&listed, "cfg/").unwrap(), ["a.json", "d/b"]);
        assert!(matches!(
            paths(&[blob("cfg/", 0)], "cfg/"),
            Err(Error::NotFound(_))
        ));
    }

    #[test]
    fn listed_names_outside_the_prefix_are_refused() {
        for name in ["secret.json", "other/x.json", "cf/x", "/cfg/x"] {
            let listed = [blob("cfg/a.json", 1), blob(name, 1)];
            assert!(
                matches!(paths(&listed, "cfg/"), Err(Error::InvalidContent(_))),
                "{name}"
            );
        }
    }

    #[test]
    fn listed_names_that_are_no_plain_path_are_refused() {
        for name in ["cfg/../x", "cfg/./x", "cfg//x", "cfg/a\\..\\x", "cfg/a\nb"] {
            let listed = [blob(name, 1)];
            assert!(
                matches!(paths(&listed, "cfg/"), Err(Error::InvalidContent(_))),
                "{name:?}"
            );
        }
    }

    #[test]
    fn a_name_listed_twice_or_as_file_and_folder_is_refused() {
        let twice = [blob("cfg/a", 1), blob("cfg/b", 1), blob("cfg/a", 2)];
        assert!(matches!(
            paths(&twice, "cfg/"),
            Err(Error::InvalidContent(_))
        ));
        let both = [blob("cfg/a", 1), blob("cfg/a/b", 1)];
        assert!(matches!(
            paths(&both, "cfg/"),
            Err(Error::InvalidContent(_))
        ));
    }

    #[test]
    fn oversized_names_and_etags_in_a_listing_are_refused() {
        let long = format!("cfg/{}", "n".repeat(address::MAX_NAME_CHARS));
        assert!(check_listed(&blob(&long, 1), "listing").is_err());
        let mut big_etag = blob("cfg/a", 1);
        big_etag.etag = "e".repeat(64 << 10);
        assert!(check_listed(&big_etag, "listing").is_err());
        assert!(check_listed(&blob("cfg/a", 1), "listing").is_ok());
    }

    #[test]
    fn paging_stops_at_the_last_page_and_refuses_a_repeated_marker() {
        let mut paging = Paging::default();
        assert_eq!(
            paging
                .next(Some("m1".into()), "listing")
                .unwrap()
                .as_deref(),
            Some("m1")
        );
        assert!(paging.next(Some("m1".into()), "listing").is_err());
        assert_eq!(Paging::default().next(None, "listing").unwrap(), None);
    }

    #[test]
    fn paging_through_new_markers_for_ever_is_refused() {
        // Empty pages with a fresh marker each would never end.
        let mut paging = Paging::default();
        let mut pages = 0;
        while paging.next(Some(format!("m{pages}")), "listing").is_ok() {
            pages += 1;
            assert!(pages <= MAX_LIST_PAGES, "the paging did not stop");
        }
    }

    #[test]
    fn a_marker_too_long_to_send_back_is_refused() {
        let marker = "m".repeat(MAX_MARKER_LEN + 1);
        assert!(Paging::default().next(Some(marker), "listing").is_err());
    }
}
