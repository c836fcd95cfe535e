//! Credentials: SAS tokens, anonymous access to public and private
//! containers, and a wrong account key. Shared Key is what every other
//! test uses.

use std::collections::BTreeMap;

use artifact_store_core::blob::percent_decode;
use base64::Engine as _;

use super::{source_with, upload_template_folder, Account, Auth};
use crate::common::azure_sdk::Public;
use crate::common::cli::Workdir;
use crate::common::content::{self, files_only, snapshot};

#[test]
fn pulls_with_a_container_sas_from_sas_env_and_never_prints_it() {
    let account = Account::start();
    let expected = upload_template_folder(&account.sdk, "hl7v2", None);
    let token = account.sdk.sas("hl7v2", "rl", None);
    let signature = token
        .split('&')
        .find_map(|pair| pair.strip_prefix("sig="))
        .expect("a SAS has a signature");
    // Base64 of 32 bytes: 20 characters are never printed by chance.
    let signature =
        percent_decode(signature).expect("a percent-encoded signature")[..20].to_owned();

    // With and without the leading `?`: both are how Azure hands them out.
    for token in [token.clone(), format!("?{token}")] {
        let cli = account.cli(Auth::Sas(token), "list-page-size = 2", "");

        let work = Workdir::new();
        let run = cli.pull(&account.url("hl7v2", "templates/"), &work.out(), &["-vv"]);
        run.success();
        assert_eq!(files_only(snapshot(&work.out())), expected);

        let work = Workdir::new();
        cli.pull(
            &account.url("hl7v2", "templates/ADT_A01.liquid"),
            &work.out(),
            &[],
        )
        .success();
        assert_eq!(
            files_only(snapshot(&work.out())),
            BTreeMap::from([(
                "ADT_A01.liquid".to_owned(),
                expected["ADT_A01.liquid"].clone()
            )])
        );

        for text in [run.stdout(), run.stderr()] {
            assert!(
                !text.contains(&signature),
                "the SAS signature was printed:\n{text}"
            );
        }
    }
}

#[test]
fn a_read_only_sas_cannot_push_and_a_writable_one_can() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let src = source_with(&[("config.json", content::DEID_CONFIG.as_bytes().to_vec())]);
    let url = account.url("deid", "config.json");

    let read_only = account.cli(Auth::Sas(account.sdk.sas("deid", "rl", None)), "", "");
    let (_, line) = read_only
        .push(src.path(), "config.json", &url, &[])
        .failure_one_of(&["Forbidden", "Unauthorized"]);
    assert!(
        line.contains("AuthorizationPermissionMismatch"),
        "the message does not keep Azure's error code: {line}"
    );
    assert!(account.sdk.list("deid", "").is_empty());

    let writable = account.cli(Auth::Sas(account.sdk.sas("deid", "rwl", None)), "", "");
    writable
        .push(src.path(), "config.json", &url, &[])
        .success();
    assert_eq!(
        account.sdk.download("deid", "config.json"),
        content::DEID_CONFIG.as_bytes()
    );
}

#[test]
fn pulls_anonymously_from_public_containers() {
    let account = Account::start();
    let expected = upload_template_folder(&account.sdk, "listable", Some(Public::Container));
    account
        .sdk
        .create_container("blobs-only", Some(Public::Blob));
    account.sdk.upload(
        "blobs-only",
        "deid/config.json",
        content::DEID_CONFIG.as_bytes(),
        None,
    );
    let cli = account.cli(Auth::Anonymous, "list-page-size = 2", "");

    // A container public at container level may be listed: a prefix pull.
    let work = Workdir::new();
    cli.pull(&account.url("listable", "templates/"), &work.out(), &[])
        .success();
    assert_eq!(files_only(snapshot(&work.out())), expected);

    // A container public at blob level: its blobs may be read.
    let work = Workdir::new();
    cli.pull(
        &account.url("blobs-only", "deid/config.json"),
        &work.out(),
        &[],
    )
    .success();
    assert_eq!(
        files_only(snapshot(&work.out())),
        BTreeMap::from([(
            "config.json".to_owned(),
            content::DEID_CONFIG.as_bytes().to_vec()
        )])
    );
}

/// Azure codes a refused anonymous request may carry: Azure answers 404
/// `ResourceNotFound` (or 409 `PublicAccessNotPermitted`), Azurite 403
/// `AuthorizationFailure`.
const ANONYMOUS_REFUSALS: &[&str] = &[
    "AuthorizationFailure",
    "NoAuthenticationInformation",
    "AuthenticationFailed",
    "ResourceNotFound",
    "PublicAccessNotPermitted",
    "BlobNotFound",
    "ContainerNotFound",
];

#[test]
fn an_anonymous_pull_from_a_private_container_fails_clearly() {
    let account = Account::start();
    account.sdk.create_container("private-deid", None);
    account.sdk.upload(
        "private-deid",
        "config.json",
        content::DEID_CONFIG.as_bytes(),
        None,
    );
    let cli = account.cli(Auth::Anonymous, "", "");

    for reference in [
        account.url("private-deid", "config.json"),
        account.url("private-deid", ""),
    ] {
        let (_, line) = cli.pull_fails_one_of(
            &reference,
            &[],
            &["Unauthorized", "Forbidden", "ArtifactNotFound"],
        );
        assert!(
            line.contains("private-deid"),
            "the message does not name the container: {line}"
        );
        assert!(
            ANONYMOUS_REFUSALS.iter().any(|code| line.contains(code)),
            "the message does not keep Azure's error code: {line}"
        );
    }
}

#[test]
fn a_wrong_account_key_is_refused_and_never_printed() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    account
        .sdk
        .upload("deid", "config.json", content::DEID_CONFIG.as_bytes(), None);
    let wrong_key = base64::engine::general_purpose::STANDARD.encode(content::pseudo_random(64, 5));
    let cli = account.cli(Auth::Key(wrong_key.clone()), "", "");

    let work = Workdir::new();
    let before = work.snapshot();
    let run = cli.pull(&account.url("deid", "config.json"), &work.out(), &["-vv"]);
    // Azure answers a bad signature with 403 AuthenticationFailed, which
    // the interface maps to Unauthorized; Azurite answers 403
    // AuthorizationFailure, which it maps to Forbidden.
    let (_, line) = run.failure_one_of(&["Unauthorized", "Forbidden"]);
    work.assert_unchanged(&before);
    assert!(
        line.contains("AuthenticationFailed") || line.contains("AuthorizationFailure"),
        "the message does not keep Azure's error code: {line}"
    );
    for text in [run.stdout(), run.stderr()] {
        assert!(!text.contains(&wrong_key), "the key was printed:\n{text}");
        assert!(
            !text.contains(&wrong_key[..20]),
            "part of the key was printed:\n{text}"
        );
    }
}
