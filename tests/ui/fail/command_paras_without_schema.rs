use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[derive(serde::Deserialize)]
struct Calibrate {
    offset: i32,
}

#[commands]
impl Meter {
    #[command]
    fn calibrate(&mut self, paras: Calibrate) {
        self.reading += paras.offset;
    }
}

fn main() {}
