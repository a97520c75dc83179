//! An in-memory stand-in for the notification port, for the unit tests.

use std::sync::Mutex;

use super::{Delivery, HaltNotification, Notification, Notifier, RolloutNotification};

/// Records every notification it is sent, and accepts them all.
#[derive(Default)]
pub struct FakeNotifier {
    sent: Mutex<Vec<Notification>>,
    rollouts: Mutex<Vec<RolloutNotification>>,
    halts: Mutex<Vec<HaltNotification>>,
}

impl FakeNotifier {
    /// Everything sent so far, in order.
    pub fn sent(&self) -> Vec<Notification> {
        self.sent.lock().unwrap().clone()
    }

    /// Every halt notification sent so far, in order.
    pub fn halts(&self) -> Vec<HaltNotification> {
        self.halts.lock().unwrap().clone()
    }

    /// Every rollout notification sent so far, in order.
    pub fn rollouts(&self) -> Vec<RolloutNotification> {
        self.rollouts.lock().unwrap().clone()
    }
}

impl Notifier for FakeNotifier {
    async fn send(&self, notifications: &[Notification]) -> Delivery {
        self.sent.lock().unwrap().extend_from_slice(notifications);
        Delivery {
            sent: notifications.len(),
            failed: 0,
        }
    }

    async fn send_rollouts(&self, notifications: &[RolloutNotification]) -> Delivery {
        self.rollouts.lock().unwrap().extend_from_slice(notifications);
        Delivery {
            sent: notifications.len(),
            failed: 0,
        }
    }

    async fn send_halts(&self, notifications: &[HaltNotification]) -> Delivery {
        self.halts.lock().unwrap().extend_from_slice(notifications);
        Delivery {
            sent: notifications.len(),
            failed: 0,
        }
    }
}
