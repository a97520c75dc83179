//! Settings, read from environment variables through a lookup function so tests never touch the
//! process environment. An empty variable counts as unset (SAM passes empty parameters that way).

use std::num::NonZeroUsize;

use thiserror::Error;

use crate::domain::policy::Method;
use crate::ecs::pace::Pacing;

pub const DEFAULT_TAG_KEY: &str = "ecs-redeploy";
pub const DEFAULT_METRICS_NAMESPACE: &str = "ecs-redeploy";
const DEFAULT_MAX_CONCURRENCY: usize = 8;
const MAX_CONCURRENCY_LIMIT: usize = 64;
const DEFAULT_MAX_ATTEMPTS: u32 = 5;
const MAX_ATTEMPTS_LIMIT: u32 = 10;

/// Which services a matching push may touch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Select {
    /// Every matching service, unless its tag says `off`.
    Matching,
    /// Only services whose tag is present with a value other than `off`.
    OptedIn,
}

/// Whether changes are made: `apply`, or `plan` (decide, report and log only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    Apply,
    Plan,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Apply => "apply",
            Mode::Plan => "plan",
        }
    }
}

/// `NEW_REVISIONS`: whether services may get new task-definition revisions (pin mode, tag policies). The stack
/// grants `ecs:RegisterTaskDefinition` only with `NewRevisions=Enabled`; disabled, such a service is a skip.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewRevisions {
    Enabled,
    Disabled,
}

/// Which clusters are searched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClusterScope {
    All,
    /// Names or ARNs, as given.
    Listed(Vec<String>),
}

/// The SDK's retry strategy; retries are the SDK's job, never a hand-written loop. Adaptive by
/// default: its client-side rate limiter paces calls once ECS throttles, so a large fleet's
/// backlog waits instead of exhausting its attempts (measured in `make bench`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RetryMode {
    Standard,
    /// Standard plus client-side rate limiting when throttled.
    Adaptive,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub tag_key: String,
    pub select: Select,
    pub clusters: ClusterScope,
    pub max_concurrency: NonZeroUsize,
    /// `DRY_RUN=true` makes `apply` a plan.
    pub mode: Mode,
    /// `DEFAULT_ACTION`: the method for services whose tag does not choose one.
    pub default_method: Method,
    /// `NEW_REVISIONS`: whether a service may get a new task-definition revision.
    pub new_revisions: NewRevisions,
    /// DynamoDB table that makes concurrent duplicates of one push deploy once; `None`: no lock.
    pub lock_table: Option<String>,
    pub retry_mode: RetryMode,
    pub max_attempts: u32,
    /// `ECS_PACING`: ECS calls wait for the documented throttle buckets, or are left to the SDK's retries.
    pub pacing: Pacing,
    /// `METRICS_NAMESPACE`: the CloudWatch namespace of the per-invocation metrics record.
    pub metrics_namespace: String,
    /// `NOTIFY_BUS`: the EventBridge bus (name or ARN) that hears of each redeployed or failed service;
    /// `None`: no notifications.
    pub notify_bus: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid {variable}=`{value}`: expected {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let tag_key = match vars.get("TAG_KEY") {
            None => DEFAULT_TAG_KEY.to_owned(),
            // AWS reserves the prefix in any case.
            Some(key) if key.len() <= 128 && !key.to_ascii_lowercase().starts_with("aws:") => key,
            Some(key) => {
                return Err(invalid(
                    "TAG_KEY",
                    &key,
                    "a tag key of 1-128 characters not starting with `aws:` (in any case)",
                ));
            }
        };
        let select = vars.choice(
            "SELECT",
            &[("matching", Select::Matching), ("opted-in", Select::OptedIn)],
            "`matching` or `opted-in`",
        )?;
        let clusters = match vars.get("CLUSTERS") {
            None => ClusterScope::All,
            Some(list) => {
                let names: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.iter().any(|c| !is_cluster_name_or_arn(c)) {
                    return Err(invalid(
                        "CLUSTERS",
                        &list,
                        "comma-separated cluster names (letters, digits, `-`, `_`) or cluster ARNs",
                    ));
                }
                ClusterScope::Listed(names)
            }
        };
        let max_concurrency = vars.number(
            "MAX_CONCURRENCY",
            DEFAULT_MAX_CONCURRENCY,
            1..=MAX_CONCURRENCY_LIMIT,
            "a whole number from 1 to 64",
        )?;
        let mode = vars.choice(
            "DRY_RUN",
            &[("false", Mode::Apply), ("true", Mode::Plan)],
            "`true` or `false`",
        )?;
        let default_method = vars.choice(
            "DEFAULT_ACTION",
            &[("force", Method::Force), ("pin", Method::Pin)],
            "`force` or `pin`",
        )?;
        let new_revisions = vars.choice(
            "NEW_REVISIONS",
            &[("enabled", NewRevisions::Enabled), ("disabled", NewRevisions::Disabled)],
            "`enabled` or `disabled`",
        )?;
        let lock_table = match vars.get("LOCK_TABLE") {
            None => None,
            Some(name) if is_table_name(&name) => Some(name),
            Some(name) => {
                return Err(invalid(
                    "LOCK_TABLE",
                    &name,
                    "a DynamoDB table name (3-255 letters, digits, `_`, `-`, `.`) or its ARN",
                ));
            }
        };
        let retry_mode = vars.choice(
            "RETRY_MODE",
            &[("adaptive", RetryMode::Adaptive), ("standard", RetryMode::Standard)],
            "`standard` or `adaptive`",
        )?;
        let max_attempts = vars.number(
            "MAX_ATTEMPTS",
            DEFAULT_MAX_ATTEMPTS,
            1..=MAX_ATTEMPTS_LIMIT,
            "a whole number from 1 to 10",
        )?;
        let pacing = vars.choice(
            "ECS_PACING",
            &[("documented", Pacing::Documented), ("off", Pacing::Off)],
            "`documented` or `off`",
        )?;
        let metrics_namespace = match vars.get("METRICS_NAMESPACE") {
            None => DEFAULT_METRICS_NAMESPACE.to_owned(),
            Some(namespace) if is_metrics_namespace(&namespace) => namespace,
            Some(namespace) => {
                return Err(invalid(
                    "METRICS_NAMESPACE",
                    &namespace,
                    "a CloudWatch namespace (1-255 letters, digits, spaces, `. - _ / # :`, not starting with `AWS/`)",
                ));
            }
        };
        let notify_bus = match vars.get("NOTIFY_BUS") {
            None => None,
            Some(bus) if is_event_bus(&bus) => Some(bus),
            Some(bus) => {
                return Err(invalid(
                    "NOTIFY_BUS",
                    &bus,
                    "an EventBridge event bus name (1-256 letters, digits, `.`, `-`, `_`, `/`) or its ARN \
                     (`arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`)",
                ));
            }
        };
        Ok(Config {
            tag_key,
            select,
            clusters,
            max_concurrency: NonZeroUsize::new(max_concurrency).expect("the range starts at 1"),
            mode,
            default_method,
            new_revisions,
            lock_table,
            retry_mode,
            max_attempts,
            pacing,
            metrics_namespace,
            notify_bus,
        })
    }
}

/// The lookup function with an empty or blank variable counting as unset.
struct Vars<'f, F>(&'f F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn get(&self, variable: &str) -> Option<String> {
        (self.0)(variable)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// One of `choices` (the first is the default when unset).
    fn choice<T: Copy>(
        &self,
        variable: &'static str,
        choices: &[(&str, T)],
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        match self.get(variable) {
            None => Ok(choices[0].1),
            Some(value) => choices
                .iter()
                .find(|(name, _)| *name == value)
                .map(|(_, choice)| *choice)
                .ok_or_else(|| invalid(variable, &value, expected)),
        }
    }

    /// A whole number in `range`, `default` when unset.
    fn number<T: std::str::FromStr + PartialOrd>(
        &self,
        variable: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        expected: &'static str,
    ) -> Result<T, ConfigError> {
        match self.get(variable) {
            None => Ok(default),
            Some(value) => value
                .parse::<T>()
                .ok()
                .filter(|n| range.contains(n))
                .ok_or_else(|| invalid(variable, &value, expected)),
        }
    }
}

fn invalid(variable: &'static str, value: &str, expected: &'static str) -> ConfigError {
    ConfigError {
        variable,
        value: value.to_owned(),
        expected,
    }
}

fn is_metrics_namespace(value: &str) -> bool {
    (1..=255).contains(&value.len())
        && !value.starts_with("AWS/")
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, ' ' | '.' | '-' | '_' | '/' | '#' | ':'))
}

fn is_table_name(value: &str) -> bool {
    let name = match value.strip_prefix("arn:") {
        Some(rest) => match rest.split(':').nth(4).and_then(|r| r.strip_prefix("table/")) {
            Some(name) => name,
            None => return false,
        },
        None => value,
    };
    (3..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// A bus name, or an event-bus ARN: `PutEvents` takes either in `EventBusName`. A name of another account's
/// bus would name this account's bus of that name; its ARN reaches the other account.
fn is_event_bus(value: &str) -> bool {
    let name = match value.strip_prefix("arn:") {
        Some(rest) => {
            let parts: Vec<&str> = rest.splitn(5, ':').collect();
            match parts[..] {
                [partition, "events", region, account, resource]
                    if partition.starts_with("aws")
                        && !region.is_empty()
                        && region
                            .bytes()
                            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                        && account.len() == 12
                        && account.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    match resource.strip_prefix("event-bus/") {
                        Some(name) => name,
                        None => return false,
                    }
                }
                _ => return false,
            }
        }
        None => value,
    };
    (1..=256).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_'))
}

fn is_cluster_name_or_arn(value: &str) -> bool {
    if let Some(rest) = value.strip_prefix("arn:") {
        return rest.split(':').nth(4).is_some_and(|r| r.starts_with("cluster/"));
    }
    (1..=255).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_lookup(|key| vars.iter().find(|(k, _)| *k == key).map(|(_, v)| (*v).to_owned()))
    }

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.tag_key, "ecs-redeploy");
        assert_eq!(c.select, Select::Matching);
        assert_eq!(c.clusters, ClusterScope::All);
        assert_eq!(c.max_concurrency.get(), 8);
        assert_eq!(c.mode, Mode::Apply);
        assert_eq!(c.default_method, Method::Force);
        assert_eq!(c.new_revisions, NewRevisions::Enabled);
        assert_eq!(c.lock_table, None);
        assert_eq!(c.retry_mode, RetryMode::Adaptive);
        assert_eq!(c.max_attempts, 5);
        assert_eq!(c.pacing, Pacing::Documented);
        assert_eq!(c.metrics_namespace, "ecs-redeploy");
        assert_eq!(c.notify_bus, None);
        assert_eq!(
            config(&[("SELECT", ""), ("CLUSTERS", "  "), ("NOTIFY_BUS", "")]).unwrap(),
            c
        );
    }

    #[test]
    fn reads_every_setting() {
        let c = config(&[
            ("TAG_KEY", "deploy"),
            ("SELECT", "opted-in"),
            ("CLUSTERS", "prod, arn:aws:ecs:us-east-1:123456789012:cluster/stage,"),
            ("MAX_CONCURRENCY", "16"),
            ("DRY_RUN", "true"),
            ("DEFAULT_ACTION", "pin"),
            ("NEW_REVISIONS", "disabled"),
            ("LOCK_TABLE", "ecs-redeploy-locks"),
            ("RETRY_MODE", "standard"),
            ("MAX_ATTEMPTS", "3"),
            ("ECS_PACING", "off"),
            ("METRICS_NAMESPACE", "Team/ecs-redeploy"),
            ("NOTIFY_BUS", "default"),
        ])
        .unwrap();
        assert_eq!(c.tag_key, "deploy");
        assert_eq!(c.select, Select::OptedIn);
        assert_eq!(
            c.clusters,
            ClusterScope::Listed(vec![
                "prod".into(),
                "arn:aws:ecs:us-east-1:123456789012:cluster/stage".into()
            ])
        );
        assert_eq!(c.max_concurrency.get(), 16);
        assert_eq!(c.mode, Mode::Plan);
        assert_eq!(c.default_method, Method::Pin);
        assert_eq!(c.new_revisions, NewRevisions::Disabled);
        assert_eq!(c.lock_table.as_deref(), Some("ecs-redeploy-locks"));
        assert_eq!(c.retry_mode, RetryMode::Standard);
        assert_eq!(c.max_attempts, 3);
        assert_eq!(c.pacing, Pacing::Off);
        assert_eq!(c.metrics_namespace, "Team/ecs-redeploy");
        assert_eq!(c.notify_bus.as_deref(), Some("default"));
    }

    #[test]
    fn notify_bus_is_a_bus_name_or_an_event_bus_arn() {
        for bus in [
            "default",
            "team.deployments-2_x",
            "aws.partner/example.com/123/feed",
            "arn:aws:events:us-east-1:123456789012:event-bus/default",
            "arn:aws-cn:events:cn-north-1:123456789012:event-bus/deployments",
            "arn:aws-us-gov:events:us-gov-west-1:123456789012:event-bus/aws.partner/x/y",
            &"b".repeat(256),
        ] {
            assert_eq!(config(&[("NOTIFY_BUS", bus)]).unwrap().notify_bus.as_deref(), Some(bus));
        }
        for bus in [
            "my bus",
            "bus:1",
            "bus*",
            &"b".repeat(257),
            "arn:aws:events:us-east-1:123456789012:rule/default",
            "arn:aws:sns:us-east-1:123456789012:event-bus/default",
            "arn:aws:events:us-east-1:1234:event-bus/default",
            "arn:aws:events::123456789012:event-bus/default",
            "arn:aws:events:us-east-1:123456789012:event-bus/",
            "arn:aws:events:us-east-1:123456789012:event-bus/a:b",
            "arn:aws:events:us-east-1:123456789012",
        ] {
            let error = config(&[("NOTIFY_BUS", bus)]).unwrap_err();
            assert_eq!(error.variable, "NOTIFY_BUS", "{bus}");
        }
    }

    #[test]
    fn errors_name_the_variable_and_accepted_values() {
        let cases = [
            (
                ("SELECT", "all"),
                "invalid SELECT=`all`: expected `matching` or `opted-in`",
            ),
            (
                ("NEW_REVISIONS", "Enabled"),
                "invalid NEW_REVISIONS=`Enabled`: expected `enabled` or `disabled`",
            ),
            (
                ("MAX_CONCURRENCY", "eight"),
                "invalid MAX_CONCURRENCY=`eight`: expected a whole number from 1 to 64",
            ),
            (
                ("MAX_CONCURRENCY", "0"),
                "invalid MAX_CONCURRENCY=`0`: expected a whole number from 1 to 64",
            ),
            (
                ("MAX_CONCURRENCY", "65"),
                "invalid MAX_CONCURRENCY=`65`: expected a whole number from 1 to 64",
            ),
            (("DRY_RUN", "yes"), "invalid DRY_RUN=`yes`: expected `true` or `false`"),
            (
                ("RETRY_MODE", "legacy"),
                "invalid RETRY_MODE=`legacy`: expected `standard` or `adaptive`",
            ),
            (
                ("MAX_ATTEMPTS", "11"),
                "invalid MAX_ATTEMPTS=`11`: expected a whole number from 1 to 10",
            ),
            (
                ("ECS_PACING", "on"),
                "invalid ECS_PACING=`on`: expected `documented` or `off`",
            ),
            (
                ("METRICS_NAMESPACE", "AWS/ECS"),
                "invalid METRICS_NAMESPACE=`AWS/ECS`: expected a CloudWatch namespace (1-255 letters, digits, spaces, `. - _ / # :`, not starting with `AWS/`)",
            ),
            (
                ("NOTIFY_BUS", "my bus"),
                "invalid NOTIFY_BUS=`my bus`: expected an EventBridge event bus name (1-256 letters, digits, `.`, `-`, `_`, `/`) or its ARN (`arn:PARTITION:events:REGION:ACCOUNT:event-bus/NAME`)",
            ),
            (
                ("TAG_KEY", "aws:x"),
                "invalid TAG_KEY=`aws:x`: expected a tag key of 1-128 characters not starting with `aws:` (in any case)",
            ),
            (
                ("TAG_KEY", "AWS:team"),
                "invalid TAG_KEY=`AWS:team`: expected a tag key of 1-128 characters not starting with `aws:` (in any case)",
            ),
            (
                ("CLUSTERS", "prod,bad name"),
                "invalid CLUSTERS=`prod,bad name`: expected comma-separated cluster names (letters, digits, `-`, `_`) or cluster ARNs",
            ),
            (
                ("CLUSTERS", "arn:aws:ecs:us-east-1:123456789012:service/x/y"),
                "invalid CLUSTERS=`arn:aws:ecs:us-east-1:123456789012:service/x/y`: expected comma-separated cluster names (letters, digits, `-`, `_`) or cluster ARNs",
            ),
        ];
        for ((key, value), message) in cases {
            assert_eq!(config(&[(key, value)]).unwrap_err().to_string(), message);
        }
    }
}
