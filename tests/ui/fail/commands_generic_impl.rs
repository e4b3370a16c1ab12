use iot_sdk::prelude::*;

struct Meter<T> {
    reading: T,
}

#[commands]
impl<T: Send + 'static> Meter<T> {
    #[command]
    fn reset(&mut self) {}
}

fn main() {}
