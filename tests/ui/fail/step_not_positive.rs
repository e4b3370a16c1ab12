use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(step = -0.5)]
    reading: f64,
}

fn main() {}
