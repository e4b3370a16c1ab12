use iot_sdk::prelude::*;

#[derive(IotService)]
enum Mode {
    Low,
    High,
}

fn main() {}
