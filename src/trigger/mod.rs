//! What starts a run: an SQS batch of EventBridge events or a bare EventBridge event through Lambda, or
//! the command line.

pub mod cli;
pub mod deployment;
pub mod eventbridge;
pub mod lambda;
pub mod metrics;
pub mod sqs;
