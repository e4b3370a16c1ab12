use iot_sdk::prelude::*;

#[derive(IotService)]
struct Reading(i32, f64);

fn main() {}
