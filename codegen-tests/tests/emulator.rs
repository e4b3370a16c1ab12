//! The generated services on a device connected to the emulator: for every
//! service of every model, a command (with its typed response) and a
//! property write (and a refused one) cross the wire.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking"
)]

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use iot_sdk::{CommandResponse, IotDevice, IotService, Service, ServiceProperties};
#[cfg(shared_package)]
use iot_sdk_codegen_tests::shared;
use iot_sdk_codegen_tests::{api, exported, greenhouse, package};
use iot_sdk_emulator::{App, DeviceRegistration, Emulator, EmulatorConfig};
use serde_json::{Map, Value, json};

const SECRET: &str = "codegen-test-secret";
const TIMEOUT: Duration = Duration::from_secs(5);

/// A device with services, connected to an emulator of its own.
struct Platform {
    emulator: Emulator,
    device: IotDevice,
    id: String,
}

impl Platform {
    async fn start(prefix: &str) -> Platform {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{prefix}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let config = EmulatorConfig::default().device(DeviceRegistration::secret(&id, SECRET));
        let emulator = Emulator::start(config).await.expect("the emulator starts");
        let device = IotDevice::builder()
            .server(emulator.server_uri())
            .secret(&id, SECRET)
            .build()
            .expect("a valid configuration");
        Platform {
            emulator,
            device,
            id,
        }
    }

    fn add<S: IotService>(&self, service: S) -> Service<S> {
        self.device
            .add_service(service)
            .expect("the service is added")
    }

    async fn connect(&self) {
        tokio::time::timeout(TIMEOUT, self.device.connect())
            .await
            .expect("connected in time")
            .expect("the device connects");
    }

    fn app(&self) -> App {
        self.emulator.app()
    }

    async fn command(&self, service: &str, name: &str, paras: Value) -> CommandResponse {
        self.app()
            .send_command(&self.id, service, name, paras, TIMEOUT)
            .await
            .expect("the device answers the command")
    }

    /// Writes `values` to `service`; the result code and description.
    async fn write(&self, service: &str, values: Value) -> (i32, String) {
        let Value::Object(values) = values else {
            panic!("property values are an object");
        };
        let write = ServiceProperties::new(service, values);
        let result = self
            .app()
            .set_properties(&self.id, vec![write], TIMEOUT)
            .await
            .expect("the device answers the write");
        (result.result_code, result.result_desc.unwrap_or_default())
    }

    async fn stop(self) {
        self.device.close().await.expect("the device closes");
        self.emulator.shutdown().await;
    }
}

/// `{"key": value, ...}` of a response's paras.
fn paras(response: &CommandResponse) -> Map<String, Value> {
    response
        .paras
        .as_ref()
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

macro_rules! smoke_detector_session {
    ($test:ident, $module:ident) => {
        #[tokio::test]
        async fn $test() {
            use $module::smoke_detector::SmokeDetector;
            let platform = Platform::start(stringify!($test)).await;
            let detector = platform.add(SmokeDetector { humidity: 40, ..SmokeDetector::default() });
            platform.connect().await;

            let rung = platform.command("smokeDetector", "ringAlarm", json!({"duration": 20})).await;
            assert!(rung.is_success(), "{rung:?}");
            assert_eq!(detector.read(|d| d.alarm).await, 1);
            let refused = platform.command("smokeDetector", "ringAlarm", json!({"duration": 0})).await;
            assert_eq!(refused.result_code, 2, "{refused:?}");
            let bad = platform.command("smokeDetector", "ringAlarm", json!({"duration": -1})).await;
            assert!(!bad.is_success(), "{bad:?}");

            assert_eq!(platform.write("smokeDetector", json!({"alarm": 0})).await.0, 0);
            assert_eq!(detector.read(|d| d.alarm).await, 0);
            let (code, reason) = platform.write("smokeDetector", json!({"alarm": 5})).await;
            assert_ne!(code, 0);
            assert!(reason.contains("alarm"), "{reason}");
            let (code, _) = platform.write("smokeDetector", json!({"humidity": 50})).await;
            assert_ne!(code, 0, "humidity is read-only");
            platform.stop().await;
        }
    };
}

smoke_detector_session!(smoke_detector_from_the_package, package);
smoke_detector_session!(smoke_detector_from_the_api_json, api);
#[cfg(shared_package)]
smoke_detector_session!(smoke_detector_from_the_real_package, shared);

#[cfg(not(shared_package))]
#[test]
fn smoke_detector_from_the_real_package() {
    eprintln!(
        "skipped: smoke_detector_from_the_real_package: the real package was not found at build time"
    );
}

#[tokio::test]
async fn greenhouse_climate() {
    use greenhouse::climate::Climate;
    let platform = Platform::start("climate").await;
    let climate = platform.add(Climate::default());
    platform.connect().await;
    assert_eq!(
        climate.read(|c| (c.setpoint, c.mode.clone())).await,
        (21.5, "auto".to_string())
    );

    let calibrate = json!({"offset": 0.5, "sensors": ["t1", "t2"], "at": "20260101T000000Z",
                           "options": {"source": "test"}});
    let calibrated = platform.command("Climate", "calibrate", calibrate).await;
    assert!(calibrated.is_success(), "{calibrated:?}");
    assert_eq!(calibrated.response_name.as_deref(), Some("calibrated"));
    assert_eq!(
        Value::Object(paras(&calibrated)),
        json!({"applied": 0.5, "sensorsDone": 2})
    );
    let bad_time = platform
        .command("Climate", "calibrate", json!({"offset": 0.5, "at": "noon"}))
        .await;
    assert!(!bad_time.is_success(), "{bad_time:?}");

    let write = json!({"setpoint": 22.5, "mode": "manual", "calibration": {"offset": 1}});
    assert_eq!(platform.write("Climate", write).await.0, 0);
    let written = climate
        .read(|c| (c.setpoint, c.mode.clone(), c.calibration.clone()))
        .await;
    assert_eq!(
        written,
        (22.5, "manual".to_string(), Some(json!({"offset": 1})))
    );
    for refused in [
        json!({"setpoint": 22.3}),
        json!({"mode": "turbo"}),
        json!({"humidity": 3}),
    ] {
        assert_ne!(
            platform.write("Climate", refused.clone()).await.0,
            0,
            "{refused}"
        );
    }
    platform.stop().await;
}

#[tokio::test]
async fn greenhouse_irrigation() {
    use greenhouse::irrigation::Irrigation;
    let platform = Platform::start("irrigation").await;
    let irrigation = platform.add(Irrigation::default());
    platform.connect().await;

    let start = json!({"durationSeconds": 60, "zone": "east-wing", "pattern": "pulse"});
    let started = platform
        .command("Irrigation", "START_IRRIGATION", start.clone())
        .await;
    assert_eq!(
        started.response_name.as_deref(),
        Some("STARTED"),
        "{started:?}"
    );
    assert_eq!(
        Value::Object(paras(&started)),
        json!({"endsAt": "20300101T000000Z"})
    );
    assert_eq!(irrigation.read(|i| i.zone.clone()).await, "east-wing");
    let refused = platform
        .command("Irrigation", "START_IRRIGATION", start)
        .await;
    assert_eq!(
        refused.response_name.as_deref(),
        Some("REFUSED"),
        "{refused:?}"
    );
    assert_eq!(paras(&refused)["reason"], "busy");
    let bad = json!({"durationSeconds": 60, "zone": "west"});
    assert!(
        !platform
            .command("Irrigation", "START_IRRIGATION", bad)
            .await
            .is_success()
    );
    assert!(
        platform
            .command("Irrigation", "stop", json!({}))
            .await
            .is_success()
    );
    assert!(!irrigation.read(|i| i.valve_open).await);

    assert_eq!(
        platform
            .write("Irrigation", json!({"zone": "1st floor"}))
            .await
            .0,
        0
    );
    assert_eq!(irrigation.read(|i| i.zone.clone()).await, "1st floor");
    assert_ne!(
        platform
            .write("Irrigation", json!({"zone": "west"}))
            .await
            .0,
        0
    );
    platform.stop().await;
}

#[tokio::test]
async fn greenhouse_device_info() {
    use greenhouse::device_info::DeviceInfo;
    let platform = Platform::start("device_info").await;
    let info = platform.add(DeviceInfo {
        r#type: "gh-2".into(),
        温度: Some(41.5),
        ..DeviceInfo::default()
    });
    platform.connect().await;

    let ack = platform
        .command(
            "device-info",
            "reboot",
            json!({"force": true, "delay-ms": 10}),
        )
        .await;
    assert_eq!(ack.response_name.as_deref(), Some("ack"), "{ack:?}");
    assert_eq!(
        Value::Object(paras(&ack)),
        json!({"type": "gh-2", "mode": "cold"})
    );
    assert!(
        platform
            .command("device-info", "self", json!({}))
            .await
            .is_success()
    );
    assert_eq!(info.read(|i| i.self_.clone()).await, "rebooted");

    assert_eq!(
        platform
            .write("device-info", json!({"self": "bench 3"}))
            .await
            .0,
        0
    );
    assert_eq!(info.read(|i| i.self_.clone()).await, "bench 3");
    let (code, reason) = platform
        .write("device-info", json!({"self": "x".repeat(17)}))
        .await;
    assert_ne!(code, 0);
    assert!(reason.contains("self"), "{reason}");
    assert_ne!(
        platform
            .write("device-info", json!({"type": "other"}))
            .await
            .0,
        0
    );
    let read = platform
        .app()
        .get_properties(&platform.id, Some("device-info"), TIMEOUT)
        .await
        .unwrap();
    let properties = &read.services[0].properties;
    assert_eq!(properties["温度"], 41.5);
    assert_eq!(properties["type"], "gh-2");
    platform.stop().await;
}

#[tokio::test]
async fn the_three_greenhouse_services_on_one_device() {
    let platform = Platform::start("greenhouse").await;
    platform.add(greenhouse::climate::Climate::default());
    platform.add(greenhouse::irrigation::Irrigation::default());
    platform.add(greenhouse::device_info::DeviceInfo::default());
    platform.connect().await;
    let read = platform
        .app()
        .get_properties(&platform.id, None, TIMEOUT)
        .await
        .unwrap();
    let mut ids: Vec<_> = read
        .services
        .iter()
        .map(|s| s.service_id.as_str())
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, ["Climate", "Irrigation", "device-info"]);
    platform.stop().await;
}

#[tokio::test]
async fn thermostat_regenerated_from_its_export() {
    use exported::thermostat::Thermostat;
    let platform = Platform::start("thermostat").await;
    let thermostat = platform.add(Thermostat::default());
    platform.connect().await;
    let boost = json!({"minutes": 5, "origin": "app", "level": "high", "at": 1});
    assert!(
        platform
            .command("thermostat", "boost", boost)
            .await
            .is_success()
    );
    assert!(thermostat.read(|t| t.heating).await);
    assert_eq!(
        platform
            .write("thermostat", json!({"setpoint": 21.0}))
            .await
            .0,
        0
    );
    assert_eq!(thermostat.read(|t| t.setpoint).await, 21.0);
    assert_ne!(
        platform
            .write("thermostat", json!({"setpoint": 21.2}))
            .await
            .0,
        0
    );
    platform.stop().await;
}
