use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(write_with = Self::set_reading)]
    reading: i32,
}

impl Meter {
    fn set_reading(&mut self, reading: i32) {
        self.reading = reading;
    }
}

fn main() {}
