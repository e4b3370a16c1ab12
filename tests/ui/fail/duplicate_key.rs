use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(min = 0, max = 10, min = 1)]
    reading: i32,
    #[property(enum_list = ["a"], one_of = ["b"])]
    mode: String,
}

fn main() {}
