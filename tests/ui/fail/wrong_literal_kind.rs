use iot_sdk::prelude::*;

#[derive(IotService)]
#[iot(service_id = meter)]
struct Meter {
    #[property(min = "0")]
    reading: i32,
    #[property(writeable = 3)]
    target: i32,
    #[property(max_length = 1.5)]
    label: String,
}

fn main() {}
