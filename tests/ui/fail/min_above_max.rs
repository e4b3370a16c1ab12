use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(min = 10, max = -1.5)]
    reading: f64,
}

fn main() {}
