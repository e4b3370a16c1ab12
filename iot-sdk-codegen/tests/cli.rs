//! The `iot-sdk-codegen` binary: generate, check, model, schema, and its
//! exit status.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers of a test fail it by panicking"
)]

mod common;

use std::fs;
use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_iot-sdk-codegen"))
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn generate_then_check() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let model = common::models().join("smokeDetector");
    let model = model.to_str().unwrap();

    let generated = run(&["generate", model, "-o", out]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let file = dir.path().join("smoke_detector.rs");
    assert_eq!(text(&generated.stdout).trim(), file.display().to_string());

    let checked = run(&["check", model, "-o", out]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    assert!(text(&checked.stdout).contains("up to date"));

    let code = fs::read_to_string(&file).unwrap();
    fs::write(
        &file,
        code.replace("pub humidity: u16", "pub humidity: i32"),
    )
    .unwrap();
    let stale = run(&["check", model, "-o", out]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        text(&stale.stderr).contains("differs from the code generated"),
        "{}",
        text(&stale.stderr)
    );
}

#[test]
fn out_file_chooses_the_file_of_one_model() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let model = common::models().join("smokeDetector.json");
    let model = model.to_str().unwrap();

    let generated = run(&["generate", model, "-o", out, "--out-file", "smoke.rs"]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let file = dir.path().join("smoke.rs");
    assert_eq!(text(&generated.stdout).trim(), file.display().to_string());
    assert!(!dir.path().join("smoke_detector.rs").exists());

    let checked = run(&["check", model, "-o", out, "-f", "smoke.rs"]);
    assert!(checked.status.success(), "{}", text(&checked.stderr));
    let without = run(&["check", model, "-o", out]);
    assert_eq!(without.status.code(), Some(1));

    let greenhouse = common::models().join("greenhouse.json");
    let two = run(&[
        "generate",
        model,
        greenhouse.to_str().unwrap(),
        "-o",
        out,
        "-f",
        "x.rs",
    ]);
    assert_eq!(two.status.code(), Some(2));
    assert!(
        text(&two.stderr).contains("--out-file names the file of a single model"),
        "{}",
        text(&two.stderr)
    );
}

#[test]
fn models_sharing_a_file_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let folder = common::models().join("smokeDetector");
    let api = common::models().join("smokeDetector.json");
    let (folder, api) = (folder.to_str().unwrap(), api.to_str().unwrap());
    for action in ["generate", "check"] {
        let output = run(&[action, folder, api, "-o", out]);
        assert_eq!(output.status.code(), Some(1), "{action}");
        let stderr = text(&output.stderr);
        let file = dir.path().join("smoke_detector.rs");
        assert!(
            stderr.contains(&format!("{}: both {folder} and {api}", file.display())),
            "{stderr}"
        );
        assert!(!file.exists());
    }
}

#[test]
fn bad_models_fail_with_file_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("bad.json");
    fs::write(
        &model,
        r#"{"service_id": "s", "properties": [{"property_name": "p", "data_type": "float"}]}"#,
    )
    .unwrap();
    let output = run(&[
        "generate",
        model.to_str().unwrap(),
        "-o",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("bad.json: $.properties[0].data_type: unknown data type `float`"),
        "{stderr}"
    );
    assert!(!dir.path().join("bad.rs").exists());
}

#[test]
fn model_and_schema_print_json() {
    let model = common::models().join("greenhouse.json");
    let output = run(&["model", model.to_str().unwrap()]);
    assert!(output.status.success());
    let printed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(printed["services"].as_array().map(Vec::len), Some(3));

    let output = run(&["schema"]);
    assert!(output.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(schema["title"], "ProductModel");
    assert!(schema["$defs"]["DataType"].is_object(), "{schema}");
}

#[test]
fn usage_errors_exit_with_2() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["generate"]).status.code(), Some(2));
}
