//! Writing generated code to files: the [`Builder`] for `build.rs`, and the
//! comparison behind `iot-sdk-codegen check`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, ProblemKind};
use crate::generate::generate;
use crate::names;
use crate::source::load;

/// Generates code for product models from `build.rs`, like prost-build:
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     iot_sdk_codegen::Builder::new()
///         .model("../models/smokeDetector")
///         .generate()?;
///     Ok(())
/// }
/// ```
///
/// and in the crate, `include!(concat!(env!("OUT_DIR"), "/smoke_detector.rs"));`
/// (see [`output_file_name`]). Cargo is told to run the build script again
/// when a model changes; values the generator left out are shown as
/// `cargo:warning`s.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    models: Vec<PathBuf>,
    out_dir: Option<PathBuf>,
    cargo: bool,
}

impl Builder {
    /// A builder without models, writing to `$OUT_DIR` and talking to Cargo.
    pub fn new() -> Self {
        Builder {
            cargo: true,
            ..Builder::default()
        }
    }

    /// Adds a model: a zip archive or directory (offline package) or a JSON file.
    pub fn model(mut self, path: impl AsRef<Path>) -> Self {
        self.models.push(path.as_ref().to_path_buf());
        self
    }

    /// Writes to `dir` instead of `$OUT_DIR`.
    pub fn out_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.out_dir = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Whether to print `cargo:rerun-if-changed` and `cargo:warning` lines
    /// (default true; off for use outside `build.rs`).
    pub fn cargo_instructions(mut self, enabled: bool) -> Self {
        self.cargo = enabled;
        self
    }

    /// Generates each model into `<out dir>/<file>.rs` and returns the
    /// paths written. A file whose content is already right is left alone.
    pub fn generate(&self) -> Result<Vec<PathBuf>, Error> {
        let out_dir = self.target_dir()?;
        let mut written = Vec::new();
        for model in &self.models {
            if self.cargo {
                println!("cargo:rerun-if-changed={}", model.display());
            }
            let (file_name, code) = self.code_for(model)?;
            let path = out_dir.join(file_name);
            write_if_changed(&path, &code)?;
            written.push(path);
        }
        Ok(written)
    }

    fn target_dir(&self) -> Result<PathBuf, Error> {
        if let Some(dir) = &self.out_dir {
            return Ok(dir.clone());
        }
        std::env::var_os("OUT_DIR")
            .map(PathBuf::from)
            .ok_or_else(|| {
                let message = "OUT_DIR is not set: call `out_dir` outside a build script";
                Error::new(ProblemKind::Io, "OUT_DIR", None, message)
            })
    }

    fn code_for(&self, model: &Path) -> Result<(String, String), Error> {
        let loaded = load(model)?;
        if self.cargo {
            for warning in &loaded.warnings {
                println!("cargo:warning={}", warning.to_string().replace('\n', " "));
            }
        }
        Ok((output_file_name(model), generate(&loaded.model)?))
    }
}

/// The file a model's code is written to: the model's file name without
/// `.zip`/`.json`, in snake case, plus `.rs` — `models/smokeDetector` and
/// `smokeDetector.zip` both give `smoke_detector.rs`.
pub fn output_file_name(model: &Path) -> String {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = names::snake_case(&stem).unwrap_or_else(|| "model".to_string());
    format!("{}.rs", stem.trim_start_matches("r#"))
}

fn write_if_changed(path: &Path, code: &str) -> Result<(), Error> {
    if fs::read_to_string(path).is_ok_and(|old| old == code) {
        return Ok(());
    }
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    }
    fs::write(path, code).map_err(|e| io_error(path, &e))
}

fn io_error(path: &Path, error: &std::io::Error) -> Error {
    Error::new(
        ProblemKind::Io,
        path.display().to_string(),
        None,
        format!("cannot write: {error}"),
    )
}

/// Compares the code generated from `model` with the file `existing`:
/// `Ok` when they are equal byte for byte, else an error naming the first
/// line that differs (or the missing file).
pub fn check(model: &Path, existing: &Path) -> Result<(), Error> {
    let code = generate(&load(model)?.model)?;
    let name = existing.display().to_string();
    let old = fs::read_to_string(existing).map_err(|e| {
        Error::new(
            ProblemKind::Stale,
            &name,
            None,
            format!("cannot read the generated code: {e}"),
        )
    })?;
    if old == code {
        return Ok(());
    }
    let line = first_difference(&old, &code);
    let message = format!(
        "differs from the code generated from {} (first at line {line}): generate again",
        model.display()
    );
    Err(Error::new(ProblemKind::Stale, name, None, message))
}

/// The 1-based number of the first line where `old` and `new` differ.
fn first_difference(old: &str, new: &str) -> usize {
    let mut old_lines = old.split('\n');
    let mut new_lines = new.split('\n');
    let mut line = 1;
    loop {
        match (old_lines.next(), new_lines.next()) {
            (Some(a), Some(b)) if a == b => line += 1,
            _ => return line,
        }
    }
}
