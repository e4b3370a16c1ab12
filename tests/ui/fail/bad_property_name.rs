use iot_sdk::prelude::*;

#[derive(IotService)]
struct Meter {
    #[property(name = "")]
    empty: i32,
    #[property(name = "reading.value")]
    dotted: i32,
    #[property(name = "$reading")]
    dollar: i32,
    a_property_name_that_is_much_longer_than_the_sixty_four_characters_iotda_allows: i32,
}

fn main() {}
