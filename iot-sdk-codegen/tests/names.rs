//! Any names and texts a model may hold give Rust that parses: names
//! become identifiers (numbered on collision), texts stay in literals and
//! doc comments, whatever their characters.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers of a test fail it by panicking"
)]

use iot_sdk_codegen::{generate, load_json};
use proptest::prelude::*;
use serde_json::{Value, json};

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "type",
            "self",
            "Self",
            "super",
            "crate",
            "fn",
            "async",
            "gen",
            "default",
            "paras",
            "1st",
            "2ndSensor",
            "温度",
            "x-y",
            "x_y",
            "X Y",
            "ÄÖÜ",
            "a\u{300}",
            "Option",
            "String",
            "Result",
            "core",
            "iot_sdk",
            "smokeDetector",
            "SMOKE_DETECTOR",
        ])
        .prop_map(str::to_string),
        "[a-zA-Z0-9_ \\-.温°]{1,12}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    "[a-z\"\\\\/*{}#!\\[\\]\r\n\t°]{0,16}"
}

fn para(name: String, description: String, data_type: &str) -> Value {
    json!({"para_name": name, "data_type": data_type, "required": false,
           "enum_list": ["a", "A", "1", "b c"], "description": description, "unit": "%\"\\"})
}

fn model(names: Vec<String>, texts: Vec<String>) -> Value {
    let types = [
        "int",
        "decimal",
        "string",
        "enum",
        "boolean",
        "jsonObject",
        "DateTime",
        "string list",
        "long",
    ];
    let properties: Vec<Value> = names
        .iter()
        .zip(&texts)
        .enumerate()
        .map(|(i, (name, text))| {
            json!({"property_name": name, "data_type": types[i % types.len()], "method": "RW",
               "enum_list": ["x"], "description": text, "unit": text})
        })
        .collect();
    let commands: Vec<Value> = names.iter().zip(&texts).enumerate().map(|(i, (name, text))| {
        json!({"command_name": name,
               "paras": [para(name.clone(), text.clone(), types[(i + 1) % types.len()])],
               "responses": [{"response_name": name, "paras": [para(text.clone() + "r", name.clone(), "enum")]}]})
    }).collect();
    json!([
        {"service_id": names[0], "description": texts[0], "properties": properties, "commands": commands},
        {"service_id": format!("{}_", names[0]), "properties": [], "commands": []}
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn generated_code_always_parses(names in prop::collection::vec(name(), 1..6), texts in prop::collection::vec(text(), 6)) {
        let mut names = names;
        names.sort();
        names.dedup();
        let bytes = serde_json::to_vec(&model(names, texts)).unwrap();
        // Names without a letter or digit, or with `.`, are refused; the rest generate.
        if let Ok(loaded) = load_json("names.json", &bytes) {
            let code = generate(&loaded.model).unwrap();
            syn::parse_file(&code).unwrap();
        }
    }
}
