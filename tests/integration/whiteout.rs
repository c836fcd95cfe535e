//! Template images with several layers, as FHIR-Converter builds them: the
//! layers are untitled tar+gzip archives applied in order, a later layer's
//! file wins, and whiteouts (OCI image spec, layer.md, "Whiteouts") delete
//! what lower layers put there.

use std::collections::BTreeMap;

use crate::common::cli::{Config, Store, Workdir};
use crate::common::content::{self, snapshot, Entry, Snapshot};
use crate::common::push::{Layer, RawPusher, LAYER_TAR_GZIP};
use crate::common::registry::Registry;

fn untitled(entries: &[Entry]) -> Layer {
    Layer {
        media_type: LAYER_TAR_GZIP.to_owned(),
        bytes: content::tar_gz(entries),
        annotations: Vec::new(),
    }
}

/// Pushes `layers` as one image and pulls it; returns the pull's run and
/// what the output folder holds (folders included).
fn pull_image(layers: &[Layer]) -> (crate::common::cli::Run, Snapshot) {
    let registry = Registry::anonymous();
    RawPusher::new(registry.authority()).artifact("templates/hl7v2", "v1", layers);
    let config = Config::new(&[Store::oci(registry.authority())], &[]);
    let work = Workdir::new();
    let reference = format!("{}/templates/hl7v2:v1", registry.authority());
    let run = config.pull(&reference, &work.out(), &[]);
    (run, snapshot(&work.out()))
}

/// The snapshot of a tree: files with their content, and every folder
/// that holds them.
fn tree(files: &[(&str, &str)]) -> Snapshot {
    let mut out = BTreeMap::new();
    for (path, text) in files {
        let mut folder = String::new();
        for part in path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if !folder.is_empty() {
                folder.push('/');
            }
            folder.push_str(part);
            out.insert(folder.clone(), None);
        }
        out.insert((*path).to_owned(), Some(text.as_bytes().to_vec()));
    }
    out
}

fn base_layer() -> Layer {
    untitled(&[
        Entry::File("ADT_A01.liquid", b"base adt"),
        Entry::File("Resource/_Patient.liquid", b"base patient"),
        Entry::File("Resource/_Encounter.liquid", b"base encounter"),
        Entry::File("DataType/_XPN.liquid", b"base xpn"),
        Entry::File("DataType/_CX.liquid", b"base cx"),
        Entry::File("DataType/Nested/_XAD.liquid", b"base xad"),
        Entry::File("CodeSystem/Gender.json", b"{}"),
    ])
}

#[test]
fn a_whiteout_deletes_a_lower_file_and_a_later_file_wins() {
    let overlay = untitled(&[
        Entry::File("Resource/_Patient.liquid", b"custom patient"),
        Entry::File("Resource/.wh._Encounter.liquid", b""),
    ]);

    let (run, pulled) = pull_image(&[base_layer(), overlay]);
    run.success();
    assert_eq!(
        pulled,
        tree(&[
            ("ADT_A01.liquid", "base adt"),
            ("Resource/_Patient.liquid", "custom patient"),
            ("DataType/_XPN.liquid", "base xpn"),
            ("DataType/_CX.liquid", "base cx"),
            ("DataType/Nested/_XAD.liquid", "base xad"),
            ("CodeSystem/Gender.json", "{}"),
        ])
    );
}

#[test]
fn a_whiteout_of_a_folder_deletes_the_whole_folder() {
    let overlay = untitled(&[Entry::File(".wh.DataType", b"")]);

    let (run, pulled) = pull_image(&[base_layer(), overlay]);
    run.success();
    assert_eq!(
        pulled,
        tree(&[
            ("ADT_A01.liquid", "base adt"),
            ("Resource/_Patient.liquid", "base patient"),
            ("Resource/_Encounter.liquid", "base encounter"),
            ("CodeSystem/Gender.json", "{}"),
        ])
    );
}

#[test]
fn an_opaque_folder_hides_what_lower_layers_put_in_it() {
    // As Docker writes it: the marker sorts first in its folder.
    let overlay = untitled(&[
        Entry::File("DataType/.wh..wh..opq", b""),
        Entry::File("DataType/_New.liquid", b"new"),
    ]);

    let (run, pulled) = pull_image(&[base_layer(), overlay]);
    run.success();
    assert_eq!(
        pulled,
        tree(&[
            ("ADT_A01.liquid", "base adt"),
            ("Resource/_Patient.liquid", "base patient"),
            ("Resource/_Encounter.liquid", "base encounter"),
            ("DataType/_New.liquid", "new"),
            ("CodeSystem/Gender.json", "{}"),
        ])
    );
}

#[test]
fn whiteouts_apply_only_to_lower_layers_wherever_they_sit_in_the_archive() {
    // layer.md: "Files that are present in the same layer as a whiteout
    // file can only be hidden by whiteout files in subsequent layers."
    let overlay = untitled(&[
        Entry::File("DataType/_New.liquid", b"new"),
        Entry::File("DataType/.wh..wh..opq", b""),
        Entry::File("Resource/_Extra.liquid", b"extra"),
        Entry::File("Resource/.wh._Extra.liquid", b""),
    ]);

    let (run, pulled) = pull_image(&[base_layer(), overlay]);
    run.success();
    assert_eq!(
        pulled,
        tree(&[
            ("ADT_A01.liquid", "base adt"),
            ("Resource/_Patient.liquid", "base patient"),
            ("Resource/_Encounter.liquid", "base encounter"),
            ("Resource/_Extra.liquid", "extra"),
            ("DataType/_New.liquid", "new"),
            ("CodeSystem/Gender.json", "{}"),
        ])
    );
}

#[test]
fn a_file_deleted_by_one_layer_comes_back_in_a_later_one() {
    let delete = untitled(&[
        Entry::File("Resource/.wh._Patient.liquid", b""),
        // Deleting what no lower layer has is harmless.
        Entry::File("Resource/.wh._Missing.liquid", b""),
    ]);
    let restore = untitled(&[Entry::File("Resource/_Patient.liquid", b"restored patient")]);

    let (run, pulled) = pull_image(&[base_layer(), delete, restore]);
    run.success();
    assert_eq!(
        pulled,
        tree(&[
            ("ADT_A01.liquid", "base adt"),
            ("Resource/_Patient.liquid", "restored patient"),
            ("Resource/_Encounter.liquid", "base encounter"),
            ("DataType/_XPN.liquid", "base xpn"),
            ("DataType/_CX.liquid", "base cx"),
            ("DataType/Nested/_XAD.liquid", "base xad"),
            ("CodeSystem/Gender.json", "{}"),
        ])
    );
}

#[test]
fn a_whiteout_naming_the_parent_folder_deletes_nothing_above_it() {
    // `.wh...` names `..`: merging it must not delete `Resource`'s parent,
    // the whole image. Refusing the layer is as good as ignoring the entry.
    let overlay = untitled(&[Entry::File("Resource/.wh...", b"")]);

    let (run, pulled) = pull_image(&[base_layer(), overlay]);
    if run.output.status.success() {
        let files: Vec<&String> = pulled.keys().collect();
        for kept in [
            "ADT_A01.liquid",
            "Resource/_Patient.liquid",
            "CodeSystem/Gender.json",
        ] {
            assert!(pulled.contains_key(kept), "{kept} was deleted: {files:?}");
        }
        assert!(
            !files.iter().any(|path| path.contains(".wh.")),
            "a whiteout was written: {files:?}"
        );
    } else {
        run.failure("InvalidContent");
        assert_eq!(pulled, Snapshot::new(), "a failed pull left files");
    }
}
