//! A sweep's findings: the containers of the services it redeploys (or would) or holds, with what they run
//! and what their tags point to now.

use super::{Drift, ServiceReport};
use crate::domain::decide::Action;
use crate::domain::image::ImageRef;
use crate::domain::push::{Push, Trigger};
use crate::domain::reason::Reason;

/// The containers of the services a sweep push is redeploying (or would), with what they run; and those it holds
/// because ECS rolled their current digest back.
pub(super) fn drift(pushes: &[Push], services: &[ServiceReport]) -> Vec<Drift> {
    let mut found = Vec::new();
    for s in services.iter().filter(|s| s.reason == Reason::RolledBack) {
        for push in s.push_positions.iter().filter_map(|&i| pushes.get(i)) {
            let Some(current) = push.digest.as_ref().filter(|_| push.trigger == Trigger::Sweep) else {
                continue;
            };
            let image = ImageRef {
                digest: None,
                ..push.image()
            };
            for container in &s.containers {
                let running = s.running.get(container).cloned().flatten();
                if running.as_ref() != Some(current) {
                    found.push(Drift {
                        cluster: s.cluster.clone(),
                        service: s.service.clone(),
                        container: container.clone(),
                        image: image.to_string(),
                        running_digest: running,
                        current_digest: current.clone(),
                        held: true,
                    });
                }
            }
        }
    }
    for s in services
        .iter()
        .filter(|s| matches!(s.decision, Some(Action::Redeploy(_))))
    {
        for &i in &s.push_positions {
            let Some(push) = pushes.get(i).filter(|p| p.trigger == Trigger::Sweep) else {
                continue;
            };
            let image = ImageRef {
                digest: None,
                ..push.image()
            };
            for (container, current) in s.to.iter().filter(|(_, d)| Some(*d) == push.digest.as_ref()) {
                found.push(Drift {
                    cluster: s.cluster.clone(),
                    service: s.service.clone(),
                    container: container.clone(),
                    image: image.to_string(),
                    running_digest: s.running.get(container).cloned().flatten(),
                    current_digest: current.clone(),
                    held: false,
                });
            }
        }
    }
    found
}
