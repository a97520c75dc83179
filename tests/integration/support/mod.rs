pub mod fleet;
pub mod front;
pub mod harness;
pub mod moto;
