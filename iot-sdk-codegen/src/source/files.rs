//! The files of a model: one JSON file, or the JSON files of an offline
//! package found in a zip archive or a directory.

use std::fs;
use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{Error, ProblemKind};

/// Larger files are refused (models are at most 500 KB by the platform's rules).
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// How deep a directory is searched for the package's files.
const MAX_DEPTH: usize = 8;

/// One file: what errors call it, and its bytes.
#[derive(Debug, Clone)]
pub(crate) struct File {
    /// The path, or `archive.zip:entry`.
    pub(crate) name: String,
    /// The content.
    pub(crate) bytes: Vec<u8>,
}

/// What a path holds.
#[derive(Debug)]
pub(crate) enum Files {
    /// A single JSON file.
    Json(File),
    /// The `devicetype-capability.json` and `servicetype-capability.json`
    /// files of an offline package, sorted by name.
    Package {
        /// Every `devicetype-capability` file.
        devices: Vec<File>,
        /// Every `servicetype-capability` file.
        services: Vec<File>,
    },
}

/// Reads the model files at `path`: a directory or zip is an offline
/// package, any other file a JSON document.
pub(crate) fn read(path: &Path) -> Result<Files, Error> {
    let name = path.display().to_string();
    let metadata = fs::metadata(path).map_err(|e| io_error(&name, "cannot read", &e))?;
    if metadata.is_dir() {
        let mut found = Vec::new();
        walk(path, 0, &mut found)?;
        return Ok(package(found));
    }
    let bytes = read_file(path)?;
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return Ok(package(unzip(&name, bytes)?));
    }
    // Read as JSON, a `.zip` that is not one (a page saved in place of the
    // export, say) would fail with a puzzling JSON error.
    if has_zip_extension(path) {
        return Err(not_a_zip(&name, &bytes));
    }
    Ok(Files::Json(File { name, bytes }))
}

fn has_zip_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("zip"))
}

/// A `.zip` file without a zip signature, with a guess at what it is.
fn not_a_zip(name: &str, bytes: &[u8]) -> Error {
    let guess = match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        None => "the file is empty",
        Some(b'{' | b'[') => "it looks like JSON: name it `.json`",
        Some(b'<') => "it looks like HTML or XML, e.g. an error page saved in place of the export",
        Some(_) => "it does not start with a zip signature",
    };
    let message = format!("not a zip archive ({guess})");
    Error::new(ProblemKind::Zip, name, None, message)
}

fn read_file(path: &Path) -> Result<Vec<u8>, Error> {
    let name = path.display().to_string();
    let file = fs::File::open(path).map_err(|e| io_error(&name, "cannot read", &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&name, "cannot read", &e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_large(&name));
    }
    Ok(bytes)
}

/// The package's files under `dir`, searched `MAX_DEPTH` levels deep.
fn walk(dir: &Path, depth: usize, found: &mut Vec<File>) -> Result<(), Error> {
    let name = dir.display().to_string();
    let entries = fs::read_dir(dir).map_err(|e| io_error(&name, "cannot list", &e))?;
    let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
    paths.sort();
    for path in paths {
        if path.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, found)?;
        } else if kind_of(&path.to_string_lossy()).is_some() && path.is_file() {
            let bytes = read_file(&path)?;
            found.push(File {
                name: path.display().to_string(),
                bytes,
            });
        }
    }
    Ok(())
}

/// The package's files inside a zip archive, by entry name.
fn unzip(archive_name: &str, bytes: Vec<u8>) -> Result<Vec<File>, Error> {
    let zip_error = |e: zip::result::ZipError| {
        Error::new(
            ProblemKind::Zip,
            archive_name,
            None,
            format!("not a readable zip archive: {e}"),
        )
    };
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(zip_error)?;
    let mut found = Vec::new();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index).map_err(zip_error)?;
        let entry_name = entry.name().map_err(zip_error)?.into_owned();
        if entry.is_dir() || kind_of(&entry_name).is_none() {
            continue;
        }
        let name = format!("{archive_name}:{entry_name}");
        if entry.size() > MAX_FILE {
            return Err(too_large(&name));
        }
        let mut content = Vec::new();
        (&mut entry)
            .take(MAX_FILE + 1)
            .read_to_end(&mut content)
            .map_err(|e| {
                Error::new(ProblemKind::Zip, &name, None, format!("cannot unpack: {e}"))
            })?;
        found.push(File {
            name,
            bytes: content,
        });
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

/// Which file of a package `path` is (§5.2: matched by name, anywhere).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Device,
    Service,
}

fn kind_of(path: &str) -> Option<Kind> {
    let file_name = path.rsplit(['/', '\\']).next().unwrap_or(path);
    if !file_name.ends_with(".json") {
        return None;
    }
    if file_name.contains("devicetype-capability") {
        Some(Kind::Device)
    } else if file_name.contains("servicetype-capability") {
        Some(Kind::Service)
    } else {
        None
    }
}

fn package(found: Vec<File>) -> Files {
    let (devices, services) = found
        .into_iter()
        .partition(|file| kind_of(&file.name) == Some(Kind::Device));
    Files::Package { devices, services }
}

fn io_error(name: &str, what: &str, error: &std::io::Error) -> Error {
    Error::new(ProblemKind::Io, name, None, format!("{what}: {error}"))
}

fn too_large(name: &str) -> Error {
    let message = format!(
        "larger than {} MiB: not a product model",
        MAX_FILE / 1024 / 1024
    );
    Error::new(ProblemKind::Invalid, name, None, message)
}
