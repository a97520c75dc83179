//! Staged rollouts in the plan: the planned services of each pushed digest that carry the wave tag are gated by
//! `domain::wave::decide`, on how ECS says each stands with the digest (its current service deployment and the
//! decision made from what it runs). Services without the tag are not gated.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::decide::{Action, Decision};
use crate::domain::push::Push;
use crate::domain::reason::Reason;
use crate::domain::running::RolledBack;
use crate::domain::wave::{self, Member, Progress, Rollout, Verdict, Wave, WaveReport};
use crate::ecs::{DeploymentStatus, ServiceDeployment};

use std::collections::BTreeSet;

use serde_json::Value;
use tracing::{info, warn};

use super::Redeployer;
use super::outcomes::SWEEP_RECORDS_MAX;
use super::plan::Planned;
use crate::domain::image::Registry;
use crate::domain::push::Trigger;
use crate::ecr::EcrApi;
use crate::ecs::EcsApi;
use crate::lambda::LambdaApi;
use crate::lock::{Claim, DeployLock, LockKey};
use crate::notify::{Delivery, HaltNotification, NotificationKind, Notifier, RolloutNotification};
use crate::wake;

/// The rollout of one pushed digest across its waves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DigestRollout {
    /// The pushed image (`registry/repository:tag`) and digest.
    pub image: String,
    pub digest: String,
    pub rollout: Rollout,
}

impl DigestRollout {
    pub fn into_report(self) -> WaveReport {
        WaveReport {
            image: self.image,
            digest: self.digest,
            current_wave: self.rollout.current,
            halt: self.rollout.halt,
            wake_at: self
                .rollout
                .wake_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }
}

/// What the gate needs to know besides the plan.
pub struct WaveInputs<'a> {
    pub tag_key: &'a str,
    pub current: &'a HashMap<String, ServiceDeployment>,
    pub rolled_back: &'a HashMap<String, RolledBack>,
    pub now: DateTime<Utc>,
    pub bake: Duration,
}

/// Reads each planned service's wave tag (an invalid one turns a redeploy into `invalid-wave`), then gates the
/// services of each pushed digest: a waiting or halted service's redeploy becomes a skip. Returns every digest's
/// rollout.
pub fn gate(planned: &mut [Planned], pushes: &[Push], inputs: &WaveInputs<'_>) -> Vec<DigestRollout> {
    for entry in planned.iter_mut() {
        let Some(value) = entry.service.tags.get(inputs.tag_key) else {
            continue;
        };
        match Wave::parse(value) {
            Ok(wave) => entry.wave = Some(wave),
            Err(invalid) if matches!(entry.decision.action, Action::Redeploy(_)) => {
                hold(
                    entry,
                    Reason::InvalidWave,
                    format!("{invalid} (tag `{}`)", inputs.tag_key),
                );
            }
            Err(_) => {}
        }
    }
    // One rollout per pushed image and digest; a service deployed for several pushes at once is not gated.
    let mut groups: BTreeMap<(String, String), Vec<usize>> = BTreeMap::new();
    for (i, entry) in planned.iter().enumerate() {
        let (Some(_), [push]) = (entry.wave, entry.pushes.as_slice()) else {
            continue;
        };
        let push = &pushes[*push];
        let Some(digest) = push.digest.clone() else {
            continue;
        };
        if progress(entry, inputs).is_some() {
            groups.entry((push.image().to_string(), digest)).or_default().push(i);
        }
    }
    let mut rollouts = Vec::new();
    for ((image, digest), positions) in groups {
        let names: Vec<String> = positions
            .iter()
            .map(|&i| {
                format!(
                    "{}/{}",
                    cluster_name(&planned[i].service.cluster_arn),
                    planned[i].service.name
                )
            })
            .collect();
        let members: Vec<Member<'_>> = positions
            .iter()
            .zip(&names)
            .map(|(&i, name)| Member {
                service: name,
                wave: planned[i].wave.expect("grouped by wave"),
                progress: progress(&planned[i], inputs).expect("grouped by progress"),
            })
            .collect();
        let rollout = wave::decide(&members, inputs.now, inputs.bake);
        for (&i, verdict) in positions.iter().zip(&rollout.verdicts) {
            let reason = match verdict {
                Verdict::Pass => continue,
                Verdict::Waiting { .. } => Reason::WaitingForWave,
                Verdict::Halted { .. } => Reason::WaveHalted,
            };
            hold(&mut planned[i], reason, verdict.detail().unwrap_or_default());
        }
        rollouts.push(DigestRollout { image, digest, rollout });
    }
    rollouts
}

/// How a planned service stands with its pushed digest; `None`: not part of the digest's rollout (a skip for a
/// reason of its own: another tag, opted out, …).
fn progress(entry: &Planned, inputs: &WaveInputs<'_>) -> Option<Progress> {
    let current = inputs.current.get(&entry.service.arn);
    match (&entry.decision.action, entry.decision.reason) {
        (Action::Redeploy(_), _) => Some(Progress::NotStarted),
        (_, Reason::RolledBack) => {
            let reason = inputs
                .rolled_back
                .get(&entry.service.arn)
                .and_then(|held| held.status_reason.clone())
                .unwrap_or_else(|| entry.decision.detail.clone());
            Some(Progress::Failed { reason })
        }
        (_, Reason::AlreadyRunning) => Some(match current.and_then(|d| d.status.as_ref()) {
            Some(DeploymentStatus::Successful) => Progress::Completed {
                at: current.and_then(|d| d.finished_at.or(d.updated_at)),
            },
            Some(DeploymentStatus::Stopped | DeploymentStatus::RollbackFailed) => Progress::Failed {
                reason: current
                    .and_then(|d| d.status_reason.clone())
                    .unwrap_or_else(|| "the deployment stopped".to_owned()),
            },
            // ECS names no current deployment of a service that ran the digest from before service deployments
            // were recorded: it completed long ago.
            None if current.is_none() => Progress::Completed { at: None },
            _ => Progress::RollingOut,
        }),
        (_, Reason::RollingOut | Reason::AlreadyDeployed | Reason::InProgress) => Some(Progress::RollingOut),
        _ => None,
    }
}

fn hold(entry: &mut Planned, reason: Reason, detail: String) {
    entry.decision = Decision {
        containers: std::mem::take(&mut entry.decision.containers),
        running: std::mem::take(&mut entry.decision.running),
        ..Decision::skip(reason, detail)
    };
    entry.lock_key = None;
}

fn cluster_name(cluster_arn: &str) -> &str {
    cluster_arn.rsplit('/').next().unwrap_or(cluster_arn)
}

impl<E: EcsApi, L: DeployLock, R: EcrApi, N: Notifier, F: LambdaApi> Redeployer<E, L, R, N, F> {
    /// Announces each halted rollout once per digest: the first run to claim `halt#IMAGE#DIGEST` in the lock table
    /// notifies (without a table every run that finds the halt does). Returns the delivery.
    pub(super) async fn announce_halts(&self, rollouts: &[DigestRollout]) -> Delivery {
        let mut halts = Vec::new();
        for digest_rollout in rollouts {
            let Some(halt) = &digest_rollout.rollout.halt else {
                continue;
            };
            if halt.halted_waves.is_empty() {
                continue;
            }
            let key = LockKey::new(format!("halt#{}", digest_rollout.image), &digest_rollout.digest);
            match self.lock.claim(&key).await {
                Ok(Claim::Acquired) => {}
                Ok(Claim::Held(_)) => continue,
                Err(error) => {
                    warn!(error = %crate::error_chain::render(&error), image = %digest_rollout.image, "the halt's claim failed; it is announced next time");
                    continue;
                }
            }
            if let Err(error) = self.lock.complete(&key).await {
                warn!(error = %crate::error_chain::render(&error), image = %digest_rollout.image, "the halt's claim was not marked done");
            }
            halts.push(HaltNotification {
                image: digest_rollout.image.clone(),
                digest: digest_rollout.digest.clone(),
                failed_wave: halt.failed_wave,
                halted_waves: halt.halted_waves.clone(),
                service: halt.service.clone(),
                reason: halt.reason.clone(),
            });
        }
        if halts.is_empty() {
            return Delivery::default();
        }
        self.notifier.send_halts(&halts).await
    }

    /// For each rollout whose bake ends within SQS's maximum delay: one delayed wake message (once per digest and bake
    /// end, through a `wake#` claim in the lock table). A wake that cannot be sent is logged: the sweep ends the bake.
    pub(super) async fn schedule_wakes(&self, rollouts: &[DigestRollout]) {
        let Some(waker) = &self.waker else {
            return;
        };
        let now = (self.clock)();
        for digest_rollout in rollouts {
            let Some(wake_at) = digest_rollout.rollout.wake_at else {
                continue;
            };
            let Some(delay) = wake::delay(wake_at, now) else {
                info!(image = %digest_rollout.image, %wake_at, "the bake ends past SQS's longest delay; the sweep ends it");
                continue;
            };
            let key = LockKey::new(
                format!("wake#{}", digest_rollout.image),
                format!("{}#{}", digest_rollout.digest, wake_at.timestamp()),
            );
            match self.lock.claim(&key).await {
                Ok(Claim::Acquired) => {}
                Ok(Claim::Held(_)) => continue,
                Err(error) => {
                    warn!(error = %crate::error_chain::render(&error), image = %digest_rollout.image, "the wake's claim failed; the sweep ends the bake");
                    continue;
                }
            }
            let body = wake::body(&digest_rollout.image, &digest_rollout.digest, wake_at, now);
            match waker.send(body, delay).await {
                Ok(()) => {
                    info!(image = %digest_rollout.image, %wake_at, delay_s = delay.as_secs(), "the bake's wake is queued");
                    if let Err(error) = self.lock.complete(&key).await {
                        warn!(error = %crate::error_chain::render(&error), "the wake's claim was not marked done");
                    }
                }
                Err(error) => {
                    warn!(error = %crate::error_chain::render(&error), image = %digest_rollout.image, "the bake's wake was not queued; the sweep ends it");
                    if let Err(error) = self.lock.release(&key).await {
                        warn!(error = %crate::error_chain::render(&error), "the wake's claim was not released");
                    }
                }
            }
        }
    }

    /// The tags of `pushes` as they point now (ECR), for a wake: the rollout runs with the current digest.
    pub async fn current_tags(&self, pushes: &[Push]) -> Vec<Push> {
        let images: Vec<String> = pushes.iter().map(|p| p.image().to_string()).collect();
        self.resolve(images.iter().map(String::as_str).collect()).await
    }

    /// The pushes that move staged rollouts on after deployment events closed these records: for a wave member's
    /// failure (the rollout halts) or for the completion of the last open deployment of its wave, the tag's
    /// current digest (a newer push supersedes the one the wave ran). A completion that leaves its wave open costs
    /// one read of the open records and no ECS call.
    pub async fn moving_on(&self, closed: &[RolloutNotification]) -> Vec<Push> {
        let members: Vec<(&str, &str, &Value, bool)> = closed
            .iter()
            .filter_map(|n| {
                let wave = n.redeployed.get("wave").filter(|w| !w.is_null())?;
                let image = n.redeployed.get("image")?.as_str()?;
                let digest = n.redeployed.get("to_digest")?.as_str()?;
                Some((image, digest, wave, n.kind == NotificationKind::RolloutCompleted))
            })
            .collect();
        if members.is_empty() {
            return Vec::new();
        }
        let open = if members.iter().any(|m| m.3) {
            // Every open record, however recent: records are dated to the second, so `now` could miss one started
            // in this very second.
            let any_time = (self.clock)().max(Utc::now()) + chrono::TimeDelta::days(1);
            match self.lock.open_deployments(any_time, SWEEP_RECORDS_MAX).await {
                Ok(open) => open,
                Err(error) => {
                    warn!(error = %crate::error_chain::render(&error), "the open deployment records cannot be read; the sweep moves the rollout on");
                    return Vec::new();
                }
            }
        } else {
            Vec::new()
        };
        let mut images: BTreeSet<&str> = BTreeSet::new();
        for (image, digest, wave, completed) in members {
            let wave_open = open.iter().any(|record| {
                record.to_digest.as_deref() == Some(digest)
                    && record.detail.get("image").and_then(Value::as_str) == Some(image)
                    && record.detail.get("wave") == Some(wave)
            });
            if !completed || !wave_open {
                images.insert(image);
            } else {
                info!(image, digest, %wave, "the wave has deployments still open; the rollout waits for them");
            }
        }
        self.resolve(images).await
    }

    /// Each image's tag as it points now: a push of its current digest (without ECR: the images as given).
    async fn resolve(&self, images: BTreeSet<&str>) -> Vec<Push> {
        let mut pushes = Vec::new();
        let mut tags: BTreeMap<(Registry, String), BTreeSet<String>> = BTreeMap::new();
        for image in images {
            match Push::from_image_uri(image) {
                Ok(push) => {
                    tags.entry((push.registry.clone(), push.repository.clone()))
                        .or_default()
                        .insert(push.tag.clone());
                    pushes.push(push);
                }
                Err(error) => {
                    warn!(error = %crate::error_chain::render(&error), "a recorded image cannot be read back; the sweep moves its rollout on")
                }
            }
        }
        let Some(ecr) = &self.ecr else {
            return pushes;
        };
        let (current, failures) =
            super::sweep::current(ecr, &tags, &self.manifests, self.config.max_concurrency.get()).await;
        for failure in failures {
            warn!(step = failure.step, error = %crate::error_chain::render(&failure.error), "the tag's digest cannot be read; the sweep moves the rollout on");
        }
        current
            .into_iter()
            .map(|push| Push {
                trigger: Trigger::Push,
                ..push
            })
            .collect()
    }
}

#[cfg(test)]
mod tests;
