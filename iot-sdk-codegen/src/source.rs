//! The files of a model: one JSON file, or the JSON files of an offline
//! package found in a zip archive or a directory.

use std::fs;
use std::io::{Cursor, Read};
use std::path::Path;

use crate::error::{Error, ProblemKind};

/// Larger files are refused (models are at most 500 KB by the platform's rules).
const MAX_FILE: u64 = 16 * 1024 * 1024;

/// Bytes read in all from one package (a folder, or a zip uncompressed): a
/// zip bomb of many entries under [`MAX_FILE`] each stops here.
const MAX_TOTAL: u64 = 32 * 1024 * 1024;

/// Entries of a zip archive, or directory entries of a folder, looked at:
/// a package has a handful of files.
const MAX_ENTRIES: usize = 10_000;

/// How deep a directory is searched for the package's files.
const MAX_DEPTH: usize = 8;

/// What is left of [`MAX_TOTAL`] and [`MAX_ENTRIES`] for one package.
struct Budget {
    bytes: u64,
    entries: usize,
}

impl Budget {
    fn new() -> Self {
        Budget {
            bytes: MAX_TOTAL,
            entries: MAX_ENTRIES,
        }
    }

    /// Counts one more entry looked at; fails past [`MAX_ENTRIES`].
    fn entry(&mut self, name: &str) -> Result<(), Error> {
        self.entries = self.entries.checked_sub(1).ok_or_else(|| {
            let message = format!("more than {MAX_ENTRIES} entries: not a product model");
            Error::new(ProblemKind::Invalid, name, None, message)
        })?;
        Ok(())
    }

    /// How much the next file may hold: [`MAX_FILE`] or what is left.
    fn next_file(&self) -> u64 {
        MAX_FILE.min(self.bytes)
    }

    /// Takes `read` bytes off; fails when they were more than was left.
    fn spend(&mut self, name: &str, read: usize) -> Result<(), Error> {
        let read = read as u64;
        if read > self.bytes {
            let message = format!(
                "more than {} MiB uncompressed in all: not a product model",
                MAX_TOTAL / 1024 / 1024
            );
            return Err(Error::new(ProblemKind::Invalid, name, None, message));
        }
        self.bytes -= read;
        Ok(())
    }
}

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
        walk(path, 0, &mut Budget::new(), &mut found)?;
        return Ok(package(found));
    }
    let bytes = read_file(path, MAX_FILE)?;
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

/// The file's bytes; more than `limit` is an error (read no further).
fn read_file(path: &Path, limit: u64) -> Result<Vec<u8>, Error> {
    let name = path.display().to_string();
    let file = fs::File::open(path).map_err(|e| io_error(&name, "cannot read", &e))?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&name, "cannot read", &e))?;
    if bytes.len() as u64 > MAX_FILE {
        return Err(too_large(&name));
    }
    Ok(bytes)
}

/// The package's files under `dir`, searched `MAX_DEPTH` levels deep.
/// Directory symlinks are not followed: a link to `.` or `..` would make
/// the walk exponential (or endless), and one elsewhere leaves the package.
/// A symlink to a file is read like the file.
fn walk(dir: &Path, depth: usize, budget: &mut Budget, found: &mut Vec<File>) -> Result<(), Error> {
    let name = dir.display().to_string();
    let entries = fs::read_dir(dir).map_err(|e| io_error(&name, "cannot list", &e))?;
    let mut listed = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        budget.entry(&name)?;
        // The entry's own type: a symlink says symlink, whatever it points to.
        let is_real_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        listed.push((entry.path(), is_real_dir));
    }
    listed.sort();
    for (path, is_real_dir) in listed {
        if is_real_dir {
            if depth < MAX_DEPTH {
                walk(&path, depth + 1, budget, found)?;
            }
        } else if kind_of(&path.to_string_lossy()).is_some() && path.is_file() {
            let name = path.display().to_string();
            let bytes = read_file(&path, budget.next_file())?;
            budget.spend(&name, bytes.len())?;
            found.push(File { name, bytes });
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
    let mut budget = Budget::new();
    for index in 0..archive.len() {
        budget.entry(archive_name)?;
        let mut entry = archive.by_index(index).map_err(zip_error)?;
        let entry_name = entry.name().map_err(zip_error)?.into_owned();
        // Entry names are only matched and shown, never paths written to,
        // so `../` or absolute names cannot reach outside.
        if entry.is_dir() || kind_of(&entry_name).is_none() {
            continue;
        }
        let name = format!("{archive_name}:{entry_name}");
        if entry.size() > MAX_FILE {
            return Err(too_large(&name));
        }
        // The declared size may lie: what is read is bounded either way.
        let mut content = Vec::new();
        (&mut entry)
            .take(budget.next_file() + 1)
            .read_to_end(&mut content)
            .map_err(|e| {
                Error::new(ProblemKind::Zip, &name, None, format!("cannot unpack: {e}"))
            })?;
        if content.len() as u64 > MAX_FILE {
            return Err(too_large(&name));
        }
        budget.spend(&name, content.len())?;
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
