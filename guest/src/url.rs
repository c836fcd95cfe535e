//! The little URL handling the provider needs: absolute `http(s)` URLs from
//! a token realm or a redirect, resolved against the request that led there.

use std::fmt;

/// An absolute HTTP or HTTPS URL split the way wasi:http wants it.
/// `Debug` leaves out the query, where a SAS would be.
#[derive(Clone, PartialEq, Eq)]
pub struct Url {
    pub https: bool,
    /// `host[:port]`, as it goes into the request's authority.
    pub authority: String,
    /// Starts with `/`; may carry a `?query`. Never shown in messages:
    /// pre-signed blob URLs keep their signatures in the query.
    pub path_and_query: String,
}

impl Url {
    pub fn new(https: bool, authority: &str, path_and_query: impl Into<String>) -> Url {
        Url {
            https,
            authority: authority.to_owned(),
            path_and_query: path_and_query.into(),
        }
    }

    /// Parses an absolute `http://` or `https://` URL; the fragment is
    /// dropped. User information in the authority is refused: credentials
    /// travel in headers only.
    pub fn parse(s: &str) -> Result<Url, String> {
        let s = s.trim();
        let s = s.split('#').next().unwrap_or_default();
        let (https, rest) = if let Some(rest) = strip_prefix_ignore_case(s, "https://") {
            (true, rest)
        } else if let Some(rest) = strip_prefix_ignore_case(s, "http://") {
            (false, rest)
        } else {
            return Err("expected an absolute http:// or https:// URL".into());
        };

        let end = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        if authority.is_empty() {
            return Err("URL has no host".into());
        }
        if authority.contains('@') {
            return Err("URL carries user information, which is not allowed".into());
        }
        if authority
            .bytes()
            .any(|b| b.is_ascii_whitespace() || b.is_ascii_control())
        {
            return Err("URL host contains whitespace".into());
        }
        let path_and_query = match tail.chars().next() {
            Some('/') => tail.to_owned(),
            _ => format!("/{tail}"),
        };
        Ok(Url::new(https, authority, path_and_query))
    }

    /// Resolves a `Location` header value against this URL (RFC 3986,
    /// section 5.2, without dot-segment removal, which servers do).
    pub fn join(&self, location: &str) -> Result<Url, String> {
        let location = location.trim();
        if location.contains("://") {
            return Url::parse(location);
        }
        if let Some(rest) = location.strip_prefix("//") {
            let scheme = if self.https { "https://" } else { "http://" };
            return Url::parse(&format!("{scheme}{rest}"));
        }
        let location = location.split('#').next().unwrap_or_default();
        let path = self.path_and_query.split('?').next().unwrap_or("/");
        let joined = if location.starts_with('/') {
            location.to_owned()
        } else if location.starts_with('?') {
            format!("{path}{location}")
        } else if location.is_empty() {
            self.path_and_query.clone()
        } else {
            let dir = &path[..path.rfind('/').map_or(0, |i| i + 1)];
            format!("{dir}{location}")
        };
        Ok(Url::new(self.https, &self.authority, joined))
    }

    /// Whether both URLs reach the same scheme, host and port, the only
    /// case in which an `Authorization` header may follow a redirect.
    pub fn same_origin(&self, other: &Url) -> bool {
        self.https == other.https && self.authority.eq_ignore_ascii_case(&other.authority)
    }

    /// Appends `name=value` to the query, percent-encoding both.
    pub fn append_query(&mut self, name: &str, value: &str) {
        let separator = if self.path_and_query.contains('?') {
            if self.path_and_query.ends_with(['?', '&']) {
                ""
            } else {
                "&"
            }
        } else {
            "?"
        };
        self.path_and_query.push_str(separator);
        percent_encode_into(name, &mut self.path_and_query);
        self.path_and_query.push('=');
        percent_encode_into(value, &mut self.path_and_query);
    }

    /// `scheme://authority`, the part of a URL fit for messages.
    pub fn origin(&self) -> Origin<'_> {
        Origin(self)
    }
}

impl fmt::Debug for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (path, query) = match self.path_and_query.split_once('?') {
            Some((path, _)) => (path, "?[redacted]"),
            None => (self.path_and_query.as_str(), ""),
        };
        write!(f, "Url({}{path}{query})", self.origin())
    }
}

/// Displays a URL's scheme and authority only.
pub struct Origin<'a>(&'a Url);

impl fmt::Display for Origin<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.0.https { "https" } else { "http" };
        write!(f, "{scheme}://{}", self.0.authority)
    }
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode_into(s: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in s.as_bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_absolute_urls() {
        let u = Url::parse("https://auth.example.com:8443/token?x=1#frag").unwrap();
        assert_eq!(u, Url::new(true, "auth.example.com:8443", "/token?x=1"));
        let u = Url::parse("HTTP://[::1]:5000").unwrap();
        assert_eq!(u, Url::new(false, "[::1]:5000", "/"));
        let u = Url::parse("http://h?q").unwrap();
        assert_eq!(u.path_and_query, "/?q");
    }

    #[test]
    fn refuses_what_it_cannot_use() {
        assert!(Url::parse("ftp://h/x").is_err());
        assert!(Url::parse("/relative").is_err());
        assert!(Url::parse("https:///x").is_err());
        assert!(Url::parse("https://user:pw@h/x").is_err());
    }

    #[test]
    fn joins_locations() {
        let base = Url::new(true, "reg.io", "/v2/a/blobs/sha256:1?x=y");
        assert_eq!(
            base.join("https://cdn.example.net/b?sig=s").unwrap(),
            Url::new(true, "cdn.example.net", "/b?sig=s")
        );
        assert_eq!(
            base.join("//other:1/p").unwrap(),
            Url::new(true, "other:1", "/p")
        );
        assert_eq!(base.join("/v2/b").unwrap().path_and_query, "/v2/b");
        assert_eq!(base.join("c?d").unwrap().path_and_query, "/v2/a/blobs/c?d");
        assert_eq!(
            base.join("?z").unwrap().path_and_query,
            "/v2/a/blobs/sha256:1?z"
        );
        assert_eq!(base.join("/p#f").unwrap().path_and_query, "/p");
    }

    #[test]
    fn origin_comparison() {
        let a = Url::new(true, "Reg.io:443", "/a");
        assert!(a.same_origin(&Url::new(true, "reg.io:443", "/b")));
        assert!(!a.same_origin(&Url::new(false, "reg.io:443", "/a")));
        assert!(!a.same_origin(&Url::new(true, "reg.io", "/a")));
        assert!(!a.same_origin(&Url::new(true, "cdn.io:443", "/a")));
    }

    #[test]
    fn appends_encoded_query() {
        let mut u = Url::parse("https://auth.io/token").unwrap();
        u.append_query("service", "reg.io:5000");
        u.append_query("scope", "repository:a/b:pull");
        assert_eq!(
            u.path_and_query,
            "/token?service=reg.io%3A5000&scope=repository%3Aa%2Fb%3Apull"
        );
        let mut u = Url::parse("https://auth.io/token?a=1").unwrap();
        u.append_query("b", "x y");
        assert_eq!(u.path_and_query, "/token?a=1&b=x%20y");
    }

    #[test]
    fn origin_hides_path_and_query() {
        let u = Url::parse("https://cdn.io/blob?sig=secret").unwrap();
        assert_eq!(u.origin().to_string(), "https://cdn.io");
    }
}
