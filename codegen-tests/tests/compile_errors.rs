//! What a user sees when a command of the model is not implemented, on code
//! generated ahead of time into `tests/ui/generated/` (the CLI's way, kept
//! fresh by the first test). Regenerate the expected `.stderr` with
//! `TRYBUILD=overwrite`, then read it.

#![allow(
    clippy::unwrap_used,
    reason = "the helpers of a test fail it by panicking"
)]

use std::path::Path;

#[test]
fn the_checked_in_code_is_what_the_model_gives() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = root.join("../models/smokeDetector");
    iot_sdk_codegen::check(&model, &root.join("tests/ui/generated/smoke_detector.rs")).unwrap();
}

#[test]
fn a_missing_command_is_a_compile_error_naming_it() {
    trybuild::TestCases::new().compile_fail("tests/ui/*.rs");
}
