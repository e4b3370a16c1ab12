//! Replacing a file so that a crash leaves the old or the new content,
//! never a torn one.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Writes `bytes` to `temp` (created with `mode` on Unix, subject to the
/// umask), flushes it to disk, renames it over `path` and syncs the
/// directory, which makes the rename itself durable. `temp` must be in
/// `path`'s directory; it is removed when the write or rename fails.
pub(crate) fn replace(path: &Path, temp: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let written = write_synced(temp, bytes, mode).and_then(|()| fs::rename(temp, path));
    if written.is_err() {
        // Best effort: the error that matters is the write's.
        let _ = fs::remove_file(temp);
    }
    written?;
    File::open(directory(path))?.sync_all()
}

/// The directory `path` is in (`.` for a bare file name).
pub(crate) fn directory(path: &Path) -> &Path {
    match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    }
}

fn write_synced(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}
