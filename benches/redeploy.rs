//! `make bench`: ecs-redeploy against moto behind the strict ECS front (30 ms latency, ECS
//! throttle buckets, request limits enforced), side by side with the least calls and time the
//! buckets allow, with a naive hand-written strategy and with `SELECT=opted-in`; then 10,000 services, and the release
//! binary's init time, peak RSS and the arm64 bootstrap's size; then the burst row (20 pushes in one batch
//! versus 20 invocations, in a moto of its own) and the sweep row (lost pushes found by asking ECR, in a moto
//! of its own). Prints a table and writes `target/bench/summary.json` and `target/bench/table.txt`.
//!
//! It runs only under `cargo bench` (which passes `--bench`); `cargo test --all-targets` skips it.
//! `BENCH_NAIVE_CLUSTERS=k` runs the naive strategy on the first k clusters only and scales;
//! `RETRY_MODE`, `MAX_CONCURRENCY` and `MAX_ATTEMPTS` apply to the engine and the release binary alike.
//! `BENCH_ONLY=burst`, `BENCH_ONLY=sweep`, `BENCH_ONLY=waves` or `BENCH_ONLY=functions` (200 image Lambda functions)
//! runs that row alone (table and summary then hold only it).

mod bench_support {
    pub mod burst;
    pub mod ecr;
    pub mod engine;
    pub mod functions;
    pub mod lambda;
    pub mod naive;
    pub mod opted_in;
    pub mod seed;
    pub mod sweep;
    pub mod table;
    pub mod waves;
}

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ecs_redeploy::config::Config;
use ecs_redeploy::domain::push::Push;
use ecs_redeploy::ecs::sdk::SdkEcs;
use ecs_redeploy::engine::Redeployer;
use ecs_redeploy_testkit::moto::Moto;
use serde_json::json;

use bench_support::engine::{
    ACTIONS, Calls, LATENCY, Runs, admits_exactly, bucket_bound, engine_client, engine_run, latency_bound, median,
    minimum_calls, plus, running_budget, start_front,
};
use bench_support::seed::{Fleet, REVISIONS, pushed_image};
use bench_support::table::{
    Column, Goal, Minimum, calls_goal, calls_table, exit_on_miss, goals_markdown, goals_table, wall_goal, with_budget,
};
use bench_support::{burst, functions, lambda, naive, opted_in, sweep, waves};

const CLUSTERS: usize = 20;
const SCALE_CLUSTERS: usize = 100;
const INIT_RUNS: usize = 7;
const REPEATS: usize = 3;
/// Long enough for every bucket a cold run drains to be full again (UpdateService: 50 at 5/s).
const REFILL: Duration = Duration::from_secs(11);
const INIT_GOAL_MS: f64 = 20.0;
const RSS_GOAL_MIB: f64 = 30.0;
/// Issue 22 moved it from 8 MiB: the Lambda client (aws-sdk-lambda) the image functions need.
const BOOTSTRAP_GOAL_BYTES: u64 = 9 << 20;

fn progress(started: Instant, what: &str) {
    eprintln!("[bench {:6.1} s] {what}", started.elapsed().as_secs_f64());
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

#[tokio::main]
async fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        eprintln!("benches/redeploy.rs is a benchmark: run `make bench` or `cargo bench --bench redeploy`");
        return;
    }
    let started = Instant::now();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    // MAX_CONCURRENCY, RETRY_MODE and MAX_ATTEMPTS from the environment, like the function.
    let config = Config::from_env().expect("valid settings");
    let concurrency = config.max_concurrency.get();
    match std::env::var("BENCH_ONLY").ok().as_deref() {
        None | Some("") => {}
        Some("burst") => {
            let burst = burst::measure(&config, |what| progress(started, what)).await;
            let summary = burst.summary();
            return alone(
                "burst",
                &config,
                &out,
                started,
                |w| burst.table(w),
                &burst.goals(),
                summary,
            );
        }
        Some("sweep") => {
            let sweep = sweep::measure(&config, |what| progress(started, what)).await;
            let summary = sweep.summary();
            return alone(
                "sweep",
                &config,
                &out,
                started,
                |w| sweep.table(w),
                &sweep.goals(),
                summary,
            );
        }
        Some("waves") => {
            let waves = waves::measure(&config, |what| progress(started, what)).await;
            let summary = waves.summary();
            return alone(
                "waves",
                &config,
                &out,
                started,
                |w| waves.table(w),
                &waves.goals(),
                summary,
            );
        }
        Some("functions") => {
            let functions = functions::measure(&config, |what| progress(started, what)).await;
            let summary = functions.summary();
            return alone(
                "functions",
                &config,
                &out,
                started,
                |w| functions.table(w),
                &functions.goals(),
                summary,
            );
        }
        Some(other) => {
            panic!("BENCH_ONLY={other}: the rows that run alone are `burst`, `sweep`, `waves` and `functions`")
        }
    }
    let push = Push::from_image_uri(&pushed_image()).expect("a valid image");

    let moto = Moto::start();
    let mut fleet = Fleet::register(moto.ecs_client()).await;
    let seed_small = fleet.grow_to(CLUSTERS).await;
    let (services, matches, related) = (fleet.services(), fleet.matching(), fleet.related());
    progress(started, &format!("seeded {services} services in {}", secs(seed_small)));

    // Each cold run: a new function (empty task-definition cache) behind a new front (full buckets).
    // The SDK's backoff jitter makes single runs noisy: the median of REPEATS is reported.
    let mut engines = Vec::with_capacity(REPEATS);
    let mut colds = Vec::with_capacity(REPEATS);
    for _ in 0..REPEATS {
        let front = start_front(&moto).await;
        let redeployer = Redeployer::new(
            SdkEcs::new(engine_client(&front.endpoint_url(), &config), moto.tagging_client()),
            config.clone(),
        );
        let cold = engine_run(&redeployer, &front, &push).await;
        progress(started, &format!("cold run: {}", secs(cold.wall)));
        colds.push(cold);
        engines.push((front, redeployer));
    }
    let cold_done = Instant::now();

    let naive_clusters: usize = std::env::var("BENCH_NAIVE_CLUSTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|k| (1..=CLUSTERS).contains(k))
        .unwrap_or(CLUSTERS);
    let naive_scale = CLUSTERS as f64 / naive_clusters as f64;
    let naive = naive::measure(&moto, naive_clusters).await;
    progress(
        started,
        &format!("naive run ({naive_clusters} clusters): {}", secs(naive.wall)),
    );

    // Warm: the same function on the same front (its SDK client is bound to it), buckets full again.
    tokio::time::sleep(REFILL.saturating_sub(cold_done.elapsed())).await;
    let mut warms = Vec::with_capacity(REPEATS);
    for (front, redeployer) in &engines {
        let warm = engine_run(redeployer, front, &push).await;
        progress(started, &format!("warm run: {}", secs(warm.wall)));
        warms.push(warm);
    }
    drop(engines);
    let (colds, warms) = (Runs::of(colds), Runs::of(warms));
    let (cold, cold_walls) = (&colds.median, &colds.walls);
    let (warm, warm_walls) = (&warms.median, &warms.walls);

    // Opted-in: a new function with SELECT=opted-in behind a new front, cold, the same push (no event
    // time, like cold and warm: earlier runs' deployments cannot make it `already-deployed`).
    let opted_in = opted_in::measure(&moto, &config, &push, (CLUSTERS, REPEATS), |wall| {
        progress(started, &format!("opted-in run: {}", secs(wall)));
    })
    .await;
    let opted = &opted_in.median;

    let binary = Path::new(env!("CARGO_BIN_EXE_ecs-redeploy"));
    let init = lambda::init_ms(binary, INIT_RUNS, &out.join("lambda-init.log")).await;
    let init_median = median(&init);
    // The push happens now: a deployment newer than the push would be skipped as already deployed.
    let event = std::fs::read_to_string(root.join("events/ecr-push.json")).expect("events/ecr-push.json");
    let mut event: serde_json::Value = serde_json::from_str(&event).expect("event JSON");
    let push_time = chrono::Utc::now() + chrono::TimeDelta::seconds(1);
    event["time"] = json!(push_time.format("%Y-%m-%dT%H:%M:%SZ").to_string());
    let process_front = start_front(&moto).await;
    let invoked = lambda::invoke_once(
        binary,
        &process_front.endpoint_url(),
        event.to_string(),
        &out.join("lambda-invoke.log"),
    )
    .await;
    let peak_rss_mib = invoked.peak_rss_kib as f64 / 1024.0;
    drop(process_front);
    progress(
        started,
        &format!("process: init {init_median:.1} ms, invocation {}", invoked.outcome),
    );

    let seed_large = fleet.grow_to(SCALE_CLUSTERS).await;
    let (scale_services, scale_matches, scale_related) = (fleet.services(), fleet.matching(), fleet.related());
    progress(
        started,
        &format!("seeded up to {scale_services} services in {}", secs(seed_large)),
    );
    let scale_front = start_front(&moto).await;
    let scale_redeployer = Redeployer::new(
        SdkEcs::new(
            engine_client(&scale_front.endpoint_url(), &config),
            moto.tagging_client(),
        ),
        config.clone(),
    );
    let scale = engine_run(&scale_redeployer, &scale_front, &push).await;
    progress(started, &format!("{scale_services} services: {}", secs(scale.wall)));

    let burst = burst::measure(&config, |what| progress(started, what)).await;
    let sweep = sweep::measure(&config, |what| progress(started, what)).await;
    let waves = waves::measure(&config, |what| progress(started, what)).await;
    let functions = functions::measure(&config, |what| progress(started, what)).await;

    // Size, and the ELF machine (`e_machine` at byte 18: 0xB7 aarch64, 0x3E x86-64). `make build` puts it
    // under cargo's target directory, which CARGO_TARGET_DIR may move.
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    let bootstrap_file = std::fs::read(target.join("lambda/ecs-redeploy/bootstrap")).ok();
    let bootstrap = bootstrap_file.as_ref().map(|b| b.len() as u64);
    let bootstrap_arch = match bootstrap_file.as_deref().and_then(|b| b.get(18)) {
        Some(0xB7) => "arm64",
        Some(0x3E) => "x86_64",
        _ => "unknown",
    };

    // Lower bounds. A push of `app:latest` can redeploy only the services running it (`matches`); the other
    // related services (another tag, a digest pin, Docker Hub's `app`) cost the running budget.
    let min_cold = minimum_calls(CLUSTERS, REVISIONS, matches, matches);
    let min_warm = minimum_calls(CLUSTERS, 0, matches, matches);
    let min_scale = minimum_calls(SCALE_CLUSTERS, REVISIONS, scale_matches, scale_matches);
    let budget = running_budget(related, matches);
    let scale_budget = running_budget(scale_related, scale_matches);
    let sum = |calls: &Calls| calls.iter().sum::<u64>();
    let (bucket_cold, latency_cold) = (bucket_bound(&min_cold), latency_bound(&min_cold, concurrency));
    let (bucket_warm, latency_warm) = (bucket_bound(&min_warm), latency_bound(&min_warm, concurrency));
    let (bucket_scale, latency_scale) = (bucket_bound(&min_scale), latency_bound(&min_scale, concurrency));
    let bound_cold = bucket_cold.max(latency_cold);
    let bound_warm = bucket_warm.max(latency_warm);
    let naive_wall_scaled = naive.wall.mul_f64(naive_scale);
    let naive_admitted_scaled = (naive.admitted() as f64 * naive_scale).round() as u64;

    let mut t = String::new();
    let w = &mut t;
    let _ = writeln!(
        w,
        "\necs-redeploy bench: {services} services in {CLUSTERS} clusters, {REVISIONS} revisions, {matches} matching \
         `app:latest` (the services a push can redeploy), {related} related (what they run is reported: the running \
         budget); front: {} ms latency, ECS \
         throttle buckets, limits enforced; MAX_CONCURRENCY={concurrency}, RETRY_MODE={:?}, MAX_ATTEMPTS={}",
        LATENCY.as_millis(),
        config.retry_mode,
        config.max_attempts
    );
    let naive_label = if naive_clusters == CLUSTERS {
        "naive".to_owned()
    } else {
        format!("naive ({naive_clusters} cl.)")
    };
    let column = |label: &str, run, get_resources| Column {
        label: label.to_owned(),
        run,
        get_resources,
    };
    let columns = [
        column("cold", cold, None),
        column("warm", warm, None),
        column("opted-in", &opted.run, Some(opted.pages)),
        column(&naive_label, &naive, None),
    ];
    let minimum = Minimum {
        label: "min+budget cold/warm/opted".to_owned(),
        actions: std::array::from_fn(|i| {
            format!(
                "{}/{}/{}",
                with_budget(min_cold[i], budget[i]),
                with_budget(min_warm[i], budget[i]),
                with_budget(opted_in.minimum[i], opted_in.budget[i])
            )
        }),
        get_resources: format!("-/-/{}", opted_in.pages_minimum),
        total: format!(
            "{}/{}/{}",
            with_budget(sum(&min_cold), sum(&budget)),
            with_budget(sum(&min_warm), sum(&budget)),
            with_budget(opted_in.minimum_total(), sum(&opted_in.budget))
        ),
        wall: format!("{}/{}/{}", secs(bound_cold), secs(bound_warm), secs(opted_in.bound)),
        redeployed: matches.to_string(),
    };
    calls_table(w, &columns, &minimum, "wall time (median)");
    let _ = writeln!(
        w,
        "cold, warm and opted-in: median of {REPEATS} runs; wall per run cold {cold_walls:.2?} s, warm \
         {warm_walls:.2?} s"
    );
    let _ = writeln!(w, "{}", opted_in.note(matches));
    for (name, m) in [
        ("cold", cold),
        ("warm", warm),
        ("opted-in", &opted.run),
        ("10k", &scale),
    ] {
        if !m.failures.is_empty() {
            let _ = writeln!(w, "{name} failures by step: {:?}", m.failures);
        }
    }
    if naive_clusters != CLUSTERS {
        let _ = writeln!(
            w,
            "naive ran on {naive_clusters} of {CLUSTERS} clusters; scaled ×{naive_scale:.1}: {naive_admitted_scaled} \
             calls, {}",
            secs(naive_wall_scaled)
        );
    }
    let _ = writeln!(
        w,
        "\nlower bounds (cold / warm / {scale_services}): token buckets {} / {} / {}; latency at {concurrency} in \
         flight {} / {} / {}",
        secs(bucket_cold),
        secs(bucket_warm),
        secs(bucket_scale),
        secs(latency_cold),
        secs(latency_warm),
        secs(latency_scale)
    );
    let _ = writeln!(
        w,
        "wall bound = max(bucket, latency): both are lower bounds on their own, the larger is the binding one"
    );
    burst.table(w);
    sweep.table(w);
    waves.table(w);
    functions.table(w);

    let mut goals: Vec<Goal> = Vec::new();
    let bound_scale = bucket_scale.max(latency_scale);
    for (name, runs, min, bound) in [
        ("cold", &colds, &min_cold, bound_cold),
        ("warm", &warms, &min_warm, bound_warm),
    ] {
        goals.push(calls_goal(
            &format!("{name} (all {REPEATS} runs)"),
            min,
            &budget,
            format!("{} (+{} throttled, median run)", runs.totals(), runs.median.throttled()),
            runs.all_admit_exactly(&plus(min, &budget)),
        ));
        goals.push(wall_goal(&format!("{name} (median)"), runs.median.wall, bound));
    }
    goals.extend(opted_in.goals(cold.admitted(), matches));
    let throttled = [cold, warm, &scale].map(|m| m.failed + m.scan_errors);
    goals.push((
        "no failures surfaced (cold/warm/10k)".to_owned(),
        format!(
            "{}/{}/{} (throttling: {}/{}/{})",
            throttled[0],
            throttled[1],
            throttled[2],
            cold.throttled_failures,
            warm.throttled_failures,
            scale.throttled_failures
        ),
        throttled.iter().all(|n| *n == 0),
    ));
    goals.push(calls_goal(
        &format!("{scale_services} services"),
        &min_scale,
        &scale_budget,
        format!("{} (+{} throttled)", scale.admitted(), scale.throttled()),
        admits_exactly(&scale, &plus(&min_scale, &scale_budget)),
    ));
    goals.push(wall_goal(
        &format!("{scale_services} services"),
        scale.wall,
        bound_scale,
    ));
    goals.push((
        format!("init ≤ {INIT_GOAL_MS} ms (median of {INIT_RUNS})"),
        format!("{init_median:.1} ms"),
        init_median <= INIT_GOAL_MS,
    ));
    goals.push((
        format!("peak RSS ≤ {RSS_GOAL_MIB} MiB ({services} services)"),
        format!("{peak_rss_mib:.1} MiB"),
        invoked.peak_rss_kib > 0 && peak_rss_mib <= RSS_GOAL_MIB,
    ));
    goals.push((
        format!("arm64 bootstrap ≤ {BOOTSTRAP_GOAL_BYTES} bytes (9 MiB)"),
        bootstrap.map_or("not built (make build)".to_owned(), |b| {
            format!("{b} bytes ({bootstrap_arch})")
        }),
        bootstrap.is_some_and(|b| b <= BOOTSTRAP_GOAL_BYTES) && bootstrap_arch == "arm64",
    ));
    goals.extend(burst.goals());
    goals.extend(sweep.goals());
    goals.extend(waves.goals());
    goals.extend(functions.goals());
    goals_table(w, &goals);
    let _ = writeln!(
        w,
        "\nseeding moto: {services} services {}, +{} more {}; naive {naive_admitted_scaled} calls in {}; release \
         binary invocation ({services} services): {} ({}); init samples ms: {:?}; bench total {}",
        secs(seed_small),
        scale_services - services,
        secs(seed_large),
        secs(naive_wall_scaled),
        secs(invoked.wall),
        invoked.outcome,
        init.iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        secs(started.elapsed())
    );
    print!("{t}");
    std::fs::write(out.join("table.txt"), &t).expect("table.txt");

    let parts = [
        json!({
            "services": services, "clusters": CLUSTERS, "revisions": REVISIONS, "matching": matches,
            "latency_ms": LATENCY.as_millis() as u64, "max_concurrency": concurrency,
            "calls_total": cold.admitted(), "calls_attempts": cold.counts.total().received,
            "calls_throttled": cold.throttled(), "calls_lower_bound": sum(&min_cold),
            "calls_running_budget": sum(&budget), "calls_all_runs": colds.totals(),
            "calls_by_action": ACTIONS.iter().map(|a| (a.to_string(), json!(cold.counts.action(a).forwarded)))
                .collect::<serde_json::Map<_, _>>(),
            "warm_calls_total": warm.admitted(), "warm_calls_lower_bound": sum(&min_warm),
            "warm_calls_all_runs": warms.totals(),
        }),
        opted_in.summary(),
        json!({
            "naive_calls_total": naive_admitted_scaled, "naive_wall_s": naive_wall_scaled.as_secs_f64(),
            "naive_measured_clusters": naive_clusters, "naive_failures": naive.failed,
            "wall_s": cold.wall.as_secs_f64(), "warm_wall_s": warm.wall.as_secs_f64(),
            "wall_samples_s": cold_walls, "warm_wall_samples_s": warm_walls,
            "wall_lower_bound_s": bound_cold.as_secs_f64(), "wall_bucket_bound_s": bucket_cold.as_secs_f64(),
            "wall_latency_bound_s": latency_cold.as_secs_f64(), "warm_wall_lower_bound_s": bound_warm.as_secs_f64(),
        }),
        json!({
            "throttle_failures": cold.failed + cold.scan_errors,
            "warm_throttle_failures": warm.failed + warm.scan_errors,
            "scale_services": scale_services, "scale_10k_wall_s": scale.wall.as_secs_f64(),
            "scale_10k_calls_total": scale.admitted(), "scale_10k_calls_lower_bound": sum(&min_scale),
            "scale_10k_calls_running_budget": sum(&scale_budget),
            "scale_10k_wall_lower_bound_s": bound_scale.as_secs_f64(),
            "scale_10k_failures": scale.failed + scale.scan_errors,
            "scale_10k_failures_by_step": scale.failures,
        }),
        json!({
            "seed_s": seed_small.as_secs_f64(), "seed_10k_extra_s": seed_large.as_secs_f64(),
            "init_ms": init_median, "init_samples_ms": init, "peak_rss_mb": peak_rss_mib,
            "invocation_wall_s": invoked.wall.as_secs_f64(), "bootstrap_bytes": bootstrap,
            "goals": goals.iter().map(|(g, m, met)| json!({"goal": g, "measured": m, "met": met}))
                .collect::<Vec<_>>(),
            "burst": burst.summary(), "sweep": sweep.summary(), "waves": waves.summary(),
            "functions": functions.summary(),
        }),
    ];
    let mut summary = serde_json::Map::new();
    for part in parts {
        if let serde_json::Value::Object(fields) = part {
            summary.extend(fields);
        }
    }
    write_summary(&out, &serde_json::Value::Object(summary));
    write_performance_page(root, &goals, &t);
    exit_on_miss(&goals);
}

const GENERATED_BEGIN: &str = "<!-- generated by make bench: begin -->";
const GENERATED_END: &str = "<!-- generated by make bench: end -->";

/// benches/README.md's measured part, between its two markers: the goals and the whole table as this run
/// printed them, so the documented numbers are the bench's own output. Only a full run writes it.
fn write_performance_page(root: &Path, goals: &[Goal], table: &str) {
    let path = root.join("benches/README.md");
    let page = std::fs::read_to_string(&path).expect("benches/README.md");
    let (Some(begin), Some(end)) = (page.find(GENERATED_BEGIN), page.find(GENERATED_END)) else {
        panic!("benches/README.md lacks its generated-part markers");
    };
    let generated = format!(
        "{GENERATED_BEGIN}\n{}\nThe whole output of that run:\n\n```text{table}```\n",
        goals_markdown(goals)
    );
    let page = format!("{}{generated}{}", &page[..begin], &page[end..]);
    std::fs::write(&path, page).expect("benches/README.md");
    eprintln!("wrote {}", path.display());
}

fn write_summary(out: &Path, summary: &serde_json::Value) {
    let text = serde_json::to_string_pretty(summary).expect("json");
    std::fs::write(out.join("summary.json"), text + "\n").expect("summary.json");
    eprintln!("wrote {}", out.join("summary.json").display());
}

/// `BENCH_ONLY=row`: one row alone, its goals, and a summary of only it.
fn alone(
    row: &str,
    config: &Config,
    out: &Path,
    started: Instant,
    table: impl FnOnce(&mut String),
    goals: &[Goal],
    summary: serde_json::Value,
) {
    let mut t = String::new();
    let _ = writeln!(
        t,
        "\necs-redeploy bench (BENCH_ONLY={row}); front: {} ms latency, ECS throttle buckets, limits enforced; \
         MAX_CONCURRENCY={}, RETRY_MODE={:?}, MAX_ATTEMPTS={}",
        LATENCY.as_millis(),
        config.max_concurrency.get(),
        config.retry_mode,
        config.max_attempts
    );
    table(&mut t);
    goals_table(&mut t, goals);
    let _ = writeln!(t, "\nbench total {}", secs(started.elapsed()));
    print!("{t}");
    std::fs::write(out.join("table.txt"), &t).expect("table.txt");
    write_summary(
        out,
        &json!({
            "only": row, "latency_ms": LATENCY.as_millis() as u64,
            "max_concurrency": config.max_concurrency.get(), row: summary,
        }),
    );
    exit_on_miss(goals);
}
