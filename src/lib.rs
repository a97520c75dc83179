//! ecs-redeploy: redeploy the Amazon ECS services that run an image when it is pushed to Amazon ECR.
//!
//! `trigger` (Lambda events, the CLI) → `engine` (fleet → plan → execute) → `report` → `notify`;
//! `domain` is pure; `ecs`, `ecr`, `lock` and `notify` are ports with their SDK adapters, which share `aws` (the SDK
//! configuration and the error of a failed call).

pub mod app;
pub mod aws;
pub mod config;
pub mod domain;
pub mod ecr;
pub mod ecs;
pub mod engine;
pub mod error_chain;
pub mod lambda;
pub mod lock;
pub mod notify;
pub mod report;
pub mod trigger;
pub mod wake;
