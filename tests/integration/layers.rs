//! Layer shapes other clients write: the ORAS Go CLI's unpack annotations,
//! FHIR-Converter's untitled template layers, and media types that do not
//! match the bytes.

use std::collections::BTreeMap;

use crate::common::cli::{Config, Store, Workdir};
use crate::common::content::{self, files_only, snapshot, Entry};
use crate::common::push::{sha256, Layer, RawPusher, LAYER_TAR_GZIP, TITLE};
use crate::common::registry::Registry;

/// Pushes `layers` to `layers/test:v1`, pulls it, and returns the files.
fn pull_layers(layers: &[Layer]) -> BTreeMap<String, Vec<u8>> {
    let registry = Registry::anonymous();
    RawPusher::new(registry.authority()).artifact("layers/test", "v1", layers);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();

    let reference = format!("{}/layers/test:v1", registry.authority());
    config.pull(&reference, &work.out(), &[]).success();
    files_only(snapshot(&work.out()))
}

fn files(pairs: &[(&str, &[u8])]) -> BTreeMap<String, Vec<u8>> {
    pairs
        .iter()
        .map(|(path, bytes)| (path.to_string(), bytes.to_vec()))
        .collect()
}

/// A folder layer as the ORAS Go CLI writes it: the unpack flag, and the
/// digest of the uncompressed tar, here `tar_digest`.
fn go_cli_folder(tar_digest: Option<String>) -> Layer {
    let tar = content::tar(&[
        Entry::File("bundle/a.liquid", b"{{ a }}"),
        Entry::File("bundle/nested/b.liquid", b"{{ b }}"),
    ]);
    let digest = tar_digest.unwrap_or_else(|| sha256(&tar));
    let mut layer = Layer::folder("bundle", content::gzip(&tar));
    layer.annotations.extend([
        ("io.deis.oras.content.unpack".to_owned(), "true".to_owned()),
        ("io.deis.oras.content.digest".to_owned(), digest),
    ]);
    layer
}

#[test]
fn folder_with_the_go_cli_unpack_annotations() {
    assert_eq!(
        pull_layers(&[go_cli_folder(None)]),
        files(&[
            ("bundle/a.liquid", b"{{ a }}"),
            ("bundle/nested/b.liquid", b"{{ b }}"),
        ])
    );
}

#[test]
fn folder_whose_unpack_digest_annotation_is_wrong_is_a_digest_mismatch() {
    let registry = Registry::anonymous();
    let layer = go_cli_folder(Some(sha256(b"some other tar")));
    RawPusher::new(registry.authority()).artifact("layers/test", "v1", &[layer]);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();
    let before = work.snapshot();

    let reference = format!("{}/layers/test:v1", registry.authority());
    config
        .pull(&reference, &work.out(), &[])
        .failure("DigestMismatch");
    work.assert_unchanged(&before);
}

#[test]
fn gzip_is_sniffed_from_the_bytes_not_the_media_type() {
    let tar_gz = content::tar_gz(&[Entry::File("bundle/a.liquid", b"{{ a }}")]);
    let layer = Layer {
        // Says plain tar; the bytes are gzip.
        media_type: "application/vnd.oci.image.layer.v1.tar".to_owned(),
        bytes: tar_gz,
        annotations: vec![(TITLE.to_owned(), "bundle".to_owned())],
    };

    assert_eq!(
        pull_layers(&[layer]),
        files(&[("bundle/a.liquid", b"{{ a }}")])
    );
}

#[test]
fn untitled_template_layers_unpack_in_order_and_the_later_wins() {
    let base = content::tar_gz(&[
        Entry::File("ADT_A01.liquid", b"base entry template"),
        Entry::File("Resource/_Patient.liquid", b"base patient"),
    ]);
    let overlay = content::tar_gz(&[Entry::File("Resource/_Patient.liquid", b"custom patient")]);
    let untitled = |bytes| Layer {
        media_type: LAYER_TAR_GZIP.to_owned(),
        bytes,
        annotations: Vec::new(),
    };

    assert_eq!(
        pull_layers(&[untitled(base), untitled(overlay)]),
        files(&[
            ("ADT_A01.liquid", b"base entry template"),
            ("Resource/_Patient.liquid", b"custom patient"),
        ])
    );
}
