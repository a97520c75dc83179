use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};

use super::*;

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 8, 3, minute, 0).unwrap()
}

fn w(n: u8) -> Wave {
    Wave::parse(&n.to_string()).unwrap()
}

fn member(service: &'static str, wave: u8, progress: Progress) -> Member<'static> {
    Member {
        service,
        wave: w(wave),
        progress,
    }
}

fn done(minute: u32) -> Progress {
    Progress::Completed { at: Some(at(minute)) }
}

fn failed(reason: &str) -> Progress {
    Progress::Failed { reason: reason.into() }
}

fn waiting(wave: u8, waits_for: &[&str]) -> Verdict {
    Verdict::Waiting {
        wave: w(wave),
        waits_for: waits_for.iter().map(|s| s.to_string()).collect(),
        until: None,
    }
}

#[test]
fn wave_tag_values() {
    for (value, parsed) in [
        ("1", Some(1)),
        ("2", Some(2)),
        ("99", Some(99)),
        ("07", Some(7)),
        ("0", None),
        ("100", None),
        ("", None),
        ("+1", None),
        ("-1", None),
        (" 1", None),
        ("1.5", None),
        ("one", None),
        ("001", None),
    ] {
        assert_eq!(Wave::parse(value).ok().map(Wave::number), parsed, "value {value:?}");
    }
    assert_eq!(
        Wave::parse("0").unwrap_err().to_string(),
        "wave tag value `0` is not a whole number from 1 to 99"
    );
}

/// A row: its name, the members, the verdicts, the current wave.
type Row = (&'static str, Vec<Member<'static>>, Vec<Verdict>, Option<u8>);

#[test]
fn the_lowest_unfinished_wave_goes_and_later_ones_wait() {
    use Progress::*;
    let rows: Vec<Row> = vec![
        (
            "a fresh push: wave 1 goes, wave 2 waits on all of wave 1",
            vec![
                member("a", 1, NotStarted),
                member("b", 1, NotStarted),
                member("c", 2, NotStarted),
            ],
            vec![Verdict::Pass, Verdict::Pass, waiting(1, &["a", "b"])],
            Some(1),
        ),
        (
            "wave 1 rolling out: wave 2 waits on the one still rolling",
            vec![
                member("a", 1, done(1)),
                member("b", 1, RollingOut),
                member("c", 2, NotStarted),
            ],
            vec![Verdict::Pass, Verdict::Pass, waiting(1, &["b"])],
            Some(1),
        ),
        (
            "wave 1 completed: wave 2 goes",
            vec![
                member("a", 1, done(1)),
                member("b", 1, done(2)),
                member("c", 2, NotStarted),
            ],
            vec![Verdict::Pass; 3],
            Some(2),
        ),
        (
            "a gap in the numbers: 1 then 5; wave 5 waits, wave 9 too",
            vec![
                member("a", 5, NotStarted),
                member("b", 1, RollingOut),
                member("c", 9, NotStarted),
            ],
            vec![waiting(1, &["b"]), Verdict::Pass, waiting(1, &["b"])],
            Some(1),
        ),
        (
            "a service of wave 1 not started yet (added later) goes, and holds wave 2",
            vec![
                member("a", 1, done(1)),
                member("b", 1, NotStarted),
                member("c", 2, NotStarted),
            ],
            vec![Verdict::Pass, Verdict::Pass, waiting(1, &["b"])],
            Some(1),
        ),
        (
            "every wave done: nothing waits",
            vec![member("a", 1, done(1)), member("c", 2, done(3))],
            vec![Verdict::Pass; 2],
            None,
        ),
        (
            "one wave only: it goes",
            vec![member("a", 3, NotStarted), member("b", 3, NotStarted)],
            vec![Verdict::Pass; 2],
            Some(3),
        ),
        (
            "a completion without a time counts as baked",
            vec![member("a", 1, Completed { at: None }), member("c", 2, NotStarted)],
            vec![Verdict::Pass; 2],
            Some(2),
        ),
    ];
    for (name, members, verdicts, current) in rows {
        let rollout = decide(&members, at(30), Duration::ZERO);
        assert_eq!(rollout.verdicts, verdicts, "{name}");
        assert_eq!(rollout.current.map(Wave::number), current, "{name}");
        assert_eq!(rollout.halt, None, "{name}");
        assert_eq!(rollout.wake_at, None, "{name}");
    }
}

#[test]
fn a_failure_halts_every_later_wave_not_its_own() {
    let members = vec![
        member("a", 1, failed("ECS deployment circuit breaker: rolling back")),
        member("b", 1, Progress::NotStarted),
        member("c", 2, Progress::NotStarted),
        member("d", 3, Progress::NotStarted),
        member("e", 3, done(2)),
    ];
    let rollout = decide(&members, at(30), Duration::ZERO);
    let halted = Verdict::Halted {
        service: "a".into(),
        reason: "ECS deployment circuit breaker: rolling back".into(),
    };
    assert_eq!(
        rollout.verdicts,
        vec![Verdict::Pass, Verdict::Pass, halted.clone(), halted, Verdict::Pass]
    );
    assert_eq!(
        rollout.halt,
        Some(Halt {
            failed_wave: w(1),
            halted_waves: vec![w(2), w(3)],
            service: "a".into(),
            reason: "ECS deployment circuit breaker: rolling back".into(),
        })
    );
    assert_eq!(rollout.current, None);
}

#[test]
fn a_failure_in_the_last_wave_halts_nothing_later_but_is_a_halt() {
    let members = vec![member("a", 1, done(1)), member("b", 2, failed("task failed to start"))];
    let rollout = decide(&members, at(30), Duration::ZERO);
    assert_eq!(rollout.verdicts, vec![Verdict::Pass; 2]);
    let halt = rollout.halt.expect("a failed wave");
    assert_eq!((halt.failed_wave, halt.halted_waves), (w(2), vec![]));
}

#[test]
fn the_earliest_failure_is_the_halt() {
    let members = vec![
        member("late", 2, failed("later")),
        member("early", 1, failed("earlier")),
        member("x", 3, Progress::NotStarted),
    ];
    let rollout = decide(&members, at(30), Duration::ZERO);
    assert_eq!(rollout.halt.map(|h| h.service), Some("early".to_owned()));
}

#[test]
fn the_bake_holds_the_next_wave_from_the_last_completion() {
    let members = vec![
        member("a", 1, done(1)),
        member("b", 1, done(10)),
        member("c", 2, Progress::NotStarted),
        member("d", 3, Progress::NotStarted),
    ];
    let bake = Duration::from_secs(5 * 60);
    let baking = decide(&members, at(14), bake);
    let until = Verdict::Waiting {
        wave: w(1),
        waits_for: vec![],
        until: Some(at(15)),
    };
    assert_eq!(
        baking.verdicts,
        vec![Verdict::Pass, Verdict::Pass, until.clone(), until]
    );
    assert_eq!((baking.wake_at, baking.current), (Some(at(15)), Some(w(1))));
    // At the minute the bake ends, wave 2 goes and wave 3 waits on it.
    let baked = decide(&members, at(15), bake);
    assert_eq!(
        baked.verdicts,
        vec![Verdict::Pass, Verdict::Pass, Verdict::Pass, waiting(2, &["c"])]
    );
    assert_eq!((baked.wake_at, baked.current), (None, Some(w(2))));
}

#[test]
fn without_a_bake_a_completion_dated_ahead_of_the_clock_holds_nothing() {
    let members = vec![member("a", 1, done(40)), member("b", 2, Progress::NotStarted)];
    let rollout = decide(&members, at(30), Duration::ZERO);
    assert_eq!(rollout.verdicts, vec![Verdict::Pass; 2]);
    assert_eq!((rollout.wake_at, rollout.current.map(Wave::number)), (None, Some(2)));
}

#[test]
fn no_bake_wait_after_the_last_wave() {
    let members = vec![member("a", 1, done(10)), member("b", 2, done(29))];
    let rollout = decide(&members, at(30), Duration::from_secs(3600));
    assert_eq!((rollout.wake_at, rollout.current), (None, None));
}

#[test]
fn details_name_the_wave_and_whom_it_waits_for() {
    assert_eq!(
        waiting(1, &["prod/a", "prod/b"]).detail().unwrap(),
        "waits for wave 1: prod/a, prod/b not completed"
    );
    let baking = Verdict::Waiting {
        wave: w(2),
        waits_for: vec![],
        until: Some(at(15)),
    };
    assert_eq!(
        baking.detail().unwrap(),
        "waits for wave 2's bake: wave 2 completed, the next wave starts at 2026-12-08T03:15:00Z"
    );
    assert_eq!(Verdict::Pass.detail(), None);
}
