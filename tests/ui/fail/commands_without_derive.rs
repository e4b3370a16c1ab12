use iot_sdk::prelude::*;

struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    fn reset(&mut self) {
        self.reading = 0;
    }
}

fn main() {}
