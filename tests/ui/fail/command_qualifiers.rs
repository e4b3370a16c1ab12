use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    reading: i32,
}

#[commands]
impl Meter {
    #[command]
    const fn reset(&mut self) {}

    #[command]
    unsafe fn poke(&mut self) {}

    #[command]
    extern "C" fn ffi(&mut self) {}
}

fn main() {}
