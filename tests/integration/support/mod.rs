pub mod fleet;
pub mod moto;
