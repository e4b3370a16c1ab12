use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(read_with = Self::sample)]
    reading: i32,
}

impl Meter {
    fn sample(&mut self) -> f64 {
        0.5
    }
}

fn main() {}
