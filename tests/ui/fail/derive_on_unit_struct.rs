use iot_sdk::prelude::*;

#[derive(IotService)]
struct Beacon;

fn main() {}
