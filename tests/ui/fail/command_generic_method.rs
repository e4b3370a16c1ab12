use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    fn reset<T: Default>(&mut self) {}

    #[command]
    fn set(&mut self, _paras: impl serde::de::DeserializeOwned) {}
}

fn main() {}
