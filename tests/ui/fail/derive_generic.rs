use iot_sdk::prelude::*;

#[derive(IotService)]
struct Sensor<T> {
    value: T,
}

fn main() {}
