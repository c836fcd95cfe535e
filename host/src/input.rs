//! Reading what `push` publishes from the local disk.
//!
//! A file becomes one layer titled with its path as given; a folder becomes
//! one layer titled with its path as given, holding every file below it.
//! Titles are where a pull writes the content, so a path that is absolute
//! or climbs out with `..` is refused: it would unpack outside the folder
//! of whoever pulls it.

use std::fs;
use std::path::Path;

use crate::error::{Error, ErrorKind};

/// What to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PushInput {
    /// One file, titled `path`.
    File { path: String, content: Vec<u8> },
    /// A folder titled `name`, with its files (paths relative to it,
    /// sorted).
    Folder {
        name: String,
        files: Vec<(String, Vec<u8>)>,
    },
}

impl PushInput {
    /// The bytes to publish, before packing.
    pub fn size(&self) -> u64 {
        match self {
            PushInput::File { content, .. } => content.len() as u64,
            PushInput::Folder { files, .. } => files.iter().map(|(_, c)| c.len() as u64).sum(),
        }
    }
}

/// Reads `path` (a file or a folder) for publishing, refusing anything
/// that could not be pulled back safely, and anything over `max_size`
/// bytes in total.
pub fn read(path: &Path, max_size: u64) -> Result<PushInput, Error> {
    let title = title_of(path)?;
    let meta = fs::symlink_metadata(path)
        .map_err(|err| input_error(format!("cannot read {}: {err}", path.display())))?;

    if meta.is_file() {
        check_size(path, meta.len(), max_size)?;
        let content = fs::read(path)
            .map_err(|err| input_error(format!("cannot read {}: {err}", path.display())))?;
        return Ok(PushInput::File {
            path: title,
            content,
        });
    }
    if !meta.is_dir() {
        return Err(input_error(format!(
            "{} is neither a file nor a folder (a link or a special file); \
             push the file or folder it stands for",
            path.display()
        )));
    }

    let mut files = Vec::new();
    let mut total = 0u64;
    collect(path, "", &mut files, &mut total, max_size)?;
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(PushInput::Folder { name: title, files })
}

/// The layer title: the path as given, in normal form.
fn title_of(path: &Path) -> Result<String, Error> {
    let text = path
        .to_str()
        .ok_or_else(|| input_error(format!("{} is not valid UTF-8; rename it", path.display())))?;
    if path.is_absolute() {
        return Err(input_error(format!(
            "{text} is absolute, and a title is where pulls write the content; \
             change to its parent folder and push a relative path"
        )));
    }
    match artifact_store_core::normalize_entry_path(text) {
        // The path may not leave the current folder through a link either.
        Ok(title) => {
            let inside = match (
                fs::canonicalize(path),
                std::env::current_dir().and_then(fs::canonicalize),
            ) {
                (Ok(target), Ok(here)) => target.starts_with(here),
                _ => true, // a missing path fails with a clearer error below
            };
            if title
                .split('/')
                .any(|part| part.starts_with(WHITEOUT_PREFIX))
            {
                return Err(input_error(format!(
                    "{text} has a part starting with {WHITEOUT_PREFIX:?}, which pulls read \
                     as a deletion marker (a whiteout); rename it"
                )));
            }
            if !inside {
                return Err(input_error(format!(
                    "{text} leads out of the current folder through a link; change to \
                     the folder that holds it and push a path inside it"
                )));
            }
            Ok(title)
        }
        // `.` (or `./`) stands for the current folder: title it with the
        // folder's own name.
        Err(err) if err.kind() == artifact_store_core::PathErrorKind::Empty => {
            let canonical = fs::canonicalize(path)
                .map_err(|e| input_error(format!("cannot resolve {text}: {e}")))?;
            let name = canonical
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| {
                    input_error(format!("{text} has no name to title the layer with"))
                })?;
            Ok(name.to_owned())
        }
        Err(err) => Err(input_error(format!(
            "{err}; a title is where pulls write the content, so push a path inside \
             the current folder"
        ))),
    }
}

fn collect(
    dir: &Path,
    prefix: &str,
    files: &mut Vec<(String, Vec<u8>)>,
    total: &mut u64,
    max_size: u64,
) -> Result<(), Error> {
    let entries = fs::read_dir(dir)
        .map_err(|err| input_error(format!("cannot list {}: {err}", dir.display())))?;
    for entry in entries {
        let entry =
            entry.map_err(|err| input_error(format!("cannot list {}: {err}", dir.display())))?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_str().ok_or_else(|| {
            input_error(format!("{} is not valid UTF-8; rename it", path.display()))
        })?;
        let relative = if prefix.is_empty() {
            name.to_owned()
        } else {
            format!("{prefix}/{name}")
        };
        if artifact_store_core::normalize_entry_path(&relative).as_deref() != Ok(relative.as_str())
        {
            return Err(input_error(format!(
                "{} has a name that cannot be published (a backslash or a control character?)",
                path.display()
            )));
        }
        if name.starts_with(WHITEOUT_PREFIX) {
            return Err(input_error(format!(
                "{} starts with {WHITEOUT_PREFIX:?}, which pulls read as a deletion \
                 marker (a whiteout), not as a file; rename it",
                path.display()
            )));
        }
        let meta = fs::symlink_metadata(&path)
            .map_err(|err| input_error(format!("cannot read {}: {err}", path.display())))?;
        if meta.is_dir() {
            collect(&path, &relative, files, total, max_size)?;
        } else if meta.is_file() {
            *total = total.saturating_add(meta.len());
            check_size(dir, *total, max_size)?;
            let content = fs::read(&path)
                .map_err(|err| input_error(format!("cannot read {}: {err}", path.display())))?;
            files.push((relative, content));
        } else {
            return Err(input_error(format!(
                "{} is a link or a special file; links cannot be published safely, \
                 copy the file in instead",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Names that image layers use to delete what lower layers hold
/// (`.wh.<name>`, `.wh..wh..opq`); a file so named would vanish on pull.
const WHITEOUT_PREFIX: &str = ".wh.";

fn check_size(path: &Path, size: u64, max_size: u64) -> Result<(), Error> {
    if size > max_size {
        return Err(Error::new(
            ErrorKind::TooLargeArtifacts,
            format!(
                "{} holds more than the operation's limit of {max_size} bytes; \
                 choose an operation with a larger max-size",
                path.display()
            ),
        ));
    }
    Ok(())
}

fn input_error(message: String) -> Error {
    Error::new(ErrorKind::InvalidInput, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs `f` with the current folder set to a fresh temporary folder.
    /// Tests that change the current folder are serialised by a lock.
    fn in_temp_dir<T>(f: impl FnOnce(&Path) -> T) -> T {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let previous = std::env::current_dir().unwrap();
        std::env::set_current_dir(dir.path()).unwrap();
        let result = f(dir.path());
        std::env::set_current_dir(previous).unwrap();
        result
    }

    #[test]
    fn a_folder_is_read_sorted_with_relative_paths() {
        in_temp_dir(|root| {
            fs::create_dir_all(root.join("templates/b")).unwrap();
            fs::write(root.join("templates/z.liquid"), b"z").unwrap();
            fs::write(root.join("templates/b/a.liquid"), b"a").unwrap();
            let input = read(Path::new("./templates/"), u64::MAX).unwrap();
            assert_eq!(
                input,
                PushInput::Folder {
                    name: "templates".into(),
                    files: vec![
                        ("b/a.liquid".into(), b"a".to_vec()),
                        ("z.liquid".into(), b"z".to_vec()),
                    ],
                }
            );
        });
    }

    #[test]
    fn escaping_and_absolute_paths_are_refused() {
        in_temp_dir(|root| {
            fs::create_dir(root.join("d")).unwrap();
            fs::write(root.join("f.json"), b"{}").unwrap();
            for bad in ["../f.json", "d/../../f.json"] {
                let err = read(Path::new(bad), u64::MAX).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad}: {err}");
            }
            let err = read(&root.join("f.json"), u64::MAX).unwrap_err();
            assert!(err.to_string().contains("absolute"), "{err}");
        });
    }

    #[test]
    fn links_inside_a_folder_are_refused() {
        in_temp_dir(|root| {
            fs::create_dir(root.join("d")).unwrap();
            #[cfg(unix)]
            std::os::unix::fs::symlink("/etc/passwd", root.join("d/link")).unwrap();
            #[cfg(unix)]
            {
                let err = read(Path::new("d"), u64::MAX).unwrap_err();
                assert!(err.to_string().contains("link"), "{err}");
            }
        });
    }

    #[test]
    fn paths_through_links_out_of_the_current_folder_are_refused() {
        in_temp_dir(|root| {
            let outside = tempfile::tempdir().unwrap();
            fs::write(outside.path().join("secret.txt"), b"s").unwrap();
            #[cfg(unix)]
            {
                std::os::unix::fs::symlink(outside.path(), root.join("lnkd")).unwrap();
                let err = read(Path::new("lnkd/secret.txt"), u64::MAX).unwrap_err();
                assert_eq!(err.kind(), ErrorKind::InvalidInput);
                assert!(err.to_string().contains("through a link"), "{err}");
            }
        });
    }

    #[test]
    fn whiteout_names_are_refused() {
        in_temp_dir(|root| {
            fs::create_dir(root.join("d")).unwrap();
            fs::write(root.join("d/.wh.keep"), b"").unwrap();
            let err = read(Path::new("d"), u64::MAX).unwrap_err();
            assert!(err.to_string().contains("whiteout"), "{err}");
            let err = read(Path::new("d/.wh.keep"), u64::MAX).unwrap_err();
            assert!(err.to_string().contains("whiteout"), "{err}");
        });
    }

    #[test]
    fn the_current_folder_is_titled_with_its_name() {
        in_temp_dir(|root| {
            fs::write(root.join("a.json"), b"{}").unwrap();
            let PushInput::Folder { name, files } = read(Path::new("."), u64::MAX).unwrap() else {
                panic!("a folder");
            };
            assert_eq!(name, root.file_name().unwrap().to_str().unwrap());
            assert_eq!(files, vec![("a.json".to_owned(), b"{}".to_vec())]);
        });
    }

    #[test]
    fn input_over_the_limit_is_refused() {
        in_temp_dir(|root| {
            fs::write(root.join("big"), vec![0u8; 100]).unwrap();
            let err = read(Path::new("big"), 99).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::TooLargeArtifacts);
        });
    }
}
