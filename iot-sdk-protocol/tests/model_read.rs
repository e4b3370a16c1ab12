//! Reading product models from bytes, as an upload to a console arrives:
//! the offline package as a zip archive and the API JSON give one model.

#![allow(clippy::unwrap_used, reason = "a test fails by panicking")]

#[path = "support/model_inputs.rs"]
mod model_inputs;

use std::fs;

use iot_sdk_protocol::model::{
    DataType, MAX_MODEL_FILE, PackageFile, ProblemKind, read_json, read_model, read_package,
    read_zip,
};
use model_inputs::{ZipDamage, ZipEntry, models, zip_bytes, zip_entries_of};

fn package_zip() -> Vec<u8> {
    let entries: Vec<ZipEntry> = zip_entries_of(&models().join("smokeDetector"))
        .into_iter()
        .map(|(name, bytes)| ZipEntry {
            name,
            bytes,
            deflated: true,
            is_dir: false,
        })
        .collect();
    zip_bytes(&entries, 0, &ZipDamage::None)
}

#[test]
fn a_zip_export_and_the_api_json_give_the_same_services() {
    let zip = read_model("smokeDetector.zip", &package_zip()).unwrap();
    let json = fs::read(models().join("smokeDetector.json")).unwrap();
    let api = read_model("smokeDetector.json", &json).unwrap();
    assert_eq!(zip.model.source, "smokeDetector.zip");
    assert_eq!(zip.model.services, api.model.services);
    let service = &zip.model.services[0];
    assert_eq!(service.service_id, "smokeDetector");
    let alarm = service
        .properties
        .iter()
        .find(|p| p.name == "alarm")
        .unwrap();
    assert_eq!(alarm.data_type, DataType::Int);
    assert!(alarm.access.write);
}

#[test]
fn the_package_files_read_from_anywhere_give_the_zips_model() {
    let files = zip_entries_of(&models().join("smokeDetector"))
        .into_iter()
        .map(|(name, bytes)| PackageFile { name, bytes })
        .chain([PackageFile {
            name: "readme.txt".into(),
            bytes: b"not a model".to_vec(),
        }])
        .collect();
    let from_files = read_package("smokeDetector", files).unwrap();
    let from_zip = read_zip("smokeDetector.zip", &package_zip()).unwrap();
    assert_eq!(from_files.model.services, from_zip.model.services);
    assert_eq!(from_files.model.product, from_zip.model.product);
}

#[test]
fn json_named_zip_is_refused_with_a_hint() {
    let error = read_model("export.zip", b"{\"service_id\": \"s\"}").unwrap_err();
    let problem = &error.problems()[0];
    assert_eq!(problem.kind, ProblemKind::Zip);
    assert!(problem.message.contains("looks like JSON"), "{error}");
}

#[test]
fn problems_name_the_file_and_the_json_path() {
    let model = br#"{"service_id": "s", "properties": [
        {"property_name": "level", "data_type": "int", "min": "10", "max": "1", "method": "RW"}]}"#;
    let error = read_json("upload.json", model).unwrap_err();
    let problem = &error.problems()[0];
    assert_eq!(problem.kind, ProblemKind::Range);
    assert_eq!(problem.file, "upload.json");
    assert_eq!(problem.json_path.as_deref(), Some("$.properties[0].max"));
}

#[test]
fn a_model_without_services_is_refused_in_every_form() {
    // The fuzz target found the lone service-file form taking an empty list.
    for json in [
        &b"[]"[..],
        b"{\"service_capabilities\": []}",
        b"{\"services\": []}",
    ] {
        let error = read_json("empty.json", json).unwrap_err();
        let problem = &error.problems()[0];
        assert_eq!(problem.kind, ProblemKind::Invalid, "{error}");
        assert!(problem.message.contains("no services"), "{error}");
    }
}

#[test]
fn a_package_without_its_device_file_says_so() {
    let entries: Vec<ZipEntry> = zip_entries_of(&models().join("smokeDetector"))
        .into_iter()
        .filter(|(name, _)| !name.contains("devicetype"))
        .map(|(name, bytes)| ZipEntry {
            name,
            bytes,
            deflated: false,
            is_dir: false,
        })
        .collect();
    let error = read_zip("partial.zip", &zip_bytes(&entries, 0, &ZipDamage::None)).unwrap_err();
    assert_eq!(
        error.problems()[0].kind,
        ProblemKind::MissingFile,
        "{error}"
    );
}

#[test]
fn an_upload_past_the_size_bound_is_refused_unread() {
    let mut huge = b"[".to_vec();
    huge.resize(usize::try_from(MAX_MODEL_FILE).unwrap() + 1, b' ');
    let error = read_model("huge.json", &huge).unwrap_err();
    assert!(
        error.problems()[0].message.contains("larger than 16 MiB"),
        "{error}"
    );
}
