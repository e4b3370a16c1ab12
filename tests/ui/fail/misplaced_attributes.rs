use iot_sdk::prelude::*;

#[derive(IotService)]
#[property(writeable)]
struct Meter {
    #[iot(service_id = "meter")]
    reading: i32,
}

fn main() {}
