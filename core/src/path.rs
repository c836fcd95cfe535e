//! Relative file paths inside an artifact.
//!
//! Tar entries and the paths a component returns are untrusted: a path that
//! is absolute, climbs with `..`, or uses Windows separators could land
//! outside the output folder. They are normalised to `a/b/c` or refused.

use std::fmt;

/// Normalises a tar entry or returned file path to `a/b/c`.
///
/// Leading `./`, `.` components, repeated and trailing `/` are dropped.
/// Refused: an empty result, an absolute path (`/x`, a drive such as `C:`),
/// any `..` component, NUL, and backslash (a separator on Windows).
pub fn normalize_entry_path(p: &str) -> Result<String, PathError> {
    let fail = |kind| Err(PathError::new(p, kind));
    if p.contains('\0') {
        return fail(PathErrorKind::Nul);
    }
    if p.contains('\\') {
        return fail(PathErrorKind::Backslash);
    }
    // Control characters, and the bidi overrides that make a name read as
    // another, would reach terminals and listings: a name carrying an
    // escape sequence can repaint the digest line a user copies to pin.
    if p.chars().any(|c| c.is_control() || is_bidi_control(c)) {
        return fail(PathErrorKind::Control);
    }
    if p.starts_with('/') || has_drive_prefix(p) {
        return fail(PathErrorKind::Absolute);
    }

    let mut normalized = String::with_capacity(p.len());
    for component in p.split('/') {
        match component {
            "" | "." => continue,
            ".." => return fail(PathErrorKind::ParentDir),
            _ => {
                if !normalized.is_empty() {
                    normalized.push('/');
                }
                normalized.push_str(component);
            }
        }
    }
    if normalized.is_empty() {
        return fail(PathErrorKind::Empty);
    }
    Ok(normalized)
}

/// Unicode's explicit directional formatting characters.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

/// `C:` or `c:...`: a Windows drive, absolute or drive-relative.
fn has_drive_prefix(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':'
}

/// Why a path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathErrorKind {
    /// Nothing is left once `.` components and slashes are removed.
    Empty,
    /// The path starts at a root or a drive.
    Absolute,
    /// A `..` component.
    ParentDir,
    /// A NUL byte.
    Nul,
    /// A backslash, which Windows reads as a separator.
    Backslash,
    /// Holds a control character or a bidirectional override.
    Control,
}

/// A refused path: names the path and the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathError {
    path: String,
    kind: PathErrorKind,
}

impl PathError {
    fn new(path: &str, kind: PathErrorKind) -> Self {
        PathError {
            path: path.to_owned(),
            kind,
        }
    }

    /// The path as given.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Why it was refused.
    pub fn kind(&self) -> PathErrorKind {
        self.kind
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = match self.kind {
            PathErrorKind::Empty => "is empty",
            PathErrorKind::Absolute => "is absolute",
            PathErrorKind::ParentDir => "contains a \"..\" component",
            PathErrorKind::Nul => "contains a NUL byte",
            PathErrorKind::Backslash => "contains a backslash",
            PathErrorKind::Control => "contains a control or text-direction character",
        };
        // Debug formatting escapes control characters, so a hostile name
        // cannot break the line.
        write!(f, "path {:?} {reason}", self.path)
    }
}

impl std::error::Error for PathError {}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(p: &str) -> String {
        normalize_entry_path(p).unwrap_or_else(|e| panic!("{p:?}: {e}"))
    }

    fn kind(p: &str) -> PathErrorKind {
        normalize_entry_path(p).expect_err(p).kind()
    }

    #[test]
    fn normalizes() {
        assert_eq!(ok("a/b/c"), "a/b/c");
        assert_eq!(ok("./a/b"), "a/b");
        assert_eq!(ok("templates/"), "templates");
        assert_eq!(ok("a/./b//c/"), "a/b/c");
        assert_eq!(ok("././x"), "x");
        assert_eq!(ok("a..b/.c/..."), "a..b/.c/...");
        assert_eq!(ok("with space/ünïcode"), "with space/ünïcode");
    }

    #[test]
    fn refuses_empty() {
        for p in ["", ".", "./", ".//", "./."] {
            assert_eq!(kind(p), PathErrorKind::Empty, "{p:?}");
        }
    }

    #[test]
    fn refuses_absolute() {
        for p in ["/x", "/", "C:", "c:/x", "C:x"] {
            assert_eq!(kind(p), PathErrorKind::Absolute, "{p:?}");
        }
    }

    #[test]
    fn refuses_parent_components() {
        for p in ["..", "../x", "a/../b", "a/..", "./.."] {
            assert_eq!(kind(p), PathErrorKind::ParentDir, "{p:?}");
        }
    }

    #[test]
    fn refuses_nul_and_backslash() {
        assert_eq!(kind("a\0b"), PathErrorKind::Nul);
        assert_eq!(kind("C:\\x"), PathErrorKind::Backslash);
        assert_eq!(kind("\\x"), PathErrorKind::Backslash);
        assert_eq!(kind("a\\..\\b"), PathErrorKind::Backslash);
        assert_eq!(kind("a\nb"), PathErrorKind::Control);
        assert_eq!(kind("\u{1b}[2Adigest"), PathErrorKind::Control);
        assert_eq!(kind("evil\u{202E}txt.json"), PathErrorKind::Control);
    }

    #[test]
    fn message_names_path_and_reason() {
        let e = normalize_entry_path("../etc/passwd").unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"path "../etc/passwd" contains a ".." component"#
        );
        assert_eq!(e.path(), "../etc/passwd");
    }
}
