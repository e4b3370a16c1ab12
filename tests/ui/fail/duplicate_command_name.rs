use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    fn reset_all(&mut self) {}

    #[command(name = "resetAll")]
    fn reset_everything(&mut self) {}
}

fn main() {}
