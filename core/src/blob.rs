//! Azure Blob Storage addressing, shared by the host (which routes a URL to
//! its registered account) and the provider (which builds requests from it).
//!
//! An account is reached at an endpoint: `https://<account>.blob.core.windows.net`
//! (host-style), or `http://127.0.0.1:10000/<account>` as the emulator and
//! some gateways serve it (path-style). A reference is a URL under an
//! endpoint: `<endpoint>/<container>/<blob name>` names one blob, and a URL
//! that ends in `/` names every blob under that prefix, as a folder. Either
//! may end in `@sha256:<hex>` to pin the content.
//!
//! The digest of a blob is the sha256 of its bytes. The digest of a folder
//! is the sha256 of its [listing](folder_listing): the lines `sha256sum`
//! prints for its files, sorted by path, so that anyone can recompute it
//! with coreutils from a pulled copy.

use std::fmt;

use sha2::{Digest, Sha256};

use crate::reference::is_sha256_digest;
use crate::verify::digest_of;

/// The media type reported for a folder: its digest is that of a
/// `sha256sum` listing, not of any one blob.
pub const FOLDER_MEDIA_TYPE: &str = "application/vnd.artifact-store.folder.sha256sum";

/// Azure's longest blob name, in characters.
pub const MAX_NAME_CHARS: usize = 1024;

/// An account's endpoint, checked and in canonical form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    https: bool,
    /// `host[:port]`, lowercase.
    authority: String,
    /// The account segment of a path-style endpoint, else empty.
    base: String,
    account: String,
}

impl Endpoint {
    /// Parses `http(s)://host[:port]` or `http(s)://host[:port]/<account>`.
    ///
    /// The account is the path segment of a path-style endpoint, else the
    /// first label of the host (`myaccount` of
    /// `myaccount.blob.core.windows.net`); [`Endpoint::with_account`]
    /// names it where neither says it (a custom domain).
    pub fn parse(text: &str) -> Result<Endpoint, String> {
        let text = text.trim();
        // Not quoted: a query may be a pasted SAS, user information a
        // password.
        if text.contains(['?', '#', '@']) {
            return Err(
                "the endpoint must be the account's URL alone, without a query, fragment \
                 or user name (a SAS token goes in sas-env or sas-file)"
                    .into(),
            );
        }
        let (https, rest) = split_scheme(text).ok_or_else(|| {
            format!("{text:?} is not an http:// or https:// URL of a storage account")
        })?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let authority = check_authority(authority)
            .ok_or_else(|| format!("{text:?} has no usable host[:port]"))?;
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let (base, account) = match segments.as_slice() {
            [] => {
                let host = authority
                    .rsplit_once(':')
                    .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                    .map_or(authority.as_str(), |(host, _)| host);
                // An address names no account; the config must.
                let is_ip = host.starts_with('[') || host.parse::<std::net::Ipv4Addr>().is_ok();
                let label = if is_ip {
                    ""
                } else {
                    host.split('.').next().unwrap_or_default()
                };
                (String::new(), label.to_owned())
            }
            [account] => (account.to_string(), account.to_string()),
            _ => {
                return Err(format!(
                    "{text:?} has more than one path segment; an endpoint is the account's \
                     URL, such as https://<account>.blob.core.windows.net or \
                     http://127.0.0.1:10000/<account>"
                ))
            }
        };
        Ok(Endpoint {
            https,
            authority,
            base,
            account,
        })
    }

    /// The same endpoint with the account named explicitly.
    pub fn with_account(mut self, account: &str) -> Endpoint {
        self.account = account.to_owned();
        self
    }

    /// Whether the endpoint speaks HTTPS.
    pub fn https(&self) -> bool {
        self.https
    }

    /// `host[:port]`, lowercase.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The storage account's name, as Shared Key signs it.
    pub fn account(&self) -> &str {
        &self.account
    }

    /// Whether the account is a path segment rather than part of the host.
    pub fn path_style(&self) -> bool {
        !self.base.is_empty()
    }

    /// Checks that the account name is one Azure could have: 3 to 24
    /// lowercase letters and digits. The emulator's `devstoreaccount1`
    /// passes.
    pub fn check_account(&self) -> Result<(), String> {
        let ok = (3..=24).contains(&self.account.len())
            && self
                .account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if self.account.is_empty() {
            return Err("the endpoint names no account; give the account's URL \
                 (https://<account>.blob.core.windows.net, or the emulator's \
                 http://<host>:<port>/<account>), or name it with account = \"<name>\""
                .into());
        }
        if ok {
            Ok(())
        } else {
            Err(format!(
                "{:?} is not a storage account name (3 to 24 lowercase letters and \
                 digits); name it with account = \"<name>\"",
                self.account
            ))
        }
    }

    /// The request path of a blob or container: the endpoint's own segment,
    /// the container, and the name percent-encoded as [`encode_name`] does.
    pub fn path_of(&self, container: &str, name: &str) -> String {
        let mut path = String::new();
        if !self.base.is_empty() {
            path.push('/');
            encode_into(&self.base, &mut path);
        }
        path.push('/');
        encode_into(container, &mut path);
        if !name.is_empty() {
            path.push('/');
            encode_into(name, &mut path);
        }
        path
    }

    /// The URL of a blob, or of a prefix when `name` is empty or ends in `/`.
    pub fn url_of(&self, container: &str, name: &str) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let mut url = format!("{scheme}://{}", self.authority);
        url.push_str(&self.path_of(container, name));
        if name.is_empty() {
            url.push('/');
        }
        url
    }

    /// Where `url` points under this endpoint, or `None` if it is not under
    /// it (another scheme, host, port or account).
    pub fn locate(&self, url: &BlobUrl) -> Result<Option<BlobLocation>, String> {
        if url.https != self.https || url.authority != self.authority {
            return Ok(None);
        }
        let mut rest = url.path.as_str();
        if !self.base.is_empty() {
            match rest.strip_prefix(&self.base) {
                Some(tail) if tail.is_empty() || tail.starts_with('/') => {
                    rest = tail.strip_prefix('/').unwrap_or(tail)
                }
                _ => return Ok(None),
            }
        }
        let (container, name) = rest.split_once('/').unwrap_or((rest, ""));
        if container.is_empty() {
            return Err(format!(
                "{url} names the account but no container; add /<container>/<blob> or \
                 /<container>/ for every blob in it"
            ));
        }
        check_container(container)?;
        // A container without a trailing `/` still means all of it.
        let folder = url.folder || name.is_empty();
        check_name(name, folder)?;
        Ok(Some(BlobLocation {
            container: container.to_owned(),
            name: name.to_owned(),
            folder,
            digest: url.digest.clone(),
        }))
    }
}

impl fmt::Display for Endpoint {
    /// `scheme://authority[/account]`, without a trailing `/`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.authority)?;
        if !self.base.is_empty() {
            write!(f, "/{}", self.base)?;
        }
        Ok(())
    }
}

/// A reference that is a URL, parsed but not yet matched to an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobUrl {
    https: bool,
    authority: String,
    /// The path without its leading `/`, percent-decoded.
    path: String,
    /// The URL ends in `/`.
    folder: bool,
    digest: Option<String>,
}

impl BlobUrl {
    /// Whether `text` is written as a URL (and so is no registry
    /// reference or bare name).
    pub fn looks_like_url(text: &str) -> bool {
        split_scheme(text.trim()).is_some()
    }

    /// Parses an `http(s)://` reference. Percent-escapes in the path are
    /// decoded; other characters, spaces and non-ASCII ones included, stand
    /// for themselves. A query or fragment is refused: a SAS token belongs
    /// in the store's configuration, where it never reaches output or logs.
    pub fn parse(text: &str) -> Result<BlobUrl, String> {
        let text = text.trim();
        // Before the pin is split off: its message quotes it, and what
        // follows a `?` may be a pasted SAS.
        if text.contains('?') {
            return Err(
                "a blob reference may not carry a query; put a SAS token in the \
                 store's sas-env or sas-file, not in the URL"
                    .into(),
            );
        }
        if text.contains('#') {
            return Err(
                "a blob reference may not carry a #fragment; write # in a blob \
                 name as %23"
                    .into(),
            );
        }
        let (body, digest) = match text.rsplit_once("@sha256:") {
            Some((body, hex)) => {
                let digest = format!("sha256:{hex}");
                if !is_sha256_digest(&digest) {
                    return Err(format!(
                        "the digest after @ must be sha256: and 64 lowercase hex digits, \
                         not {:?}",
                        digest
                    ));
                }
                (body, Some(digest))
            }
            None => (text, None),
        };
        let (https, rest) =
            split_scheme(body).ok_or_else(|| "expected an http:// or https:// URL".to_owned())?;
        let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if authority.contains('@') {
            return Err("a blob reference may not carry a user name".into());
        }
        let authority =
            check_authority(authority).ok_or_else(|| "the URL has no usable host".to_owned())?;
        let path = percent_decode(path.strip_prefix('/').unwrap_or(path))?;
        let folder = path.ends_with('/');
        Ok(BlobUrl {
            https,
            authority,
            path,
            folder,
            digest,
        })
    }
}

impl fmt::Display for BlobUrl {
    /// The URL for messages: scheme, host and the decoded path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}/{}", self.authority, self.path)
    }
}

/// A blob, or a prefix of blobs, in one account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobLocation {
    pub container: String,
    /// The blob's name, decoded; for a folder the prefix, empty or ending
    /// in `/`.
    pub name: String,
    pub folder: bool,
    /// The pinned content digest, if the reference had one.
    pub digest: Option<String>,
}

impl BlobLocation {
    /// The file a single blob is written as: the last segment of its name.
    pub fn file_name(&self) -> &str {
        self.name.rsplit('/').next().unwrap_or(&self.name)
    }
}

/// Checks a container name: `$root`, `$web`, `$logs`, or 3 to 63 of
/// lowercase letters, digits and single dashes, starting and ending with a
/// letter or digit.
pub fn check_container(name: &str) -> Result<(), String> {
    if matches!(name, "$root" | "$web" | "$logs") {
        return Ok(());
    }
    let bytes = name.as_bytes();
    let ok = (3..=63).contains(&bytes.len())
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
        && !name.contains("--");
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a container name: 3 to 63 lowercase letters, digits and \
             single dashes, starting and ending with a letter or digit"
        ))
    }
}

/// Checks a blob name, or a prefix when `folder` (which may be empty, or
/// ends in `/`). Segments `.` and `..` are refused: HTTP clients and
/// servers collapse them, so the request would reach another blob than the
/// one written. Empty segments, control characters and backslashes (which
/// Azure reads as `/`) are refused too.
pub fn check_name(name: &str, folder: bool) -> Result<(), String> {
    if name.is_empty() {
        return if folder {
            Ok(())
        } else {
            Err("the blob name is empty".into())
        };
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!(
            "the blob name is longer than Azure's {MAX_NAME_CHARS} characters"
        ));
    }
    if name.chars().any(char::is_control) {
        return Err("the blob name contains a control character".into());
    }
    // Azure reads `\` as `/`, so `a\..\b` would reach `b`.
    if name.contains('\\') {
        return Err(format!(
            "{name:?} contains a backslash, which Azure reads as `/`; write `/`"
        ));
    }
    let body = if folder {
        name.strip_suffix('/').unwrap_or(name)
    } else {
        name
    };
    for segment in body.split('/') {
        match segment {
            "" => return Err(format!("{name:?} has an empty path segment (`//`)")),
            "." | ".." => {
                return Err(format!(
                    "{name:?} has a {segment:?} segment, which would name another blob"
                ))
            }
            _ => {}
        }
    }
    Ok(())
}

/// Percent-encodes a blob name for a request path: every byte but
/// `A-Z a-z 0-9 - . _ ~` and `/` becomes `%XX`. This is the form the
/// request line carries and Shared Key signs, so both always agree.
pub fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    encode_into(name, &mut out);
    out
}

fn encode_into(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
}

/// Decodes `%XX` escapes; the result must be UTF-8.
pub fn percent_decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| {
                    format!(
                        "{text:?} has a % that does not start an escape like %20; write a \
                         literal % as %25"
                    )
                })?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("{text:?} decodes to bytes that are not UTF-8"))
}

/// An entity tag as an `If-Match` header carries it: a bare tag is quoted,
/// while `*`, a quoted tag and a weak `W/"..."` tag pass as they are.
pub fn quote_etag(etag: &str) -> String {
    let etag = etag.trim();
    if etag == "*" || etag.starts_with('"') || etag.starts_with("W/\"") {
        etag.to_owned()
    } else {
        format!("\"{etag}\"")
    }
}

/// The listing whose sha256 is a folder's digest: for each file, sorted by
/// path (bytewise), the line `sha256sum` prints for it, `<hex>  <path>\n`.
///
/// From a pulled copy it is
/// `find . -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 sha256sum`.
pub fn folder_listing<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> Vec<u8> {
    let digests: Vec<(&str, String)> = files
        .into_iter()
        .map(|(path, content)| (path, digest_of(content)))
        .collect();
    listing_of_digests(digests.iter().map(|(p, d)| (*p, d.as_str())))
}

/// The same listing from each file's path and `sha256:` digest, for a
/// folder that was hashed as it streamed.
pub fn listing_of_digests<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<u8> {
    let mut lines: Vec<(&str, &str)> = files
        .into_iter()
        .map(|(path, digest)| (path, digest.strip_prefix("sha256:").unwrap_or(digest)))
        .collect();
    lines.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut out = Vec::new();
    for (path, hex) in lines {
        out.extend_from_slice(hex.as_bytes());
        out.extend_from_slice(b"  ");
        out.extend_from_slice(path.as_bytes());
        out.push(b'\n');
    }
    out
}

/// The digest of a folder: the sha256 of its [`folder_listing`].
pub fn folder_digest<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let listing = folder_listing(files);
    crate::verify::sha256_digest(Sha256::new_with_prefix(&listing))
}

fn split_scheme(text: &str) -> Option<(bool, &str)> {
    let lower = |n: usize| text.get(..n).map(str::to_ascii_lowercase);
    if lower(8).as_deref() == Some("https://") {
        Some((true, &text[8..]))
    } else if lower(7).as_deref() == Some("http://") {
        Some((false, &text[7..]))
    } else {
        None
    }
}

/// A `host[:port]` that could be dialled, lowercased; `None` otherwise.
fn check_authority(text: &str) -> Option<String> {
    let lower = text.to_ascii_lowercase();
    let (host, port) = if let Some(rest) = lower.strip_prefix('[') {
        let (inside, after) = rest.split_once(']')?;
        if inside.is_empty() || !inside.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return None;
        }
        // Only a port may follow the address.
        let port = match after {
            "" => None,
            _ => Some(after.strip_prefix(':')?),
        };
        (&lower[..inside.len() + 2], port)
    } else {
        match lower.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (lower.as_str(), None),
        }
    };
    let host_ok = !host.is_empty()
        && (host.starts_with('[')
            || host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_')));
    // Digits only: `u16::from_str` would take a `+` too.
    let port_ok = port.is_none_or(|p| {
        p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u16>().is_ok_and(|p| p > 0)
    });
    (host_ok && port_ok).then_some(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMULATOR: &str = "http://127.0.0.1:10000/devstoreaccount1";

    fn locate(endpoint: &str, url: &str) -> Option<BlobLocation> {
        Endpoint::parse(endpoint)
            .unwrap()
            .locate(&BlobUrl::parse(url).unwrap())
            .unwrap()
    }

    #[test]
    fn endpoints_name_their_account() {
        let e = Endpoint::parse(EMULATOR).unwrap();
        assert_eq!(
            (e.account(), e.path_style(), e.https()),
            ("devstoreaccount1", true, false)
        );
        assert_eq!(e.to_string(), EMULATOR);
        let e = Endpoint::parse("https://MyAcct.blob.core.windows.net/").unwrap();
        assert_eq!((e.account(), e.path_style()), ("myacct", false));
        assert_eq!(e.to_string(), "https://myacct.blob.core.windows.net");
        e.check_account().unwrap();
        let e = Endpoint::parse("https://blobs.example.com").unwrap();
        assert_eq!(e.with_account("shop").account(), "shop");
    }

    #[test]
    fn endpoints_with_more_than_an_account_are_refused() {
        for bad in [
            "ftp://x",
            "127.0.0.1:10000",
            "http://127.0.0.1:10000/a/b",
            "https://a.blob.core.windows.net/?sv=1&sig=x",
            "https://user@a.blob.core.windows.net",
            "http://127.0.0.1:0/a",
            "http:///a",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
        let e = Endpoint::parse("http://127.0.0.1:10000").unwrap();
        let why = e.check_account().unwrap_err();
        assert!(why.starts_with("the endpoint names no account"), "{why}");
        assert!(why.contains("account = \"<name>\""), "{why}");
    }

    #[test]
    fn blob_urls_split_into_container_and_name() {
        let l = locate(EMULATOR, &format!("{EMULATOR}/deid/configs/my config.json")).unwrap();
        assert_eq!(l.container, "deid");
        assert_eq!(l.name, "configs/my config.json");
        assert!(!l.folder);
        assert_eq!(l.file_name(), "my config.json");

        let l = locate(EMULATOR, &format!("{EMULATOR}/deid/configs/")).unwrap();
        assert_eq!((l.name.as_str(), l.folder), ("configs/", true));
        let l = locate(EMULATOR, &format!("{EMULATOR}/deid")).unwrap();
        assert_eq!((l.name.as_str(), l.folder), ("", true));

        let host = "https://acct.blob.core.windows.net";
        let l = locate(
            host,
            "HTTPS://ACCT.blob.core.windows.net/cfg/a%20b%25c.json",
        )
        .unwrap();
        assert_eq!(
            (l.container.as_str(), l.name.as_str()),
            ("cfg", "a b%c.json")
        );
    }

    #[test]
    fn urls_elsewhere_are_not_located() {
        for url in [
            "http://127.0.0.1:10001/devstoreaccount1/cfg/x",
            "https://127.0.0.1:10000/devstoreaccount1/cfg/x",
            "http://127.0.0.1:10000/devstoreaccount2/cfg/x",
            "http://127.0.0.1:10000/devstoreaccount1x/cfg/x",
            "http://localhost:10000/devstoreaccount1/cfg/x",
        ] {
            assert_eq!(locate(EMULATOR, url), None, "{url}");
        }
    }

    #[test]
    fn names_that_would_reach_another_blob_are_refused() {
        let e = Endpoint::parse(EMULATOR).unwrap();
        for url in [
            "/cfg/a/../b",
            "/cfg/./b",
            "/cfg/a//b",
            "/cfg/a%2F..%2Fb",
            "/cfg/a%0Ab",
            "/Upper/x",
            "/c/x",
            "/",
        ] {
            let url = BlobUrl::parse(&format!("{EMULATOR}{url}")).unwrap();
            assert!(e.locate(&url).is_err(), "{url}");
        }
    }

    #[test]
    fn references_with_queries_or_bad_escapes_are_refused() {
        for bad in [
            "http://h:1/a/c/x?sig=secret",
            "http://h:1/a/c/x#frag",
            "http://h:1/a/c/100%",
            "http://h:1/a/c/%zz",
            "http://h:1/a/c/%ff",
            "http://h:1/a/c/x@sha256:abc",
            "http://u@h:1/a/c/x",
        ] {
            let err = BlobUrl::parse(bad).unwrap_err();
            assert!(!err.contains("secret"), "{err}");
        }
    }

    #[test]
    fn authorities_with_junk_after_the_address_or_a_signed_port_are_refused() {
        for bad in [
            "http://[::1]x/devstoreaccount1",
            "http://[::1]x:10000/devstoreaccount1",
            "http://127.0.0.1:+10000/devstoreaccount1",
            "http://[::1]:+10000/devstoreaccount1",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
            assert!(BlobUrl::parse(&format!("{bad}/cfg/x")).is_err(), "{bad}");
        }
        let e = Endpoint::parse("http://[::1]:10000/devstoreaccount1").unwrap();
        assert_eq!(e.authority(), "[::1]:10000");
    }

    #[test]
    fn endpoint_errors_do_not_quote_queries_or_user_information() {
        for bad in [
            "https://a.blob.core.windows.net/?sv=1&sig=secret",
            "https://a.blob.core.windows.net/#secret",
            "https://user:secret@a.blob.core.windows.net",
            "ftp://a.blob.core.windows.net/?sig=secret",
            "ftp://user:secret@a.blob.core.windows.net",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(!err.contains("secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_query_after_the_pin_is_not_quoted() {
        let hex = "a".repeat(64);
        for bad in [
            "http://h:1/a/c/x@sha256:abc?sig=secret".to_owned(),
            format!("http://h:1/a/c/x@sha256:{hex}?sig=secret"),
            format!("http://h:1/a/c/x@sha256:{hex}#secret"),
        ] {
            let err = BlobUrl::parse(&bad).unwrap_err();
            assert!(!err.contains("secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn backslashes_are_refused_since_azure_reads_them_as_slashes() {
        for name in ["a\\..\\b", "a\\b", "..\\x", "a/b\\"] {
            assert!(check_name(name, false).is_err(), "{name}");
        }
        let e = Endpoint::parse(EMULATOR).unwrap();
        for url in [
            "/cfg/a%5C..%5Cb/x.json",
            "/cfg/a\\..\\b/x.json",
            "/cfg/a%5C/",
        ] {
            let url = BlobUrl::parse(&format!("{EMULATOR}{url}")).unwrap();
            assert!(e.locate(&url).is_err(), "{url}");
        }
    }

    #[test]
    fn a_digest_suffix_pins_the_content() {
        let hex = "a".repeat(64);
        let url = BlobUrl::parse(&format!("{EMULATOR}/cfg/x.json@sha256:{hex}")).unwrap();
        let l = Endpoint::parse(EMULATOR)
            .unwrap()
            .locate(&url)
            .unwrap()
            .unwrap();
        assert_eq!(l.name, "x.json");
        assert_eq!(l.digest, Some(format!("sha256:{hex}")));
        // An @ inside the name is part of it.
        let l = locate(EMULATOR, &format!("{EMULATOR}/cfg/a@b")).unwrap();
        assert_eq!((l.name.as_str(), l.digest), ("a@b", None));
    }

    #[test]
    fn names_are_encoded_for_the_request_path() {
        assert_eq!(
            encode_name("dir/a b!$&'()*,;=@%ñ日~.json"),
            "dir/a%20b%21%24%26%27%28%29%2A%2C%3B%3D%40%25%C3%B1%E6%97%A5~.json"
        );
        let e = Endpoint::parse(EMULATOR).unwrap();
        assert_eq!(e.path_of("cfg", "a b"), "/devstoreaccount1/cfg/a%20b");
        assert_eq!(e.path_of("cfg", ""), "/devstoreaccount1/cfg");
        assert_eq!(e.url_of("cfg", ""), format!("{EMULATOR}/cfg/"));
        let e = Endpoint::parse("https://acct.blob.core.windows.net").unwrap();
        assert_eq!(e.path_of("$root", "x"), "/%24root/x");
        for name in ["a b", "ñ/日本", "%41", "!$&'()*,;=@"] {
            assert_eq!(percent_decode(&encode_name(name)).unwrap(), name);
        }
    }

    #[test]
    fn bare_etags_are_quoted() {
        assert_eq!(quote_etag("0x8D1"), "\"0x8D1\"");
        assert_eq!(quote_etag("\"0x8D1\""), "\"0x8D1\"");
        assert_eq!(quote_etag("W/\"x\""), "W/\"x\"");
        assert_eq!(quote_etag("*"), "*");
    }

    #[test]
    fn the_folder_listing_is_what_sha256sum_prints_sorted() {
        let files: [(&str, &[u8]); 3] = [("b.txt", b"b\n"), ("a/z.txt", b""), ("B", b"x")];
        let listing = String::from_utf8(folder_listing(files)).unwrap();
        assert_eq!(
            listing,
            "2d711642b726b04401627ca9fbac32f5c8530fb1903cc4db02258717921a4881  B\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855  a/z.txt\n\
             0263829989b6fd954f72baaf2fc64bc2e2f01d692d4de72986ea808f6e99813f  b.txt\n"
        );
        assert_eq!(
            folder_digest(files),
            digest_of(listing.as_bytes()),
            "the digest is the listing's"
        );
    }
}
