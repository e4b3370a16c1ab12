use iot_sdk::prelude::*;

#[derive(IotService)]
#[iot(service_id = "")]
struct Meter {
    reading: i32,
}

#[derive(IotService)]
struct AServiceWhoseNameIsMuchLongerThanTheSixtyFourCharactersIotdaAllows {
    reading: i32,
}

fn main() {}
