//! OCI artifact references: `<registry>/<repository>[:<tag>][@<digest>]`.
//!
//! The grammar follows the OCI distribution specification and the reference
//! grammar of the `distribution/reference` package, with two deliberate
//! restrictions: the registry is required (there is no implicit Docker Hub),
//! and the only digest accepted is `sha256`, the one the provider can verify.

use std::fmt;

/// The longest repository name, registry included, that registries accept.
///
/// `distribution/reference` caps the whole name (domain and path) at 255
/// characters; longer names are refused by the registry anyway.
pub const MAX_NAME_LEN: usize = 255;

/// The longest tag: the spec's `[\w][\w.-]{0,127}` allows 128 characters.
pub const MAX_TAG_LEN: usize = 128;

/// The default tag when a reference names neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";

const SHA256_PREFIX: &str = "sha256:";

/// A parsed, validated reference to an artifact in an OCI registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// Host name or address with an optional port: `localhost:5000`,
    /// `myregistry.azurecr.io`, `[::1]:5000`.
    pub registry: String,
    /// Lowercase path components separated by `/`: `fhir/templates`.
    pub repository: String,
    /// The tag, if the reference named one.
    pub tag: Option<String>,
    /// `sha256:` and 64 lowercase hex digits, if the reference pinned one.
    pub digest: Option<String>,
}

impl Reference {
    /// Parses and validates a reference.
    ///
    /// Fails with an error that names the part at fault (registry,
    /// repository, tag or digest) and what that part must look like.
    pub fn parse(s: &str) -> Result<Reference, ReferenceError> {
        if s.is_empty() {
            return Err(ReferenceError::new(
                ReferencePart::Whole,
                "reference is empty: expected <registry>/<repository>[:<tag>][@<digest>]",
            ));
        }

        // The digest is everything after the one `@`.
        let (name_and_tag, digest) = match s.split_once('@') {
            Some((rest, digest)) => (rest, Some(parse_digest(digest)?)),
            None => (s, None),
        };

        // The registry is the first component and is never implied.
        let Some((registry, path)) = name_and_tag.split_once('/') else {
            return Err(ReferenceError::new(
                ReferencePart::Registry,
                format!(
                    "no registry in {s:?}: a reference starts with the registry host, \
                     as in \"localhost:5000/{s}\""
                ),
            ));
        };
        validate_registry(registry, s)?;

        // A tag follows the last `:`; the repository may not contain one.
        let (repository, tag) = match path.rsplit_once(':') {
            Some((repository, tag)) => (repository, Some(validate_tag(tag)?)),
            None => (path, None),
        };
        validate_repository(repository)?;

        let name_len = registry.len() + 1 + repository.len();
        if name_len > MAX_NAME_LEN {
            return Err(ReferenceError::new(
                ReferencePart::Repository,
                format!(
                    "name \"{registry}/{repository}\" is {name_len} characters long; \
                     at most {MAX_NAME_LEN} are allowed"
                ),
            ));
        }

        Ok(Reference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag: tag.map(str::to_owned),
            digest: digest.map(str::to_owned),
        })
    }

    /// The tag, or `latest` when the reference named none.
    pub fn tag(&self) -> &str {
        self.tag.as_deref().unwrap_or(DEFAULT_TAG)
    }

    /// What to ask the registry for under `/v2/<repository>/manifests/`:
    /// the digest when there is one (it wins over a tag), else the tag.
    pub fn manifest_selector(&self) -> &str {
        self.digest.as_deref().unwrap_or_else(|| self.tag())
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// Which part of a reference broke the grammar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReferencePart {
    /// The reference as a whole (it is empty).
    Whole,
    /// The registry host, its port, or its absence.
    Registry,
    /// The repository path or the length of the full name.
    Repository,
    /// The tag after `:`.
    Tag,
    /// The digest after `@`.
    Digest,
}

/// Why a reference was refused: one line naming the part at fault and what
/// that part must look like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReferenceError {
    part: ReferencePart,
    message: String,
}

impl ReferenceError {
    fn new(part: ReferencePart, message: impl Into<String>) -> Self {
        ReferenceError {
            part,
            message: message.into(),
        }
    }

    /// The part of the reference at fault.
    pub fn part(&self) -> ReferencePart {
        self.part
    }
}

impl fmt::Display for ReferenceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ReferenceError {}

/// Whether `s` is `sha256:` followed by 64 lowercase hex digits, the only
/// digest form the provider and host verify.
pub fn is_sha256_digest(s: &str) -> bool {
    s.strip_prefix(SHA256_PREFIX).is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

fn parse_digest(digest: &str) -> Result<&str, ReferenceError> {
    let fail = |why: String| Err(ReferenceError::new(ReferencePart::Digest, why));
    if digest.is_empty() {
        return fail(
            "digest after \"@\" is empty: expected sha256:<64 lowercase hex digits>".into(),
        );
    }
    if is_sha256_digest(digest) {
        return Ok(digest);
    }
    match digest.split_once(':') {
        Some((algorithm, _)) if algorithm != "sha256" => fail(format!(
            "digest {digest:?} uses algorithm {algorithm:?}; only sha256 is supported"
        )),
        _ => fail(format!(
            "digest {digest:?} is malformed: expected sha256:<64 lowercase hex digits>"
        )),
    }
}

fn validate_registry(registry: &str, whole: &str) -> Result<(), ReferenceError> {
    let fail = |why: String| Err(ReferenceError::new(ReferencePart::Registry, why));
    if registry.is_empty() {
        return fail(format!(
            "registry is empty in {whole:?}: expected <registry>/<repository>"
        ));
    }

    // Without a dot, a port or `localhost` the first component is a
    // repository path, as in Docker Hub's `library/ubuntu`: the registry
    // was left out.
    let looks_like_host =
        registry.contains('.') || registry.contains(':') || registry == "localhost";
    if !looks_like_host {
        return fail(format!(
            "no registry in {whole:?}: {registry:?} is not a registry host \
             (a registry has a \".\" or a \":port\", or is \"localhost\")"
        ));
    }

    let (host_ok, port) = if let Some(rest) = registry.strip_prefix('[') {
        // An IPv6 literal: `[::1]` or `[::1]:5000`.
        match rest.split_once(']') {
            Some((address, after)) => {
                let port = match after {
                    "" => None,
                    _ => match after.strip_prefix(':') {
                        Some(port) => Some(port),
                        None => return fail(format!("registry {registry:?} is malformed")),
                    },
                };
                (is_ipv6_literal(address), port)
            }
            None => (false, None),
        }
    } else {
        match registry.split_once(':') {
            Some((host, port)) => (is_host_name(host), Some(port)),
            None => (is_host_name(registry), None),
        }
    };

    if !host_ok {
        return fail(format!(
            "registry {registry:?} is not a valid host: expected a host name, \
             an IPv4 address or a bracketed IPv6 address, with an optional :port"
        ));
    }
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.len() <= 5
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u32>().is_ok_and(|p| p <= 65535);
        if !valid {
            return fail(format!(
                "registry {registry:?} has an invalid port {port:?}: expected 0 to 65535"
            ));
        }
    }
    Ok(())
}

/// A DNS name or IPv4 address: dot-separated labels of ASCII letters and
/// digits with inner dashes, as `distribution/reference` accepts them.
fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b[0].is_ascii_alphanumeric()
                && b[b.len() - 1].is_ascii_alphanumeric()
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

fn is_ipv6_literal(address: &str) -> bool {
    address.contains(':')
        && address
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
}

fn validate_repository(repository: &str) -> Result<(), ReferenceError> {
    let fail = |why: String| Err(ReferenceError::new(ReferencePart::Repository, why));
    if repository.is_empty() {
        return fail("repository is empty: expected <registry>/<repository>".into());
    }
    if repository.bytes().any(|b| b.is_ascii_uppercase()) {
        return fail(format!(
            "repository {repository:?} must be lowercase (OCI repository names allow \
             only a-z, 0-9 and the separators \".\", \"_\", \"__\" and \"-\")"
        ));
    }
    if repository.ends_with('/') {
        return fail(format!("repository {repository:?} must not end with \"/\""));
    }
    for component in repository.split('/') {
        if component.is_empty() {
            return fail(format!(
                "repository {repository:?} has an empty path component"
            ));
        }
        if !is_path_component(component) {
            return fail(format!(
                "repository component {component:?} is invalid: expected lowercase \
                 letters and digits separated by \".\", \"_\", \"__\" or dashes"
            ));
        }
    }
    Ok(())
}

/// `[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*`, without a regex engine.
fn is_path_component(component: &str) -> bool {
    let b = component.as_bytes();
    let alnum = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut i = 0;
    loop {
        // A run of letters and digits is required here.
        let start = i;
        while i < b.len() && alnum(b[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == b.len() {
            return true;
        }

        // Then one separator, which must be followed by another run.
        match b[i] {
            b'.' => i += 1,
            b'_' => {
                i += 1;
                if i < b.len() && b[i] == b'_' {
                    i += 1;
                }
            }
            b'-' => {
                while i < b.len() && b[i] == b'-' {
                    i += 1;
                }
            }
            _ => return false,
        }
    }
}

fn validate_tag(tag: &str) -> Result<&str, ReferenceError> {
    let fail = |why: String| Err(ReferenceError::new(ReferencePart::Tag, why));
    if tag.is_empty() {
        return fail("tag after \":\" is empty: expected [A-Za-z0-9_][A-Za-z0-9_.-]*".into());
    }
    if tag.len() > MAX_TAG_LEN {
        return fail(format!(
            "tag is {} characters long; at most {MAX_TAG_LEN} are allowed",
            tag.len()
        ));
    }
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = tag.as_bytes();
    if !word(b[0]) || !b[1..].iter().all(|&c| word(c) || c == b'.' || c == b'-') {
        return fail(format!(
            "tag {tag:?} is invalid: expected [A-Za-z0-9_] followed by up to 127 of \
             [A-Za-z0-9_.-]"
        ));
    }
    Ok(tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn digest() -> String {
        format!("sha256:{HEX}")
    }

    fn parse(s: &str) -> Reference {
        Reference::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn fail(s: &str, part: ReferencePart) -> String {
        let e = Reference::parse(s).expect_err(s);
        assert_eq!(e.part(), part, "{s:?}: {e}");
        e.to_string()
    }

    #[test]
    fn tag_only() {
        let r = parse("myregistry.azurecr.io/deid/config:v1");
        assert_eq!(r.registry, "myregistry.azurecr.io");
        assert_eq!(r.repository, "deid/config");
        assert_eq!(r.tag.as_deref(), Some("v1"));
        assert_eq!(r.digest, None);
        assert_eq!(r.manifest_selector(), "v1");
    }

    #[test]
    fn digest_only() {
        let r = parse(&format!("localhost:5000/templates@{}", digest()));
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "templates");
        assert_eq!(r.tag, None);
        assert_eq!(r.digest.as_deref(), Some(digest().as_str()));
        assert_eq!(r.manifest_selector(), digest());
    }

    #[test]
    fn tag_and_digest_digest_wins() {
        let s = format!("localhost:5000/templates:v2@{}", digest());
        let r = parse(&s);
        assert_eq!(r.tag(), "v2");
        assert_eq!(r.manifest_selector(), digest());
        assert_eq!(r.to_string(), s);
    }

    #[test]
    fn default_tag_is_latest() {
        let r = parse("localhost/templates");
        assert_eq!(r.tag, None);
        assert_eq!(r.tag(), "latest");
        assert_eq!(r.manifest_selector(), "latest");
        assert_eq!(r.to_string(), "localhost/templates");
    }

    #[test]
    fn registry_with_port_and_nested_names() {
        let r = parse("registry.example.com:443/a/b-c/d__e/f.g/h_i/j---k:1.0-rc_1");
        assert_eq!(r.registry, "registry.example.com:443");
        assert_eq!(r.repository, "a/b-c/d__e/f.g/h_i/j---k");
        assert_eq!(r.tag(), "1.0-rc_1");
    }

    #[test]
    fn ipv4_and_ipv6_registries() {
        assert_eq!(parse("127.0.0.1:5000/x").registry, "127.0.0.1:5000");
        assert_eq!(parse("[::1]:5000/x:t").registry, "[::1]:5000");
        assert_eq!(parse("[fe80::1]/x").registry, "[fe80::1]");
        fail("[::1/x", ReferencePart::Registry);
        fail("[zz::1]:5000/x", ReferencePart::Registry);
        fail("[::1]x/x", ReferencePart::Registry);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "localhost:5000/a/b:tag",
            "example.com/x",
            "[::1]:5000/x@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(parse(s).to_string(), s);
        }
    }

    #[test]
    fn missing_registry_is_named() {
        let msg = fail("name:tag", ReferencePart::Registry);
        assert!(msg.contains("no registry"), "{msg}");
        let msg = fail("library/ubuntu:20.04", ReferencePart::Registry);
        assert!(msg.contains("\"library\" is not a registry host"), "{msg}");
        fail("/repo:tag", ReferencePart::Registry);
    }

    #[test]
    fn invalid_registry_host_and_port() {
        fail("bad_host.io/x", ReferencePart::Registry);
        fail("-bad.io/x", ReferencePart::Registry);
        fail("a..b/x", ReferencePart::Registry);
        fail("localhost:/x", ReferencePart::Registry);
        fail("localhost:99999/x", ReferencePart::Registry);
        fail("localhost:50a0/x", ReferencePart::Registry);
        fail("host:1:2/x", ReferencePart::Registry);
        // Host names are case-insensitive; only the repository must be lowercase.
        assert_eq!(
            parse("MyRegistry.AzureCR.io/x").registry,
            "MyRegistry.AzureCR.io"
        );
    }

    #[test]
    fn uppercase_repository_says_lowercase() {
        let msg = fail("localhost:5000/Foo/bar:v1", ReferencePart::Repository);
        assert!(msg.contains("\"Foo/bar\" must be lowercase"), "{msg}");
    }

    #[test]
    fn bad_repository_components() {
        for s in [
            "localhost/a_",
            "localhost/_a",
            "localhost/a___b",
            "localhost/a..b",
            "localhost/a.-b",
            "localhost/-a",
            "localhost/a b",
            "localhost/a%b",
        ] {
            fail(s, ReferencePart::Repository);
        }
    }

    #[test]
    fn empty_parts() {
        assert_eq!(
            Reference::parse("").unwrap_err().part(),
            ReferencePart::Whole
        );
        fail("localhost/", ReferencePart::Repository);
        fail("localhost/:tag", ReferencePart::Repository);
        fail("localhost/a//b", ReferencePart::Repository);
        fail("localhost/a:", ReferencePart::Tag);
        fail("localhost/a@", ReferencePart::Digest);
        fail("localhost/a:@sha256:00", ReferencePart::Digest);
    }

    #[test]
    fn trailing_slash_is_refused() {
        let msg = fail("localhost/a/b/", ReferencePart::Repository);
        assert!(msg.contains("must not end with"), "{msg}");
        fail("localhost/a/b/:v1", ReferencePart::Repository);
    }

    #[test]
    fn bad_tags() {
        fail("localhost/a:.v1", ReferencePart::Tag);
        fail("localhost/a:-v1", ReferencePart::Tag);
        fail("localhost/a:v/1", ReferencePart::Tag);
        fail("localhost/a:v+1", ReferencePart::Tag);
        fail(
            &format!("localhost/a:{}", "t".repeat(129)),
            ReferencePart::Tag,
        );
        assert_eq!(
            parse(&format!("localhost/a:{}", "t".repeat(128)))
                .tag()
                .len(),
            128
        );
        assert_eq!(parse("localhost/a:_V.1-X").tag(), "_V.1-X");
    }

    #[test]
    fn bad_digests_name_the_digest() {
        let msg = fail(&format!("localhost/a@sha512:{HEX}"), ReferencePart::Digest);
        assert!(msg.contains("sha512"), "{msg}");
        let upper = format!("sha256:{}", HEX.to_uppercase());
        let msg = fail(&format!("localhost/a@{upper}"), ReferencePart::Digest);
        assert!(msg.contains(&upper), "{msg}");
        fail(
            &format!("localhost/a@sha256:{}", &HEX[1..]),
            ReferencePart::Digest,
        );
        fail(&format!("localhost/a@sha256:{HEX}0"), ReferencePart::Digest);
        fail(&format!("localhost/a@{HEX}"), ReferencePart::Digest);
        fail(
            &format!("localhost/a@{}@{}", digest(), digest()),
            ReferencePart::Digest,
        );
    }

    #[test]
    fn name_length_is_capped() {
        let long = "a".repeat(MAX_NAME_LEN - "localhost/".len());
        parse(&format!("localhost/{long}"));
        let msg = fail(&format!("localhost/{long}a"), ReferencePart::Repository);
        assert!(msg.contains("256 characters"), "{msg}");
    }

    #[test]
    fn sha256_digest_check() {
        assert!(is_sha256_digest(&digest()));
        assert!(!is_sha256_digest("sha256:"));
        assert!(!is_sha256_digest(&format!("sha256:{}", HEX.to_uppercase())));
    }
}
