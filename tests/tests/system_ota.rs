//! `$ota` end to end (§4.1): version queries, v1 and v2 upgrades downloaded
//! from the emulator's HTTP server, verification before install, resumed
//! downloads, refused tokens, TLS trust, and a second offer while one runs.

#![allow(
    clippy::expect_used,
    reason = "helpers of a test fail it by panicking, like the test itself"
)]

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use iot_sdk::IotDevice;
use iot_sdk::ota::{Ota, OtaProgress, Package, PackageKind, Refusal, VersionReport};
use iot_sdk_emulator::{App, DeviceRegistration, Emulator, EmulatorConfig};
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use common::{
    SECRET, device_builder, new_device_id, reports_until_done, setup, test_bytes, within,
};

/// What the install hook saw: the package and its content.
type Installed = UnboundedReceiver<(Package, Vec<u8>)>;

/// Enables OTA with versions fw1/sw1, downloads in `dir`, and an install
/// hook that records every package it gets.
fn enable(device: &IotDevice, dir: &Path) -> Installed {
    enable_with(device, dir, |ota| ota)
}

fn enable_with(device: &IotDevice, dir: &Path, configure: impl FnOnce(Ota) -> Ota) -> Installed {
    let (tx, rx) = unbounded_channel();
    let ota = Ota::new("fw1", "sw1", move |package: Package| {
        let tx = tx.clone();
        async move {
            let bytes = tokio::fs::read(&package.path).await?;
            let _ = tx.send((package, bytes));
            Ok(())
        }
    })
    .download_dir(dir);
    device.enable_ota(configure(ota)).expect("OTA is enabled");
    rx
}

async fn versions(app: &App, device_id: &str) -> VersionReport {
    app.query_version(device_id, Duration::from_secs(10))
        .await
        .expect("the device answers version_query")
}

fn assert_nothing_left(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "files left behind: {left:?}");
}

#[tokio::test]
async fn v1_and_v2_upgrades_install_the_verified_package_and_report_the_new_version() {
    let (emulator, device, platform) = setup("ota_ok").await;
    let device_id = platform.device_id().to_string();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut installed = enable(&device, dir.path());
    assert_eq!(
        versions(&emulator.app(), &device_id).await,
        VersionReport {
            fw_version: Some("fw1".into()),
            sw_version: Some("sw1".into())
        }
    );

    let firmware = test_bytes(300 * 1024, 1);
    let info = emulator.app().add_package("fw2.bin", firmware.clone());
    let mut events = emulator.app().subscribe_events();
    emulator
        .app()
        .offer_upgrade(&device_id, &info, "fw2", PackageKind::Firmware)
        .expect("the offer is sent");
    let reports = reports_until_done(&mut events, &device_id).await;
    let done = reports.last().expect("a final report");
    assert_eq!(
        (done.result_code, done.progress, done.version.as_str()),
        (0, Some(100), "fw2")
    );
    let steps: Vec<u8> = reports[..reports.len() - 1]
        .iter()
        .map(|r| {
            assert_eq!(r.result_code, 0, "{r:?}");
            r.progress.expect("progress in a progress report")
        })
        .collect();
    assert!(!steps.is_empty(), "no download progress reported");
    assert!(
        steps.windows(2).all(|w| w[0] < w[1]) && steps.iter().all(|&p| p < 100),
        "{steps:?}"
    );
    let (package, bytes) = installed.try_recv().expect("the hook got the package");
    assert_eq!(bytes, firmware, "the hook saw other bytes");
    assert_eq!(
        (package.version.as_str(), package.kind),
        ("fw2", PackageKind::Firmware)
    );
    assert_eq!(package.sha256, info.sign);
    assert_eq!(
        versions(&emulator.app(), &device_id)
            .await
            .fw_version
            .as_deref(),
        Some("fw2")
    );

    let software = test_bytes(64 * 1024, 2);
    let info = emulator.app().add_package("sw2.tar", software.clone());
    emulator
        .app()
        .offer_upgrade(&device_id, &info, "sw2", PackageKind::SoftwareV2)
        .expect("the offer is sent");
    let done = reports_until_done(&mut events, &device_id).await;
    assert_eq!(done.last().map(|r| r.version.as_str()), Some("sw2"));
    let (package, bytes) = installed.try_recv().expect("the hook got the v2 package");
    assert_eq!((bytes, package.kind), (software, PackageKind::SoftwareV2));
    assert_eq!(
        versions(&emulator.app(), &device_id).await,
        VersionReport {
            fw_version: Some("fw2".into()),
            sw_version: Some("sw2".into())
        }
    );
    assert_nothing_left(dir.path());
}

#[tokio::test]
async fn a_package_with_a_wrong_sign_or_size_is_refused_with_code_7_and_never_installed() {
    let (emulator, device, platform) = setup("ota_bad").await;
    let device_id = platform.device_id().to_string();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut installed = enable(&device, dir.path());
    let info = emulator.app().add_package("fw2.bin", test_bytes(40_000, 3));
    let mut events = emulator.app().subscribe_events();

    let mut wrong_sign = info.upgrade_package("fw2", PackageKind::FirmwareV2);
    wrong_sign.sign = Some("0".repeat(64));
    let mut wrong_size = info.upgrade_package("fw2", PackageKind::Firmware);
    wrong_size.file_size = Some(info.file_size + 1);
    for (package, kind, what) in [
        (wrong_sign, PackageKind::FirmwareV2, "SHA-256"),
        (wrong_size, PackageKind::Firmware, "size"),
    ] {
        emulator
            .app()
            .offer_package(&device_id, package, kind)
            .expect("the offer is sent");
        let reports = reports_until_done(&mut events, &device_id).await;
        let last = reports.last().expect("a final report");
        assert_eq!(
            (last.result_code, last.version.as_str()),
            (7, "fw1"),
            "{last:?}"
        );
        let description = last.description.clone().unwrap_or_default();
        assert!(description.contains(what), "{description}");
    }
    assert!(installed.try_recv().is_err(), "a bad package was installed");
    assert_eq!(
        versions(&emulator.app(), &device_id)
            .await
            .fw_version
            .as_deref(),
        Some("fw1")
    );
    assert_nothing_left(dir.path());
}

#[tokio::test]
async fn an_interrupted_download_resumes_from_the_cut() {
    let (emulator, device, platform) = setup("ota_resume").await;
    let device_id = platform.device_id().to_string();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut installed = enable(&device, dir.path());
    let firmware = test_bytes(1024 * 1024, 4);
    let info = emulator.app().add_package("big.bin", firmware.clone());
    let cut = 400 * 1024;
    emulator.app().interrupt_next_download_after(cut);
    let mut events = emulator.app().subscribe_events();
    emulator
        .app()
        .offer_upgrade(&device_id, &info, "fw3", PackageKind::Firmware)
        .expect("the offer is sent");
    let reports = reports_until_done(&mut events, &device_id).await;
    assert_eq!(
        reports.last().map(|r| r.result_code),
        Some(0),
        "{reports:?}"
    );
    let (_, bytes) = installed.try_recv().expect("the hook got the package");
    assert_eq!(bytes, firmware);

    let gets: Vec<_> = emulator
        .app()
        .served_requests()
        .into_iter()
        .filter(|r| r.path == "/ota/v1/big.bin")
        .collect();
    assert_eq!(gets.len(), 2, "{gets:?}");
    assert_eq!(
        (gets[0].status, gets[0].bytes_sent, gets[0].range.as_deref()),
        (200, cut, None)
    );
    assert_eq!(gets[1].status, 206);
    assert_eq!(
        gets[1].range.as_deref(),
        Some(format!("bytes={cut}-").as_str())
    );
    let served: u64 = gets.iter().map(|r| r.bytes_sent).sum();
    assert_eq!(
        served,
        firmware.len() as u64,
        "the resumption fetched more than the rest"
    );
}

#[tokio::test]
async fn a_missing_or_wrong_v1_token_is_refused_by_the_server_and_nothing_is_installed() {
    let (emulator, device, platform) = setup("ota_token").await;
    let device_id = platform.device_id().to_string();
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut installed = enable(&device, dir.path());
    let info = emulator.app().add_package("fw.bin", test_bytes(1000, 5));
    let mut events = emulator.app().subscribe_events();
    for token in [Some("not-the-token".to_string()), None] {
        let mut package = info.upgrade_package("fw2", PackageKind::Firmware);
        package.access_token = token;
        emulator
            .app()
            .offer_package(&device_id, package, PackageKind::Firmware)
            .expect("the offer is sent");
        let reports = reports_until_done(&mut events, &device_id).await;
        let last = reports.last().expect("a final report");
        assert_eq!((last.result_code, last.version.as_str()), (255, "fw1"));
        let description = last.description.clone().unwrap_or_default();
        assert!(description.contains("401"), "{description}");
        assert!(
            !description.contains(&info.access_token),
            "token leaked: {description}"
        );
    }
    let refused = emulator
        .app()
        .served_requests()
        .iter()
        .filter(|r| r.status == 401)
        .count();
    assert_eq!(refused, 2);
    assert!(installed.try_recv().is_err());
    assert_nothing_left(dir.path());
}

#[tokio::test]
async fn a_precheck_refusal_is_reported_and_nothing_is_downloaded() {
    let (emulator, device, platform) = setup("ota_precheck").await;
    let device_id = platform.device_id().to_string();
    let dir = tempfile::tempdir().expect("a temp dir");
    let (seen, mut progress) = unbounded_channel();
    let mut installed = enable_with(&device, dir.path(), |ota| {
        ota.precheck(|_offer| Err(Refusal::low_battery()))
            .on_progress(move |step| {
                let _ = seen.send(step.clone());
            })
    });
    let info = emulator.app().add_package("fw.bin", test_bytes(1000, 6));
    let mut events = emulator.app().subscribe_events();
    emulator
        .app()
        .offer_upgrade(&device_id, &info, "fw2", PackageKind::Firmware)
        .expect("the offer is sent");
    let reports = reports_until_done(&mut events, &device_id).await;
    assert_eq!(reports.last().map(|r| r.result_code), Some(4));
    assert!(matches!(
        progress.try_recv(),
        Ok(OtaProgress::Failed { code: 4, .. })
    ));
    assert!(
        emulator.app().served_requests().is_empty(),
        "downloaded anyway"
    );
    assert!(installed.try_recv().is_err());
}

#[tokio::test]
async fn an_offer_while_an_upgrade_runs_gets_busy_and_the_first_completes() {
    let (emulator, device, platform) = setup("ota_busy").await;
    let device_id = platform.device_id().to_string();
    let dir = tempfile::tempdir().expect("a temp dir");
    let release = Arc::new(tokio::sync::Notify::new());
    let (started, mut installing) = unbounded_channel();
    let gate = release.clone();
    device
        .enable_ota(
            Ota::new("fw1", "sw1", move |package: Package| {
                let (gate, started) = (gate.clone(), started.clone());
                async move {
                    let _ = started.send(package.version);
                    gate.notified().await;
                    Ok(())
                }
            })
            .download_dir(dir.path()),
        )
        .expect("OTA is enabled");
    let info = emulator.app().add_package("fw.bin", test_bytes(2000, 7));
    let mut events = emulator.app().subscribe_events();
    emulator
        .app()
        .offer_upgrade(&device_id, &info, "fw2", PackageKind::Firmware)
        .expect("the offer is sent");
    let first = within("the first install to start", installing.recv()).await;
    assert_eq!(first.as_deref(), Some("fw2"));

    emulator
        .app()
        .offer_upgrade(&device_id, &info, "fw3", PackageKind::Firmware)
        .expect("the second offer is sent");
    let busy = reports_until_done(&mut events, &device_id).await;
    let last = busy.last().expect("a report");
    assert_eq!((last.result_code, last.version.as_str()), (1, "fw1"));

    release.notify_one();
    let reports = reports_until_done(&mut events, &device_id).await;
    let last = reports.last().expect("a final report");
    assert_eq!((last.result_code, last.version.as_str()), (0, "fw2"));
    assert!(
        installing.try_recv().is_err(),
        "the busy offer was installed"
    );
}

/// A device on a TLS emulator that trusts the emulator's CA.
async fn tls_setup(prefix: &str) -> (Emulator, IotDevice, String) {
    let device_id = new_device_id(prefix);
    let config = EmulatorConfig::default()
        .with_tls()
        .device(DeviceRegistration::secret(&device_id, SECRET));
    let emulator = Emulator::start(config).await.expect("the emulator starts");
    let ca_file = emulator.ca_file().expect("a CA file").to_path_buf();
    let device = device_builder(&emulator.server_uri(), &device_id)
        .ca_file(ca_file)
        .build()
        .expect("a valid configuration");
    within("the device to connect", device.connect())
        .await
        .expect("the device connects over TLS");
    (emulator, device, device_id)
}

#[tokio::test]
async fn over_tls_a_device_trusting_the_emulator_ca_upgrades() {
    let (emulator, device, device_id) = tls_setup("ota_tls").await;
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut installed = enable(&device, dir.path());
    let firmware = test_bytes(100_000, 8);
    let info = emulator.app().add_package("fw.bin", firmware.clone());
    assert!(info.url.starts_with("https://"), "{}", info.url);
    let mut events = emulator.app().subscribe_events();
    emulator
        .app()
        .offer_upgrade(&device_id, &info, "fw2", PackageKind::Firmware)
        .expect("the offer is sent");
    let reports = reports_until_done(&mut events, &device_id).await;
    assert_eq!(
        reports.last().map(|r| r.result_code),
        Some(0),
        "{reports:?}"
    );
    assert_eq!(
        installed.try_recv().map(|(_, bytes)| bytes).ok(),
        Some(firmware)
    );
}

#[tokio::test]
async fn an_untrusted_https_server_or_a_plain_url_on_tls_fails_without_installing() {
    // Plain device, package on a TLS emulator whose CA it does not trust.
    let (emulator, device, platform) = setup("ota_untrusted").await;
    let device_id = platform.device_id().to_string();
    let other = Emulator::start(EmulatorConfig::default().with_tls())
        .await
        .expect("the HTTPS emulator starts");
    let dir = tempfile::tempdir().expect("a temp dir");
    let mut installed = enable(&device, dir.path());
    let info = other.app().add_package("fw.bin", test_bytes(1000, 9));
    let mut events = emulator.app().subscribe_events();
    emulator
        .app()
        .offer_upgrade(&device_id, &info, "fw2", PackageKind::Firmware)
        .expect("the offer is sent");
    let reports = reports_until_done(&mut events, &device_id).await;
    assert_eq!(
        reports.last().map(|r| r.result_code),
        Some(255),
        "{reports:?}"
    );
    assert!(
        other.app().served_requests().is_empty(),
        "the untrusted server was asked"
    );
    assert!(installed.try_recv().is_err());

    // TLS device, package on a plain emulator: refused before any request.
    let (tls_emulator, tls_device, tls_id) = tls_setup("ota_plain_url").await;
    let mut installed = enable(&tls_device, dir.path());
    let plain = emulator
        .app()
        .add_package("plain.bin", test_bytes(1000, 10));
    let mut events = tls_emulator.app().subscribe_events();
    tls_emulator
        .app()
        .offer_upgrade(&tls_id, &plain, "fw2", PackageKind::Firmware)
        .expect("the offer is sent");
    let reports = reports_until_done(&mut events, &tls_id).await;
    let last = reports.last().expect("a final report");
    assert_eq!(last.result_code, 255);
    assert!(
        last.description
            .as_deref()
            .unwrap_or_default()
            .contains("plain http"),
        "{last:?}"
    );
    assert!(
        !emulator
            .app()
            .served_requests()
            .iter()
            .any(|r| r.path.ends_with("plain.bin"))
    );
    assert!(installed.try_recv().is_err());
    assert_nothing_left(dir.path());
}
