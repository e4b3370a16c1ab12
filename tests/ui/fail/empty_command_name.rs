use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command(name = "")]
    fn reset(&mut self) {}
}

fn main() {}
