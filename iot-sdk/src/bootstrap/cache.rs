//! The bootstrap result on disk: read at start, written atomically.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::atomic_file;
use crate::error::{Error, Result};

/// The largest cache file read back; a real one is a few hundred bytes.
const MAX_CACHE_BYTES: u64 = 16 * 1024;

/// Where the provisioning service sent the device, and with which secret.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    /// The instance's host name or IP address.
    pub host: String,
    /// The instance's MQTT port.
    pub port: u16,
    /// Whether to speak TLS there.
    pub tls: bool,
    /// The secret to log in with there, when it differs from the device's own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

impl std::fmt::Debug for Assignment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assignment")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Assignment {
    /// The server URI for [`IotDeviceBuilder::server`](crate::IotDeviceBuilder::server).
    pub fn server_uri(&self) -> String {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            format!("{scheme}://[{}]:{}", self.host, self.port)
        } else {
            format!("{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// Reads a cached assignment. A missing file is `Ok(None)`; an unreadable or
/// damaged one is an error the caller may treat as "no cache".
pub(crate) fn load(path: &Path) -> Result<Option<Assignment>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    if file.metadata()?.len() > MAX_CACHE_BYTES {
        return Err(Error::Config(format!(
            "bootstrap cache {} is larger than {MAX_CACHE_BYTES} bytes",
            path.display()
        )));
    }
    let assignment: Assignment = serde_json::from_reader(file)?;
    Ok(Some(assignment))
}

/// Writes `assignment` to `path` atomically: a temporary file in the same
/// directory, flushed to disk, then renamed over the old one. Readable by
/// the owner only, since it may hold a secret.
pub(crate) fn store(path: &Path, assignment: &Assignment) -> Result<()> {
    let file_name = path.file_name().ok_or_else(|| {
        Error::Config(format!("bootstrap cache {} is not a file", path.display()))
    })?;
    let mut temporary = file_name.to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = atomic_file::directory(path).join(temporary);
    let json = serde_json::to_vec_pretty(assignment)?;
    atomic_file::replace(path, &temporary, &json, 0o600)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn assignment() -> Assignment {
        Assignment {
            host: "iot.example".into(),
            port: 8883,
            tls: true,
            secret: Some("s3cret".into()),
        }
    }

    #[test]
    fn stores_and_loads_back_replacing_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("server_info.json");
        assert_eq!(load(&path).unwrap(), None);
        store(&path, &assignment()).unwrap();
        let other = Assignment {
            port: 1883,
            tls: false,
            secret: None,
            ..assignment()
        };
        store(&path, &other).unwrap();
        assert_eq!(load(&path).unwrap(), Some(other));
        let names: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "no temporary file left behind");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn damaged_or_huge_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cache.json");
        fs::write(&path, b"{\"host\": 3").unwrap();
        assert!(load(&path).is_err());
        fs::write(&path, vec![b' '; 20_000]).unwrap();
        assert!(load(&path).is_err());
    }

    #[test]
    fn uris_bracket_ipv6_hosts() {
        assert_eq!(assignment().server_uri(), "mqtts://iot.example:8883");
        let v6 = Assignment {
            host: "::1".into(),
            tls: false,
            ..assignment()
        };
        assert_eq!(v6.server_uri(), "mqtt://[::1]:8883");
        assert!(!format!("{:?}", assignment()).contains("s3cret"));
    }
}
