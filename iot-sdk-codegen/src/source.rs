//! Reading a product model from a path: a JSON file, a zip archive or a
//! folder holding an offline package. The formats themselves are read and
//! checked by `iot_sdk_protocol::model`; this module finds the bytes.

use std::fs;
use std::io::Read;
use std::path::Path;

use iot_sdk_protocol::model::{
    Loaded, ModelError as Error, PackageBudget, PackageFile, ProblemKind, is_package_file,
    read_json, read_model, read_package,
};

/// How deep a directory is searched for the package's files.
const MAX_DEPTH: usize = 8;

/// Reads the product model at `path`:
///
/// * a zip archive or a directory: the offline package of §5.2, its
///   `devicetype-capability.json` and `servicetype-capability.json` files
///   found by name wherever they are (identical copies are fine);
/// * a JSON file: the API format of §5.1 — a product (with
///   `service_capabilities`), one service, or a list of services — or a
///   lone `servicetype-capability.json`.
///
/// Every problem is reported with its file and JSON path.
pub fn load(path: &Path) -> Result<Loaded, Error> {
    let name = path.display().to_string();
    let metadata = fs::metadata(path).map_err(|e| io_error(&name, "cannot read", &e))?;
    if metadata.is_dir() {
        let mut found = Vec::new();
        walk(path, 0, &mut PackageBudget::default(), &mut found)?;
        return read_package(&name, found);
    }
    let bytes = read_file(path, &mut PackageBudget::default())?;
    read_model(&name, &bytes)
}

/// Reads a product model from JSON in memory (the API format, as [`load`]
/// reads a JSON file); `name` stands for the file in errors and in the
/// generated code's header.
pub fn load_json(name: &str, json: &[u8]) -> Result<Loaded, Error> {
    read_json(name, json)
}

/// The file's bytes, within what is left of `budget`.
fn read_file(path: &Path, budget: &mut PackageBudget) -> Result<Vec<u8>, Error> {
    let name = path.display().to_string();
    let file = fs::File::open(path).map_err(|e| io_error(&name, "cannot read", &e))?;
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from a larger one.
    file.take(budget.next_file() + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(&name, "cannot read", &e))?;
    budget.spend(&name, bytes.len())?;
    Ok(bytes)
}

/// The package's files under `dir`, searched `MAX_DEPTH` levels deep.
/// Directory symlinks are not followed: a link to `.` or `..` would make
/// the walk exponential (or endless), and one elsewhere leaves the package.
/// A symlink to a file is read like the file.
fn walk(
    dir: &Path,
    depth: usize,
    budget: &mut PackageBudget,
    found: &mut Vec<PackageFile>,
) -> Result<(), Error> {
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
        } else if is_package_file(&path.to_string_lossy()) && path.is_file() {
            let name = path.display().to_string();
            let bytes = read_file(&path, budget)?;
            found.push(PackageFile { name, bytes });
        }
    }
    Ok(())
}

fn io_error(name: &str, what: &str, error: &std::io::Error) -> Error {
    Error::new(ProblemKind::Io, name, None, format!("{what}: {error}"))
}
