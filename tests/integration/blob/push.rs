//! Pushes that the SDK reads back: a file, a folder, and files on either
//! side of the 16 MiB line between Put Blob and Put Block.

use std::fs;

use super::{file_map, folder_digest, source_with, Account, MIB};
use crate::common::cli::{Run, Workdir};
use crate::common::content::{self, files_only, snapshot, write_files};
use crate::common::push::sha256;

/// The digest a successful push printed, which must be its whole stdout.
fn printed_digest(run: &Run) -> String {
    let digest = run.success().trim().to_owned();
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "push printed {digest:?}, not a digest"
    );
    digest
}

#[test]
fn a_pushed_file_is_downloaded_by_the_sdk_byte_for_byte() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let src = source_with(&[
        ("config.json", content::DEID_CONFIG.as_bytes().to_vec()),
        ("rules.bin", content::pseudo_random(70_000, 7)),
    ]);
    let cli = account.shared_key();

    // To a blob URL: that blob.
    let run = cli.push(
        src.path(),
        "config.json",
        &account.url("deid", "configs/v2/deid.json"),
        &[],
    );
    assert_eq!(
        printed_digest(&run),
        sha256(content::DEID_CONFIG.as_bytes())
    );
    assert_eq!(
        account.sdk.download("deid", "configs/v2/deid.json"),
        content::DEID_CONFIG.as_bytes()
    );
    let props = account.sdk.properties("deid", "configs/v2/deid.json");
    assert_eq!(props.content_type.as_deref(), Some("application/json"));

    // To a prefix URL: the file's base name under it.
    let rules = fs::read(src.path().join("rules.bin")).unwrap();
    let run = cli.push(
        src.path(),
        "rules.bin",
        &account.url("deid", "configs/v2/"),
        &[],
    );
    assert_eq!(printed_digest(&run), sha256(&rules));
    assert_eq!(account.sdk.download("deid", "configs/v2/rules.bin"), rules);
    let props = account.sdk.properties("deid", "configs/v2/rules.bin");
    assert_eq!(
        props.content_type.as_deref(),
        Some("application/octet-stream")
    );
}

#[test]
fn a_pushed_folder_is_downloaded_by_the_sdk_and_pulls_back_with_the_printed_digest() {
    let account = Account::start();
    account.sdk.create_container("templates", None);
    let templates = content::templates();
    let src = tempfile::tempdir().unwrap();
    write_files(&src.path().join("hl7v2-templates"), &templates);
    let expected = file_map(&templates);
    let cli = account.shared_key();

    // A folder to a prefix URL: each file at <prefix><path in the folder>.
    let run = cli.push(
        src.path(),
        "hl7v2-templates",
        &account.url("templates", "hl7v2/"),
        &[],
    );
    let digest = printed_digest(&run);
    assert_eq!(digest, folder_digest(&expected));
    assert_eq!(account.sdk.download_prefix("templates", "hl7v2/"), expected);

    // A URL without the trailing `/` is taken as the prefix too.
    let run = cli.push(
        src.path(),
        "hl7v2-templates",
        &account.url("templates", "ccda"),
        &[],
    );
    assert_eq!(printed_digest(&run), digest);
    assert_eq!(account.sdk.download_prefix("templates", "ccda/"), expected);

    // push then pull give the same digest.
    let work = Workdir::new();
    let report = cli.pull_json(&account.url("templates", "hl7v2/"), &work.out(), &[]);
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(files_only(snapshot(&work.out())), expected);
}

#[test]
fn a_pushed_file_over_16_mib_goes_in_8_mib_blocks_that_the_sdk_reads_back() {
    let account = Account::start();
    account.sdk.create_container("big", None);
    let bytes = content::pseudo_random(20 * MIB + 5, 1234);
    let src = source_with(&[("big.bin", bytes.clone())]);
    let cli = account.shared_key();

    let run = cli.push(src.path(), "big.bin", &account.url("big", "big.bin"), &[]);

    assert_eq!(printed_digest(&run), sha256(&bytes));
    let props = account.sdk.properties("big", "big.bin");
    assert_eq!(props.size, bytes.len() as u64);
    assert_eq!(
        props.blocks,
        vec![8 * MIB as u64, 8 * MIB as u64, 4 * MIB as u64 + 5],
        "Put Block in 8 MiB blocks, then Put Block List"
    );
    assert!(account.sdk.download("big", "big.bin") == bytes);
}

#[test]
fn a_pushed_file_of_exactly_16_mib_goes_in_one_put_blob() {
    let account = Account::start();
    account.sdk.create_container("big", None);
    let bytes = content::pseudo_random(16 * MIB, 99);
    let src = source_with(&[("edge.bin", bytes.clone())]);
    let cli = account.shared_key();

    let run = cli.push(src.path(), "edge.bin", &account.url("big", "edge.bin"), &[]);

    assert_eq!(printed_digest(&run), sha256(&bytes));
    let props = account.sdk.properties("big", "edge.bin");
    assert_eq!(props.size, bytes.len() as u64);
    assert!(
        props.blocks.is_empty(),
        "a blob written by one Put Blob has no committed blocks, not {:?}",
        props.blocks
    );
    assert!(account.sdk.download("big", "edge.bin") == bytes);
}

#[test]
fn a_blob_push_with_an_artifact_type_or_annotation_is_invalid_input() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let src = source_with(&[("config.json", content::DEID_CONFIG.as_bytes().to_vec())]);
    let cli = account.shared_key();
    let url = account.url("deid", "config.json");

    cli.push(
        src.path(),
        "config.json",
        &url,
        &["--artifact-type", "application/vnd.test"],
    )
    .failure("InvalidInput");
    cli.push(src.path(), "config.json", &url, &["--annotation", "a=b"])
        .failure("InvalidInput");
    assert!(
        account.sdk.list("deid", "").is_empty(),
        "a refused push wrote a blob"
    );
}
