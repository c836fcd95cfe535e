//! What the registry protocol adds to the manifest documents of
//! `artifact_store_core::manifest`: the `Accept` list a request must send,
//! and the JSON error envelope of a refusal.

use serde::Deserialize;

/// The `Accept` header for manifests. Distribution 2.8 answers 404 to a
/// request for an OCI manifest that does not list its media type.
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// The registry's JSON error envelope (OCI distribution spec, "Error Codes").
#[derive(Debug, Deserialize)]
pub struct ErrorEnvelope {
    #[serde(default)]
    pub errors: Vec<RegistryError>,
}

#[derive(Debug, Deserialize)]
pub struct RegistryError {
    #[serde(default)]
    pub code: String,
    #[serde(default)]
    pub message: String,
}

impl ErrorEnvelope {
    /// `CODE: message` for the first error, short and on one line, if the
    /// body is an envelope at all.
    pub fn summary(body: &[u8]) -> Option<String> {
        let envelope: ErrorEnvelope = serde_json::from_slice(body).ok()?;
        let first = envelope.errors.first()?;
        let mut text = match (first.code.is_empty(), first.message.is_empty()) {
            (false, false) => format!("{}: {}", first.code, first.message),
            (false, true) => first.code.clone(),
            (true, false) => first.message.clone(),
            (true, true) => return None,
        };
        text.retain(|c| !c.is_control());
        if text.chars().count() > 200 {
            text = text.chars().take(200).collect::<String>() + "…";
        }
        Some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_envelope_summary() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"v9"}}]}"#;
        assert_eq!(
            ErrorEnvelope::summary(body).as_deref(),
            Some("MANIFEST_UNKNOWN: manifest unknown")
        );
        assert_eq!(ErrorEnvelope::summary(br#"{"errors":[]}"#), None);
        assert_eq!(ErrorEnvelope::summary(b"<html>"), None);
        let long = format!(
            r#"{{"errors":[{{"code":"X","message":"{}\n"}}]}}"#,
            "m".repeat(500)
        );
        let s = ErrorEnvelope::summary(long.as_bytes()).unwrap();
        assert!(s.chars().count() <= 201 && !s.contains('\n'));
    }
}
