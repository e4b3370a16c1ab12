use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    fn reset(self) {}

    #[command]
    fn stop(self: Box<Self>) {}
}

fn main() {}
