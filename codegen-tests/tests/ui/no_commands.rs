// The commands are not implemented at all: the error says which trait to
// implement and with which methods.

mod model {
    include!("generated/smoke_detector.rs");
}

fn main() {}
