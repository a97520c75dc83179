//! Integration tests: the real SDK client against a moto server started by the harness.

mod cli;
mod events;
mod front_tests;
mod scenarios;
mod support;
