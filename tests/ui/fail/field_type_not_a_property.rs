use iot_sdk::prelude::*;

struct Calibration {
    offset: f64,
}

#[derive(IotService)]
struct Meter {
    reading: i32,
    #[property(writeable)]
    calibration: Calibration,
}

fn main() {}
