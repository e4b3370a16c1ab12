use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    async fn read(&mut self) -> i32 {
        self.reading
    }
}

fn main() {}
