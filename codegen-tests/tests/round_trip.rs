//! The reverse direction: a derived service exports its product model
//! (`fixtures/exported_thermostat.json` is that export, checked here), the
//! generator turns it into code (`build.rs`), and that code exports the same
//! model again. The models of `models/` come back too, up to what the
//! runtime cannot export.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "the helpers of a test fail it by panicking"
)]

use std::path::{Path, PathBuf};

use iot_sdk::prelude::*;
use iot_sdk::protocol::model::ServiceCapability;
use iot_sdk::service::capability;
use iot_sdk_codegen_tests::{api, exported, greenhouse, package};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::Value;

/// A thermostat written by hand, using what the derive offers.
#[derive(IotService, Default)]
#[iot(service_id = "thermostat")]
struct Thermostat {
    /// Target temperature.
    #[property(
        name = "setpoint",
        writeable,
        min = 5.0,
        max = 35.0,
        step = 0.5,
        unit = "°C"
    )]
    setpoint: f64,
    /// Measured temperature.
    #[property(min = -40, max = 85)]
    temperature: f64,
    /// Relative humidity.
    #[property(min = 0, max = 100, unit = "%")]
    humidity: u8,
    /// Heating mode.
    #[property(writeable, enum_list = ["eco", "comfort", "off"])]
    mode: String,
    /// A name for the room.
    #[property(writeable, max_length = 16)]
    room_label: Option<String>,
    /// Zones it heats.
    zones: Vec<String>,
    /// Vendor settings.
    settings: Option<Value>,
    /// When it was set up.
    installed: Option<iot_sdk::protocol::EventTime>,
    /// Whether the burner runs.
    heating: bool,
    /// Seconds of burner time.
    runtime: i64,
    /// Not a property.
    #[property(skip)]
    _boosts: u32,
}

/// Parameters of `boost`.
#[allow(
    dead_code,
    reason = "read by the command; the fields document the model"
)]
#[derive(Deserialize, JsonSchema)]
struct Boost {
    /// Minutes of boost.
    minutes: u16,
    /// Degrees above the setpoint.
    delta: Option<f64>,
    /// Who asked.
    #[schemars(length(max = 8))]
    origin: String,
    /// How hard.
    level: Level,
    /// When it was asked, in ms since the epoch.
    at: i64,
}

#[derive(Deserialize, JsonSchema)]
enum Level {
    #[serde(rename = "low")]
    Low,
    #[serde(rename = "high")]
    High,
}

#[commands]
impl Thermostat {
    #[command(name = "boost")]
    async fn boost(&mut self, paras: Boost) -> Result<(), CommandError> {
        self.heating = matches!(paras.level, Level::High | Level::Low);
        Ok(())
    }

    #[command(name = "reset")]
    fn reset(&mut self) {}
}

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/exported_thermostat.json")
}

fn json(service: &ServiceCapability) -> Value {
    serde_json::to_value(service).unwrap()
}

#[test]
fn the_fixture_is_what_the_derived_service_exports() {
    let exported = json(&capability::<Thermostat>());
    let text = std::fs::read_to_string(fixture()).unwrap();
    let stored: Value = serde_json::from_str(&text).unwrap();
    if std::env::var_os("UPDATE_FIXTURES").is_some() && stored != exported {
        std::fs::write(
            fixture(),
            serde_json::to_string_pretty(&exported).unwrap() + "\n",
        )
        .unwrap();
    }
    assert_eq!(
        stored,
        exported,
        "the derive exports differently now: run with UPDATE_FIXTURES=1 to store\n{}",
        serde_json::to_string_pretty(&exported).unwrap()
    );
}

#[test]
fn code_generated_from_an_export_exports_the_same_model() {
    let text = std::fs::read_to_string(fixture()).unwrap();
    let stored: Value = serde_json::from_str(&text).unwrap();
    let regenerated = json(&capability::<exported::thermostat::Thermostat>());
    assert_eq!(regenerated, stored);
    // And through the generator's own reading, the same checked model.
    let read = |bytes: &[u8]| {
        iot_sdk_codegen::load_json("exported", bytes)
            .unwrap()
            .model
            .services
    };
    assert_eq!(
        read(regenerated.to_string().as_bytes()),
        read(text.as_bytes())
    );
}

/// A model as the runtime can export it: no responses, events or
/// defaults; `method` only says whether it is writeable.
fn exportable(mut service: iot_sdk_codegen::Service) -> iot_sdk_codegen::Service {
    service.service_type = service.service_id.clone();
    service.option = Some("Optional".into());
    service.events.clear();
    for property in &mut service.properties {
        property.default_value = None;
        property.access.read = true;
        property.access.event = false;
    }
    for command in &mut service.commands {
        command.responses.clear();
    }
    service.commands.sort_by(|a, b| a.name.cmp(&b.name));
    service
}

/// The checked model `capability` of the generated type gives.
fn exported_model(capability: ServiceCapability) -> iot_sdk_codegen::Service {
    let bytes = serde_json::to_vec(&capability).unwrap();
    let mut services = iot_sdk_codegen::load_json("exported", &bytes)
        .unwrap()
        .model
        .services;
    services.remove(0)
}

fn model_services(name: &str) -> Vec<iot_sdk_codegen::Service> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../models")
        .join(name);
    iot_sdk_codegen::load(&path).unwrap().model.services
}

#[test]
fn the_models_come_back_from_their_generated_code() {
    let smoke = model_services("smokeDetector").remove(0);
    let from_package = exported_model(capability::<package::smoke_detector::SmokeDetector>());
    assert_eq!(from_package, exportable(smoke.clone()));
    let from_api = exported_model(capability::<api::smoke_detector::SmokeDetector>());
    assert_eq!(from_api, exportable(smoke));

    let services = model_services("greenhouse.json");
    let exported = [
        exported_model(capability::<greenhouse::climate::Climate>()),
        exported_model(capability::<greenhouse::irrigation::Irrigation>()),
        exported_model(capability::<greenhouse::device_info::DeviceInfo>()),
    ];
    for (service, exported) in services.into_iter().zip(exported) {
        assert_eq!(exported, exportable(service));
    }
}
