//! The files the `Builder` writes: the default name, a name of the user's
//! choosing, and models that would share a file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking"
)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use iot_sdk_codegen::{Builder, Error, ProblemKind, generate, load};

use common::{SHARED_PACKAGE, models, shared_package, write_zip, zip_entries_of};

fn builder(out_dir: &Path) -> Builder {
    Builder::new().cargo_instructions(false).out_dir(out_dir)
}

/// The names of the files in `dir`, sorted.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Our smokeDetector package, zipped under the name the console gives.
fn console_export(dir: &Path) -> PathBuf {
    let zip = dir.join(SHARED_PACKAGE);
    write_zip(&zip, &zip_entries_of(&models().join("smokeDetector")));
    zip
}

#[test]
fn a_console_export_gets_its_long_name_unless_one_is_chosen() {
    let models_dir = tempfile::tempdir().unwrap();
    let zip = console_export(models_dir.path());

    let out = tempfile::tempdir().unwrap();
    let written = builder(out.path()).model(&zip).generate().unwrap();
    let long = "smoke_detector_cb097d20d77b4240adf1f33d36b3c278_smoke_detector.rs";
    assert_eq!(written, [out.path().join(long)]);

    let out = tempfile::tempdir().unwrap();
    let written = builder(out.path())
        .model_as(&zip, "smoke_detector.rs")
        .generate()
        .unwrap();
    assert_eq!(written, [out.path().join("smoke_detector.rs")]);
    assert_eq!(files_in(out.path()), ["smoke_detector.rs"]);
    let code = fs::read_to_string(&written[0]).unwrap();
    assert_eq!(code, generate(&load(&zip).unwrap().model).unwrap());
}

#[test]
fn the_real_export_can_be_included_as_smoke_detector_rs() {
    let Some(zip) = shared_package("the_real_export_can_be_included_as_smoke_detector_rs") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    builder(out.path())
        .model_as(&zip, "smoke_detector.rs")
        .generate()
        .unwrap();
    let code = fs::read_to_string(out.path().join("smoke_detector.rs")).unwrap();
    assert_eq!(code, generate(&load(&zip).unwrap().model).unwrap());
}

#[test]
fn a_chosen_name_must_be_a_plain_file_name() {
    let out = tempfile::tempdir().unwrap();
    let inside = out.path().join("inside");
    let model = models().join("greenhouse.json");
    for name in ["", "..", "../escape.rs", "sub/dir.rs", "sub\\dir.rs"] {
        let error = builder(&inside)
            .model_as(&model, name)
            .generate()
            .unwrap_err();
        let problem = &error.problems()[0];
        assert_eq!(problem.kind, ProblemKind::Invalid, "{error}");
        assert!(problem.file.ends_with("greenhouse.json"), "{error}");
        assert!(
            problem.message.contains("expected a plain file name"),
            "{error}"
        );
    }
    assert_eq!(files_in(out.path()), Vec::<String>::new());
}

/// The error of models that share a file: it names the file and both models.
fn assert_shared(error: &Error, file: &Path, first: &Path, second: &Path) {
    assert_eq!(error.problems().len(), 1, "{error}");
    let problem = &error.problems()[0];
    assert_eq!(problem.kind, ProblemKind::Duplicate, "{error}");
    assert_eq!(problem.file, file.display().to_string());
    let both = format!("both {} and {}", first.display(), second.display());
    assert!(problem.message.contains(&both), "{error}");
}

#[test]
fn two_models_writing_one_file_are_an_error_and_nothing_is_written() {
    let out = tempfile::tempdir().unwrap();
    let folder = models().join("smokeDetector");
    let api = models().join("smokeDetector.json");
    let error = builder(out.path())
        .model(&folder)
        .model(&api)
        .generate()
        .unwrap_err();
    assert_shared(&error, &out.path().join("smoke_detector.rs"), &folder, &api);
    assert_eq!(files_in(out.path()), Vec::<String>::new());

    // A chosen name collides with a default one, whatever its case.
    let greenhouse = models().join("greenhouse.json");
    let error = builder(out.path())
        .model(&greenhouse)
        .model_as(&folder, "Greenhouse.rs")
        .generate()
        .unwrap_err();
    assert_shared(
        &error,
        &out.path().join("Greenhouse.rs"),
        &greenhouse,
        &folder,
    );
    assert_eq!(files_in(out.path()), Vec::<String>::new());

    // Given names of their own, both are written.
    let written = builder(out.path())
        .model(&folder)
        .model_as(&api, "smoke_detector_api.rs")
        .generate()
        .unwrap();
    assert_eq!(written.len(), 2);
    assert_eq!(
        files_in(out.path()),
        ["smoke_detector.rs", "smoke_detector_api.rs"]
    );
}
