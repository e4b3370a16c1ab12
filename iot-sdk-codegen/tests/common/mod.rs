//! What the test binaries share: where the models are, and zip archives
//! built from the package folders of `models/`.

#![allow(dead_code, reason = "each test binary uses a different part")]
#![allow(
    clippy::unwrap_used,
    reason = "the helpers of a test fail it by panicking"
)]

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

/// The real package of §5.3, used in place and never copied.
pub const SHARED_PACKAGE: &str = "smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip";

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `models/` of the workspace.
pub fn models() -> PathBuf {
    workspace().join("models")
}

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

/// The files under `dir` as zip entries: relative paths with `/`, sorted.
pub fn zip_entries_of(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut entries = Vec::new();
    collect(dir, dir, &mut entries);
    entries.sort();
    entries
}

fn collect(root: &Path, dir: &Path, entries: &mut Vec<(String, Vec<u8>)>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, entries);
        } else {
            let name = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            entries.push((name, fs::read(&path).unwrap()));
        }
    }
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
