//! Reading what a registry serves, raw: the bytes a push left behind, as
//! other clients will get them.

use serde_json::Value;

use super::http;
use super::push::sha256;

/// Every manifest type a client may ask for; the registry answers with the
/// stored bytes whatever their type.
const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
     application/vnd.oci.image.index.v1+json, \
     application/vnd.docker.distribution.manifest.v2+json, \
     application/vnd.docker.distribution.manifest.list.v2+json";

/// A manifest as served.
#[derive(Debug)]
pub struct Manifest {
    pub bytes: Vec<u8>,
    pub content_type: String,
    /// The `Docker-Content-Digest` header.
    pub digest: String,
    pub json: Value,
}

impl Manifest {
    /// The config descriptor followed by the layer descriptors.
    pub fn descriptors(&self) -> Vec<&Value> {
        let mut out = vec![&self.json["config"]];
        out.extend(self.json["layers"].as_array().expect("layers array"));
        out
    }
}

/// A reader of one loopback registry, with optional credentials.
pub struct Inspector {
    agent: ureq::Agent,
    base: String,
    authorization: Option<String>,
}

impl Inspector {
    pub fn new(authority: &str) -> Inspector {
        assert!(
            authority.starts_with("127.0.0.1:"),
            "fixtures talk to loopback only"
        );
        Inspector {
            agent: http::agent(),
            base: format!("http://{authority}"),
            authorization: None,
        }
    }

    pub fn with_basic(mut self, username: &str, password: &str) -> Inspector {
        use base64::Engine;
        let pair = format!("{username}:{password}");
        let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
        self.authorization = Some(format!("Basic {encoded}"));
        self
    }

    pub fn with_bearer(mut self, token: String) -> Inspector {
        self.authorization = Some(format!("Bearer {token}"));
        self
    }

    fn get(&self, url: String) -> ureq::RequestBuilder<ureq::typestate::WithoutBody> {
        let request = self.agent.get(url).header("Accept", ACCEPT);
        match &self.authorization {
            Some(value) => request.header("Authorization", value),
            None => request,
        }
    }

    /// `GET /v2/<repository>/manifests/<reference>`, which must answer 200.
    pub fn manifest(&self, repository: &str, reference: &str) -> Manifest {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let response = self.get(url).call().expect("get manifest");
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let content_type = header("Content-Type");
        let digest = header("Docker-Content-Digest");
        let bytes = response
            .into_body()
            .read_to_vec()
            .expect("read manifest body");
        assert_eq!(
            status,
            200,
            "{repository}:{reference} is not served: {}",
            String::from_utf8_lossy(&bytes)
        );
        let json = serde_json::from_slice(&bytes).expect("manifest is JSON");
        Manifest {
            bytes,
            content_type,
            digest,
            json,
        }
    }

    /// Whether `<repository>:<reference>` exists (200) or not (404); any
    /// other answer fails the test.
    pub fn has_manifest(&self, repository: &str, reference: &str) -> bool {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let status = self.get(url).call().expect("get manifest").status();
        match status.as_u16() {
            200 => true,
            404 => false,
            other => panic!("unexpected {other} for {repository}:{reference}"),
        }
    }

    /// The bytes of blob `digest`, checked against it.
    pub fn blob(&self, repository: &str, digest: &str) -> Vec<u8> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let response = self.get(url).call().expect("get blob");
        assert_eq!(response.status().as_u16(), 200, "blob {digest} not served");
        let bytes = response
            .into_body()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .expect("read blob body");
        assert_eq!(sha256(&bytes), digest, "the registry served other bytes");
        bytes
    }
}
