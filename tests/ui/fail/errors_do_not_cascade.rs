//! A misuse in the derive gives its one error: the stub impl keeps the
//! service's uses and its commands compiling.
use iot_sdk::prelude::*;

#[derive(IotService, Default)]
struct Meter {
    #[property(min = 0, writable)]
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    fn reset(&mut self) {
        self.reading = 0;
    }
}

fn main() {
    let mut meter = Meter::default();
    let _ = Meter::info().service_id;
    let _ = meter.read_property(0);
    meter.reset();
}
