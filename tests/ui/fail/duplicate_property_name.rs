use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading_value: i32,
    #[property(name = "readingValue")]
    raw: i32,
}

fn main() {}
