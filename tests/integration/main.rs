//! Integration tests: the real SDK client against a moto server started by the harness.

mod cli;
mod events;
mod scenarios;
mod support;
