use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(min = 0)]
    label: Option<String>,
}

fn main() {}
