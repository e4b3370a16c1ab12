use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(enum_list = [])]
    mode: String,
}

fn main() {}
