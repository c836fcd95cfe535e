//! `skopeo copy`, Debian's, as the second third-party client.

use std::process::Command;
use std::time::Duration;

use super::process::{self, Output};

/// A copy of a few blobs on loopback takes well under a second.
const SKOPEO_TIMEOUT: Duration = Duration::from_secs(60);

/// `skopeo copy <source> <destination>` over plain HTTP, which must succeed.
/// Transports as skopeo spells them: `docker://127.0.0.1:5000/a:v1`,
/// `dir:/tmp/x`.
pub fn copy(source: &str, destination: &str) -> Output {
    let mut command = Command::new("skopeo");
    command
        // No signature policy to consult: these machines may have no
        // /etc/containers/policy.json, and nothing here is signed.
        .arg("--insecure-policy")
        .args(["copy", "--src-tls-verify=false", "--dest-tls-verify=false"])
        .args([source, destination]);
    for var in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"] {
        command.env_remove(var);
    }
    let output = process::run(command, SKOPEO_TIMEOUT);
    assert!(
        output.status.success(),
        "skopeo copy {source} {destination} failed (run scripts/setup): {output:?}"
    );
    output
}
