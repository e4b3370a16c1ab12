//! Wrong passwords are throttled like the platform throttles them: after a
//! few failures in a window, further logins of that device (or from that
//! address) are refused with CONNACK 5, even with the right password, until
//! the window has passed.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly on purpose

mod common;

use std::time::Duration;

use common::raw::RawDevice;
use common::*;
use iot_sdk_emulator::broker::ConnectReturnCode as BrokerCode;
use iot_sdk_emulator::{DeviceEvent, DeviceRegistration, Emulator, EmulatorConfig, LoginLimits};
use rumqttc::mqttbytes::v4::ConnectReturnCode;

/// Logs `device_id` in over raw MQTT with `password` (None: the right one).
async fn login(
    emulator: &iot_sdk_emulator::Emulator,
    device_id: &str,
    password: Option<&str>,
) -> ConnectReturnCode {
    let (_device, connack) =
        RawDevice::try_connect(emulator.mqtt_addr(), device_id, password).await;
    connack.code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn by_default_five_wrong_passwords_lock_the_device_out() {
    let emulator = emulator().await;
    for _ in 0..5 {
        assert_eq!(
            login(&emulator, "d1", Some("wrong")).await,
            ConnectReturnCode::BadUserNamePassword
        );
    }
    // The right password no longer helps: it could be the next guess.
    assert_eq!(
        login(&emulator, "d1", None).await,
        ConnectReturnCode::NotAuthorized
    );
    // Another device from the same address is not locked out.
    assert_eq!(
        login(&emulator, "d2", None).await,
        ConnectReturnCode::Success
    );
}

fn limits(per_device: u32, per_address: u32, window_ms: u64) -> LoginLimits {
    LoginLimits {
        per_device,
        per_address,
        window: Duration::from_millis(window_ms),
    }
}

async fn emulator_with(limits: LoginLimits) -> Emulator {
    let config = EmulatorConfig::default()
        .device(DeviceRegistration::secret("d1", SECRET))
        .device(DeviceRegistration::secret("d2", SECRET))
        .with_login_limits(limits);
    Emulator::start(config).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_right_login_after_the_window_works() {
    let emulator = emulator_with(limits(2, 0, 1500)).await;
    let mut events = emulator.app().subscribe_events();
    for _ in 0..2 {
        login(&emulator, "d1", Some("wrong")).await;
    }
    assert_eq!(
        login(&emulator, "d1", None).await,
        ConnectReturnCode::NotAuthorized
    );
    let reason = loop {
        if let Ok(DeviceEvent::Refused {
            code: BrokerCode::NotAuthorized,
            reason,
            ..
        }) = events.recv().await
        {
            break reason;
        }
    };
    assert!(
        reason.starts_with("too many failed logins for this device"),
        "{reason}"
    );
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(
        login(&emulator, "d1", None).await,
        ConnectReturnCode::Success
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_address_limit_spans_device_ids() {
    let emulator = emulator_with(limits(0, 3, 60_000)).await;
    for ghost in ["g1", "g2", "g3"] {
        assert_eq!(
            login(&emulator, ghost, None).await,
            ConnectReturnCode::BadUserNamePassword
        );
    }
    assert_eq!(
        login(&emulator, "d2", None).await,
        ConnectReturnCode::NotAuthorized
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unlimited_means_every_attempt_is_checked() {
    let emulator = emulator_with(LoginLimits::unlimited()).await;
    for _ in 0..20 {
        login(&emulator, "d1", Some("wrong")).await;
    }
    assert_eq!(
        login(&emulator, "d1", None).await,
        ConnectReturnCode::Success
    );
}
