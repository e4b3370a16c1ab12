//! Bad input is an error naming the file and the JSON path, never a panic:
//! one test per class of problem, in both formats where they differ.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking"
)]

mod common;

use std::fs;

use iot_sdk_codegen::{Error, ProblemKind, load, load_json};
use proptest::prelude::*;
use serde_json::{Value, json};

use common::{write_zip, zip_entries_of};

/// A service of the API format with `property` as its only property.
fn service_with_property(property: Value) -> Value {
    json!({"service_id": "s", "properties": [property], "commands": []})
}

fn api_error(model: &Value) -> Error {
    let bytes = serde_json::to_vec(model).unwrap();
    load_json("model.json", &bytes).expect_err("the model is refused")
}

/// The only problem of `error`: its kind, path and message.
fn only(error: &Error) -> (ProblemKind, String, String) {
    assert_eq!(error.problems().len(), 1, "{error}");
    let problem = &error.problems()[0];
    let path = problem.json_path.clone().unwrap_or_default();
    (problem.kind, path, problem.message.clone())
}

#[test]
fn an_unknown_data_type_names_the_type_and_the_choices() {
    let error = api_error(&service_with_property(
        json!({"property_name": "p", "data_type": "float"}),
    ));
    let (kind, path, message) = only(&error);
    assert_eq!(kind, ProblemKind::UnknownDataType);
    assert_eq!(path, "$.properties[0].data_type");
    assert!(
        message.contains("`float`") && message.contains("string list"),
        "{message}"
    );
    assert!(
        error
            .to_string()
            .starts_with("model.json: $.properties[0].data_type: "),
        "{error}"
    );
}

#[test]
fn min_above_max_is_a_range_error() {
    let property = json!({"property_name": "p", "data_type": "int", "min": "5", "max": "1"});
    let (kind, path, message) = only(&api_error(&service_with_property(property)));
    assert_eq!(kind, ProblemKind::Range);
    assert_eq!(path, "$.properties[0].max");
    assert_eq!(message, "min 5 is greater than max 1");
}

#[test]
fn bounds_must_fit_the_data_type() {
    for (data_type, min, wanted) in [
        ("int", "0.5", "min `0.5` is not a whole number"),
        (
            "int",
            "3000000000",
            "min `3000000000` is out of the range of int (32 bits)",
        ),
        ("decimal", "warm", "min `warm` is not a number"),
    ] {
        let property = json!({"property_name": "p", "data_type": data_type, "min": min});
        let (_, path, message) = only(&api_error(&service_with_property(property)));
        assert_eq!(path, "$.properties[0].min");
        assert_eq!(message, wanted);
    }
}

#[test]
fn long_bounds_must_fit_i64() {
    for min in ["9223372036854775808", "-9223372036854775809", "1e19"] {
        let property = json!({"property_name": "p", "data_type": "long", "min": min});
        let (kind, path, message) = only(&api_error(&service_with_property(property)));
        assert_eq!(kind, ProblemKind::Range, "{min}");
        assert_eq!(path, "$.properties[0].min");
        assert_eq!(
            message,
            format!("min `{min}` is out of the range of long (64 bits)")
        );
    }
    for min in ["9223372036854775807", "-9223372036854775808", "3000000000"] {
        let property = json!({"property_name": "p", "data_type": "long", "min": min});
        let model = serde_json::to_vec(&service_with_property(property)).unwrap();
        assert!(load_json("model.json", &model).is_ok(), "{min}");
    }
}

#[test]
fn duplicate_names_are_reported_where_they_repeat() {
    let property = json!({"property_name": "alarm", "data_type": "int"});
    let model = json!({"service_id": "s", "properties": [property, property]});
    let (kind, path, message) = only(&api_error(&model));
    assert_eq!(kind, ProblemKind::Duplicate);
    assert_eq!(path, "$.properties[1]");
    assert_eq!(message, "duplicate property `alarm` (first at index 0)");

    let command = json!({"command_name": "ring", "paras": []});
    let model = json!({"service_id": "s", "commands": [command, command]});
    assert_eq!(only(&api_error(&model)).1, "$.commands[1]");

    let para = json!({"para_name": "d", "data_type": "int"});
    let model =
        json!({"service_id": "s", "commands": [{"command_name": "ring", "paras": [para, para]}]});
    assert_eq!(only(&api_error(&model)).1, "$.commands[0].paras[1]");

    let response = json!({"response_name": "ok", "paras": []});
    let model = json!({"service_id": "s", "commands": [{"command_name": "c", "responses": [response, response]}]});
    assert_eq!(only(&api_error(&model)).1, "$.commands[0].responses[1]");

    let model = json!([{"service_id": "s"}, {"service_id": "s"}]);
    assert_eq!(only(&api_error(&model)).1, "$[1].service_id");

    let property = json!({"property_name": "p", "data_type": "enum", "enum_list": ["a", "b", "a"]});
    assert_eq!(
        only(&api_error(&service_with_property(property))).1,
        "$.properties[0].enum_list[2]"
    );
}

/// The paths of every problem of `error`, in order.
fn paths(error: &Error) -> Vec<String> {
    let path = |p: &iot_sdk_codegen::Problem| p.json_path.clone().unwrap_or_default();
    error.problems().iter().map(path).collect()
}

/// An element that fails to check must not shift the indices of the
/// elements after it: paths are indices of the input file.
#[test]
fn indices_stay_those_of_the_file_after_an_element_fails() {
    let services = json!({"services": [{"serviceType": "s", "properties": [
        {"propertyName": "a", "dataType": "float"},
        {"propertyName": "b", "dataType": "int"},
        {"propertyName": "c", "dataType": "int"},
        {"propertyName": "b", "dataType": "int"}
    ]}]});
    let error = load_json(
        "servicetype-capability.json",
        &serde_json::to_vec(&services).unwrap(),
    )
    .expect_err("the model is refused");
    assert_eq!(
        paths(&error),
        [
            "$.services[0].properties[0].dataType",
            "$.services[0].properties[3]"
        ]
    );
    assert_eq!(
        error.problems()[1].message,
        "duplicate property `b` (first at index 1)"
    );

    let para = json!({"para_name": "d", "data_type": "int"});
    let paras = json!([{"para_name": "x"}, para, para]);
    let commands =
        json!([{"paras": []}, {"command_name": "c", "paras": paras}, {"command_name": "c"}]);
    let error = api_error(&json!({"service_id": "s", "commands": commands}));
    assert_eq!(
        paths(&error),
        [
            "$.commands[0].command_name",
            "$.commands[1].paras[0].data_type",
            "$.commands[1].paras[2]",
            "$.commands[2]"
        ]
    );
}

#[test]
fn names_without_letters_or_digits_cannot_become_identifiers() {
    let property = json!({"property_name": "°%", "data_type": "int"});
    let (kind, path, message) = only(&api_error(&service_with_property(property)));
    assert_eq!(kind, ProblemKind::BadName);
    assert_eq!(path, "$.properties[0].property_name");
    assert!(
        message.contains("cannot become a Rust identifier"),
        "{message}"
    );

    let model = json!({"service_id": "s", "commands": [{"command_name": "--"}]});
    assert_eq!(only(&api_error(&model)).0, ProblemKind::BadName);
    let (kind, path, _) = only(&api_error(&json!({"service_id": "", "properties": []})));
    assert_eq!(
        (kind, path.as_str()),
        (ProblemKind::Invalid, "$.service_id")
    );
}

#[test]
fn names_the_platform_refuses_are_errors() {
    let property = json!({"property_name": "a.b", "data_type": "int"});
    assert!(
        only(&api_error(&service_with_property(property)))
            .2
            .contains("`.` or `$`")
    );
    let long = "x".repeat(65);
    let property = json!({"property_name": long, "data_type": "int"});
    assert!(
        only(&api_error(&service_with_property(property)))
            .2
            .contains("more than the 64")
    );
}

#[test]
fn other_bad_values_name_their_path() {
    let cases = [
        (
            json!({"property_name": "p", "data_type": "enum"}),
            "$.properties[0].enum_list",
        ),
        (
            json!({"property_name": "p", "data_type": "int", "method": "RX"}),
            "$.properties[0].method",
        ),
        (
            json!({"property_name": "p", "data_type": "int", "step": -1}),
            "$.properties[0].step",
        ),
        (
            json!({"property_name": "p", "data_type": "string", "max_length": 2.5}),
            "$.properties[0].max_length",
        ),
        (
            json!({"property_name": "p", "data_type": "int", "max": "1", "default_value": 3}),
            "$.properties[0].default_value",
        ),
        (
            json!({"property_name": "p", "data_type": "DateTime", "default_value": "noon"}),
            "$.properties[0].default_value",
        ),
        (json!({"property_name": "p"}), "$.properties[0].data_type"),
    ];
    for (property, wanted) in cases {
        let (kind, path, message) = only(&api_error(&service_with_property(property)));
        assert_eq!(
            (kind, path.as_str()),
            (ProblemKind::Invalid, wanted),
            "{message}"
        );
    }
}

#[test]
fn json_of_the_wrong_shape_names_the_path() {
    let model =
        json!({"service_id": "s", "properties": [{"property_name": "p", "required": "yes"}]});
    let (kind, path, message) = only(&api_error(&model));
    assert_eq!(kind, ProblemKind::Json);
    assert_eq!(path, "$.properties[0].required");
    assert!(message.contains("expected a boolean"), "{message}");
    let (kind, path, _) = only(&api_error(&json!({"service_id": "s", "commands": 5})));
    assert_eq!((kind, path.as_str()), (ProblemKind::Json, "$.commands"));
    assert_eq!(only(&api_error(&json!(42))).0, ProblemKind::Json);
}

#[test]
fn broken_json_says_where() {
    let error = load_json(
        "broken.json",
        b"{\"service_id\": \"s\",\n \"properties\": [",
    )
    .unwrap_err();
    let (kind, _, message) = only(&error);
    assert_eq!(kind, ProblemKind::Json);
    assert!(message.contains("line 2"), "{message}");
}

#[test]
fn every_problem_is_reported_at_once() {
    let model = json!({"service_id": "s", "properties": [
        {"property_name": "a", "data_type": "float"},
        {"property_name": "b", "data_type": "int", "min": "2", "max": "1"},
        {"property_name": "b", "data_type": "int"}
    ]});
    let error = api_error(&model);
    let kinds: Vec<_> = error.problems().iter().map(|p| p.kind).collect();
    assert_eq!(
        kinds,
        [
            ProblemKind::UnknownDataType,
            ProblemKind::Range,
            ProblemKind::Duplicate
        ]
    );
    assert_eq!(error.to_string().lines().count(), 3);
}

#[test]
fn a_package_without_a_service_file_names_the_missing_service() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = zip_entries_of(&common::models().join("smokeDetector"));
    entries.retain(|(name, _)| !name.contains("servicetype"));
    let zip = dir.path().join("broken.zip");
    write_zip(&zip, &entries);
    let (kind, path, message) = only(&load(&zip).unwrap_err());
    assert_eq!(kind, ProblemKind::MissingFile);
    assert_eq!(path, "$.devices[0].serviceTypeCapabilities[0].serviceType");
    assert!(message.contains("`smokeDetector`"), "{message}");
    let error = load(&zip).unwrap_err();
    assert!(
        error.problems()[0]
            .file
            .ends_with("broken.zip:profile/devicetype-capability.json"),
        "{error}"
    );

    entries.retain(|(name, _)| !name.contains("devicetype"));
    write_zip(&zip, &entries);
    let (kind, _, message) = only(&load(&zip).unwrap_err());
    assert_eq!(kind, ProblemKind::MissingFile);
    assert!(
        message.contains("no devicetype-capability.json"),
        "{message}"
    );
}

#[test]
fn errors_inside_a_zip_name_the_entry_and_the_camel_case_path() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = zip_entries_of(&common::models().join("smokeDetector"));
    for (name, bytes) in &mut entries {
        if name.contains("servicetype") {
            let text = String::from_utf8(bytes.clone()).unwrap();
            *bytes = text.replacen("\"decimal\"", "\"float\"", 1).into_bytes();
        }
    }
    let zip = dir.path().join("smoke.zip");
    write_zip(&zip, &entries);
    let error = load(&zip).unwrap_err();
    let problem = &error.problems()[0];
    assert!(
        problem
            .file
            .ends_with("smoke.zip:service/smokeDetector/profile/servicetype-capability.json"),
        "{error}"
    );
    assert_eq!(
        problem.json_path.as_deref(),
        Some("$.services[0].properties[1].dataType")
    );
}

#[test]
fn conflicting_copies_in_a_package_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = zip_entries_of(&common::models().join("smokeDetector"));
    let (name, bytes) = entries
        .iter()
        .find(|(n, _)| n.contains("servicetype"))
        .cloned()
        .unwrap();
    let changed = String::from_utf8(bytes)
        .unwrap()
        .replace("ringAlarm", "ringBell");
    entries.push((format!("copy/{name}"), changed.into_bytes()));
    let zip = dir.path().join("twice.zip");
    write_zip(&zip, &entries);
    let (kind, _, message) = only(&load(&zip).unwrap_err());
    assert_eq!(kind, ProblemKind::Duplicate);
    assert!(message.contains("defined, differently"), "{message}");
}

#[test]
fn unreadable_inputs_are_io_or_zip_errors() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing.zip");
    assert_eq!(only(&load(&missing).unwrap_err()).0, ProblemKind::Io);
    let bad_zip = dir.path().join("bad.zip");
    fs::write(&bad_zip, b"PK\x03\x04 not really a zip").unwrap();
    assert_eq!(only(&load(&bad_zip).unwrap_err()).0, ProblemKind::Zip);
    let json_zip = dir.path().join("pkg.zip");
    fs::write(&json_zip, br#"{"service_id": "s"}"#).unwrap();
    let error = load(&json_zip).unwrap_err();
    assert_eq!(only(&error).0, ProblemKind::Zip);
    let shown = error.to_string();
    assert!(shown.contains("pkg.zip: not a zip archive ("), "{shown}");
    assert!(shown.contains("JSON"), "{shown}");
    let html_zip = dir.path().join("page.ZIP");
    fs::write(&html_zip, b"<!DOCTYPE html><html>Forbidden</html>").unwrap();
    let shown = load(&html_zip).unwrap_err().to_string();
    assert!(shown.contains("page.ZIP: not a zip archive ("), "{shown}");
    assert!(shown.contains("HTML"), "{shown}");
    let device_only = dir.path().join("devicetype-capability.json");
    fs::write(&device_only, br#"{"devices": []}"#).unwrap();
    assert_eq!(
        only(&load(&device_only).unwrap_err()).0,
        ProblemKind::MissingFile
    );
    let empty_dir = dir.path().join("empty");
    fs::create_dir(&empty_dir).unwrap();
    assert_eq!(
        only(&load(&empty_dir).unwrap_err()).0,
        ProblemKind::MissingFile
    );
}

#[test]
fn values_that_do_not_apply_are_left_out_with_a_warning() {
    let property =
        json!({"property_name": "p", "data_type": "boolean", "min": "0", "max_length": 0});
    let bytes = serde_json::to_vec(&service_with_property(property)).unwrap();
    let loaded = load_json("model.json", &bytes).unwrap();
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
    assert_eq!(loaded.warnings[0].kind, ProblemKind::Ignored);
    assert_eq!(
        loaded.warnings[0].json_path.as_deref(),
        Some("$.properties[0].min")
    );
    assert_eq!(
        loaded.model.services[0].properties[0].constraints,
        Default::default()
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, failure_persistence: None, ..ProptestConfig::default() })]

    /// Whatever happens to a valid model's text, reading it returns.
    #[test]
    fn damaged_models_never_panic(cut in 0usize..1200, replace in "[ -~]{0,8}") {
        let text = fs::read_to_string(common::models().join("greenhouse.json")).unwrap();
        let cut = text.char_indices().map(|(i, _)| i).nth(cut % text.chars().count()).unwrap_or(0);
        let damaged = format!("{}{replace}{}", &text[..cut], &text[cut..].chars().skip(3).collect::<String>());
        let _ = load_json("damaged.json", damaged.as_bytes());
    }

    /// Any JSON value where a property should be gives a result, not a panic.
    #[test]
    fn any_property_value_never_panics(value in arbitrary_json()) {
        let model = json!({"service_id": "s", "properties": [value.clone()],
                           "commands": [{"command_name": "c", "paras": [value]}]});
        let _ = load_json("any.json", &serde_json::to_vec(&model).unwrap());
    }
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let keys = prop::sample::select(vec![
        "property_name",
        "para_name",
        "data_type",
        "required",
        "min",
        "max",
        "step",
        "max_length",
        "enum_list",
        "method",
        "default_value",
        "unit",
    ]);
    prop::collection::btree_map(keys, common::inputs::json_value(2, 8), 0..8)
        .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect()))
}
