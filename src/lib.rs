//! ecs-redeploy: redeploy the Amazon ECS services that run an image when it is pushed to Amazon ECR.
//!
//! `trigger` (Lambda events, the CLI) → `engine` (fleet → plan → execute) → `domain::report`;
//! `domain` is pure; `ecs` and `lock` are ports with their SDK adapters.

pub mod app;
pub mod config;
pub mod domain;
pub mod ecr;
pub mod ecs;
pub mod engine;
mod error_chain;
pub mod lambda;
pub mod lock;
pub mod notify;
pub mod trigger;
