//! Staged rollouts: the services one pushed digest would redeploy, grouped by their wave tag, move wave by wave.
//! The lowest wave that does not run the digest yet is deployed; a later wave waits until every service of the
//! earlier waves runs it with a deployment ECS calls `SUCCESSFUL`, and `WAVE_BAKE` has passed since the last of
//! those completions; a failed deployment in an earlier wave halts every later wave. Pure: what each service
//! runs (from ECS) and the clock are inputs.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

/// The default wave tag key (`WAVE_TAG_KEY`).
pub const DEFAULT_WAVE_TAG_KEY: &str = "ecs-redeploy-wave";
/// The waves a tag may name.
pub const WAVES: std::ops::RangeInclusive<u8> = 1..=99;

/// A service's wave: a whole number from 1 to 99, lowest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Wave(u8);

impl Wave {
    /// The tag's value: digits only (no sign, no spaces), 1 to 99.
    pub fn parse(value: &str) -> Result<Wave, InvalidWave> {
        let invalid = || InvalidWave(value.to_owned());
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) || value.len() > 2 {
            return Err(invalid());
        }
        let number: u8 = value.parse().map_err(|_| invalid())?;
        if WAVES.contains(&number) {
            Ok(Wave(number))
        } else {
            Err(invalid())
        }
    }

    pub fn number(self) -> u8 {
        self.0
    }
}

impl std::fmt::Display for Wave {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A wave tag whose value is not a whole number from 1 to 99.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("wave tag value `{0}` is not a whole number from 1 to 99")]
pub struct InvalidWave(pub String);

/// How a service stands with the pushed digest, as ECS records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Progress {
    /// It does not run the digest and no deployment of it is under way: the push would redeploy it.
    NotStarted,
    /// A deployment of the digest is under way (or ECS has not resolved the tag yet).
    RollingOut,
    /// It runs the digest and its current deployment is `SUCCESSFUL`, finished at `at` (when ECS said).
    Completed { at: Option<DateTime<Utc>> },
    /// Its deployment of the digest failed: rolled back, or failed without a rollback. `reason` is ECS's.
    Failed { reason: String },
}

/// One service of the rollout.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member<'a> {
    /// The name reports and details use (`cluster/service`).
    pub service: &'a str,
    pub wave: Wave,
    pub progress: Progress,
}

/// What the rollout says of one member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Its own decision stands: a member of the wave that goes now, or one already started.
    Pass,
    /// Not started, and an earlier wave has not completed (or not baked): `waiting-for-wave`.
    Waiting {
        wave: Wave,
        /// The services of `wave` (and earlier) that have not completed; empty while the bake runs.
        waits_for: Vec<String>,
        /// While the bake runs: when it ends.
        until: Option<DateTime<Utc>>,
    },
    /// Not started, and an earlier wave failed: `wave-halted`.
    Halted { service: String, reason: String },
}

/// An earlier wave failed: every later wave of the digest is held until a new digest is pushed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Halt {
    pub failed_wave: Wave,
    pub halted_waves: Vec<Wave>,
    pub service: String,
    pub reason: String,
}

/// The rollout of one digest: a verdict per member (in the members' order), the halt, and when the bake ends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rollout {
    pub verdicts: Vec<Verdict>,
    pub halt: Option<Halt>,
    /// The wave that moves now (deploys, or rolls out); `None` when every wave completed or the rollout halted.
    pub current: Option<Wave>,
    /// The bake of a completed wave ends then: the next wave starts at that time.
    pub wake_at: Option<DateTime<Utc>>,
}

/// The rollout of one digest over `members`, at `now`. A completion without a time counts as baked: ECS always
/// records `finishedAt` of a successful deployment, so only a record read partially lacks it, and waiting for it
/// would hold the rollout for good.
pub fn decide(members: &[Member<'_>], now: DateTime<Utc>, bake: Duration) -> Rollout {
    let mut waves: Vec<Wave> = members.iter().map(|m| m.wave).collect();
    waves.sort_unstable();
    waves.dedup();
    let mut rollout = Rollout {
        verdicts: vec![Verdict::Pass; members.len()],
        halt: None,
        current: None,
        wake_at: None,
    };
    let bake = TimeDelta::from_std(bake).unwrap_or(TimeDelta::MAX);
    for (position, &wave) in waves.iter().enumerate() {
        let later = &waves[position + 1..];
        let in_wave = || members.iter().filter(move |m| m.wave == wave);
        let hold_later = |verdicts: &mut Vec<Verdict>, verdict: &Verdict| {
            for (i, member) in members.iter().enumerate() {
                if member.wave > wave && member.progress == Progress::NotStarted {
                    verdicts[i] = verdict.clone();
                }
            }
        };
        if let Some((service, reason)) = in_wave().find_map(|m| match &m.progress {
            Progress::Failed { reason } => Some((m.service, reason)),
            _ => None,
        }) {
            let verdict = Verdict::Halted {
                service: service.to_owned(),
                reason: reason.clone(),
            };
            hold_later(&mut rollout.verdicts, &verdict);
            rollout.halt = Some(Halt {
                failed_wave: wave,
                halted_waves: later.to_vec(),
                service: service.to_owned(),
                reason: reason.clone(),
            });
            return rollout;
        }
        let pending: Vec<String> = in_wave()
            .filter(|m| !matches!(m.progress, Progress::Completed { .. }))
            .map(|m| m.service.to_owned())
            .collect();
        if !pending.is_empty() {
            rollout.current = Some(wave);
            let verdict = Verdict::Waiting {
                wave,
                waits_for: pending,
                until: None,
            };
            hold_later(&mut rollout.verdicts, &verdict);
            return rollout;
        }
        let last = in_wave()
            .filter_map(|m| match m.progress {
                Progress::Completed { at } => at,
                _ => None,
            })
            .max();
        // No bake: no wait, even when ECS dates the completion ahead of this clock.
        if let Some(baked) = last.and_then(|at| at.checked_add_signed(bake))
            && !bake.is_zero()
            && now < baked
            && members
                .iter()
                .any(|m| m.wave > wave && m.progress == Progress::NotStarted)
        {
            rollout.current = Some(wave);
            rollout.wake_at = Some(baked);
            let verdict = Verdict::Waiting {
                wave,
                waits_for: Vec::new(),
                until: Some(baked),
            };
            hold_later(&mut rollout.verdicts, &verdict);
            return rollout;
        }
    }
    rollout
}

impl Verdict {
    /// The skip's detail, in words.
    pub fn detail(&self) -> Option<String> {
        match self {
            Verdict::Pass => None,
            Verdict::Waiting {
                wave,
                waits_for,
                until: None,
            } => Some(format!("waits for wave {wave}: {} not completed", waits_for.join(", "))),
            Verdict::Waiting {
                wave, until: Some(t), ..
            } => Some(format!(
                "waits for wave {wave}'s bake: wave {wave} completed, the next wave starts at {}",
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
            Verdict::Halted { service, reason } => Some(format!(
                "an earlier wave failed: {service}'s deployment of the digest failed: {reason}"
            )),
        }
    }
}

/// A digest's rollout as the report shows it: the wave moving now, the waves after it, the halt, the bake's end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct WaveReport {
    pub image: String,
    pub digest: String,
    /// The wave deploying or rolling out (or baking); `null` once every wave completed, or halted.
    pub current_wave: Option<Wave>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub halt: Option<Halt>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<String>,
}

#[cfg(test)]
mod tests;
