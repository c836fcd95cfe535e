//! `WWW-Authenticate` challenges (RFC 7235, section 4.1).
//!
//! One header may carry several challenges, and the commas that separate
//! challenges are the same commas that separate a challenge's parameters:
//! a new challenge starts where a token is followed by something other than
//! `=`. Registries put commas inside quoted values (`scope="repo:a:pull,push"`),
//! so quoted strings are honoured, with `\` escapes (RFC 7230, section 3.2.6).
//! Malformed input never fails the parse: what cannot be read is skipped up
//! to the next comma.

/// One authentication challenge: a scheme and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The auth scheme as sent, for example `Bearer` or `Basic`.
    pub scheme: String,
    /// Parameters in the order sent, quotes and escapes removed. A token68
    /// value (`Negotiate abc==`) is stored under an empty name.
    pub params: Vec<(String, String)>,
}

impl Challenge {
    /// The value of the first parameter called `name`, compared without
    /// regard to case as RFC 7235 requires.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this challenge uses `scheme`, compared without regard to case.
    pub fn is(&self, scheme: &str) -> bool {
        self.scheme.eq_ignore_ascii_case(scheme)
    }

    /// The token68 value, for schemes that send one instead of parameters.
    pub fn token68(&self) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n.is_empty())
            .map(|(_, v)| v.as_str())
    }
}

/// Parses every challenge in a `WWW-Authenticate` value.
///
/// Several headers with that name can be joined with `, ` and parsed as one.
/// Unreadable parts are skipped; an empty or hopeless header gives an empty
/// list.
pub fn parse_challenges(header: &str) -> Vec<Challenge> {
    let mut p = Parser {
        s: header.as_bytes(),
        i: 0,
    };
    let mut challenges = Vec::new();
    loop {
        p.skip_separators();
        if p.at_end() {
            return challenges;
        }
        let Some(scheme) = p.token() else {
            p.skip_to_comma();
            continue;
        };

        // Parameters or a token68 must be separated from the scheme by
        // whitespace; a comma right after the scheme ends the challenge.
        let mut challenge = Challenge {
            scheme,
            params: Vec::new(),
        };
        if p.skip_whitespace() {
            match p.token68() {
                Some(value) => challenge.params.push((String::new(), value)),
                None => p.params(&mut challenge.params),
            }
        }
        if !p.at_end() && p.peek() != Some(b',') {
            p.skip_to_comma();
        }
        challenges.push(challenge);
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skips spaces and tabs; says whether there were any.
    fn skip_whitespace(&mut self) -> bool {
        let start = self.i;
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
        self.i > start
    }

    /// Skips whitespace and commas (empty list elements are allowed).
    fn skip_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.i += 1;
        }
    }

    /// Skips garbage up to the next comma outside a quoted string.
    fn skip_to_comma(&mut self) {
        while let Some(b) = self.peek() {
            match b {
                b',' => return,
                b'"' => {
                    self.quoted();
                }
                _ => self.i += 1,
            }
        }
    }

    fn token(&mut self) -> Option<String> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        (self.i > start).then(|| self.text(start, self.i))
    }

    /// A token68 is only taken when it is all that follows the scheme, up to
    /// a comma or the end; otherwise the input is read as parameters.
    fn token68(&mut self) -> Option<String> {
        let start = self.i;
        let mut end = start;
        while self.s.get(end).is_some_and(|&b| is_token68_char(b)) {
            end += 1;
        }
        if end == start {
            return None;
        }
        while self.s.get(end) == Some(&b'=') {
            end += 1;
        }
        let mut after = end;
        while matches!(self.s.get(after), Some(b' ' | b'\t')) {
            after += 1;
        }
        if !matches!(self.s.get(after), None | Some(b',')) {
            return None;
        }

        // `realm=, service=x` is a parameter with an empty value, not a
        // token68 with padding: parameters follow it.
        let padded = end > start && self.s[end - 1] == b'=';
        if padded && self.s.get(after) == Some(&b',') {
            let mut ahead = Parser {
                s: self.s,
                i: after,
            };
            ahead.skip_separators();
            if ahead.token().is_some() {
                ahead.skip_whitespace();
                if ahead.peek() == Some(b'=') {
                    return None;
                }
            }
        }
        self.i = after;
        Some(self.text(start, end))
    }

    /// Reads `name=value` pairs until something that is not one: the scheme
    /// of the next challenge, or the end.
    fn params(&mut self, params: &mut Vec<(String, String)>) {
        loop {
            let save = self.i;
            self.skip_separators();
            let Some(name) = self.token() else {
                self.i = save;
                return;
            };
            self.skip_whitespace();
            if self.peek() != Some(b'=') {
                // A bare token: the next challenge's scheme.
                self.i = save;
                return;
            }
            self.i += 1;
            self.skip_whitespace();
            let value = if self.peek() == Some(b'"') {
                self.quoted()
            } else {
                self.token().unwrap_or_default()
            };
            params.push((name, value));

            self.skip_whitespace();
            match self.peek() {
                None => return,
                Some(b',') => {}
                Some(_) => self.skip_to_comma(),
            }
        }
    }

    /// Reads a quoted string starting at `"`; an unterminated one runs to
    /// the end of the header.
    fn quoted(&mut self) -> String {
        debug_assert_eq!(self.peek(), Some(b'"'));
        self.i += 1;
        let mut value = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => break,
                b'\\' => {
                    if let Some(escaped) = self.peek() {
                        value.push(escaped);
                        self.i += 1;
                    }
                }
                _ => value.push(b),
            }
        }
        String::from_utf8_lossy(&value).into_owned()
    }

    fn text(&self, start: usize, end: usize) -> String {
        String::from_utf8_lossy(&self.s[start..end]).into_owned()
    }
}

/// `tchar` from RFC 7230, section 3.2.6.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// The characters of `token68` from RFC 7235, section 2.1, before padding.
fn is_token68_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn registry_bearer_challenge() {
        let h = r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:samalba/my-app:pull,push""#;
        let c = parse_challenges(h);
        assert_eq!(c.len(), 1);
        assert!(c[0].is("bearer"));
        assert_eq!(c[0].param("REALM"), Some("https://auth.example.com/token"));
        assert_eq!(c[0].param("service"), Some("registry.example.com"));
        assert_eq!(
            c[0].param("scope"),
            Some("repository:samalba/my-app:pull,push")
        );
    }

    #[test]
    fn basic_challenge() {
        let c = parse_challenges(r#"Basic realm="Registry Realm""#);
        assert_eq!(c.len(), 1);
        assert!(c[0].is("Basic"));
        assert_eq!(c[0].param("realm"), Some("Registry Realm"));
    }

    #[test]
    fn several_challenges_in_one_header() {
        // The example of RFC 7235, section 4.1.
        let h = r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#;
        let c = parse_challenges(h);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].scheme, "Newauth");
        assert_eq!(
            params(&c[0]),
            [
                ("realm", "apps"),
                ("type", "1"),
                ("title", "Login to \"apps\"")
            ]
        );
        assert_eq!(c[1].scheme, "Basic");
        assert_eq!(params(&c[1]), [("realm", "simple")]);
    }

    #[test]
    fn bare_schemes_and_token68() {
        let c = parse_challenges("Negotiate, NTLM abc+/def==, Bearer realm=x");
        assert_eq!(c.len(), 3, "{c:?}");
        assert!(c[0].is("negotiate") && c[0].params.is_empty());
        assert_eq!(c[1].token68(), Some("abc+/def=="));
        assert_eq!(c[1].param("realm"), None);
        assert_eq!(c[2].param("realm"), Some("x"));
        assert_eq!(c[2].token68(), None);
    }

    #[test]
    fn whitespace_around_equals_and_empty_elements() {
        let c = parse_challenges(" ,Bearer  realm = \"r\" ,, service=s , ");
        assert_eq!(c.len(), 1, "{c:?}");
        assert_eq!(params(&c[0]), [("realm", "r"), ("service", "s")]);
    }

    #[test]
    fn garbage_is_tolerated() {
        assert!(parse_challenges("").is_empty());
        assert!(parse_challenges("   ,, ").is_empty());
        assert!(parse_challenges("\"oops\", @@").is_empty());

        let c = parse_challenges(r#"@@@, Bearer realm="a" junk"x,y" more, Basic"#);
        assert_eq!(c.len(), 2, "{c:?}");
        assert_eq!(c[0].param("realm"), Some("a"));
        assert!(c[1].is("basic"));

        // An unterminated quoted value runs to the end.
        let c = parse_challenges(r#"Bearer realm="https://a/b, c"#);
        assert_eq!(c[0].param("realm"), Some("https://a/b, c"));

        // A value that is missing altogether is empty.
        let c = parse_challenges("Bearer realm=, service=x");
        assert_eq!(params(&c[0]), [("realm", ""), ("service", "x")]);
    }

    #[test]
    fn lookups_ignore_case_and_keep_the_first() {
        let c = parse_challenges("BEARER Realm=a, realm=b");
        assert!(c[0].is("Bearer"));
        assert_eq!(c[0].param("realm"), Some("a"));
    }
}
