//! Tar layers that try to write outside the output folder, or to create
//! what a pull must never create. Each must fail with InvalidContent and
//! leave nothing behind, not even the harmless entries before the bad one.

use crate::common::cli::{Config, Store, Workdir};
use crate::common::content::{self, Entry};
use crate::common::push::{Layer, RawPusher};
use crate::common::registry::Registry;

fn assert_rejected(entries: &[Entry]) {
    let registry = Registry::anonymous();
    let pusher = RawPusher::new(registry.authority());
    let layer = Layer::folder("bundle", content::tar_gz(entries));
    pusher.artifact("hostile/bundle", "v1", &[layer]);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);

    // The output is nested two levels down so that `../x` and `../../x`
    // would still land inside the work dir, where the snapshot sees them.
    let work = Workdir::new();
    std::fs::create_dir_all(work.path().join("a/b")).unwrap();
    let out = work.path().join("a/b/out");
    let before = work.snapshot();

    let reference = format!("{}/hostile/bundle:v1", registry.authority());
    config.pull(&reference, &out, &[]).failure("InvalidContent");
    work.assert_unchanged(&before);
}

#[test]
fn parent_dir_entry_is_invalid_content() {
    assert_rejected(&[
        Entry::File("bundle/ok.txt", b"fine"),
        Entry::File("bundle/../../x", b"escaped"),
    ]);
}

#[test]
fn parent_dir_at_the_start_is_invalid_content() {
    assert_rejected(&[
        Entry::File("bundle/ok.txt", b"fine"),
        Entry::File("../x", b"escaped"),
    ]);
}

#[test]
fn absolute_entry_is_invalid_content() {
    let target = format!("/tmp/artifact-store-test-escape-{}", std::process::id());
    assert_rejected(&[
        Entry::File("bundle/ok.txt", b"fine"),
        Entry::File(&target, b"escaped"),
    ]);
    assert!(
        !std::path::Path::new(&target).exists(),
        "an absolute entry was written to {target}"
    );
}

#[test]
fn symlink_escaping_the_output_is_invalid_content() {
    assert_rejected(&[
        Entry::File("bundle/ok.txt", b"fine"),
        Entry::Symlink("bundle/link", "../../.."),
        Entry::File("bundle/link/x", b"escaped through the link"),
    ]);
}

#[test]
fn absolute_symlink_is_invalid_content() {
    assert_rejected(&[Entry::Symlink("bundle/passwd", "/etc/passwd")]);
}

#[test]
fn hardlink_escaping_the_output_is_invalid_content() {
    assert_rejected(&[
        Entry::File("bundle/ok.txt", b"fine"),
        Entry::Hardlink("bundle/shadow", "../../../x"),
    ]);
}

#[test]
fn device_file_is_invalid_content() {
    assert_rejected(&[
        Entry::File("bundle/ok.txt", b"fine"),
        Entry::CharDevice("bundle/null"),
    ]);
}
