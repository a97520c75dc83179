//! What starts a run: an EventBridge event through Lambda, or the command line.

pub mod cli;
pub mod eventbridge;
pub mod lambda;
