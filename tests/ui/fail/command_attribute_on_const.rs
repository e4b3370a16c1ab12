use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    const LIMIT: i32 = 10;

    #[command]
    #[command(name = "zero")]
    fn reset(&mut self) {}
}

fn main() {}
