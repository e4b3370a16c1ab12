use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
    #[property(skip, name = "cache", writeable)]
    cache: Vec<u8>,
}

fn main() {}
