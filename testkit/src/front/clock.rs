//! The front's ECS clock: the wall clock plus however far the test has advanced it. It times the token
//! buckets' refill, and it dates the deployments made through the front: moto stamps `createdAt` with the
//! wall clock, so the front adds to each deployment it saw made the lead the clock had then, in that answer
//! and in every later answer that shows the deployment. Deployments seeded straight into moto keep moto's time.
//! Frozen (for the front's own tests), the clock stands still at the moment it was frozen: only `advance`
//! moves it, so what the buckets admit does not depend on how fast the machine runs the test.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value};

/// moto's `createdAt` has whole milliseconds, cut down: a deployment made by a call may read up to a
/// millisecond older than the call's arrival. Seeding is many calls earlier than that.
const CREATED_SLACK: Duration = Duration::from_millis(5);

#[derive(Debug, Default)]
pub(super) struct EcsClock {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// How far the ECS clock is ahead of the wall clock, or, frozen, of the moment it was frozen.
    lead: Duration,
    /// The moment the clock was frozen at, on the monotonic and on the wall clock.
    frozen: Option<(Instant, SystemTime)>,
    /// Deployment id → the lead when the front saw it made.
    stamped: HashMap<String, Duration>,
}

impl EcsClock {
    pub(super) fn advance(&self, by: Duration) {
        self.state().lead += by;
    }

    /// Stops the clock where it is now: from then on only `advance` moves it.
    pub(super) fn freeze(&self) {
        let mut state = self.state();
        if state.frozen.is_none() {
            state.frozen = Some((Instant::now(), SystemTime::now()));
        }
    }

    /// Now on the ECS clock.
    pub(super) fn now(&self) -> Instant {
        let state = self.state();
        state.frozen.map_or_else(Instant::now, |(at, _)| at) + state.lead
    }

    /// Now on the ECS clock in epoch seconds, as the deployments made through the front are dated.
    pub(super) fn now_epoch_seconds(&self) -> f64 {
        let state = self.state();
        let wall = state.frozen.map_or_else(SystemTime::now, |(_, at)| at);
        (wall.duration_since(UNIX_EPOCH).unwrap_or_default() + state.lead).as_secs_f64()
    }

    /// In the answer to a call that may make deployments (`CreateService`, `UpdateService`) that arrived
    /// at `arrived` on the wall clock: the deployments moto dates from then on were made by the call and
    /// are stamped with the current lead. Then every stamped deployment in the answer is dated anew.
    /// The ids of the deployments the call made.
    pub(super) fn stamp_new_deployments(&self, answer: &mut Value, arrived: SystemTime) -> Vec<String> {
        let made_since = arrived
            .checked_sub(CREATED_SLACK)
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |t| t.as_secs_f64());
        let mut state = self.state();
        let lead = state.lead;
        let mut made = Vec::new();
        for deployment in deployments(answer) {
            if created_at(deployment).is_some_and(|created| created >= made_since)
                && let Some(id) = deployment.get("id").and_then(Value::as_str)
                && !state.stamped.contains_key(id)
            {
                state.stamped.insert(id.to_owned(), lead);
                made.push(id.to_owned());
            }
        }
        drop(state);
        self.date_stamped_deployments(answer);
        made
    }

    /// Adds to the `createdAt` of every deployment in the answer the front saw made the lead it was
    /// stamped with; whether that changed the answer.
    pub(super) fn date_stamped_deployments(&self, answer: &mut Value) -> bool {
        let state = self.state();
        let mut changed = false;
        for deployment in deployments(answer) {
            let id = deployment.get("id").and_then(Value::as_str);
            let lead = id.and_then(|id| state.stamped.get(id)).filter(|lead| !lead.is_zero());
            if let (Some(lead), Some(created)) = (lead, created_at(deployment)) {
                deployment.insert("createdAt".to_owned(), Value::from(created + lead.as_secs_f64()));
                changed = true;
            }
        }
        changed
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Epoch seconds, as the awsJson protocol writes timestamps.
fn created_at(deployment: &Map<String, Value>) -> Option<f64> {
    deployment.get("createdAt").and_then(Value::as_f64)
}

/// The deployments of the service (`CreateService`, `UpdateService`) or services (`DescribeServices`)
/// of an answer.
fn deployments(answer: &mut Value) -> Vec<&mut Map<String, Value>> {
    let Some(answer) = answer.as_object_mut() else {
        return Vec::new();
    };
    let mut services = Vec::new();
    for (key, value) in answer.iter_mut() {
        match (key.as_str(), value) {
            ("service", service) => services.push(service),
            ("services", Value::Array(many)) => services.extend(many),
            _ => {}
        }
    }
    services
        .into_iter()
        .filter_map(|service| service.get_mut("deployments").and_then(Value::as_array_mut))
        .flatten()
        .filter_map(Value::as_object_mut)
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn at(seconds: f64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs_f64(seconds)
    }

    #[test]
    fn deployments_made_by_a_call_keep_the_lead_they_were_made_under() {
        let clock = EcsClock::default();
        clock.advance(Duration::from_secs(2));
        let mut updated = json!({"service": {"deployments": [
            {"id": "new", "createdAt": 1000.5},
            {"id": "seeded", "createdAt": 900.0},
        ]}});
        let made = clock.stamp_new_deployments(&mut updated, at(1000.5));
        assert_eq!(made, ["new"]);
        assert_eq!(updated["service"]["deployments"][0]["createdAt"], 1002.5);
        assert_eq!(
            updated["service"]["deployments"][1]["createdAt"], 900.0,
            "older than the call"
        );

        clock.advance(Duration::from_secs(60));
        let mut described = json!({"services": [
            {"deployments": [{"id": "new", "createdAt": 1000.5}]},
            {"deployments": [{"id": "seeded", "createdAt": 900.0}, {"id": "other", "createdAt": 1001.0}]},
        ], "failures": []});
        clock.date_stamped_deployments(&mut described);
        assert_eq!(described["services"][0]["deployments"][0]["createdAt"], 1002.5);
        assert_eq!(described["services"][1]["deployments"][0]["createdAt"], 900.0);
        assert_eq!(
            described["services"][1]["deployments"][1]["createdAt"], 1001.0,
            "not made through the front"
        );
    }

    #[test]
    fn moto_s_rounding_down_to_the_millisecond_still_counts_as_made_by_the_call() {
        let clock = EcsClock::default();
        clock.advance(Duration::from_secs(1));
        let mut updated = json!({"service": {"deployments": [{"id": "new", "createdAt": 1000.0}]}});
        clock.stamp_new_deployments(&mut updated, at(1000.0009));
        assert_eq!(updated["service"]["deployments"][0]["createdAt"], 1001.0);
    }

    #[test]
    fn a_frozen_clock_moves_only_by_what_was_advanced() {
        let clock = EcsClock::default();
        clock.freeze();
        let (frozen, frozen_epoch) = (clock.now(), clock.now_epoch_seconds());
        assert_eq!(clock.now(), frozen, "no wall time passes on it");
        clock.advance(Duration::from_millis(1500));
        assert_eq!(clock.now() - frozen, Duration::from_millis(1500));
        assert!((clock.now_epoch_seconds() - frozen_epoch - 1.5).abs() < 1e-6);
        clock.freeze();
        assert_eq!(
            clock.now() - frozen,
            Duration::from_millis(1500),
            "freezing again changes nothing"
        );
    }

    #[test]
    fn the_clock_runs_ahead_of_the_wall_clock_by_what_was_advanced() {
        let clock = EcsClock::default();
        let before = Instant::now();
        clock.advance(Duration::from_secs(5));
        clock.advance(Duration::from_secs(5));
        assert!(clock.now() >= before + Duration::from_secs(10));
        assert!(clock.now() < Instant::now() + Duration::from_secs(11));
    }
}
