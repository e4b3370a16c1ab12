//! What the test binaries share: where the models are, zip archives built
//! from the package folders of `models/`, and generated model inputs.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    reason = "the helpers of a test fail it by panicking"
)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

// Seeds, JSON values and zip archives for property tests, shared with the
// protocol crate's tests of the model reader.
#[path = "../../../iot-sdk-protocol/tests/support/model_inputs.rs"]
pub mod inputs;

#[allow(unused_imports, reason = "each test binary uses a different part")]
pub use inputs::{models, workspace, zip_entries_of};

/// The real package of §5.3, used in place and never copied.
pub const SHARED_PACKAGE: &str = "smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip";

/// The real package: in `$IOTDA_SHARED_MODELS`, else in
/// `<workspace>/../shared/models/`; `None` (after saying so) when absent.
pub fn shared_package(test: &str) -> Option<PathBuf> {
    let dir = std::env::var_os("IOTDA_SHARED_MODELS")
        .map_or_else(|| workspace().join("../shared/models"), PathBuf::from);
    let path = dir.join(SHARED_PACKAGE);
    if path.is_file() {
        return Some(path);
    }
    eprintln!("skipped: {test}: {} not found", path.display());
    None
}

/// Writes a deflated zip archive of `entries`.
pub fn write_zip(path: &Path, entries: &[(String, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        zip.start_file(name.as_str(), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}
