use iot_sdk::prelude::*;

#[derive(IotService)]
union Bits {
    int: u32,
    float: f32,
}

fn main() {}
