//! Settings, read from environment variables through a lookup function so tests never touch the
//! process environment. An empty variable counts as unset (SAM passes empty parameters that way).

use std::num::NonZeroUsize;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use thiserror::Error;

use crate::domain::policy::Method;
use crate::ecs::pace::Pacing;

mod settings;
pub use settings::*;

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

/// `LAMBDA_FUNCTIONS`: whether container-image Lambda functions follow pushes as services do. The stack grants
/// the Lambda calls only when enabled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LambdaFunctions {
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
    /// `LAMBDA_FUNCTIONS`: whether image functions on the pushed image are updated too.
    pub lambda_functions: LambdaFunctions,
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
    /// `WAVE_TAG_KEY`: the service tag that puts a service in a wave of a staged rollout.
    pub wave_tag_key: String,
    /// `WAVE_BAKE`: how long a completed wave bakes before the next one starts.
    pub wave_bake: Duration,
    /// `WAVE_QUEUE`: the queue URL a bake's wake is sent to; `None`: bakes end at the sweep.
    pub wave_queue: Option<String>,
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid {variable}=`{value}`: expected {expected}")]
pub struct ConfigError {
    pub variable: &'static str,
    pub value: String,
    pub expected: String,
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|key| std::env::var(key).ok())
    }

    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        // AWS reserves the prefix in any case.
        let tag_key = vars.text(&TAG_KEY, |key| {
            key.len() <= 128 && !key.to_ascii_lowercase().starts_with("aws:")
        })?;
        let select = vars.choice(&SELECT, [Select::Matching, Select::OptedIn])?;
        let clusters = match vars.get(&CLUSTERS) {
            None => ClusterScope::All,
            Some(list) => {
                let names: Vec<String> = list
                    .split(',')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned)
                    .collect();
                if names.iter().any(|c| !is_cluster_name_or_arn(c)) {
                    return Err(invalid(&CLUSTERS, &list));
                }
                ClusterScope::Listed(names)
            }
        };
        let max_concurrency = vars.number(&MAX_CONCURRENCY, 1..=64)?;
        let mode = vars.choice(&DRY_RUN, [Mode::Plan, Mode::Apply])?;
        let default_method = vars.choice(&DEFAULT_ACTION, [Method::Force, Method::Pin])?;
        let new_revisions = vars.choice(&NEW_REVISIONS, [NewRevisions::Enabled, NewRevisions::Disabled])?;
        let lambda_functions = vars.choice(&LAMBDA_FUNCTIONS, [LambdaFunctions::Enabled, LambdaFunctions::Disabled])?;
        let lock_table = vars.optional(&LOCK_TABLE, is_table_name)?;
        let retry_mode = vars.choice(&RETRY_MODE, [RetryMode::Standard, RetryMode::Adaptive])?;
        let max_attempts = vars.number(&MAX_ATTEMPTS, 1..=10)?;
        let pacing = vars.choice(&ECS_PACING, [Pacing::Documented, Pacing::Off])?;
        let metrics_namespace = vars.text(&METRICS_NAMESPACE, is_metrics_namespace)?;
        let notify_bus = vars.optional(&NOTIFY_BUS, is_event_bus)?;
        // One tag cannot both opt a service in or out and name its wave.
        let wave_tag_key = vars.text(&WAVE_TAG_KEY, |key| {
            key.len() <= 128 && !key.to_ascii_lowercase().starts_with("aws:") && key != tag_key
        })?;
        let wave_bake = Duration::from_secs(vars.number(&WAVE_BAKE, 0..=86_400)?);
        let wave_queue = vars.optional(&WAVE_QUEUE, is_queue_url)?;
        Ok(Config {
            tag_key,
            select,
            clusters,
            max_concurrency: NonZeroUsize::new(max_concurrency).expect("the range starts at 1"),
            mode,
            default_method,
            new_revisions,
            lambda_functions,
            lock_table,
            retry_mode,
            max_attempts,
            pacing,
            metrics_namespace,
            notify_bus,
            wave_tag_key,
            wave_bake,
            wave_queue,
        })
    }
}

/// The lookup function with an empty or blank variable counting as unset.
struct Vars<'f, F>(&'f F);

impl<F: Fn(&str) -> Option<String>> Vars<'_, F> {
    fn get(&self, setting: &Setting) -> Option<String> {
        (self.0)(setting.variable)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    /// One of the setting's words; `values` are theirs, in the same order.
    fn choice<T: Copy, const N: usize>(&self, setting: &'static Setting, values: [T; N]) -> Result<T, ConfigError> {
        let Accepts::OneOf(words) = setting.accepts else {
            unreachable!("{} is not a choice", setting.variable)
        };
        assert_eq!(words.len(), N, "{}: one value per word", setting.variable);
        let pick = |word: &str| words.iter().position(|w| *w == word).map(|i| values[i]);
        match self.get(setting) {
            None => Ok(pick(default_value(setting)).expect("the default is one of the words")),
            Some(value) => pick(&value).ok_or_else(|| invalid(setting, &value)),
        }
    }

    /// A whole number in `range`, the setting's default when unset.
    fn number<T: FromStr + PartialOrd>(
        &self,
        setting: &'static Setting,
        range: RangeInclusive<T>,
    ) -> Result<T, ConfigError> {
        let value = self.get(setting).unwrap_or_else(|| default_value(setting).to_owned());
        value
            .parse::<T>()
            .ok()
            .filter(|n| range.contains(n))
            .ok_or_else(|| invalid(setting, &value))
    }

    /// A value `valid` accepts, the setting's default when unset.
    fn text(&self, setting: &'static Setting, valid: impl Fn(&str) -> bool) -> Result<String, ConfigError> {
        Ok(self
            .optional(setting, valid)?
            .unwrap_or_else(|| default_value(setting).to_owned()))
    }

    /// A value `valid` accepts, or none.
    fn optional(&self, setting: &'static Setting, valid: impl Fn(&str) -> bool) -> Result<Option<String>, ConfigError> {
        match self.get(setting) {
            Some(value) if !valid(&value) => Err(invalid(setting, &value)),
            value => Ok(value),
        }
    }
}

fn default_value(setting: &Setting) -> &'static str {
    match setting.default {
        WhenUnset::Value(value) => value,
        WhenUnset::Means(_) => unreachable!("{} has no default value", setting.variable),
    }
}

fn invalid(setting: &'static Setting, value: &str) -> ConfigError {
    ConfigError {
        variable: setting.variable,
        value: value.to_owned(),
        expected: setting.expected(),
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
/// `http(s)://HOST/ACCOUNT/NAME`: a 12-digit account and a queue name (1-80 letters, digits, `-`, `_`, `.fifo`).
fn is_queue_url(value: &str) -> bool {
    let Some(rest) = value.strip_prefix("https://").or_else(|| value.strip_prefix("http://")) else {
        return false;
    };
    match rest.split('/').collect::<Vec<_>>()[..] {
        [host, account, name] => {
            !host.is_empty()
                && !host.contains(char::is_whitespace)
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && (1..=80).contains(&name.len())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        }
        _ => false,
    }
}

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
mod tests;
