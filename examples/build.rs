//! Generates the smokeDetector service of `models/` for the
//! `generated_smoke_detector` example: `$OUT_DIR/smoke_detector.rs`.

fn main() -> Result<(), iot_sdk_codegen::Error> {
    iot_sdk_codegen::Builder::new()
        .model("../models/smokeDetector")
        .generate()?;
    Ok(())
}
