use iot_sdk::prelude::*;
use iot_sdk::service::{DataType, PropertyType};

/// A text property with its own type: not a number.
#[derive(serde::Serialize, serde::Deserialize)]
struct Label(String);

impl PropertyType for Label {
    const DATA_TYPE: DataType = DataType::String;
}

#[derive(IotService)]
struct Meter {
    #[property(min = 0, max_length = 4)]
    label: Label,
}

fn main() {}
