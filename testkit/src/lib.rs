//! Test and bench support for ecs-redeploy, shared by `tests/` and `benches/`: a moto server per test
//! ([`moto`]), the strict ECS front that makes moto page, limit, throttle and fail like ECS ([`front`]),
//! seeded fleets ([`fleet`]) and moto behind the front ([`harness`]). Never part of the Lambda.

pub mod fleet;
pub mod front;
pub mod functions;
pub mod harness;
pub mod moto;
pub mod registry;
pub mod request_log;
pub mod sqs;
