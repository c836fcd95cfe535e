//! Requests to one storage account: the URL of a blob or container, the
//! service version and date headers, and authorization by Shared Key, a SAS
//! token or a bearer token; and the service's error answers mapped to the
//! provider's cases with Azure's code kept in the message.

use std::fmt;
use std::time::SystemTime;

use artifact_store_core::blob::Endpoint;

use crate::error::{Error, Result};
use crate::http::{self, Method, Payload, ReadCapped, Request, Response};
use crate::url::Url;

use super::sign::{self, Signed};
use super::xml;

/// The service version every request asks for. 2023-11-03 has everything
/// used here and is served by Azure and by current Azurite.
const SERVICE_VERSION: &str = "2023-11-03";

/// The most of an error body read: Azure's are a few hundred bytes.
const MAX_ERROR_BODY: u64 = 64 << 10;

/// The longest piece of a service message quoted in an error.
const MAX_QUOTED: usize = 200;

/// How requests prove who sends them.
#[derive(Clone)]
pub enum Auth {
    Anonymous,
    SharedKey {
        account: String,
        key: String,
    },
    /// The token's query string, without a leading `?`.
    Sas(String),
    Bearer(String),
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never print a secret, even in a debug dump.
        f.write_str(match self {
            Auth::Anonymous => "Anonymous",
            Auth::SharedKey { .. } => "SharedKey(<redacted>)",
            Auth::Sas(_) => "Sas(<redacted>)",
            Auth::Bearer(_) => "Bearer(<redacted>)",
        })
    }
}

impl Auth {
    /// What a refusal says was presented, without the secret.
    pub fn describe(&self) -> &'static str {
        match self {
            Auth::Anonymous => "anonymous access (no credentials were given)",
            Auth::SharedKey { .. } => "the account key",
            Auth::Sas(_) => "the SAS token",
            Auth::Bearer(_) => "the bearer token",
        }
    }
}

/// One request to the account.
pub struct Call<'a> {
    pub method: Method,
    pub container: &'a str,
    /// The blob's name, decoded; empty for a request on the container.
    pub name: &'a str,
    /// Query parameters, decoded.
    pub query: Vec<(String, String)>,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<Payload>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, container: &'a str, name: &'a str) -> Call<'a> {
        Call {
            method,
            container,
            name,
            query: Vec::new(),
            headers: Vec::new(),
            body: None,
        }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_owned(), value.into()));
        self
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Payload) -> Self {
        self.body = Some(body);
        self
    }
}

/// A storage account and how to authorize against it.
pub struct Client {
    endpoint: Endpoint,
    auth: Auth,
}

impl Client {
    pub fn new(endpoint: Endpoint, auth: Auth) -> Client {
        Client { endpoint, auth }
    }

    /// Sends a request and returns the answer whatever its status.
    pub fn send(&self, call: Call<'_>) -> Result<Response> {
        let path = self.endpoint.path_of(call.container, call.name);
        let mut headers = call.headers;
        headers.push(("x-ms-version", SERVICE_VERSION.to_owned()));
        headers.push(("x-ms-date", httpdate::fmt_http_date(SystemTime::now())));

        let mut path_and_query = path.clone();
        let mut separator = '?';
        for (name, value) in &call.query {
            path_and_query.push(separator);
            path_and_query.push_str(&artifact_store_core::blob::encode_name(name));
            path_and_query.push('=');
            path_and_query.push_str(&encode_query_value(value));
            separator = '&';
        }

        let mut authorization = None;
        match &self.auth {
            Auth::Anonymous => {}
            Auth::Sas(token) => {
                path_and_query.push(separator);
                path_and_query.push_str(token);
            }
            Auth::Bearer(token) => authorization = Some(format!("Bearer {token}")),
            Auth::SharedKey { account, key } => {
                let mut signed_headers = headers.clone();
                if let Some(body) = &call.body {
                    signed_headers.push(("content-length", body.len().to_string()));
                }
                let signed = Signed {
                    method: method_name(call.method),
                    path: &path,
                    query: &call.query,
                    headers: &signed_headers,
                };
                authorization = Some(sign::authorization(account, key, &signed)?);
            }
        }

        let url = Url::new(
            self.endpoint.https(),
            self.endpoint.authority(),
            path_and_query,
        );
        let request = Request {
            method: call.method,
            url,
            headers,
            authorization,
            body: call.body,
        };
        http::send(request)
    }

    /// The error for an answer that is not the one expected, with Azure's
    /// error code (from `x-ms-error-code` or the XML body) in the message.
    /// `what` names the blob or container, for people.
    pub fn failure(&self, response: Response, what: &str) -> Error {
        let status = response.status;
        let header_code = response.header("x-ms-error-code").map(str::to_owned);
        let body = match response.read_capped(MAX_ERROR_BODY) {
            Ok(body) => xml::parse_error(&body),
            Err(ReadCapped::TooLong) | Err(ReadCapped::Failed(_)) => Default::default(),
        };
        let code = header_code.or(body.code);
        status_error(
            status,
            code.as_deref(),
            body.message.as_deref(),
            what,
            &self.auth,
        )
    }
}

/// Maps a status and Azure error code to a case. Azure answers 403 for a
/// bad signature, so the code decides before the status does.
fn status_error(
    status: u16,
    code: Option<&str>,
    message: Option<&str>,
    what: &str,
    auth: &Auth,
) -> Error {
    let detail = match (code, message) {
        (Some(code), Some(message)) => format!(" ({code}: {})", quote(message)),
        (Some(code), None) => format!(" ({code})"),
        (None, Some(message)) => format!(" ({})", quote(message)),
        (None, None) => String::new(),
    };
    let presented = auth.describe();
    match (status, code.unwrap_or_default()) {
        (_, "ConditionNotMet" | "SourceConditionNotMet") | (412, _) => Error::PreconditionFailed(
            format!("{what} has changed: its ETag no longer matches{detail}"),
        ),
        (_, "BlobNotFound") => Error::NotFound(format!(
            "{what} does not exist{detail}; to name every blob under a prefix, end the URL \
             with /"
        )),
        (_, "ContainerNotFound") if what.starts_with("container ") => {
            Error::NotFound(format!("{what} does not exist{detail}"))
        }
        (_, "ContainerNotFound") => {
            Error::NotFound(format!("{what}: the container does not exist{detail}"))
        }
        (404, _) if matches!(auth, Auth::Anonymous) => Error::NotFound(format!(
            "{what} was not found{detail}; a private container answers so to anonymous \
             requests: give the store credentials if it is not public"
        )),
        (404, _) => Error::NotFound(format!("{what} was not found{detail}")),
        (
            _,
            "AuthenticationFailed" | "NoAuthenticationInformation" | "InvalidAuthenticationInfo",
        )
        | (401, _) => Error::Unauthorized(format!(
            "the storage account refused {presented} for {what}{detail}; check the store's \
             credentials"
        )),
        (403, _) => Error::Forbidden(format!(
            "the storage account refused {presented} for {what}{detail}; check that it is \
             right and grants this (a SAS needs r to pull a blob, r and l a folder, w to push)"
        )),
        (_, "OperationTimedOut") => {
            Error::Timeout(format!("{what}: the service timed out{detail}"))
        }
        (500..=599, _) => Error::StoreNotReachable(format!(
            "the storage account failed on {what} with {status}{detail}"
        )),
        (_, "InvalidResourceName" | "InvalidUri") => Error::InvalidReference(format!(
            "the storage account refused the name of {what}{detail}"
        )),
        _ => Error::Other(format!(
            "the storage account answered {status} for {what}{detail}"
        )),
    }
}

/// A service message made safe to show: one line, no control characters,
/// not too long.
fn quote(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_QUOTED)
        .collect();
    clean.trim().to_owned()
}

/// Percent-encodes a query value: as a blob name, and `/` too.
fn encode_query_value(value: &str) -> String {
    artifact_store_core::blob::encode_name(value).replace('/', "%2F")
}

fn method_name(method: Method) -> &'static str {
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(status: u16, code: Option<&str>, auth: &Auth) -> Error {
        status_error(status, code, Some("The thing."), "blob cfg/x", auth)
    }

    #[test]
    fn azure_codes_map_to_cases_and_stay_in_the_message() {
        let anon = Auth::Anonymous;
        let key = Auth::SharedKey {
            account: "a".into(),
            key: "k".into(),
        };
        let cases = [
            (
                map(404, Some("BlobNotFound"), &key),
                "NotFound",
                "BlobNotFound",
            ),
            (
                map(404, Some("ContainerNotFound"), &key),
                "NotFound",
                "ContainerNotFound",
            ),
            (
                map(404, Some("ResourceNotFound"), &anon),
                "NotFound",
                "credentials",
            ),
            (
                map(403, Some("AuthenticationFailed"), &key),
                "Unauthorized",
                "AuthenticationFailed",
            ),
            (
                map(403, Some("AuthorizationPermissionMismatch"), &key),
                "Forbidden",
                "Mismatch",
            ),
            (
                map(412, Some("ConditionNotMet"), &key),
                "PreconditionFailed",
                "ConditionNotMet",
            ),
            (
                map(503, Some("ServerBusy"), &key),
                "StoreNotReachable",
                "ServerBusy",
            ),
            (map(409, Some("BlobAlreadyExists"), &key), "Other", "409"),
        ];
        for (error, case, needle) in cases {
            assert!(format!("{error:?}").starts_with(case), "{error:?}");
            assert!(error.message().contains(needle), "{error:?}");
            assert!(error.message().contains("The thing."), "{error:?}");
        }
    }

    #[test]
    fn not_found_and_refused_messages_read_as_sentences_with_their_fix() {
        let key = Auth::SharedKey {
            account: "a".into(),
            key: "k".into(),
        };
        let container = status_error(404, Some("ContainerNotFound"), None, "container c", &key);
        assert_eq!(
            container.message(),
            "container c does not exist (ContainerNotFound)"
        );
        let in_container = map(404, Some("ContainerNotFound"), &key);
        assert!(
            in_container
                .message()
                .starts_with("blob cfg/x: the container does not exist"),
            "{in_container:?}"
        );
        let blob = map(404, Some("BlobNotFound"), &key);
        assert!(blob.message().ends_with("end the URL with /"), "{blob:?}");
        // Azurite answers a wrong key with 403 AuthorizationFailure: the
        // message must not read as a permissions problem only.
        let refused = map(403, Some("AuthorizationFailure"), &key);
        assert!(
            refused.message().contains("refused")
                && refused.message().contains("check that it is right"),
            "{refused:?}"
        );
    }

    #[test]
    fn query_values_are_encoded_slashes_included() {
        assert_eq!(encode_query_value("a b/&=+"), "a%20b%2F%26%3D%2B");
    }

    #[test]
    fn secrets_stay_out_of_debug() {
        let auth = Auth::Sas("sv=1&sig=secret".into());
        assert!(!format!("{auth:?}").contains("secret"));
    }
}
