//! The two XML documents the Blob service answers with: a page of List
//! Blobs (`EnumerationResults`) and an error (`Error` with its `Code`).

use artifact_store_core::blob::percent_decode;
use serde::Deserialize;

/// One page of List Blobs.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ListPage {
    pub blobs: Vec<ListedBlob>,
    /// Where the next page starts; `None` on the last page.
    pub next_marker: Option<String>,
}

/// A blob as a listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedBlob {
    pub name: String,
    pub size: u64,
    pub etag: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawPage {
    #[serde(default)]
    blobs: RawBlobs,
    #[serde(default)]
    next_marker: Option<String>,
}

#[derive(Deserialize, Default)]
struct RawBlobs {
    #[serde(rename = "Blob", default)]
    blob: Vec<RawBlob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawBlob {
    name: RawName,
    properties: RawProperties,
}

/// A name, percent-encoded when the service marks it `Encoded="true"`
/// (names holding characters XML cannot carry).
#[derive(Deserialize)]
struct RawName {
    #[serde(rename = "@Encoded", default)]
    encoded: Option<String>,
    #[serde(rename = "$text", default)]
    text: String,
}

#[derive(Deserialize)]
struct RawProperties {
    #[serde(rename = "Content-Length")]
    content_length: u64,
    #[serde(rename = "Etag")]
    etag: String,
}

/// Parses a List Blobs page.
pub fn parse_list(xml: &[u8]) -> Result<ListPage, String> {
    let text = std::str::from_utf8(xml).map_err(|_| "the listing is not UTF-8".to_owned())?;
    let raw: RawPage =
        quick_xml::de::from_str(text).map_err(|e| format!("the listing is not readable: {e}"))?;
    let mut blobs = Vec::with_capacity(raw.blobs.blob.len());
    for blob in raw.blobs.blob {
        let name = if blob.name.encoded.as_deref() == Some("true") {
            percent_decode(&blob.name.text)?
        } else {
            blob.name.text
        };
        blobs.push(ListedBlob {
            name,
            size: blob.properties.content_length,
            etag: blob.properties.etag,
        });
    }
    Ok(ListPage {
        blobs,
        next_marker: raw.next_marker.filter(|m| !m.is_empty()),
    })
}

/// An error document's code and the first line of its message.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ServiceError {
    pub code: Option<String>,
    pub message: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RawError {
    code: Option<String>,
    message: Option<String>,
}

/// Parses an error body; anything unreadable gives an empty error, since
/// the status and the `x-ms-error-code` header still say what happened.
pub fn parse_error(xml: &[u8]) -> ServiceError {
    let Ok(text) = std::str::from_utf8(xml) else {
        return ServiceError::default();
    };
    let Ok(raw) = quick_xml::de::from_str::<RawError>(text.trim_start_matches('\u{feff}')) else {
        return ServiceError::default();
    };
    ServiceError {
        code: raw
            .code
            .map(|c| c.trim().to_owned())
            .filter(|c| !c.is_empty()),
        // The service appends RequestId and Time lines; the first says it.
        message: raw
            .message
            .and_then(|m| m.lines().next().map(str::trim).map(str::to_owned))
            .filter(|m| !m.is_empty()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_lists_names_sizes_etags_and_the_next_marker() {
        let xml = br#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1:10000/devstoreaccount1" ContainerName="cfg">
  <Prefix>dir/</Prefix><MaxResults>2</MaxResults>
  <Blobs>
    <Blob><Name>dir/a &amp; b.json</Name><Properties><Creation-Time>x</Creation-Time>
      <Content-Length>12</Content-Length><Etag>0x8DC1</Etag><Content-Type>application/json</Content-Type></Properties></Blob>
    <Blob><Name Encoded="true">dir/%C3%B1</Name><Properties><Content-Length>0</Content-Length><Etag>"0x8DC2"</Etag></Properties><Metadata/></Blob>
  </Blobs>
  <NextMarker>2!96!MDAw</NextMarker>
</EnumerationResults>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(
            page.blobs,
            [
                ListedBlob {
                    name: "dir/a & b.json".into(),
                    size: 12,
                    etag: "0x8DC1".into()
                },
                ListedBlob {
                    name: "dir/ñ".into(),
                    size: 0,
                    etag: "\"0x8DC2\"".into()
                }
            ]
        );
        assert_eq!(page.next_marker.as_deref(), Some("2!96!MDAw"));
    }

    #[test]
    fn the_last_page_has_an_empty_marker() {
        let xml = b"<EnumerationResults><Blobs/><NextMarker/></EnumerationResults>";
        assert_eq!(parse_list(xml).unwrap(), ListPage::default());
        assert!(parse_list(b"<html>").is_err());
    }

    #[test]
    fn errors_give_their_code_and_first_line() {
        let xml = "\u{feff}<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>BlobNotFound</Code>\
                   <Message>The specified blob does not exist.\nRequestId:1\nTime:2</Message></Error>";
        assert_eq!(
            parse_error(xml.as_bytes()),
            ServiceError {
                code: Some("BlobNotFound".into()),
                message: Some("The specified blob does not exist.".into())
            }
        );
        assert_eq!(parse_error(b"not xml"), ServiceError::default());
    }
}
