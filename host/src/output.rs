//! Writing an artifact's files to a folder, all or nothing.
//!
//! The files go into a temporary folder beside the target, which is renamed
//! into place only when every file is written. A failed pull leaves the
//! target as it was: missing if it was missing, untouched if it existed.
//! Every path is checked again here, whatever the provider claims, so that
//! nothing is written outside the target.

use std::fs;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use crate::error::{Error, ErrorKind};

/// A file to write: a relative `/`-separated path and its bytes.
pub trait OutputFile {
    /// The path relative to the output folder.
    fn path(&self) -> &str;
    /// The bytes.
    fn content(&self) -> &[u8];
}

/// Checks, before anything is fetched, that `target` can receive a pull:
/// it is missing or an empty folder, or `replace` is set and it is a folder.
pub fn check_target(target: &Path, replace: bool) -> Result<(), Error> {
    match fs::symlink_metadata(target) {
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(err) => Err(output_error(format!(
            "cannot inspect {}: {err}",
            target.display()
        ))),
        Ok(meta) if !meta.is_dir() => Err(output_error(format!(
            "{} exists and is not a folder; choose another --output",
            target.display()
        ))),
        Ok(_) if replace => Ok(()),
        Ok(_) => {
            let mut entries = fs::read_dir(target)
                .map_err(|err| output_error(format!("cannot read {}: {err}", target.display())))?;
            if entries.next().is_some() {
                return Err(output_error(format!(
                    "{} is not empty; choose an empty or new folder, or pass --force \
                     to replace its contents",
                    target.display()
                )));
            }
            Ok(())
        }
    }
}

/// Writes `files` so that `target` holds exactly them, atomically. With
/// `replace`, an existing non-empty target is swapped out and removed once
/// the new one is in place.
pub fn write_atomically<F: OutputFile>(
    target: &Path,
    files: &[F],
    replace: bool,
) -> Result<(), Error> {
    check_target(target, replace)?;
    let parent = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent)
        .map_err(|err| output_error(format!("cannot create {}: {err}", parent.display())))?;
    let name = target
        .file_name()
        .ok_or_else(|| output_error(format!("{} does not name a folder", target.display())))?
        .to_string_lossy()
        .into_owned();

    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.partial-"))
        .tempdir_in(&parent)
        .map_err(|err| {
            output_error(format!(
                "cannot create a folder in {}: {err}",
                parent.display()
            ))
        })?;
    for file in files {
        write_one(staging.path(), file)?;
    }
    set_folder_permissions(staging.path());

    move_into_place(staging, target, &parent, &name)
}

fn write_one<F: OutputFile>(root: &Path, file: &F) -> Result<(), Error> {
    let relative = safe_relative_path(file.path())?;
    let path = root.join(&relative);
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|err| {
            output_error(format!(
                "cannot create the folder for {}: {err}",
                file.path()
            ))
        })?;
    }
    // create_new: a second file with the same path is a provider bug, and
    // must not silently overwrite the first.
    let mut out = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|err| output_error(format!("cannot create {}: {err}", file.path())))?;
    out.write_all(file.content())
        .map_err(|err| output_error(format!("cannot write {}: {err}", file.path())))?;
    Ok(())
}

/// The path as components that stay inside the output folder.
fn safe_relative_path(path: &str) -> Result<PathBuf, Error> {
    let refuse = |reason: String| {
        Error::new(
            ErrorKind::ProviderFailed,
            format!(
                "the provider returned the file path {path:?}, which {reason}; nothing was written"
            ),
        )
    };
    let normalized = artifact_store_core::normalize_entry_path(path)
        .map_err(|err| refuse(format!("is not allowed ({err})")))?;
    if normalized != path {
        return Err(refuse(format!(
            "is not in normal form (expected {normalized:?})"
        )));
    }
    let relative = PathBuf::from(&normalized);
    if !relative
        .components()
        .all(|c| matches!(c, Component::Normal(_)))
    {
        return Err(refuse("leaves the output folder".into()));
    }
    Ok(relative)
}

fn move_into_place(
    staging: tempfile::TempDir,
    target: &Path,
    parent: &Path,
    name: &str,
) -> Result<(), Error> {
    let rename_error = |err: std::io::Error| {
        output_error(format!(
            "cannot move the files into {}: {err}",
            target.display()
        ))
    };

    if !target.exists() {
        fs::rename(staging.path(), target).map_err(rename_error)?;
        // The staging folder is the target now: do not delete it.
        let _ = staging.keep();
        return Ok(());
    }

    // An existing target is set aside first, so that at every moment either
    // the old or the new content is complete at `target`.
    let aside = tempfile::Builder::new()
        .prefix(&format!(".{name}.old-"))
        .tempdir_in(parent)
        .map_err(|err| {
            output_error(format!(
                "cannot create a folder in {}: {err}",
                parent.display()
            ))
        })?;
    let aside_path = aside.path().join("previous");
    fs::rename(target, &aside_path).map_err(rename_error)?;
    if let Err(err) = fs::rename(staging.path(), target) {
        // Put the old content back before reporting.
        let _ = fs::rename(&aside_path, target);
        return Err(rename_error(err));
    }
    let _ = staging.keep();
    drop(aside);
    Ok(())
}

/// Temporary folders are private to the user; the output is not.
fn set_folder_permissions(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = fs::set_permissions(dir, fs::Permissions::from_mode(0o755));
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn output_error(message: String) -> Error {
    Error::new(ErrorKind::OutputError, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct F(&'static str, &'static [u8]);
    impl OutputFile for F {
        fn path(&self) -> &str {
            self.0
        }
        fn content(&self) -> &[u8] {
            self.1
        }
    }

    #[test]
    fn writes_nested_files_into_a_new_folder() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        write_atomically(&target, &[F("a.json", b"{}"), F("t/b.liquid", b"x")], false).unwrap();
        assert_eq!(fs::read(target.join("a.json")).unwrap(), b"{}");
        assert_eq!(fs::read(target.join("t/b.liquid")).unwrap(), b"x");
        // Only the target is left in the parent: no staging folder.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn escaping_paths_leave_nothing_behind() {
        for bad in ["../x", "/etc/x", "a/../../x", "", "a//b", "./a"] {
            let dir = tempfile::tempdir().unwrap();
            let target = dir.path().join("out");
            let err =
                write_atomically(&target, &[F("ok.txt", b"1"), F(bad, b"2")], false).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::ProviderFailed, "{bad}: {err}");
            assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0, "{bad}");
        }
    }

    #[test]
    fn duplicate_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        let err = write_atomically(&target, &[F("a", b"1"), F("a", b"2")], false).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutputError);
        assert!(!target.exists());
    }

    #[test]
    fn a_non_empty_target_needs_replace() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"mine").unwrap();
        let err = write_atomically(&target, &[F("a", b"1")], false).unwrap_err();
        assert!(err.to_string().contains("--force"), "{err}");
        assert_eq!(fs::read(target.join("keep")).unwrap(), b"mine");

        write_atomically(&target, &[F("a", b"1")], true).unwrap();
        assert!(!target.join("keep").exists());
        assert_eq!(fs::read(target.join("a")).unwrap(), b"1");
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_empty_existing_folder_is_filled() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out");
        fs::create_dir(&target).unwrap();
        write_atomically(&target, &[F("a", b"1")], false).unwrap();
        assert_eq!(fs::read(target.join("a")).unwrap(), b"1");
    }
}
