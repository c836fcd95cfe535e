//! Blob names that need escaping, pulled and pushed with Shared Key, so
//! that the signing sees them too.

use std::collections::BTreeMap;

use super::{file_map, Account};
use crate::common::cli::Workdir;
use crate::common::content::{files_only, snapshot, write_files};

/// Blob names under `names/`: a space, every reserved character, `%`,
/// non-ASCII letters and a folder whose name needs escaping too.
fn awkward_names() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("my config.json", b"{\"space\": true}\n".to_vec()),
        ("reserved !$&'()*,;=@.txt", b"reserved\n".to_vec()),
        ("100% sure.txt", b"percent\n".to_vec()),
        (
            "\u{f1}and\u{fa} \u{65e5}\u{672c}.txt",
            "non-ASCII \u{65e5}\u{672c}\n".as_bytes().to_vec(),
        ),
        ("sub dir (1)/\u{f1}/x&y.txt", b"nested\n".to_vec()),
    ]
}

/// The last segment of a blob name.
fn base_name(name: &str) -> &str {
    name.rsplit('/').next().expect("a segment")
}

/// `name` with every byte outside RFC 3986's unreserved set (and `/`)
/// percent-escaped.
fn percent_encode_all(name: &str) -> String {
    name.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `name` as a reference spells it raw: only `%` needs its escape.
fn escape_percent(name: &str) -> String {
    name.replace('%', "%25")
}

#[test]
fn pulls_blobs_whose_names_need_escaping_by_raw_and_encoded_urls() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let names = awkward_names();
    for (name, bytes) in &names {
        account
            .sdk
            .upload("deid", &format!("names/{name}"), bytes, None);
    }
    let cli = account.shared_key();

    for (name, bytes) in &names {
        let full = format!("names/{name}");
        let expected = BTreeMap::from([(base_name(name).to_owned(), bytes.clone())]);
        for spelt in [escape_percent(&full), percent_encode_all(&full)] {
            let work = Workdir::new();
            let reference = account.url("deid", &spelt);
            cli.pull(&reference, &work.out(), &[]).success();
            assert_eq!(
                files_only(snapshot(&work.out())),
                expected,
                "pulled {reference}"
            );
        }
    }

    // The same names through a listing, where they come back XML-escaped.
    let work = Workdir::new();
    cli.pull(&account.url("deid", "names/"), &work.out(), &[])
        .success();
    assert_eq!(files_only(snapshot(&work.out())), file_map(&names));
}

#[test]
fn pushes_blobs_whose_names_need_escaping_that_the_sdk_reads_back() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let names = awkward_names();
    let src = tempfile::tempdir().unwrap();
    write_files(&src.path().join("names"), &names);
    let cli = account.shared_key();

    // Each file to a blob URL spelt raw, and once more fully encoded.
    for (name, bytes) in &names {
        let path = format!("names/{name}");
        let raw = account.url("deid", &escape_percent(&format!("raw/{name}")));
        cli.push(src.path(), &path, &raw, &[]).success();
        assert_eq!(
            &account.sdk.download("deid", &format!("raw/{name}")),
            bytes,
            "pushed to {raw}"
        );

        let encoded = account.url("deid", &percent_encode_all(&format!("encoded/{name}")));
        cli.push(src.path(), &path, &encoded, &[]).success();
        assert_eq!(
            &account.sdk.download("deid", &format!("encoded/{name}")),
            bytes,
            "pushed to {encoded}"
        );
    }

    // The folder to a prefix: every name under it.
    cli.push(src.path(), "names", &account.url("deid", "folder/"), &[])
        .success();
    assert_eq!(
        account.sdk.download_prefix("deid", "folder/"),
        file_map(&names)
    );
}
