//! Where a gateway keeps its child list between runs.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::error::{Error, Result};
use crate::protocol::services::sub_device::DeviceInfo;

/// The gateway's child devices and the version of that list on the
/// platform (the `version` of the last notify applied).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SubDeviceList {
    /// The list version the platform last announced; `None` before the first.
    #[serde(default)]
    pub version: Option<i64>,
    /// The children, as the platform described them.
    #[serde(default)]
    pub devices: Vec<DeviceInfo>,
}

impl SubDeviceList {
    /// The child with this device id (a linear search: the gateway itself
    /// looks children up in its index).
    pub fn get(&self, device_id: &str) -> Option<&DeviceInfo> {
        self.devices.iter().find(|d| d.device_id == device_id)
    }
}

/// Stores the child list. The gateway loads it once when it is created and
/// saves the whole list after every change, one save at a time.
///
/// Implement it to keep the list in a database or in flash; [`JsonFile`] is
/// the default.
pub trait SubDevicePersistence: Send + Sync + 'static {
    /// The stored list; an empty list when nothing was stored yet.
    fn load(&self) -> Result<SubDeviceList>;
    /// Replaces the stored list. A failed save must leave the previous list loadable.
    fn save(&self, list: &SubDeviceList) -> Result<()>;
}

/// The child list as a JSON file, written atomically: the new list goes to
/// a temporary file in the same directory, is flushed to disk, then renamed
/// over the old one. A crash at any point leaves either the old or the new
/// file, never a torn one; a leftover temporary file is ignored and removed
/// by the next save.
#[derive(Debug, Clone)]
pub struct JsonFile {
    path: PathBuf,
}

impl JsonFile {
    /// A list stored at `path` (the file need not exist yet).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        JsonFile { path: path.into() }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary file a save writes first: a hidden sibling of the file.
    pub fn temp_path(&self) -> PathBuf {
        let name = self
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.path.with_file_name(format!(".{name}.tmp"))
    }
}

impl SubDevicePersistence for JsonFile {
    fn load(&self) -> Result<SubDeviceList> {
        let bytes = match fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(SubDeviceList::default());
            }
            Err(e) => return Err(e.into()),
        };
        serde_json::from_slice(&bytes).map_err(|source| Error::Corrupt {
            path: self.path.clone(),
            source,
        })
    }

    fn save(&self, list: &SubDeviceList) -> Result<()> {
        let json = serde_json::to_vec_pretty(list)?;
        // 0o666: what `File::create` gives, less the umask.
        atomic_file::replace(&self.path, &self.temp_path(), &json, 0o666)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn child(device_id: &str) -> DeviceInfo {
        DeviceInfo {
            device_id: device_id.into(),
            ..DeviceInfo::default()
        }
    }

    fn list(version: i64, ids: &[&str]) -> SubDeviceList {
        SubDeviceList {
            version: Some(version),
            devices: ids.iter().map(|id| child(id)).collect(),
        }
    }

    #[test]
    fn a_missing_file_is_an_empty_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFile::new(dir.path().join("children.json"));
        assert_eq!(store.load().unwrap(), SubDeviceList::default());
    }

    #[test]
    fn saved_lists_load_back() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFile::new(dir.path().join("children.json"));
        store.save(&list(3, &["p_a", "p_b"])).unwrap();
        store.save(&list(4, &["p_a"])).unwrap();
        assert_eq!(store.load().unwrap(), list(4, &["p_a"]));
        assert!(!store.temp_path().exists(), "no temporary file is left");
    }

    #[test]
    fn a_crash_mid_write_leaves_the_old_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = JsonFile::new(dir.path().join("children.json"));
        store.save(&list(7, &["p_a", "p_b"])).unwrap();
        // A crash after part of the new list reached the temporary file.
        let full = serde_json::to_vec(&list(8, &["p_a", "p_b", "p_c"])).unwrap();
        fs::write(store.temp_path(), &full[..full.len() / 2]).unwrap();
        assert_eq!(store.load().unwrap(), list(7, &["p_a", "p_b"]));
        // The next save replaces the leftover.
        store.save(&list(9, &["p_c"])).unwrap();
        assert_eq!(store.load().unwrap(), list(9, &["p_c"]));
    }

    #[test]
    fn a_corrupt_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("children.json");
        fs::write(&path, b"{\"version\": 1, \"devices\": [").unwrap();
        let error = JsonFile::new(&path).load().unwrap_err().to_string();
        assert!(error.contains("children.json"), "{error}");
    }
}
