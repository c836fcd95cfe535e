//! Pulls of what the SDK uploaded: single blobs, prefixes over several
//! list pages, whole containers, and pins to the content digest.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use super::{
    folder_digest, upload_template_folder, Account, Auth, Cli, EXPORT_CONTAINER, FOLDER_MEDIA_TYPE,
    KEY_ENV, MIB,
};
use crate::common::azurite::Azurite;
use crate::common::cli::Workdir;
use crate::common::content::{self, files_only, snapshot};
use crate::common::process;
use crate::common::push::sha256;

/// The same digest as coreutils computes it, with the pipeline the
/// interface quotes, over the files under `dir`.
fn sha256sum_of_folder(dir: &Path) -> String {
    let mut command = Command::new("bash");
    command.current_dir(dir).args([
        "-c",
        "find . -type f -printf '%P\\0' | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum",
    ]);
    let output = process::run(command, Duration::from_secs(30));
    assert!(output.status.success(), "sha256sum: {}", output.stderr);
    let hex = output.stdout.split_whitespace().next().expect("a sum");
    format!("sha256:{hex}")
}

#[test]
fn pulls_a_bare_file_name_from_the_export_destination_with_the_issues_config() {
    let account = Account::start();
    account.sdk.create_container(EXPORT_CONTAINER, None);
    account.sdk.upload(
        EXPORT_CONTAINER,
        "config-file.json",
        content::DEID_CONFIG.as_bytes(),
        Some("application/json"),
    );
    // The issue's config, word for word but for the port.
    let text = format!(
        "[[store]]\n\
         kind = \"azure-blob\"\n\
         endpoint = \"{}\"\n\
         account-key-env = \"AZURE_STORAGE_KEY\"\n\
         export-destination = true\n",
        account.azurite.endpoint()
    );
    let cli = Cli::new(&text, vec![(KEY_ENV, Azurite::KEY.to_owned())]);
    let work = Workdir::new();

    cli.pull(
        "config-file.json",
        &work.out(),
        &["--operation", "anonymization"],
    )
    .success();

    assert_eq!(
        files_only(snapshot(&work.out())),
        BTreeMap::from([(
            "config-file.json".to_owned(),
            content::DEID_CONFIG.as_bytes().to_vec()
        )])
    );
}

#[test]
fn pulls_a_blob_uploaded_by_the_sdk_byte_for_byte() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let bytes = content::pseudo_random(3 * MIB + 17, 41);
    account
        .sdk
        .upload("deid", "configs/v1/payload.bin", &bytes, None);
    let cli = account.shared_key();
    let work = Workdir::new();

    let report = cli.pull_json(
        &account.url("deid", "configs/v1/payload.bin"),
        &work.out(),
        &[],
    );

    // Written under the last segment of its name.
    assert_eq!(
        files_only(snapshot(&work.out())),
        BTreeMap::from([("payload.bin".to_owned(), bytes.clone())])
    );
    assert_eq!(report["digest"], sha256(&bytes).as_str());
    assert_eq!(
        report["files"],
        serde_json::json!([{"path": "payload.bin", "size": bytes.len()}])
    );
    assert_eq!(report["size"], bytes.len());
}

#[test]
fn pull_json_reports_the_blobs_content_type() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    account.sdk.upload(
        "deid",
        "config.json",
        content::DEID_CONFIG.as_bytes(),
        Some("application/json"),
    );
    let cli = account.shared_key();
    let work = Workdir::new();

    let reference = account.url("deid", "config.json");
    let report = cli.pull_json(&reference, &work.out(), &[]);

    assert_eq!(report["mediaType"], "application/json");
    assert_eq!(report["reference"], reference.as_str());
}

#[test]
fn pulls_a_prefix_over_several_list_pages_as_a_folder_byte_for_byte() {
    let account = Account::start();
    let expected = upload_template_folder(&account.sdk, "hl7v2", None);
    let cli = account.cli(Auth::SharedKey, "list-page-size = 2", "");
    let work = Workdir::new();

    let report = cli.pull_json(&account.url("hl7v2", "templates/"), &work.out(), &[]);

    assert_eq!(files_only(snapshot(&work.out())), expected);
    assert_eq!(report["mediaType"], FOLDER_MEDIA_TYPE);
    assert_eq!(report["etag"], Value::Null);
    assert_eq!(report["digest"], folder_digest(&expected).as_str());
    let total: usize = expected.values().map(Vec::len).sum();
    assert_eq!(report["size"], total);
}

#[test]
fn pulls_a_whole_container_from_its_url_with_a_trailing_slash() {
    let account = Account::start();
    let templates = upload_template_folder(&account.sdk, "hl7v2", None);
    let cli = account.cli(Auth::SharedKey, "list-page-size = 2", "");
    let work = Workdir::new();

    cli.pull(&account.url("hl7v2", ""), &work.out(), &[])
        .success();

    let mut expected: BTreeMap<String, Vec<u8>> = templates
        .into_iter()
        .map(|(path, bytes)| (format!("templates/{path}"), bytes))
        .collect();
    expected.insert("templates-old/ADT_A01.liquid".to_owned(), b"old".to_vec());
    expected.insert("templates.txt".to_owned(), b"beside".to_vec());
    assert_eq!(files_only(snapshot(&work.out())), expected);
}

#[test]
fn a_blob_pinned_to_the_digest_of_a_first_pull_is_pulled_and_a_wrong_one_refused() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    account
        .sdk
        .upload("deid", "config.json", content::DEID_CONFIG.as_bytes(), None);
    let cli = account.shared_key();
    let url = account.url("deid", "config.json");

    let first = Workdir::new();
    let report = cli.pull_json(&url, &first.out(), &[]);
    let digest = report["digest"].as_str().expect("digest").to_owned();
    assert_eq!(digest, sha256(content::DEID_CONFIG.as_bytes()));

    let work = Workdir::new();
    cli.pull(&format!("{url}@{digest}"), &work.out(), &[])
        .success();
    assert_eq!(
        fs::read(work.out().join("config.json")).unwrap(),
        content::DEID_CONFIG.as_bytes()
    );

    let wrong = sha256(b"something else");
    cli.pull_fails(&format!("{url}@{wrong}"), &[], "DigestMismatch");
}

#[test]
fn a_folder_digest_is_the_sha256sum_listing_and_pins_the_prefix() {
    let account = Account::start();
    let expected = upload_template_folder(&account.sdk, "hl7v2", None);
    let cli = account.cli(Auth::SharedKey, "list-page-size = 2", "");
    let url = account.url("hl7v2", "templates/");

    let work = Workdir::new();
    let report = cli.pull_json(&url, &work.out(), &[]);
    let digest = report["digest"].as_str().expect("digest").to_owned();
    assert_eq!(digest, folder_digest(&expected));
    assert_eq!(digest, sha256sum_of_folder(&work.out()));

    let pinned = Workdir::new();
    cli.pull(&format!("{url}@{digest}"), &pinned.out(), &[])
        .success();
    assert_eq!(files_only(snapshot(&pinned.out())), expected);

    let wrong = sha256(b"not the listing");
    cli.pull_fails(&format!("{url}@{wrong}"), &[], "DigestMismatch");
}
