//! Generates the code of every model in `models/`, of the exported service
//! in `fixtures/`, and of the real package of `../shared/models/` when it
//! is there (then `cfg(shared_package)` is set).

use std::env;
use std::path::{Path, PathBuf};

use iot_sdk_codegen::{Builder, Error};

/// The real package of §5.3, read in place.
const SHARED_PACKAGE: &str = "smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip";

fn main() -> Result<(), Error> {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let models = manifest.join("../models");
    let out = PathBuf::from(env::var_os("OUT_DIR").unwrap_or_default());
    Builder::new()
        .model(models.join("smokeDetector"))
        .model(models.join("greenhouse.json"))
        .model(manifest.join("fixtures/exported_thermostat.json"))
        .model(manifest.join("fixtures/long_bounds.json"))
        .generate()?;
    // Same file name as the package's: a directory of its own.
    Builder::new()
        .model(models.join("smokeDetector.json"))
        .out_dir(out.join("api"))
        .generate()?;
    println!("cargo::rustc-check-cfg=cfg(shared_package)");
    println!("cargo::rerun-if-env-changed=IOTDA_SHARED_MODELS");
    if let Some(package) = shared_package(&manifest) {
        Builder::new()
            .model(&package)
            .out_dir(out.join("shared"))
            .generate()?;
        println!("cargo::rustc-cfg=shared_package");
    }
    Ok(())
}

/// `$IOTDA_SHARED_MODELS/<package>` or `<workspace>/../shared/models/<package>`.
fn shared_package(manifest: &Path) -> Option<PathBuf> {
    let dir = env::var_os("IOTDA_SHARED_MODELS")
        .map_or_else(|| manifest.join("../../shared/models"), PathBuf::from);
    if dir.is_dir() {
        println!("cargo::rerun-if-changed={}", dir.display());
    }
    let path = dir.join(SHARED_PACKAGE);
    path.is_file().then_some(path)
}
