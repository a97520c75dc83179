//! The calls table: one column per measured run, and the minimum each run's strategy allows.

use std::fmt::Write as _;
use std::time::Duration;

use super::engine::{ACTIONS, Measured};

/// One measured run. `get_resources`: tagging-API pages, for a run that lists through it.
pub struct Column<'a> {
    pub label: String,
    pub run: &'a Measured,
    pub get_resources: Option<u64>,
}

/// The last column: the minimum per row, as one text per row (`ACTIONS`, GetResources, other, total,
/// wall, failed, redeployed).
pub struct Minimum {
    pub label: String,
    pub actions: [String; ACTIONS.len()],
    pub get_resources: String,
    pub total: String,
    pub wall: String,
    pub redeployed: String,
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

/// `wall_label` names the wall-time row (what each column's wall time is).
pub fn calls_table(w: &mut String, columns: &[Column<'_>], minimum: &Minimum, wall_label: &str) {
    let row = |w: &mut String, label: &str, cell: &dyn Fn(&Column<'_>) -> String, min: &str| {
        let _ = write!(w, "{label:<28}");
        for c in columns {
            let _ = write!(w, "{:>18}", cell(c));
        }
        let _ = writeln!(w, "{min:>22}");
    };
    let _ = writeln!(w, "\ncalls admitted (+ throttled attempts)");
    row(w, "action", &|c| c.label.clone(), &minimum.label);
    for (i, action) in ACTIONS.iter().enumerate() {
        let cell = |c: &Column<'_>| {
            let n = c.run.counts.action(action);
            format!("{} (+{})", n.forwarded, n.throttled)
        };
        row(w, action, &cell, &minimum.actions[i]);
    }
    let pages = |c: &Column<'_>| c.get_resources.map_or("-".to_owned(), |n| n.to_string());
    row(w, "GetResources (tagging)", &pages, &minimum.get_resources);
    let other = |c: &Column<'_>| format!("{} (+{})", c.run.other().forwarded, c.run.other().throttled);
    row(w, "other actions", &other, "0");
    let total = |c: &Column<'_>| {
        let admitted = c.run.admitted() + c.get_resources.unwrap_or(0);
        format!("{admitted} (+{})", c.run.throttled())
    };
    row(w, "total", &total, &minimum.total);
    row(w, wall_label, &|c| secs(c.run.wall), &minimum.wall);
    let fails = |c: &Column<'_>| format!("{}/{}", c.run.failed, c.run.scan_errors);
    row(w, "failed / scan errors", &fails, "");
    row(w, "redeployed", &|c| c.run.redeployed.to_string(), &minimum.redeployed);
}

/// The goals: what each asks, what was measured, and whether it is met. Columns of 52 and 40
/// characters, wider when a text needs it.
pub fn goals_table(w: &mut String, goals: &[(String, String, bool)]) {
    let width = |min: usize, text: fn(&(String, String, bool)) -> &String| {
        goals.iter().map(|g| text(g).chars().count() + 2).fold(min, usize::max)
    };
    let (gw, mw) = (width(52, |g| &g.0), width(40, |g| &g.1));
    let _ = writeln!(w, "\n{:<gw$}{:<mw$}met", "goal", "measured");
    for (goal, measured, met) in goals {
        let _ = writeln!(w, "{goal:<gw$}{measured:<mw$}{}", if *met { "yes" } else { "NO" });
    }
}
