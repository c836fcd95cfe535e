//! Each way a blob pull must fail that is not about credentials: limits,
//! what is not there, and references that are refused.

use std::fs;

use super::{Account, Auth, EXPORT_CONTAINER};
use crate::common::azurite::Azurite;
use crate::common::cli::Workdir;
use crate::common::content;
use crate::common::tripwire::Tripwire;

const SMALL_OPERATION: &str = "[operation.small]\nmax-size = \"1KiB\"";

#[test]
fn a_blob_over_the_operation_limit_is_too_large_and_one_at_it_is_pulled() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    account.sdk.upload("deid", "big.json", &[b' '; 1025], None);
    account.sdk.upload("deid", "edge.json", &[b' '; 1024], None);
    let cli = account.cli(Auth::SharedKey, "", SMALL_OPERATION);

    cli.pull_fails(
        &account.url("deid", "big.json"),
        &["--operation", "small"],
        "TooLargeArtifacts",
    );

    let work = Workdir::new();
    cli.pull(
        &account.url("deid", "edge.json"),
        &work.out(),
        &["--operation", "small"],
    )
    .success();
    assert_eq!(fs::read(work.out().join("edge.json")).unwrap().len(), 1024);
}

#[test]
fn a_prefix_whose_total_is_over_the_operation_limit_is_too_large() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    // Each blob fits; together they do not.
    for name in ["set/a.json", "set/b.json", "set/c/d.json"] {
        account.sdk.upload("deid", name, &[b' '; 400], None);
    }
    let cli = account.cli(Auth::SharedKey, "list-page-size = 2", SMALL_OPERATION);

    cli.pull_fails(
        &account.url("deid", "set/"),
        &["--operation", "small"],
        "TooLargeArtifacts",
    );

    // Within the limit without the third blob.
    let work = Workdir::new();
    cli.pull(
        &account.url("deid", "set/c/"),
        &work.out(),
        &["--operation", "small"],
    )
    .success();
}

#[test]
fn a_missing_container_is_not_found_with_azures_code() {
    let account = Account::start();
    let cli = account.shared_key();

    for reference in [
        account.url("no-such-container", "config.json"),
        account.url("no-such-container", "templates/"),
    ] {
        let line = cli.pull_fails(&reference, &[], "ArtifactNotFound");
        assert!(
            line.contains("no-such-container") && line.contains("ContainerNotFound"),
            "the message does not name the container and Azure's code: {line}"
        );
    }
}

#[test]
fn a_missing_blob_is_not_found_with_azures_code() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let cli = account.shared_key();

    let line = cli.pull_fails(
        &account.url("deid", "configs/missing-config.json"),
        &[],
        "ArtifactNotFound",
    );
    assert!(
        line.contains("missing-config.json") && line.contains("BlobNotFound"),
        "the message does not name the blob and Azure's code: {line}"
    );
}

#[test]
fn a_blob_url_under_an_unregistered_endpoint_fails_to_connect_and_sends_nothing() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    let tripwire = Tripwire::new();
    let cli = account.shared_key();

    // Another port, and another account on the same port.
    for reference in [
        format!(
            "http://127.0.0.1:{}/{}/deid/config.json",
            tripwire.port(),
            Azurite::ACCOUNT
        ),
        format!(
            "http://127.0.0.1:{}/otheraccount/deid/config.json",
            account.azurite.port()
        ),
    ] {
        cli.pull_fails(&reference, &[], "FailedToConnectToArtifactStore");
    }
    tripwire.assert_untouched();
}

#[test]
fn a_bare_name_of_dot_or_dot_dot_is_an_invalid_reference() {
    let account = Account::start();
    account.sdk.create_container(EXPORT_CONTAINER, None);
    let cli = account.cli(Auth::SharedKey, "export-destination = true", "");

    for name in ["..", "."] {
        cli.pull_fails(name, &[], "InvalidReference");
    }
}

#[test]
fn a_bare_name_without_an_export_destination_fails_to_connect() {
    let account = Account::start();
    account.sdk.create_container(EXPORT_CONTAINER, None);
    account
        .sdk
        .upload(EXPORT_CONTAINER, "config-file.json", b"{}", None);
    let cli = account.shared_key();

    cli.pull_fails("config-file.json", &[], "FailedToConnectToArtifactStore");
}

#[test]
fn a_blob_reference_with_a_query_a_fragment_or_a_stray_percent_is_invalid() {
    let account = Account::start();
    account.sdk.create_container("deid", None);
    account
        .sdk
        .upload("deid", "config.json", content::DEID_CONFIG.as_bytes(), None);
    let cli = account.shared_key();
    let url = account.url("deid", "config.json");

    for reference in [
        format!("{url}?sv=2021-08-06&sig=abc"),
        format!("{url}#part"),
        account.url("deid", "100%zz.json"),
        account.url("deid", "trailing%2"),
    ] {
        cli.pull_fails(&reference, &[], "InvalidReference");
    }
}
