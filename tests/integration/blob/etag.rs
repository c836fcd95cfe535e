//! ETags: what `pull --json` reports and what `--if-match` does.

use std::fs;

use super::{upload_template_folder, Account};
use crate::common::cli::Workdir;
use crate::common::content;

#[test]
fn pull_json_reports_the_sdks_etag_and_if_match_takes_it_bare_or_quoted() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    account
        .sdk
        .upload("deid", "config.json", content::DEID_CONFIG.as_bytes(), None);
    let etag = account.sdk.etag("deid", "config.json");
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "the SDK reports the header's quoted value: {etag}"
    );
    let cli = account.shared_key();
    let reference = account.url("deid", "config.json");

    let work = Workdir::new();
    let report = cli.pull_json(&reference, &work.out(), &[]);
    assert_eq!(report["etag"], etag.as_str());

    let bare = etag.trim_matches('"');
    for if_match in [bare, etag.as_str()] {
        let work = Workdir::new();
        cli.pull(&reference, &work.out(), &["--if-match", if_match])
            .success();
        assert_eq!(
            fs::read(work.out().join("config.json")).unwrap(),
            content::DEID_CONFIG.as_bytes()
        );
    }
}

#[test]
fn a_stale_if_match_is_a_precondition_failure_that_leaves_the_output_alone() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    account
        .sdk
        .upload("deid", "config.json", b"{\"v\": 1}\n", None);
    let old = account.sdk.etag("deid", "config.json");
    let cli = account.shared_key();
    let reference = account.url("deid", "config.json");
    let work = Workdir::new();
    cli.pull(&reference, &work.out(), &["--if-match", &old])
        .success();

    account
        .sdk
        .upload("deid", "config.json", b"{\"v\": 2}\n", None);
    let new = account.sdk.etag("deid", "config.json");
    assert_ne!(old, new, "a new upload changes the ETag");

    let before = work.snapshot();
    for stale in [old.as_str(), old.trim_matches('"')] {
        let line = cli
            .pull(&reference, &work.out(), &["--force", "--if-match", stale])
            .failure("PreconditionFailed");
        work.assert_unchanged(&before);
        assert!(
            line.contains("ConditionNotMet"),
            "the message does not keep Azure's error code: {line}"
        );
    }

    cli.pull(&reference, &work.out(), &["--force", "--if-match", &new])
        .success();
    assert_eq!(
        fs::read(work.out().join("config.json")).unwrap(),
        b"{\"v\": 2}\n"
    );
}

#[test]
fn if_match_on_a_prefix_is_an_invalid_reference() {
    let account = Account::start();
    upload_template_folder(&account.sdk, "hl7v2", None);
    let etag = account.sdk.etag("hl7v2", "templates/ADT_A01.liquid");
    let cli = account.shared_key();

    cli.pull_fails(
        &account.url("hl7v2", "templates/"),
        &["--if-match", &etag],
        "InvalidReference",
    );
}
