use iot_sdk::prelude::*;

#[commands]
fn reset() {}

fn main() {
    reset();
}
