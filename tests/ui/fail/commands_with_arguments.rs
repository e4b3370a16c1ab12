use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands(service = "meter")]
impl Meter {
    #[command]
    fn reset(&mut self) {}
}

fn main() {}
