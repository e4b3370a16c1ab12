use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Default for Meter {
    fn default() -> Self {
        Meter { reading: 0 }
    }
}

fn main() {}
