//! Per-action call counts.

use std::collections::BTreeMap;
use std::sync::{Mutex, PoisonError};

/// What happened to the calls of one action. Every received call ends in exactly one of
/// forwarded, throttled, faulted or rejected, so those four add up to `received` once the
/// front has answered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ActionCounts {
    pub received: u64,
    /// Sent on to moto (whatever moto answered), or, for the service history moto lacks
    /// (`DescribeServiceRevisions`, `DescribeServiceDeployments`), answered by the front in its place.
    pub forwarded: u64,
    /// Answered `ThrottlingException` by the token buckets.
    pub throttled: u64,
    /// Answered by an injected fault; never sent on.
    pub faulted: u64,
    /// Refused by the front's own validation (limits, malformed body, unknown target).
    pub rejected: u64,
    /// Forwarded (and counted so), then answered by an injected fault instead: an answer lost after the write.
    pub lost: u64,
}

impl ActionCounts {
    fn add(&mut self, other: &ActionCounts) {
        self.received += other.received;
        self.forwarded += other.forwarded;
        self.throttled += other.throttled;
        self.faulted += other.faulted;
        self.rejected += other.rejected;
        self.lost += other.lost;
    }

    /// The calls that have been answered one way or another.
    pub fn settled(&self) -> u64 {
        self.forwarded + self.throttled + self.faulted + self.rejected
    }
}

/// A snapshot of the counts, keyed by action name (the `X-Amz-Target` suffix, e.g.
/// `UpdateService`); calls without an ECS target are keyed [`NOT_AN_ECS_CALL`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub by_action: BTreeMap<String, ActionCounts>,
}

/// The key under which calls without an ECS `X-Amz-Target` are counted.
pub const NOT_AN_ECS_CALL: &str = "(not an ECS call)";

impl CallCounts {
    /// The counts of one action; zero when it was never called.
    pub fn action(&self, action: &str) -> ActionCounts {
        self.by_action.get(action).copied().unwrap_or_default()
    }

    pub fn total(&self) -> ActionCounts {
        let mut total = ActionCounts::default();
        for counts in self.by_action.values() {
            total.add(counts);
        }
        total
    }
}

#[derive(Clone, Copy, Debug)]
pub(super) enum Tally {
    Received,
    Forwarded,
    Throttled,
    Faulted,
    Rejected,
    Lost,
}

#[derive(Debug, Default)]
pub(super) struct CountBook {
    by_action: Mutex<BTreeMap<String, ActionCounts>>,
}

impl CountBook {
    pub(super) fn add(&self, action: &str, tally: Tally) {
        let mut by_action = self.by_action.lock().unwrap_or_else(PoisonError::into_inner);
        let counts = by_action.entry(action.to_owned()).or_default();
        let field = match tally {
            Tally::Received => &mut counts.received,
            Tally::Forwarded => &mut counts.forwarded,
            Tally::Throttled => &mut counts.throttled,
            Tally::Faulted => &mut counts.faulted,
            Tally::Rejected => &mut counts.rejected,
            Tally::Lost => &mut counts.lost,
        };
        *field += 1;
    }

    pub(super) fn snapshot(&self) -> CallCounts {
        let by_action = self.by_action.lock().unwrap_or_else(PoisonError::into_inner);
        CallCounts {
            by_action: by_action.clone(),
        }
    }

    pub(super) fn clear(&self) {
        self.by_action.lock().unwrap_or_else(PoisonError::into_inner).clear();
    }
}
