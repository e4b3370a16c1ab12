use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    fn calibrate(&mut self, _offset: i32, _scale: f64, _label: String) {}
}

fn main() {}
