use iot_sdk::prelude::*;

#[derive(IotService)]
#[iot(service_id = "meter", service_type = "Meter")]
struct Meter {
    reading: i32,
}

fn main() {}
