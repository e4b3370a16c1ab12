use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command(name = "reset", timeout = 5)]
    fn reset(&mut self) {}
}

fn main() {}
