use iot_sdk::prelude::*;

#[commands]
struct Meter {
    reading: i32,
}

fn main() {}
