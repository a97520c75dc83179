//! ecs-redeploy: redeploy the Amazon ECS services that run an image when it is pushed to Amazon ECR.

pub mod app;
pub mod cli;
pub mod config;
pub mod decide;
pub mod discover;
pub mod ecs;
pub mod ecs_sdk;
mod error_chain;
pub mod event;
pub mod handler;
pub mod image;
pub mod lock;
pub mod lock_dynamodb;
pub mod policy;
pub mod redeploy;
pub mod report;
