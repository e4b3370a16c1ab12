//! Writing generated code to files: the [`Builder`] for `build.rs`, and the
//! comparison behind `iot-sdk-codegen check`.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::generate::generate;
use crate::names;
use crate::source::load;
use iot_sdk_protocol::model::{ModelError as Error, ProblemKind};

/// Generates code for product models from `build.rs`, like prost-build:
///
/// ```no_run
/// // build.rs
/// fn main() -> Result<(), Box<dyn std::error::Error>> {
///     iot_sdk_codegen::Builder::new()
///         // `greenhouse.rs`, the name `output_file_name` gives.
///         .model("../models/greenhouse.json")
///         // An archive exported from the IoTDA console: its name carries
///         // the product id, so choose the file's name.
///         .model_as(
///             "../models/smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip",
///             "smoke_detector.rs",
///         )
///         .generate()?;
///     Ok(())
/// }
/// ```
///
/// and in the crate, `include!(concat!(env!("OUT_DIR"), "/smoke_detector.rs"));`.
/// A model added with [`model`](Builder::model) is written to the file
/// [`output_file_name`] gives, one added with [`model_as`](Builder::model_as)
/// to the file it names. Two models writing one file are an error.
///
/// Cargo is told to run the build script again when a model changes;
/// values the generator left out are shown as `cargo:warning`s.
#[derive(Debug, Clone, Default)]
pub struct Builder {
    models: Vec<Model>,
    out_dir: Option<PathBuf>,
    cargo: bool,
}

/// A model to generate, and the file name chosen for its code, if any.
#[derive(Debug, Clone)]
struct Model {
    path: PathBuf,
    file_name: Option<String>,
}

impl Model {
    fn file_name(&self) -> String {
        self.file_name
            .clone()
            .unwrap_or_else(|| output_file_name(&self.path))
    }
}

impl Builder {
    /// A builder without models, writing to `$OUT_DIR` and talking to Cargo.
    pub fn new() -> Self {
        Builder {
            cargo: true,
            ..Builder::default()
        }
    }

    /// Adds a model: a zip archive or directory (offline package) or a JSON
    /// file. Its code goes to the file [`output_file_name`] gives.
    pub fn model(mut self, path: impl AsRef<Path>) -> Self {
        self.models.push(Model {
            path: path.as_ref().to_path_buf(),
            file_name: None,
        });
        self
    }

    /// Adds a model whose code goes to `file_name` in the out dir, e.g.
    /// `"smoke_detector.rs"`: a plain file name, without directories.
    pub fn model_as(mut self, path: impl AsRef<Path>, file_name: impl Into<String>) -> Self {
        self.models.push(Model {
            path: path.as_ref().to_path_buf(),
            file_name: Some(file_name.into()),
        });
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

    /// The file each model's code goes to, in the order the models were
    /// added. Fails, before anything is read or written, when a chosen
    /// name is not a plain file name or two models would share a file.
    pub fn output_paths(&self) -> Result<Vec<PathBuf>, Error> {
        let out_dir = self.target_dir()?;
        let mut paths = Vec::with_capacity(self.models.len());
        for (index, model) in self.models.iter().enumerate() {
            let file_name = model.file_name();
            check_file_name(model, &file_name)?;
            self.not_taken(index, &file_name, &out_dir)?;
            paths.push(out_dir.join(file_name));
        }
        Ok(paths)
    }

    /// Fails when a model before `index` writes `file_name` too. Names
    /// differing only in case count as one: on macOS and Windows they are.
    fn not_taken(&self, index: usize, file_name: &str, out_dir: &Path) -> Result<(), Error> {
        let taken_by = self.models[..index]
            .iter()
            .find(|earlier| earlier.file_name().to_lowercase() == file_name.to_lowercase());
        let Some(earlier) = taken_by else {
            return Ok(());
        };
        let message = format!(
            "both {} and {} would be written here: give one of them another file name",
            earlier.path.display(),
            self.models[index].path.display()
        );
        let file = out_dir.join(file_name).display().to_string();
        Err(Error::new(ProblemKind::Duplicate, file, None, message))
    }

    /// Generates each model into its file (see [`output_paths`](Self::output_paths))
    /// and returns the paths written. A file whose content is already
    /// right is left alone.
    pub fn generate(&self) -> Result<Vec<PathBuf>, Error> {
        let paths = self.output_paths()?;
        for (model, path) in self.models.iter().zip(&paths) {
            if self.cargo {
                println!("cargo:rerun-if-changed={}", model.path.display());
            }
            write_if_changed(path, &self.code_for(&model.path)?)?;
        }
        Ok(paths)
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

    fn code_for(&self, model: &Path) -> Result<String, Error> {
        let loaded = load(model)?;
        if self.cargo {
            for warning in &loaded.warnings {
                println!("cargo:warning={}", warning.to_string().replace('\n', " "));
            }
        }
        generate(&loaded.model)
    }
}

/// A chosen file name must stay in the out dir, where `include!` looks.
fn check_file_name(model: &Model, file_name: &str) -> Result<(), Error> {
    let plain = !file_name.is_empty()
        && file_name != "."
        && file_name != ".."
        && !file_name.contains(['/', '\\']);
    if plain {
        return Ok(());
    }
    let message = format!(
        "output file name `{file_name}`: expected a plain file name such as `smoke_detector.rs`"
    );
    let name = model.path.display().to_string();
    Err(Error::new(ProblemKind::Invalid, name, None, message))
}

/// The file a model's code is written to unless
/// [`Builder::model_as`] chooses one: the model's file name without its
/// extension (`.zip`, `.json`), in snake case, plus `.rs`. The folder
/// `models/smokeDetector` and `smokeDetector.zip` both give
/// `smoke_detector.rs`; an archive exported from the IoTDA console keeps
/// the product id its name carries:
///
/// ```
/// use std::path::Path;
/// use iot_sdk_codegen::output_file_name;
///
/// assert_eq!(output_file_name(Path::new("models/smokeDetector")), "smoke_detector.rs");
/// assert_eq!(
///     output_file_name(Path::new(
///         "smokeDetector_cb097d20d77b4240adf1f33d36b3c278_smokeDetector.zip"
///     )),
///     "smoke_detector_cb097d20d77b4240adf1f33d36b3c278_smoke_detector.rs"
/// );
/// ```
pub fn output_file_name(model: &Path) -> String {
    let stem = model
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let stem = names::snake_case(&stem).unwrap_or_else(|| "model".to_string());
    format!("{}.rs", stem.trim_start_matches("r#"))
}

/// Writes `code` to `path` unless a regular file there holds it already.
fn write_if_changed(path: &Path, code: &str) -> Result<(), Error> {
    let is_file = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file());
    if is_file && fs::read_to_string(path).is_ok_and(|old| old == code) {
        return Ok(());
    }
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    fs::create_dir_all(dir).map_err(|e| io_error(dir, &e))?;
    replace_file(dir, path, code).map_err(|e| io_error(path, &e))
}

/// Writes a new file in `dir`, then renames it over `path`: a symlink at
/// `path` is replaced, never followed (writing through it would land
/// wherever it points), and a reader never sees half a file.
fn replace_file(dir: &Path, path: &Path, code: &str) -> std::io::Result<()> {
    let (temp, mut file) = new_temp_file(dir, path)?;
    let written = file
        .write_all(code.as_bytes())
        .and_then(|()| file.sync_all())
        .and_then(|()| fs::rename(&temp, path));
    if written.is_err() {
        let _ = fs::remove_file(&temp);
    }
    written
}

/// A file of our own beside `path`: `create_new` never opens (or follows)
/// something already there.
fn new_temp_file(dir: &Path, path: &Path) -> std::io::Result<(PathBuf, fs::File)> {
    let stem = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let stem = stem.unwrap_or_default();
    let mut attempt = 0u32;
    loop {
        let temp = dir.join(format!(".{stem}.{}.{attempt}.tmp", std::process::id()));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)
        {
            Ok(file) => return Ok((temp, file)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < 100 => {
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
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
