//! The report as a person reads it on a terminal: one line per service, its digests and warnings, the
//! drift, the scan errors and the counts.

use std::fmt::Write as _;

use super::Report;
use crate::config::Mode;
use crate::domain::push::Trigger;
use crate::ecs::short_name;

impl Report {
    /// A human summary for a terminal.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let verb = match self.mode {
            Mode::Apply => "apply",
            Mode::Plan => "plan (no changes made)",
        };
        let swept = self.pushes.iter().filter(|p| p.trigger == Trigger::Sweep).count();
        let events: Vec<&str> = self
            .pushes
            .iter()
            .filter(|p| p.trigger != Trigger::Sweep)
            .map(|p| p.uri.as_str())
            .collect();
        let noun = if events.len() == 1 { "push" } else { "pushes" };
        let what = match (self.trigger == Trigger::Sweep, events.is_empty()) {
            (false, _) => format!("{noun} {}", events.join(", ")),
            (true, true) => format!("sweep of {swept} tags in use"),
            (true, false) => format!("sweep of {swept} tags in use, with {noun} {}", events.join(", ")),
        };
        let _ = writeln!(out, "{what} — {verb}");
        let width = self
            .services
            .iter()
            .map(|s| s.cluster.len() + s.service.len() + 1)
            .max()
            .unwrap_or(0);
        for s in &self.services {
            let name = format!("{}/{}", s.cluster, s.service);
            let extra = match (&s.deployment_id, &s.error, &s.new_task_definition) {
                (_, Some(error), _) => format!(" — error: {error}"),
                (Some(id), None, Some(revision)) => format!(" — {} deployment {id}", short_name(revision)),
                (Some(id), None, None) => format!(" — deployment {id}"),
                (None, None, _) => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<10} {name:<width$}  {}: {}{extra}",
                s.outcome.as_str(),
                s.reason.code(),
                s.detail
            );
            for (container, to) in &s.to {
                let from = s.from.get(container).cloned().flatten();
                let from = from.as_deref().map_or("(unknown)", short_digest);
                let _ = writeln!(
                    out,
                    "  {:<10} {:<width$}  {container}: {from} → {}",
                    "",
                    "",
                    short_digest(to)
                );
            }
            for warning in &s.warnings {
                let _ = writeln!(out, "  {:<10} {:<width$}  warning: {warning}", "", "");
            }
        }
        for d in &self.drift {
            let running = d.running_digest.as_deref().map_or("(unresolved)", short_digest);
            let held = if d.held { " (held: ECS rolled it back)" } else { "" };
            let _ = writeln!(
                out,
                "  drift      {}/{} {}: {} runs {running}, the tag points to {}{held}",
                d.cluster,
                d.service,
                d.container,
                d.image,
                short_digest(&d.current_digest)
            );
        }
        for f in &self.functions {
            let extra = match (&f.error, &f.alias, &f.version) {
                (Some(error), _, _) => format!(" — error: {error}"),
                (None, Some(alias), Some(version)) => format!(" — alias {alias} → version {version}"),
                _ => String::new(),
            };
            let _ = writeln!(
                out,
                "  {:<10} function {}  {}: {}{extra}",
                f.outcome.as_str(),
                f.function,
                f.reason.code(),
                f.detail
            );
            if let (Some(from), Some(to)) = (&f.from, &f.to) {
                let _ = writeln!(
                    out,
                    "  {:<10} function {}  {} → {}",
                    "",
                    f.function,
                    short_digest(from),
                    short_digest(to)
                );
            }
        }
        for d in &self.function_drift {
            let running = d.running_digest.as_deref().map_or("(unresolved)", short_digest);
            let _ = writeln!(
                out,
                "  drift      function {}: {} runs {running}, the tag points to {}",
                d.function,
                d.image,
                short_digest(&d.current_digest)
            );
        }
        for e in &self.scan_errors {
            let cluster = e.cluster.as_deref().unwrap_or("(all clusters)");
            let _ = writeln!(out, "  scan error {cluster}: {} failed: {}", e.step, e.error);
        }
        let c = &self.counts;
        let _ = writeln!(
            out,
            "{} redeployed, {} planned, {} skipped, {} failed — {} related of {} services scanned in {} clusters",
            c.redeployed, c.planned, c.skipped, c.failed, c.considered, c.scanned, c.clusters
        );
        let f = &c.functions;
        if f.considered > 0 {
            let _ = writeln!(
                out,
                "Lambda functions: {} redeployed, {} planned, {} skipped, {} failed of {} related",
                f.redeployed, f.planned, f.skipped, f.failed, f.considered
            );
        }
        out
    }
}

/// `sha256:` and the first 12 hex digits: enough to tell digests apart on a terminal.
fn short_digest(digest: &str) -> &str {
    digest.get(..19).unwrap_or(digest)
}
