//! Structure-aware fuzzing of the product-model reader on stable Rust
//! (proptest): damaged JSON models and zip archives (hostile ones included:
//! huge declared sizes, many entries, deep nesting, path traversal names),
//! read from bytes as an upload is.
//!
//! Invariants: no panic; bounded time and memory (peak RSS); a model that
//! is read keeps the promises of the checked model (services with unique,
//! non-empty ids; unique names; constraints that fit their data type).
//!
//! `cargo test -p iot-sdk-protocol --test fuzz_model` runs a short round and
//! replays iot-sdk-codegen's `tests/fuzz-corpus/`. The long run:
//! `FUZZ_CASES=20000 cargo test --release -p iot-sdk-protocol --test fuzz_model -- --ignored`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "a test fails by panicking"
)]

#[path = "support/model_inputs.rs"]
mod model_inputs;

use std::collections::BTreeSet;
use std::fs;
use std::time::{Duration, Instant};

use iot_sdk_protocol::model::{DataType, ProductModel, Service, read_model};
use proptest::prelude::*;

use model_inputs::{cases, model_bytes, package_zip, peak_rss, runner, workspace};

/// Longest one read may take (debug build, busy machine included).
const CASE_TIME: Duration = Duration::from_secs(30);
/// Peak resident memory of the whole test process allowed.
const PEAK_RSS: u64 = 1024 * 1024 * 1024;

/// Reads `bytes` as an upload called `name` and checks the invariants.
fn read_checked(name: &str, bytes: &[u8]) -> Result<bool, TestCaseError> {
    let start = Instant::now();
    let read = read_model(name, bytes);
    prop_assert!(start.elapsed() < CASE_TIME, "took {:?}", start.elapsed());
    prop_assert!(peak_rss() < PEAK_RSS, "peak RSS {} MiB", peak_rss() >> 20);
    match read {
        Ok(loaded) => {
            keeps_promises(&loaded.model)?;
            Ok(true)
        }
        Err(error) => {
            prop_assert!(!error.problems().is_empty());
            Ok(false)
        }
    }
}

/// What a consumer of a checked model (a console form, generated code)
/// relies on.
fn keeps_promises(model: &ProductModel) -> Result<(), TestCaseError> {
    prop_assert!(!model.services.is_empty(), "a model without services");
    let ids: BTreeSet<&str> = model
        .services
        .iter()
        .map(|s| s.service_id.as_str())
        .collect();
    prop_assert_eq!(ids.len(), model.services.len(), "duplicate service ids");
    for service in &model.services {
        prop_assert!(!service.service_id.trim().is_empty());
        service_keeps_promises(service)?;
    }
    Ok(())
}

fn service_keeps_promises(service: &Service) -> Result<(), TestCaseError> {
    let names: BTreeSet<&str> = service.properties.iter().map(|p| p.name.as_str()).collect();
    prop_assert_eq!(
        names.len(),
        service.properties.len(),
        "duplicate properties"
    );
    let commands: BTreeSet<&str> = service.commands.iter().map(|c| c.name.as_str()).collect();
    prop_assert_eq!(commands.len(), service.commands.len(), "duplicate commands");
    let values = service
        .properties
        .iter()
        .map(|p| (p.data_type, &p.constraints))
        .chain(
            service
                .commands
                .iter()
                .flat_map(|c| c.paras.iter().map(|p| (p.data_type, &p.constraints))),
        );
    for (data_type, constraints) in values {
        if let (Some(min), Some(max)) = (&constraints.min, &constraints.max) {
            prop_assert!(
                min.value <= max.value,
                "min {} > max {}",
                min.text,
                max.text
            );
        }
        if !data_type.is_numeric() {
            prop_assert!(constraints.min.is_none() && constraints.max.is_none());
        }
        if !data_type.is_text() {
            prop_assert!(constraints.enum_list.is_empty() && constraints.max_length.is_none());
        }
        if data_type == DataType::Enum {
            prop_assert!(!constraints.enum_list.is_empty(), "an enum without values");
        }
    }
    Ok(())
}

fn json_target(cases: u32) {
    runner(cases)
        .run(&model_bytes(), |bytes| {
            read_checked("model.json", &bytes).map(drop)
        })
        .unwrap();
}

fn zip_target(cases: u32) {
    runner(cases)
        .run(&package_zip(), |bytes| {
            read_checked("model.zip", &bytes).map(drop)
        })
        .unwrap();
}

#[test]
fn fuzz_json_models_short() {
    json_target(cases(128));
}

#[test]
fn fuzz_zip_archives_short() {
    zip_target(cases(24));
}

#[test]
#[ignore = "long run: FUZZ_CASES=N cargo test --release -p iot-sdk-protocol --test fuzz_model -- --ignored"]
fn fuzz_json_models_long() {
    json_target(cases(20_000));
}

#[test]
#[ignore = "long run: FUZZ_CASES=N cargo test --release -p iot-sdk-protocol --test fuzz_model -- --ignored"]
fn fuzz_zip_archives_long() {
    zip_target(cases(5_000));
}

/// The hostile inputs kept by the codegen's fuzzing are refused or read
/// within the bounds, from bytes.
#[test]
fn corpus_replays_from_bytes() {
    let dir = workspace().join("iot-sdk-codegen/tests/fuzz-corpus");
    let mut replayed = 0;
    for entry in fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if !(name.ends_with(".zip") || name.ends_with(".json")) {
            continue;
        }
        let bytes = fs::read(&path).unwrap();
        read_checked(&name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        replayed += 1;
    }
    assert!(replayed >= 5, "only {replayed} corpus inputs");
}

/// The seeds themselves are read: the fuzzing starts from valid models.
#[test]
fn seeds_are_models() {
    let package = model_inputs::zip_entries_of(&model_inputs::models().join("smokeDetector"));
    let entries: Vec<model_inputs::ZipEntry> = package
        .into_iter()
        .map(|(name, bytes)| model_inputs::ZipEntry {
            name,
            bytes,
            deflated: true,
            is_dir: false,
        })
        .collect();
    let zip = model_inputs::zip_bytes(&entries, 0, &model_inputs::ZipDamage::None);
    assert!(read_checked("smokeDetector.zip", &zip).unwrap());
    let json = fs::read(model_inputs::models().join("greenhouse.json")).unwrap();
    assert!(read_checked("greenhouse.json", &json).unwrap());
}
