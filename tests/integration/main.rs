//! Integration tests: the real SDK client against a moto server started by the harness.

mod bad_input;
mod batches;
mod cli;
mod controllers;
mod cross_account;
mod digests;
mod events;
mod faults;
mod functions;
mod lock;
mod notifications;
mod outcomes;
mod pin_revision;
mod platforms;
mod properties;
mod safety;
mod scenarios;
mod support;
mod version_consistency;
mod waves;
