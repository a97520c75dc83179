pub mod fleet;
pub mod front;
pub mod harness;
pub mod moto;

use ecs_redeploy::config::Config;

/// The function's settings from `vars` alone, as `Config::from_lookup` reads them.
pub fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()))
        .expect("valid settings")
}
