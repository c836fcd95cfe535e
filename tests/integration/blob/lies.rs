//! What no real Blob service does: listings that name blobs outside the
//! prefix, paths that climb out of the output, names given twice, sizes
//! the bodies do not keep, and page markers that come round again. An
//! in-process server tells these lies; the pull must refuse each one and
//! write nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;

use super::Cli;
use crate::common::serve::Server;

/// The account the lying server pretends to be.
const ACCOUNT: &str = "liaraccount";

/// The container every case lists.
const CONTAINER: &str = "deid";

/// One page of a listing: its blobs (name and listed size) and the
/// NextMarker it sends.
type Page = (Vec<(String, u64)>, Option<String>);

/// What the server answers.
#[derive(Default, Clone)]
struct Lies {
    /// Each page of the listing. A request with `marker=M` gets the page
    /// after the one whose NextMarker was M; page 0 otherwise.
    pages: Vec<Page>,
    /// Blob bodies by name.
    bodies: HashMap<String, Vec<u8>>,
}

impl Lies {
    fn page(mut self, blobs: &[(&str, u64)], next_marker: Option<&str>) -> Lies {
        self.pages.push((
            blobs.iter().map(|(n, s)| ((*n).to_owned(), *s)).collect(),
            next_marker.map(str::to_owned),
        ));
        self
    }

    fn body(mut self, name: &str, bytes: &[u8]) -> Lies {
        self.bodies.insert(name.to_owned(), bytes.to_vec());
        self
    }
}

struct LyingAccount {
    server: Server,
}

impl LyingAccount {
    fn start(lies: Lies) -> LyingAccount {
        let app = Router::new().fallback(answer).with_state(Arc::new(lies));
        LyingAccount {
            server: Server::start(app),
        }
    }

    fn url(&self, name: &str) -> String {
        format!(
            "http://{}/{ACCOUNT}/{CONTAINER}/{name}",
            self.server.authority()
        )
    }

    /// An anonymous store for the lying account.
    fn cli(&self) -> Cli {
        let text = format!(
            "[[store]]\n\
             kind = \"azure-blob\"\n\
             endpoint = \"http://{}/{ACCOUNT}\"\n",
            self.server.authority()
        );
        Cli::new(&text, Vec::new())
    }
}

async fn answer(State(lies): State<Arc<Lies>>, uri: Uri) -> Response {
    // The markers and parameters here need no unescaping.
    let query: HashMap<&str, &str> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .collect();
    let container_path = format!("/{ACCOUNT}/{CONTAINER}");
    if uri.path() == container_path && query.get("comp") == Some(&"list") {
        let index = match query.get("marker") {
            None => 0,
            Some(marker) => {
                match lies
                    .pages
                    .iter()
                    .position(|(_, next)| next.as_deref() == Some(*marker))
                {
                    Some(i) => (i + 1).min(lies.pages.len() - 1),
                    None => return StatusCode::BAD_REQUEST.into_response(),
                }
            }
        };
        let (blobs, next) = &lies.pages[index];
        return (
            [(header::CONTENT_TYPE, "application/xml")],
            listing(blobs, next),
        )
            .into_response();
    }
    let name = uri
        .path()
        .strip_prefix(&format!("{container_path}/"))
        .unwrap_or_default();
    match lies.bodies.get(name) {
        Some(bytes) => (
            [
                (header::ETAG, "\"0x8DCAFE\""),
                (header::CONTENT_TYPE, "application/octet-stream"),
            ],
            bytes.clone(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            [("x-ms-error-code", "BlobNotFound")],
            "",
        )
            .into_response(),
    }
}

/// A List Blobs page as the service writes it.
fn listing(blobs: &[(String, u64)], next: &Option<String>) -> String {
    let mut xml = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\
         <EnumerationResults ContainerName=\"deid\"><Blobs>",
    );
    for (name, size) in blobs {
        xml.push_str(&format!(
            "<Blob><Name>{name}</Name><Properties>\
             <Content-Length>{size}</Content-Length><Etag>0x8DCAFE</Etag>\
             </Properties></Blob>"
        ));
    }
    xml.push_str("</Blobs>");
    match next {
        Some(marker) => xml.push_str(&format!("<NextMarker>{marker}</NextMarker>")),
        None => xml.push_str("<NextMarker/>"),
    }
    xml.push_str("</EnumerationResults>");
    xml
}

#[test]
fn a_listed_size_the_body_does_not_keep_is_invalid_content() {
    // Longer and shorter than listed, each well within the limit.
    for (listed, body) in [(5, b"0123456789".as_slice()), (10, b"01234".as_slice())] {
        let lies = Lies::default()
            .page(&[("cfg/a.json", listed)], None)
            .body("cfg/a.json", body);
        let account = LyingAccount::start(lies);

        let line = account
            .cli()
            .pull_fails(&account.url("cfg/"), &[], "InvalidContent");
        assert!(
            line.contains(&format!("the listing said {listed} bytes")),
            "the message does not say the listing disagrees: {line}"
        );
    }
}

#[test]
fn listed_names_outside_the_prefix_or_the_output_are_invalid_content() {
    for name in [
        "other/secret.json",
        "cfg/../escape.json",
        "cfg//double.json",
        "cfg/./here.json",
    ] {
        let lies = Lies::default()
            .page(&[("cfg/a.json", 2), (name, 2)], None)
            .body("cfg/a.json", b"{}")
            .body(name, b"{}");
        let account = LyingAccount::start(lies);

        account
            .cli()
            .pull_fails(&account.url("cfg/"), &[], "InvalidContent");
    }
}

#[test]
fn a_name_listed_twice_or_as_a_file_and_a_folder_is_invalid_content() {
    for pages in [
        vec![vec![("cfg/a.json", 2)], vec![("cfg/a.json", 2)]],
        vec![vec![("cfg/a", 2)], vec![("cfg/a/b.json", 2)]],
    ] {
        let mut lies = Lies::default()
            .page(&pages[0], Some("page-2"))
            .page(&pages[1], None);
        for (name, _) in pages.iter().flatten() {
            lies = lies.body(name, b"{}");
        }
        let account = LyingAccount::start(lies);

        account
            .cli()
            .pull_fails(&account.url("cfg/"), &[], "InvalidContent");
    }
}

#[test]
fn a_page_marker_that_comes_round_again_stops_the_listing() {
    // Page 2 points back at itself, for ever.
    let lies = Lies::default()
        .page(&[("cfg/a.json", 2)], Some("again"))
        .page(&[("cfg/b.json", 2)], Some("again"))
        .body("cfg/a.json", b"{}")
        .body("cfg/b.json", b"{}");
    let account = LyingAccount::start(lies);

    let (_, line) = account.cli().pull_fails_one_of(
        &account.url("cfg/"),
        &[],
        &["StoreError", "InvalidContent"],
    );
    assert!(
        line.contains("repeats the page marker"),
        "the message does not say the listing loops: {line}"
    );
}
