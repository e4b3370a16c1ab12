//! The struct (as codegen writes it) and its commands (hand-written) in
//! different modules, the commands in two impl blocks; no prelude glob.
#![deny(warnings)]

mod model {
    /// Generated from the product model.
    #[derive(iot_sdk::IotService, Default)]
    #[iot(service_id = "valve")]
    pub struct Valve {
        #[property(writeable, min = 0, max = 100, unit = "%")]
        pub opening: u8,
        #[property(skip)]
        pub moves: u32,
    }
}

mod handlers {
    use iot_sdk::{CommandError, commands};

    use super::model::Valve;

    #[derive(serde::Deserialize, schemars::JsonSchema)]
    pub struct Move {
        pub to: u8,
    }

    #[commands]
    impl Valve {
        /// Moves the valve.
        #[command(name = "move")]
        pub async fn move_to(&mut self, Move { to }: Move) -> Result<(), CommandError> {
            self.opening = to;
            self.moves += 1;
            Ok(())
        }
    }

    #[commands]
    impl super::model::Valve {
        #[command(name = "close")]
        fn close(&mut self) -> iot_sdk::CommandResponse {
            self.opening = 0;
            iot_sdk::CommandResponse::success()
        }
    }
}

fn main() {
    use iot_sdk::IotService;

    let capability = iot_sdk::service::capability::<model::Valve>();
    let commands: Vec<_> = capability
        .commands
        .iter()
        .map(|c| c.command_name.as_str())
        .collect();
    assert_eq!(commands, ["close", "move"]);
    assert_eq!(model::Valve::info().properties.len(), 1);
    let _ = handlers::Move { to: 1 }.to;
}
