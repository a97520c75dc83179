//! The calls table: one column per measured run, and the minimum each run's strategy allows.

use std::fmt::Write as _;
use std::time::Duration;

use super::engine::{ACTIONS, Calls, Measured};

/// One goal: what it asks, what was measured, and whether it is met.
pub type Goal = (String, String, bool);

/// Every wall-time goal: at most this many times the least time the row's minimum calls need.
pub const WALL_FACTOR: f64 = 1.2;

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
pub fn goals_table(w: &mut String, goals: &[Goal]) {
    let width = |min: usize, text: fn(&Goal) -> &String| {
        goals.iter().map(|g| text(g).chars().count() + 2).fold(min, usize::max)
    };
    let (gw, mw) = (width(52, |g| &g.0), width(40, |g| &g.1));
    let _ = writeln!(w, "\n{:<gw$}{:<mw$}met", "goal", "measured");
    for (goal, measured, met) in goals {
        let _ = writeln!(w, "{goal:<gw$}{measured:<mw$}{}", if *met { "yes" } else { "NO" });
    }
}

/// Wall time as a ratio to the least time the row's minimum calls need (`bound`): never an absolute line.
pub fn wall_goal(name: &str, wall: Duration, bound: Duration) -> Goal {
    let limit = bound.mul_f64(WALL_FACTOR);
    let ratio = wall.as_secs_f64() / bound.as_secs_f64().max(f64::MIN_POSITIVE);
    (
        format!("{name} wall ≤ {WALL_FACTOR} × bound {} = {}", secs(bound), secs(limit)),
        format!("{} ({ratio:.2}× bound)", secs(wall)),
        wall <= limit,
    )
}

/// Calls admitted against the row's minimum, plus its budget when it has one (named as such: what the
/// product chooses to spend beyond the minimum).
pub fn calls_goal(name: &str, minimum: &Calls, budget: &Calls, measured: String, met: bool) -> Goal {
    let total = |calls: &Calls| calls.iter().sum::<u64>();
    calls_total_goal(name, total(minimum), total(budget), measured, met)
}

/// `calls_goal` of totals `m` and `b`.
pub fn calls_total_goal(name: &str, m: u64, b: u64, measured: String, met: bool) -> Goal {
    let asked = if b == 0 {
        format!("{name} calls admitted = minimum {m}")
    } else {
        format!("{name} calls admitted = minimum {m} + running budget {b} = {}", m + b)
    };
    (asked, measured, met)
}

/// The minimum of one action, with the budget beyond it when there is one: `3`, or `3+10`.
pub fn with_budget(minimum: u64, budget: u64) -> String {
    if budget == 0 {
        minimum.to_string()
    } else {
        format!("{minimum}+{budget}")
    }
}

/// The goals as a Markdown table, for benches/README.md.
pub fn goals_markdown(goals: &[Goal]) -> String {
    let mut md = String::from("| goal | measured | met |\n|---|---|---|\n");
    for (goal, measured, met) in goals {
        let _ = writeln!(md, "| {goal} | {measured} | {} |", if *met { "yes" } else { "**NO**" });
    }
    md
}

/// Ends the bench with a failure when a goal is missed, unless `BENCH_ALLOW_MISS=1` (the table is printed and
/// written either way).
pub fn exit_on_miss(goals: &[Goal]) {
    let missed: Vec<&str> = goals.iter().filter(|g| !g.2).map(|g| g.0.as_str()).collect();
    if missed.is_empty() {
        return;
    }
    eprintln!("bench: {} goal(s) missed: {}", missed.len(), missed.join("; "));
    if std::env::var("BENCH_ALLOW_MISS").as_deref() == Ok("1") {
        eprintln!("bench: BENCH_ALLOW_MISS=1, exiting 0");
    } else {
        std::process::exit(1);
    }
}
