use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(max_length = 8)]
    reading: i32,
}

fn main() {}
