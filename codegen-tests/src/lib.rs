//! The code generated from `models/` (and from the real package when it is
//! there), compiled as a user's crate compiles it: this crate depends on
//! `iot-sdk` alone. The trait impls below are what a user writes beside
//! the generated code: the command bodies.

use iot_sdk::CommandError;
use iot_sdk::protocol::EventTime;

/// `models/smokeDetector`, the offline package as a folder.
pub mod package {
    include!(concat!(env!("OUT_DIR"), "/smoke_detector.rs"));
}

/// `models/smokeDetector.json`, the same model in the API format.
pub mod api {
    include!(concat!(env!("OUT_DIR"), "/api/smoke_detector.rs"));
}

/// `models/greenhouse.json`: every data type, three services, responses.
pub mod greenhouse {
    include!(concat!(env!("OUT_DIR"), "/greenhouse.rs"));
}

/// `fixtures/exported_thermostat.json`: what a derived service exports.
pub mod exported {
    include!(concat!(env!("OUT_DIR"), "/exported_thermostat.rs"));
}

/// `fixtures/long_bounds.json`: `long` bounds beyond 32 bits, to the ends
/// of i64 (their literals must compile).
pub mod long_bounds {
    include!(concat!(env!("OUT_DIR"), "/long_bounds.rs"));
}

/// The real smokeDetector package of `../shared/models/`.
#[cfg(shared_package)]
pub mod shared {
    include!(concat!(
        env!("OUT_DIR"),
        "/shared/smoke_detector_cb097d20d77b4240adf1f33d36b3c278_smoke_detector.rs"
    ));
}

/// The `ringAlarm` of every smokeDetector: ring, unless asked to ring for 0 s.
macro_rules! ring_alarm {
    ($module:ident) => {
        impl $module::smoke_detector::SmokeDetectorCommands
            for $module::smoke_detector::SmokeDetector
        {
            async fn ring_alarm(
                &mut self,
                paras: $module::smoke_detector::RingAlarm,
            ) -> Result<(), CommandError> {
                if paras.duration == Some(0) {
                    return Err(CommandError::new("a duration of 0 s rings nothing").with_code(2));
                }
                self.alarm = 1;
                Ok(())
            }
        }
    };
}

ring_alarm!(package);
ring_alarm!(api);
#[cfg(shared_package)]
ring_alarm!(shared);

mod greenhouse_commands {
    use super::greenhouse::{climate, device_info, irrigation};
    use super::{CommandError, EventTime};

    impl climate::ClimateCommands for climate::Climate {
        async fn calibrate(
            &mut self,
            paras: climate::Calibrate,
        ) -> Result<climate::CalibrateResponse, CommandError> {
            let sensors = paras.sensors.unwrap_or_default();
            let done = u8::try_from(sensors.len()).map_err(CommandError::new)?;
            self.temperature += paras.offset;
            Ok(climate::CalibrateResponse {
                applied: paras.offset,
                sensors_done: done,
            })
        }
    }

    impl irrigation::IrrigationCommands for irrigation::Irrigation {
        async fn start_irrigation(
            &mut self,
            paras: irrigation::StartIrrigation,
        ) -> Result<irrigation::StartIrrigationResponse, CommandError> {
            use irrigation::{
                StartIrrigationRefusedReason as Reason, StartIrrigationResponse as Answer,
            };
            if self.valve_open {
                return Ok(Answer::Refused(irrigation::StartIrrigationRefused {
                    reason: Reason::Busy,
                    detail: Some(format!("already watering {}", self.zone)),
                }));
            }
            self.valve_open = true;
            self.zone = match paras.zone {
                irrigation::StartIrrigationZone::North => "north",
                irrigation::StartIrrigationZone::South => "south",
                irrigation::StartIrrigationZone::EastWing => "east-wing",
                irrigation::StartIrrigationZone::_1stFloor => "1st floor",
            }
            .to_string();
            let ends_at = EventTime::parse("20300101T000000Z").map_err(CommandError::new)?;
            Ok(Answer::Started(irrigation::StartIrrigationStarted {
                ends_at,
            }))
        }

        async fn stop(&mut self) -> Result<(), CommandError> {
            self.valve_open = false;
            Ok(())
        }
    }

    impl device_info::DeviceInfoCommands for device_info::DeviceInfo {
        async fn reboot(
            &mut self,
            paras: device_info::Reboot,
        ) -> Result<device_info::RebootResponse, CommandError> {
            let mode = if paras.force {
                device_info::RebootResponseMode::Cold
            } else {
                device_info::RebootResponseMode::Warm
            };
            Ok(device_info::RebootResponse {
                r#type: self.r#type.clone(),
                mode: Some(mode),
            })
        }

        async fn self_(&mut self) -> Result<(), CommandError> {
            self.self_ = "rebooted".to_string();
            Ok(())
        }
    }
}

impl exported::thermostat::ThermostatCommands for exported::thermostat::Thermostat {
    async fn boost(&mut self, paras: exported::thermostat::Boost) -> Result<(), CommandError> {
        self.heating = paras.minutes > 0;
        Ok(())
    }

    async fn reset(&mut self) -> Result<(), CommandError> {
        *self = Self::default();
        Ok(())
    }
}

impl long_bounds::counter::CounterCommands for long_bounds::counter::Counter {
    async fn reset_to(&mut self, paras: long_bounds::counter::ResetTo) -> Result<(), CommandError> {
        self.total = paras.value.max(paras.floor.unwrap_or(i64::MIN));
        Ok(())
    }
}
