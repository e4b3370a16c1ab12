//! The files of an offline package (§5.2) and the bounds on reading them:
//! from a zip archive here, from a folder by whoever lists one.

#[cfg(feature = "zip")]
use std::io::{Cursor, Read};

use crate::model::error::{ModelError, ProblemKind};

/// Larger files are refused (models are at most 500 KB by the platform's rules).
pub const MAX_MODEL_FILE: u64 = 16 * 1024 * 1024;

/// Bytes read in all from one package (a folder, or a zip uncompressed): a
/// zip bomb of many entries under [`MAX_MODEL_FILE`] each stops here.
const MAX_TOTAL: u64 = 32 * 1024 * 1024;

/// Entries of a zip archive, or directory entries of a folder, looked at:
/// a package has a handful of files.
const MAX_ENTRIES: usize = 10_000;

/// One file of a package: what problems call it, and its bytes.
#[derive(Debug, Clone)]
pub struct PackageFile {
    /// Its path, or `archive.zip:entry`.
    pub name: String,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// What is left of the bytes and entries one package may take; whoever
/// lists a folder counts its entries and files here, as the zip reader does.
#[derive(Debug)]
pub struct PackageBudget {
    bytes: u64,
    entries: usize,
}

impl Default for PackageBudget {
    fn default() -> Self {
        PackageBudget {
            bytes: MAX_TOTAL,
            entries: MAX_ENTRIES,
        }
    }
}

impl PackageBudget {
    /// Counts one more entry looked at in `name`; fails past 10,000.
    pub fn entry(&mut self, name: &str) -> Result<(), ModelError> {
        self.entries = self.entries.checked_sub(1).ok_or_else(|| {
            let message = format!("more than {MAX_ENTRIES} entries: not a product model");
            ModelError::new(ProblemKind::Invalid, name, None, message)
        })?;
        Ok(())
    }

    /// How many bytes the next file may hold: [`MAX_MODEL_FILE`] or what is left.
    pub fn next_file(&self) -> u64 {
        MAX_MODEL_FILE.min(self.bytes)
    }

    /// Takes the `read` bytes of file `name` off; fails when the file is
    /// larger than [`MAX_MODEL_FILE`] or the package past 32 MiB.
    pub fn spend(&mut self, name: &str, read: usize) -> Result<(), ModelError> {
        let read = read as u64;
        if read > MAX_MODEL_FILE {
            return Err(too_large(name));
        }
        if read > self.bytes {
            let message = format!(
                "more than {} MiB uncompressed in all: not a product model",
                MAX_TOTAL / 1024 / 1024
            );
            return Err(ModelError::new(ProblemKind::Invalid, name, None, message));
        }
        self.bytes -= read;
        Ok(())
    }
}

/// A file larger than [`MAX_MODEL_FILE`].
pub(crate) fn too_large(name: &str) -> ModelError {
    let message = format!(
        "larger than {} MiB: not a product model",
        MAX_MODEL_FILE / 1024 / 1024
    );
    ModelError::new(ProblemKind::Invalid, name, None, message)
}

/// Whether the file at `path` is one of a package's (matched by name,
/// anywhere: `devicetype-capability.json`, `servicetype-capability.json`).
pub fn is_package_file(path: &str) -> bool {
    let file_name = file_name(path);
    file_name.ends_with(".json")
        && (file_name.contains("devicetype-capability")
            || file_name.contains("servicetype-capability"))
}

/// Whether a package file is the device's (the others define services).
pub(crate) fn is_device_file(path: &str) -> bool {
    file_name(path).contains("devicetype-capability")
}

fn file_name(path: &str) -> &str {
    path.rsplit(['/', '\\']).next().unwrap_or(path)
}

/// A `.zip` file without a zip signature, with a guess at what it is.
pub(crate) fn not_a_zip(name: &str, bytes: &[u8]) -> ModelError {
    let guess = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => "the file is empty",
        Some(b'{' | b'[') => "it looks like JSON: name it `.json`",
        Some(b'<') => "it looks like HTML or XML, e.g. an error page saved in place of the export",
        Some(_) => "it does not start with a zip signature",
    };
    let message = format!("not a zip archive ({guess})");
    ModelError::new(ProblemKind::Zip, name, None, message)
}

/// The package's files inside a zip archive, by entry name, sorted.
#[cfg(feature = "zip")]
pub(crate) fn unzip(archive_name: &str, bytes: &[u8]) -> Result<Vec<PackageFile>, ModelError> {
    let zip_error = |e: zip::result::ZipError| {
        let message = format!("not a readable zip archive: {e}");
        ModelError::new(ProblemKind::Zip, archive_name, None, message)
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    let mut found = Vec::new();
    let mut budget = PackageBudget::default();
    for index in 0..archive.len() {
        budget.entry(archive_name)?;
        let mut entry = archive.by_index(index).map_err(zip_error)?;
        let entry_name = entry.name().map_err(zip_error)?.into_owned();
        // Entry names are only matched and shown, never paths written to,
        // so `../` or absolute names cannot reach outside.
        if entry.is_dir() || !is_package_file(&entry_name) {
            continue;
        }
        let name = format!("{archive_name}:{entry_name}");
        if entry.size() > MAX_MODEL_FILE {
            return Err(too_large(&name));
        }
        // The declared size may lie: what is read is bounded either way.
        let mut content = Vec::new();
        (&mut entry)
            .take(budget.next_file() + 1)
            .read_to_end(&mut content)
            .map_err(|e| {
                let message = format!("cannot unpack: {e}");
                ModelError::new(ProblemKind::Zip, &name, None, message)
            })?;
        budget.spend(&name, content.len())?;
        found.push(PackageFile {
            name,
            bytes: content,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}
