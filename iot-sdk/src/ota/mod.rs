//! `$ota`: software and firmware upgrade (§4.1).
//!
//! The application enables OTA once with its versions and an async install
//! hook ([`Ota`]). The SDK answers every `version_query`, and for each
//! upgrade offer downloads the package on its own task (resuming an
//! interrupted download), verifies its size and SHA-256, and only then
//! hands it to the install hook. Progress and the result go to the
//! platform as `upgrade_progress_report`s.
//!
//! Result codes the SDK sends on its own: 1 busy (an upgrade is running),
//! 5 no storage, 6 download timeout, 7 verification failed (size or `sign`
//! wrong or missing), 10 the install hook failed, 255 anything else (the
//! server refused the download, e.g. HTTP 401/403/404, TLS or connection
//! failure; the `description` says which).

mod steps;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tracing::{Instrument, info, warn};

use crate::client::Client;
use crate::device::IotDevice;
use crate::device_core::{DeviceCore, HookFuture, SystemService};
use crate::error::{Error, Result};
use crate::handler::{Handler, HandlerResult, catch_panics, handler};
use crate::http::{Answer, HttpClient, is_sha256_hex};
use crate::protocol::Event;
use crate::protocol::services::ota::{SERVICE_ID, UpgradeProgressReport, VERSION_QUERY};
use crate::transport::Delivery;
use steps::{ProgressSteps, failure_code};

pub use crate::protocol::services::ota::{
    BatchTask, PackageKind, UpgradePackage, VersionReport, result_code,
};

/// Percent between two download progress reports.
const PROGRESS_STEP: u8 = 10;

/// How the application takes part in OTA; pass it to [`IotDevice::enable_ota`].
pub struct Ota {
    versions: VersionReport,
    install: Handler<Package, HandlerResult<()>>,
    precheck: Option<Arc<PrecheckFn>>,
    on_progress: Option<Arc<ProgressFn>>,
    download_dir: PathBuf,
}

type PrecheckFn = dyn Fn(&Offer) -> Result<(), Refusal> + Send + Sync;
type ProgressFn = dyn Fn(&OtaProgress) + Send + Sync;

impl Ota {
    /// OTA with the installed firmware and software versions and the hook
    /// that installs a verified package. The hook's `Ok` means installed:
    /// the SDK then reports success with the new version and answers later
    /// `version_query`s with it; an `Err` is reported as code 10 with its text.
    pub fn new<F, Fut>(
        fw_version: impl Into<String>,
        sw_version: impl Into<String>,
        install: F,
    ) -> Ota
    where
        F: Fn(Package) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult<()>> + Send + 'static,
    {
        Ota {
            versions: VersionReport {
                fw_version: Some(fw_version.into()),
                sw_version: Some(sw_version.into()),
            },
            install: handler(install),
            precheck: None,
            on_progress: None,
            download_dir: std::env::temp_dir().join("iot-sdk-ota"),
        }
    }

    /// Decides before the download whether to take an offer; a [`Refusal`]
    /// is reported with its code and nothing is downloaded.
    pub fn precheck(
        mut self,
        check: impl Fn(&Offer) -> Result<(), Refusal> + Send + Sync + 'static,
    ) -> Ota {
        self.precheck = Some(Arc::new(check));
        self
    }

    /// Called at each step of every upgrade, on the upgrade's task; keep it short.
    pub fn on_progress(mut self, f: impl Fn(&OtaProgress) + Send + Sync + 'static) -> Ota {
        self.on_progress = Some(Arc::new(f));
        self
    }

    /// Where packages are downloaded to (default `iot-sdk-ota` in the
    /// system temp directory). Created when needed; each package's file is
    /// removed after its install or failure.
    pub fn download_dir(mut self, dir: impl Into<PathBuf>) -> Ota {
        self.download_dir = dir.into();
        self
    }
}

/// An upgrade the platform offers, before anything is downloaded.
#[derive(Debug, Clone, PartialEq)]
pub struct Offer {
    /// Firmware or software, v1 or v2.
    pub kind: PackageKind,
    /// The package as announced (its `access_token` included; do not log it).
    pub package: UpgradePackage,
    /// The version installed now for this kind.
    pub current_version: String,
}

/// Why the application declines an upgrade: a §4.1 `result_code` and a text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The `result_code` reported.
    pub code: i32,
    /// The `description` reported.
    pub description: String,
}

impl Refusal {
    /// Any code of §4.1 with a description.
    pub fn new(code: i32, description: impl Into<String>) -> Refusal {
        Refusal {
            code,
            description: description.into(),
        }
    }

    /// Code 1: the device is busy.
    pub fn busy() -> Refusal {
        Refusal::new(result_code::DEVICE_BUSY, "device busy")
    }

    /// Code 3: the offered version is already installed.
    pub fn already_latest() -> Refusal {
        Refusal::new(result_code::ALREADY_LATEST, "already the latest version")
    }

    /// Code 4: the battery is too low.
    pub fn low_battery() -> Refusal {
        Refusal::new(result_code::LOW_BATTERY, "battery too low")
    }

    /// Code 5: not enough storage.
    pub fn not_enough_storage() -> Refusal {
        Refusal::new(result_code::NOT_ENOUGH_STORAGE, "not enough storage")
    }

    /// Code 8: the package type is not supported.
    pub fn unsupported_package() -> Refusal {
        Refusal::new(result_code::UNSUPPORTED_PACKAGE, "unsupported package type")
    }
}

/// A downloaded package whose size and SHA-256 matched the offer, handed
/// to the install hook. The file is removed when the hook returns: copy or
/// move it if it must outlive the hook.
#[derive(Debug, Clone, PartialEq)]
pub struct Package {
    /// The downloaded file.
    pub path: PathBuf,
    /// The version it installs.
    pub version: String,
    /// Firmware or software, v1 or v2.
    pub kind: PackageKind,
    /// The package's file name, when announced.
    pub file_name: Option<String>,
    /// Size in bytes (verified).
    pub size: u64,
    /// Lower-case hex SHA-256 (verified).
    pub sha256: String,
    /// Free text attached to the package.
    pub custom_info: Option<String>,
    /// The gateway/batch task, when the offer belongs to one.
    pub task: BatchTask,
}

/// One step of an upgrade, for [`Ota::on_progress`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OtaProgress {
    /// Downloading `version`: `percent` of the package so far (below 100).
    Downloading {
        /// The version being downloaded.
        version: String,
        /// Percent downloaded.
        percent: u8,
    },
    /// The package is verified; the install hook runs.
    Installing {
        /// The version being installed.
        version: String,
    },
    /// Installed; the platform was told.
    Succeeded {
        /// The new version.
        version: String,
    },
    /// Refused or failed; the platform got `code` and `description`.
    Failed {
        /// The version offered.
        version: String,
        /// The `result_code` reported.
        code: i32,
        /// The `description` reported.
        description: String,
    },
}

/// The device's OTA state: set up by [`IotDevice::enable_ota`].
#[derive(Default)]
struct OtaState {
    versions: Mutex<VersionReport>,
    busy: AtomicBool,
}

impl OtaState {
    fn versions(&self) -> VersionReport {
        crate::sync::lock(&self.versions).clone()
    }

    fn current(&self, kind: PackageKind) -> String {
        let versions = crate::sync::lock(&self.versions);
        let version = if is_firmware(kind) {
            &versions.fw_version
        } else {
            &versions.sw_version
        };
        version.clone().unwrap_or_default()
    }

    fn set_current(&self, kind: PackageKind, version: &str) {
        let mut versions = crate::sync::lock(&self.versions);
        let slot = if is_firmware(kind) {
            &mut versions.fw_version
        } else {
            &mut versions.sw_version
        };
        *slot = Some(version.to_string());
    }
}

/// Marks the device busy while it lives, even if the upgrade task panics.
struct Running(Arc<OtaState>);

impl Running {
    /// `None` when an upgrade already runs.
    fn start(state: &Arc<OtaState>) -> Option<Running> {
        let was_busy = state.busy.swap(true, Ordering::AcqRel);
        (!was_busy).then(|| Running(state.clone()))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.0.busy.store(false, Ordering::Release);
    }
}

fn is_firmware(kind: PackageKind) -> bool {
    matches!(kind, PackageKind::Firmware | PackageKind::FirmwareV2)
}

/// What one upgrade task needs.
struct Upgrader {
    client: Arc<Client>,
    http: Arc<HttpClient>,
    state: Arc<OtaState>,
    install: Handler<Package, HandlerResult<()>>,
    precheck: Option<Arc<PrecheckFn>>,
    on_progress: Option<Arc<ProgressFn>>,
    download_dir: PathBuf,
}

impl IotDevice {
    /// Enables OTA (§4.1): answers `version_query`s and runs upgrades as
    /// described in the [`ota`](crate::ota) module. Enabling again replaces
    /// the hooks and versions. Fails with a configuration error when the
    /// device's CA file cannot be loaded for HTTPS.
    pub fn enable_ota(&self, ota: Ota) -> Result<()> {
        let core = self.core();
        let state = core.state::<OtaState>();
        *crate::sync::lock(&state.versions) = ota.versions;
        let upgrader = Arc::new(Upgrader {
            client: core.client.clone(),
            http: HttpClient::of(core)?,
            state,
            install: ota.install,
            precheck: ota.precheck,
            on_progress: ota.on_progress,
            download_dir: ota.download_dir,
        });
        core.register(Arc::new(OtaService(upgrader)));
        Ok(())
    }

    /// The versions OTA reports now (after successful upgrades, the new ones).
    pub fn ota_versions(&self) -> VersionReport {
        self.core().state::<OtaState>().versions()
    }

    /// Reports the versions unasked (`version_report`), e.g. after an
    /// update the application made by itself.
    pub async fn report_ota_versions(&self) -> Result<Delivery> {
        let versions = self.ota_versions();
        self.core().client.report_event(versions.to_event()).await
    }
}

/// The `$ota` system service, registered by [`IotDevice::enable_ota`].
struct OtaService(Arc<Upgrader>);

impl SystemService for OtaService {
    fn service_id(&self) -> &'static str {
        SERVICE_ID
    }

    fn on_event<'a>(&'a self, _core: &'a DeviceCore, event: Event) -> HookFuture<'a> {
        Box::pin(self.0.clone().on_event(event))
    }
}

impl Upgrader {
    async fn on_event(self: Arc<Self>, event: Event) -> HandlerResult<()> {
        if event.event_type == VERSION_QUERY {
            self.client
                .report_event(self.state.versions().to_event())
                .await?;
            return Ok(());
        }
        let Some(kind) = PackageKind::from_event_type(&event.event_type) else {
            warn!(event_type = %event.event_type, "unknown $ota event ignored");
            return Ok(());
        };
        let current = self.state.current(kind);
        let package = match event.decode_paras::<UpgradePackage>() {
            Ok(package) => package,
            Err(e) => {
                let description = format!("malformed upgrade offer: {e}");
                self.fail(&current, "", result_code::INTERNAL_ERROR, &description)
                    .await;
                return Err(description.into());
            }
        };
        let offer = Offer {
            kind,
            package,
            current_version: current,
        };
        // Busy is checked first: a running upgrade answers every other offer.
        let Some(running) = Running::start(&self.state) else {
            let description = "another upgrade is running";
            self.fail(
                &offer.current_version,
                &offer.package.version,
                result_code::DEVICE_BUSY,
                description,
            )
            .await;
            return Ok(());
        };
        if let Some(Err(refusal)) = self.precheck.as_ref().map(|check| check(&offer)) {
            drop(running);
            self.fail(
                &offer.current_version,
                &offer.package.version,
                refusal.code,
                &refusal.description,
            )
            .await;
            return Ok(());
        }
        // The download may take minutes: never on the dispatcher's task.
        tokio::spawn(
            async move {
                self.upgrade(offer).await;
                drop(running);
            }
            .in_current_span(),
        );
        Ok(())
    }

    /// Runs one upgrade to its end and reports the result.
    async fn upgrade(&self, offer: Offer) {
        let version = offer.package.version.clone();
        let path = self.download_dir.join(format!(
            "{}-{:016x}.part",
            safe_file_name(&version),
            fastrand::u64(..)
        ));
        let outcome = self.download_and_install(&offer, &path).await;
        if let Err(e) = tokio::fs::remove_file(&path).await
            && e.kind() != std::io::ErrorKind::NotFound
        {
            warn!(path = %path.display(), error = %e, "could not remove the package file");
        }
        match outcome {
            Ok(()) => {
                self.state.set_current(offer.kind, &version);
                info!(%version, "upgrade installed");
                self.report(
                    result_code::SUCCESS,
                    Some(100),
                    &version,
                    "upgrade succeeded",
                )
                .await;
                self.progress(OtaProgress::Succeeded { version });
            }
            Err((code, description)) => {
                warn!(%version, code, %description, "upgrade failed");
                self.fail(&offer.current_version, &version, code, &description)
                    .await;
            }
        }
    }

    async fn download_and_install(&self, offer: &Offer, path: &Path) -> Result<(), (i32, String)> {
        let package = &offer.package;
        let failed = |e: Error| (failure_code(&e), e.to_string());
        tokio::fs::create_dir_all(&self.download_dir)
            .await
            .map_err(|e| failed(e.into()))?;
        check_free_space(&self.download_dir, package.file_size).await?;
        let downloaded = self.download(offer, path).await.map_err(failed)?;
        let (sha256, size) = verify(package, &downloaded).map_err(failed)?;
        self.progress(OtaProgress::Installing {
            version: package.version.clone(),
        });
        let verified = Package {
            path: path.to_path_buf(),
            version: package.version.clone(),
            kind: offer.kind,
            file_name: package.file_name.clone(),
            size,
            sha256,
            custom_info: package.custom_info.clone(),
            task: package.task.clone(),
        };
        let install = (self.install)(verified);
        match catch_panics(install).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) | Err(e) => Err((
                result_code::INSTALLATION_FAILED,
                format!("installation failed: {e}"),
            )),
        }
    }

    /// Downloads the package, reporting every [`PROGRESS_STEP`] percent;
    /// never more than the announced `file_size`.
    async fn download(&self, offer: &Offer, path: &Path) -> Result<Answer> {
        let package = &offer.package;
        // v1 downloads carry the token; without one the server refuses (401).
        let token = match offer.kind.is_v2() {
            true => None,
            false => package.access_token.as_deref(),
        };
        let (percents, mut reached) = tokio::sync::mpsc::unbounded_channel();
        let steps = Mutex::new(ProgressSteps::new(PROGRESS_STEP));
        let announced = package.file_size;
        let on_bytes = move |done: u64, total: Option<u64>| {
            if let Some(percent) = crate::sync::lock(&steps).advance(done, total.or(announced)) {
                let _ = percents.send(percent);
            }
        };
        let download = self
            .http
            .download(&package.url, token, path, announced, &on_bytes);
        tokio::pin!(download);
        // Reports go out in order while the download goes on.
        let answer = loop {
            tokio::select! {
                answer = &mut download => break answer,
                Some(percent) = reached.recv() => self.downloading(offer, percent).await,
            }
        };
        while let Ok(percent) = reached.try_recv() {
            self.downloading(offer, percent).await;
        }
        answer
    }

    async fn downloading(&self, offer: &Offer, percent: u8) {
        self.report(
            result_code::SUCCESS,
            Some(percent),
            &offer.current_version,
            "downloading",
        )
        .await;
        self.progress(OtaProgress::Downloading {
            version: offer.package.version.clone(),
            percent,
        });
    }

    async fn fail(&self, current: &str, offered: &str, code: i32, description: &str) {
        self.report(code, Some(0), current, description).await;
        self.progress(OtaProgress::Failed {
            version: offered.to_string(),
            code,
            description: description.to_string(),
        });
    }

    async fn report(&self, code: i32, progress: Option<u8>, version: &str, description: &str) {
        let report = UpgradeProgressReport {
            result_code: code,
            progress,
            version: version.to_string(),
            description: Some(description.to_string()),
        };
        if let Err(e) = self.client.report_event(report.to_event()).await {
            warn!(error = %e, "could not send an upgrade progress report");
        }
    }

    fn progress(&self, step: OtaProgress) {
        if let Some(on_progress) = &self.on_progress {
            on_progress(&step);
        }
    }
}

/// Checks the downloaded file against the offer's `file_size` and `sign`;
/// returns its hash and size. A missing `sign` fails: unverified code is
/// never installed.
fn verify(package: &UpgradePackage, downloaded: &Answer) -> Result<(String, u64)> {
    let size = downloaded.bytes;
    let sha256 = downloaded.sha256.clone().unwrap_or_default();
    if let Some(expected) = package.file_size
        && expected != size
    {
        return Err(Error::Verification(format!(
            "package size {size} bytes, announced {expected}"
        )));
    }
    let Some(sign) = package.sign.as_deref() else {
        return Err(Error::Verification(
            "the offer has no sign (SHA-256)".into(),
        ));
    };
    if !is_sha256_hex(sign) {
        return Err(Error::Verification(format!(
            "sign is not a 64-digit hex SHA-256: {sign:?}"
        )));
    }
    if !sign.eq_ignore_ascii_case(&sha256) {
        return Err(Error::Verification(format!(
            "SHA-256 {sha256} does not match sign {}",
            sign.to_ascii_lowercase()
        )));
    }
    Ok((sha256, size))
}

/// A version string made safe as part of a file name.
fn safe_file_name(text: &str) -> String {
    let safe: String = text
        .chars()
        .take(64)
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.is_empty() {
        "package".to_string()
    } else {
        safe
    }
}

/// Refuses a package larger than the free space of `dir` (code 5) before
/// anything is downloaded.
async fn check_free_space(dir: &Path, announced: Option<u64>) -> Result<(), (i32, String)> {
    let Some(size) = announced else {
        return Ok(());
    };
    match crate::http::free_space(dir).await {
        Some(free) if free < size => Err((
            result_code::NOT_ENOUGH_STORAGE,
            format!("the package needs {size} bytes, {free} are free"),
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_strings_become_safe_file_names() {
        assert_eq!(safe_file_name("v1.2-rc"), "v1.2-rc");
        assert_eq!(safe_file_name("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(safe_file_name(""), "package");
    }

    #[test]
    fn verification_checks_size_and_sign_case_insensitively() {
        // What downloading "abc" gives.
        let downloaded = Answer {
            status: reqwest::StatusCode::OK,
            bytes: 3,
            sha256: Some(crate::http::ABC_SHA256.to_string()),
        };
        let sign = "BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD";
        let package = |size, sign: Option<&str>| UpgradePackage {
            file_size: size,
            sign: sign.map(str::to_string),
            ..Default::default()
        };
        assert!(verify(&package(Some(3), Some(sign)), &downloaded).is_ok());
        assert!(verify(&package(None, Some(sign)), &downloaded).is_ok());
        for bad in [
            package(Some(4), Some(sign)),
            package(Some(3), None),
            package(Some(3), Some(&"0".repeat(64))),
            package(Some(3), Some("abc")),
        ] {
            let error = verify(&bad, &downloaded).unwrap_err();
            assert!(matches!(error, Error::Verification(_)), "{error}");
        }
    }
}
