//! Default names, `Option` fields, raw identifiers, hooks that are
//! closures or free functions, and services with nothing to write or
//! nothing at all: all without a warning in the user's crate.
#![deny(warnings)]

use iot_sdk::__private::{CommandRegistration, TypeId, inventory};
use iot_sdk::prelude::*;
use iot_sdk::service::DataType;
use serde_json::json;

#[derive(IotService, Default)]
struct AirSensor {
    smoke_concentration: Option<f64>,
    #[property(writeable, min = -1.5, max = 1e3)]
    set_point: Option<i64>,
    #[property(writeable, enum_list = ["a", "b"], max_length = 1)]
    r#type: Option<String>,
    #[property(read_with = |s: &mut Self| s.counter + 1)]
    counter: u32,
    #[property(read_with = twice)]
    level: u8,
    labels: Vec<String>,
    on: bool,
}

fn twice(sensor: &mut AirSensor) -> u8 {
    sensor.level * 2
}

/// A service with read-only properties only.
#[derive(IotService)]
struct ReadOnly {
    value: i32,
}

/// A service with commands only.
#[derive(IotService, Default)]
struct HTTPGateway {}

#[commands]
impl HTTPGateway {
    #[command]
    fn restart_now(&mut self) {}
}

fn main() {
    let info = AirSensor::info();
    assert_eq!(info.service_id, "airSensor");
    let names: Vec<_> = info.properties.iter().map(|p| p.name).collect();
    assert_eq!(
        names,
        [
            "smokeConcentration",
            "setPoint",
            "type",
            "counter",
            "level",
            "labels",
            "on"
        ]
    );
    let smoke = &info.properties[0];
    assert_eq!(
        (smoke.data_type, smoke.required),
        (DataType::Decimal, false)
    );
    let set_point = &info.properties[1];
    assert_eq!(
        (set_point.data_type, set_point.required),
        (DataType::Long, false)
    );
    assert_eq!(
        set_point.min.as_ref().map(|b| (b.text.as_ref(), b.value)),
        Some(("-1.5", -1.5))
    );
    assert_eq!(
        set_point.max.as_ref().map(|b| (b.text.as_ref(), b.value)),
        Some(("1e3", 1000.0))
    );
    assert_eq!(info.properties[5].data_type, DataType::StringList);
    assert_eq!(info.properties[6].data_type, DataType::Boolean);

    let mut sensor = AirSensor {
        level: 4,
        ..AirSensor::default()
    };
    assert_eq!(sensor.read_property(0), json!(null));
    assert_eq!(sensor.read_property(3), json!(1));
    assert_eq!(sensor.read_property(4), json!(8));

    let mut write = <AirSensor as IotService>::Write::default();
    AirSensor::stage_property(&mut write, 1, &json!(null)).unwrap();
    AirSensor::stage_property(&mut write, 2, &json!("b")).unwrap();
    assert!(AirSensor::stage_property(&mut write, 1, &json!(-2)).is_err());
    sensor.set_point = Some(5);
    sensor.apply_write(write);
    assert_eq!(sensor.set_point, None);
    assert_eq!(sensor.r#type.as_deref(), Some("b"));

    let mut read_only = ReadOnly { value: 3 };
    assert_eq!(read_only.read_property(0), json!(3));
    let mut write = <ReadOnly as IotService>::Write::default();
    assert!(ReadOnly::stage_property(&mut write, 0, &json!(1)).is_err());
    read_only.apply_write(write);

    assert_eq!(HTTPGateway::info().service_id, "httpGateway");
    assert!(HTTPGateway::info().properties.is_empty());
    let restart = inventory::iter::<CommandRegistration>
        .into_iter()
        .find(|c| (c.service_type)() == TypeId::of::<HTTPGateway>());
    assert_eq!(restart.map(|c| c.name), Some("restartNow"));
}
