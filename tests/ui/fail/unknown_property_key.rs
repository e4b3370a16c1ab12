use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(writable)]
    reading: i32,
}

fn main() {}
