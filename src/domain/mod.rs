//! The pure domain: images, pushes, policies, the decision and its vocabulary (reasons, outcomes); the
//! `report` module renders them. No SDK, no async, no clock: time arrives as data.

pub mod decide;
pub mod function;
pub mod image;
pub mod outcome;
pub mod platform;
pub mod policy;
pub mod push;
pub mod reason;
pub mod rollout;
pub mod running;
pub mod wave;
