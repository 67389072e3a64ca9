//! The randomized harness: 500 simulated rolls through the one driver, a fifth of them
//! CodeDeploy blue/green deployments, a quarter ECS rollouts and the rest Auto Scaling
//! rolls (surge, some with a canary, and refresh), with injected faults (throttling, 5xx, an unhealthy new version, a crashing,
//! late-crashing or erroring image, instances that never boot, cancellation at a random
//! instant), checking the invariants at every virtual instant the simulator sampled:
//! healthy capacity never below the minimum; production traffic never on a task set
//! without a healthy task; the end state is all new or fully restored (capacity, min,
//! max, launch template version or task definition); no orphans; the verdict matches the
//! end state. Then the mix: most rolls
//! succeed and none is refused (no input here is bad), so a regression that refuses or
//! fails every roll cannot pass. Auto Scaling blue/green has its own randomized runs
//! (fleets, boots, weight steps, step bakes, faults, alarms, signals): production traffic
//! only on target groups with healthy targets, never fewer healthy instances behind the
//! weighted target groups than the live group's minimum, all new or fully back.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use slipway::cloud::{DeploymentSettings, LifecycleStage, NativeStrategy};
use slipway::config::Strategy;
use slipway::roll::ecs::{EcsRequest, EcsRollout};
use slipway::roll::{self, Ctx, Mode, Request, Verdict};

use crate::roll_bluegreen_sim as bg;
use slipway::sim::{EcsFaults, EcsSettings, Faults, Settings, Sim, SimEcs};
use tokio_util::sync::CancellationToken;

use crate::roll_sim::roll_with;

const RUNS: u64 = 500;

#[tokio::test(start_paused = true)]
async fn five_hundred_rolls_with_faults_keep_the_invariants() {
    let mut rng = StdRng::seed_from_u64(20_261_122);
    let mut violations = Vec::new();
    let mut tally = std::collections::BTreeMap::new();
    for run in 0..RUNS {
        if rng.random_bool(0.2) {
            let (tally_key, problems) = codedeploy_run(&mut rng, run).await;
            *tally.entry(tally_key).or_insert(0) += 1;
            violations.extend(problems);
            continue;
        }
        if rng.random_bool(0.33) {
            let (tally_key, problems) = ecs_run(&mut rng, run).await;
            *tally.entry(tally_key).or_insert(0) += 1;
            violations.extend(problems);
            continue;
        }
        let strategy = if rng.random_bool(0.5) {
            Strategy::Surge
        } else {
            Strategy::Refresh
        };
        let fleet = rng.random_range(1..=8);
        let (min_pct, max_pct) = [(100, 200), (90, 110), (75, 125), (50, 100), (0, 100)][rng.random_range(0..5)];
        let settings = Settings {
            fleet,
            min: rng.random_range(0..=fleet),
            max: if rng.random_bool(0.5) { fleet } else { fleet * 2 },
            boot: Duration::from_secs(rng.random_range(10..120)),
            grace: Duration::from_secs(rng.random_range(30..180)),
            deregistration_delay: Duration::from_secs(rng.random_range(0..60)),
            target_groups: (0..rng.random_range(0..=2)).map(|n| format!("tg{n}")).collect(),
            ..Settings::default()
        };
        let faults = Faults {
            throttle: if rng.random_bool(0.3) {
                rng.random_range(0.0..0.3)
            } else {
                0.0
            },
            server_error: if rng.random_bool(0.2) {
                rng.random_range(0.0..0.05)
            } else {
                0.0
            },
            bad_versions: if rng.random_bool(0.2) {
                [2].into()
            } else {
                Default::default()
            },
            stuck_launches: if rng.random_bool(0.15) {
                [rng.random_range(1..=fleet as u32 * 2)].into()
            } else {
                Default::default()
            },
            seed: run,
            ..Faults::default()
        };
        let cancel_after = rng
            .random_bool(0.25)
            .then(|| Duration::from_millis(rng.random_range(0..400_000)));
        let mut req = Request::new(&settings.group, strategy);
        req.version = "2".into();
        req.min_healthy_percentage = min_pct;
        req.max_healthy_percentage = max_pct;
        if strategy == Strategy::Surge && fleet >= 2 && rng.random_bool(0.4) {
            req.canary = Some((
                rng.random_range(1..fleet),
                Duration::from_secs(rng.random_range(0..300)),
            ));
        }
        let floor = match strategy {
            Strategy::Surge => fleet,
            // The sim has no target groups to be healthy in when there are none; ceil(min% of fleet).
            Strategy::Refresh => (fleet * min_pct + 99) / 100,
            Strategy::BlueGreen => unreachable!("blue/green has its own harness"),
        };
        let label = format!(
            "run {run}: {strategy:?} canary {:?} fleet {fleet} min {}/max {} {min_pct}-{max_pct}% tgs {} boot {:?} grace {:?} drain {:?} faults {faults:?} cancel {cancel_after:?}",
            req.canary,
            settings.min,
            settings.max,
            settings.target_groups.len(),
            settings.boot,
            settings.grace,
            settings.deregistration_delay
        );
        let before = (settings.min, settings.max, fleet);
        let sim = Sim::new(settings, faults);
        let cancel = CancellationToken::new();
        if let Some(at) = cancel_after {
            let trigger = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(at).await;
                trigger.cancel();
            });
        }
        let r = roll_with(&sim, &req, cancel.clone(), Vec::new()).await;
        cancel.cancel();
        let snap = sim.snapshot();
        let mut problems = Vec::new();
        let low = sim.samples().into_iter().find(|s| s.healthy < floor);
        if let Some(s) = low {
            problems.push(format!("healthy capacity {} < {floor} at {:.1}s", s.healthy, s.at));
        }
        let cap = (snap.capacity.min, snap.capacity.max, snap.capacity.desired);
        if r.code != 2 && cap != before {
            problems.push(format!("capacity {cap:?}, expected {before:?}"));
        }
        let new = snap.settled_on(2, fleet) && snap.launch_template_version == "2";
        let old = snap.settled_on(1, fleet) && snap.launch_template_version == "1";
        if !new && !old {
            problems.push(format!("neither all new nor restored: {snap:?}"));
        }
        if (r.code == 0 && !new) || (r.outcome.rolled_back && !old) {
            problems.push(format!(
                "exit {} / {} does not match the end state",
                r.code, r.outcome.result
            ));
        }
        if r.code == 2 && !sim.mutations().is_empty() {
            problems.push("refused, yet changed something".into());
        }
        *tally
            .entry(format!(
                "asg{} exit {} {}",
                if req.canary.is_some() { " canary" } else { "" },
                r.code,
                r.outcome.result
            ))
            .or_insert(0) += 1;
        if !problems.is_empty() {
            let calls = sim.calls();
            let tail: Vec<String> = calls
                .iter()
                .filter(|c| c.mutating)
                .map(|c| format!("{:.1}s {} {} {:?}", c.at, c.operation, c.detail, c.error))
                .collect();
            violations.push(format!(
                "{label}\n    {}\n    error: {:?}\n    mutations: {}",
                problems.join("\n    "),
                r.outcome.error,
                tail.join("\n      ")
            ));
        }
    }
    eprintln!("roll harness: {RUNS} runs");
    for (outcome, n) in &tally {
        eprintln!("  {n:>4}  {outcome}");
    }
    eprintln!("violations: {}", violations.len());
    for v in &violations {
        eprintln!("  {v}");
    }
    assert!(violations.is_empty(), "{} violation(s); see above", violations.len());
    let count = |f: &dyn Fn(&str) -> bool| tally.iter().filter(|(k, _)| f(k)).map(|(_, n)| n).sum::<u64>();
    let succeeded = count(&|k| k.ends_with(" succeeded"));
    let refused = count(&|k| k.contains(" exit 2 "));
    assert_eq!(refused, 0, "no input here is bad, yet rolls were refused: {tally:?}");
    assert!(
        succeeded * 2 > RUNS,
        "most rolls succeed: {succeeded} of {RUNS}: {tally:?}"
    );
    for target in [
        "asg exit",
        "asg canary",
        "ecs rolling",
        "ecs blue_green",
        "ecs canary",
        "ecs linear",
        "codedeploy",
    ] {
        for verdict in ["succeeded", "rolled_back"] {
            assert!(
                count(&|k| k.starts_with(target) && k.ends_with(verdict)) > 0,
                "some {target} rolls end {verdict}: {tally:?}"
            );
        }
    }
}

const TD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:";

/// One ECS rollout with random faults: its tally key and its invariant violations.
async fn ecs_run(rng: &mut StdRng, run: u64) -> (String, Vec<String>) {
    let image = format!("registry.example/web:{run}");
    let strategy = [
        None,
        Some(NativeStrategy::BlueGreen),
        Some(NativeStrategy::Canary),
        Some(NativeStrategy::Linear),
    ][rng.random_range(0..4)]
    .clone();
    let deployment = strategy.clone().map(|strategy| DeploymentSettings {
        strategy,
        bake: Duration::from_secs(60 * rng.random_range(0..3)),
        canary: Some((
            rng.random_range(5.0..50.0_f64).round(),
            Duration::from_secs(60 * rng.random_range(1..3)),
        )),
        linear: Some(([25.0, 33.0, 50.0][rng.random_range(0..3)], Duration::from_secs(60))),
        alarms: Vec::new(),
        pause_after_test_traffic: rng.random_bool(0.6),
        pause_timeout: Duration::from_secs(20 * 60),
    });
    let native = deployment.is_some();
    let settings = EcsSettings {
        desired: rng.random_range(1..=6),
        start: Duration::from_secs(rng.random_range(5..60)),
        health: Duration::from_secs(rng.random_range(5..60)),
        drain: Duration::from_secs(rng.random_range(0..60)),
        circuit_breaker: rng.random_bool(0.7),
        load_balancers: if native {
            vec![crate::roll_ecs_native::blue_green_load_balancer()]
        } else {
            Vec::new()
        },
        ..EcsSettings::default()
    };
    let faults = EcsFaults {
        throttle: if rng.random_bool(0.3) {
            rng.random_range(0.0..0.3)
        } else {
            0.0
        },
        bad_images: if rng.random_bool(0.25) {
            [image.clone()].into()
        } else {
            Default::default()
        },
        erroring_images: if native && rng.random_bool(0.2) {
            [image.clone()].into()
        } else {
            Default::default()
        },
        fail_at_stage: if native && rng.random_bool(0.2) {
            Some(
                [
                    LifecycleStage::PostTestTrafficShift,
                    LifecycleStage::ProductionTrafficShift,
                    LifecycleStage::BakeTime,
                ][rng.random_range(0..3)]
                .clone(),
            )
        } else {
            None
        },
        seed: run,
        ..EcsFaults::default()
    };
    let cancel_after = rng
        .random_bool(0.25)
        .then(|| Duration::from_millis(rng.random_range(0..300_000)));
    let label = format!("run {run}: ecs {settings:?} {faults:?} cancel {cancel_after:?}");
    let desired = settings.desired;
    let sim = SimEcs::new(settings, faults);
    let req = EcsRequest {
        environment: Vec::new(),
        test_urls: usize::from(deployment.as_ref().is_some_and(|d| d.pause_after_test_traffic)),
        deployment,
        ..crate::support::sim_ecs_request(&image)
    };
    let cancel = CancellationToken::new();
    if let Some(at) = cancel_after {
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            trigger.cancel();
        });
    }
    let mut ctx = Ctx::quiet(cancel.clone());
    ctx.poll = Duration::from_secs(5);
    ctx.timeout = Duration::from_secs(600);
    ctx.test_probes = vec![Box::new(sim.test_listener())];
    let rolled = roll::roll(&EcsRollout::new(&sim.ports(), req), Mode::Roll, &mut ctx).await;
    cancel.cancel();
    let o = rolled.outcome;
    let snap = sim.snapshot();
    let mut problems = Vec::new();
    if snap.min_healthy < desired {
        problems.push(format!("healthy tasks fell to {} < {desired}", snap.min_healthy));
    }
    if snap.traffic_on_unhealthy > 0 {
        problems.push(format!(
            "production traffic went to unhealthy tasks at {} instant(s)",
            snap.traffic_on_unhealthy
        ));
    }
    let settled_on = |revision: u32| {
        let td = format!("{TD}{revision}");
        snap.task_definition == td
            && snap.deployments.len() == 1
            && snap.healthy.len() == desired as usize
            && snap.healthy.iter().all(|t| *t == td)
            && snap.production == vec![(td.clone(), 100.0)]
    };
    match o.result {
        Verdict::Succeeded | Verdict::Finished if !settled_on(2) => {
            problems.push(format!("{}, yet {snap:?}", o.result))
        }
        Verdict::RolledBack | Verdict::Aborted if !settled_on(1) => {
            problems.push(format!("{}, yet not restored: {snap:?}", o.result))
        }
        Verdict::Succeeded | Verdict::Finished | Verdict::RolledBack | Verdict::Aborted => {}
        other => problems.push(format!("unexpected result {other}: {o:?}")),
    }
    if o.exit_code != rolled.result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0) {
        problems.push(format!("exit code {} differs from the error's", o.exit_code));
    }
    let problems = problems
        .into_iter()
        .map(|p| format!("{label}\n    {p}\n    error: {:?}", o.error))
        .collect();
    let name = o.ecs().map(|d| d.strategy.clone()).unwrap_or_default();
    (format!("ecs {name} exit {} {}", o.exit_code, o.result), problems)
}

/// One CodeDeploy deployment with random faults: its tally key and its invariant violations.
async fn codedeploy_run(rng: &mut StdRng, run: u64) -> (String, Vec<String>) {
    use crate::roll_codedeploy_sim::{faults, request, settings, Bad};
    use slipway::roll::codedeploy::CodeDeployRollout;
    use slipway::sim::codedeploy::TestListener;
    use slipway::sim::CdSettings;

    let image = format!("registry.example/web:{run}");
    let gate = rng.random_bool(0.4);
    let configs = [
        "CodeDeployDefault.ECSAllAtOnce",
        "CodeDeployDefault.ECSCanary10Percent5Minutes",
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes",
        "CustomConfig",
    ];
    let cd = CdSettings {
        config: configs[rng.random_range(0..configs.len())].into(),
        waits_for_ready: gate || rng.random_bool(0.1),
        ready_wait: Duration::from_secs(rng.random_range(60..1200)),
        termination_wait: Duration::from_secs(rng.random_range(0..600)),
        ..CdSettings::default()
    };
    let mut s = settings(cd);
    s.desired = rng.random_range(1..=6);
    s.start = Duration::from_secs(rng.random_range(5..60));
    s.health = Duration::from_secs(rng.random_range(5..60));
    s.drain = Duration::from_secs(rng.random_range(0..60));
    let bad = match rng.random_range(0..8) {
        0 => Bad::Crash,
        1 => Bad::Late(s.health.as_secs() + rng.random_range(1..900)),
        2 if gate => Bad::Erroring,
        _ => Bad::No,
    };
    let mut f = faults(bad, &image);
    f.throttle = if rng.random_bool(0.3) {
        rng.random_range(0.0..0.3)
    } else {
        0.0
    };
    f.seed = run;
    let cancel_after = rng
        .random_bool(0.25)
        .then(|| Duration::from_millis(rng.random_range(0..900_000)));
    let label = format!("run {run}: codedeploy {s:?} {f:?} gate {gate} cancel {cancel_after:?}");
    let desired = s.desired;
    let sim = SimEcs::new(s, f);
    let cancel = CancellationToken::new();
    if let Some(at) = cancel_after {
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            trigger.cancel();
        });
    }
    let mut ctx = Ctx::quiet(cancel.clone());
    ctx.poll = Duration::from_secs(5);
    ctx.timeout = Duration::from_secs(900);
    if gate {
        ctx.test_probes = vec![Box::new(TestListener {
            sim: sim.clone(),
            interval: Duration::from_secs(5),
        })];
    }
    let rollout = CodeDeployRollout::new(&sim.ports(), request(&image, gate));
    let rolled = roll::roll(&rollout, Mode::Roll, &mut ctx).await;
    cancel.cancel();
    let o = rolled.outcome;
    let snap = sim.snapshot();
    let mut problems = Vec::new();
    if !snap.unhealthy_traffic.is_empty() {
        problems.push(format!(
            "production traffic on unhealthy tasks: {:?}",
            snap.unhealthy_traffic
        ));
    }
    let serving = |revision: u32| {
        let td = format!("{TD}{revision}");
        snap.task_definition == td
            && snap.traffic == 0.0
            && snap.healthy.iter().filter(|t| **t == td).count() == desired as usize
    };
    let (new, old) = (serving(2), serving(1) && snap.healthy.iter().all(|t| t.ends_with(":1")));
    if !new && !old {
        problems.push(format!("neither all new nor all old: {snap:?}"));
    }
    match o.result {
        Verdict::Succeeded | Verdict::Finished if !new => problems.push(format!("{}, yet {snap:?}", o.result)),
        Verdict::RolledBack | Verdict::Aborted if !old => {
            problems.push(format!("{}, yet not restored: {snap:?}", o.result))
        }
        Verdict::Succeeded | Verdict::Finished | Verdict::RolledBack | Verdict::Aborted => {}
        other => problems.push(format!("unexpected result {other}: {o:?}")),
    }
    if bad != Bad::No && o.result == Verdict::Succeeded && !matches!(bad, Bad::Late(_)) {
        problems.push(format!("a failing version succeeded: {o:?}"));
    }
    if o.exit_code != rolled.result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0) {
        problems.push(format!("exit code {} differs from the error's", o.exit_code));
    }
    let problems = problems
        .into_iter()
        .map(|p| format!("{label}\n    {p}\n    error: {:?}", o.error))
        .collect();
    (format!("codedeploy exit {} {}", o.exit_code, o.result), problems)
}

/// Random fleets, timings, steps, faults, alarms and signals: whatever happens, the
/// traffic invariants hold and the roll ends either on the new group or rolled back.
#[tokio::test(start_paused = true)]
async fn randomized_blue_green_keeps_traffic_on_healthy_targets() {
    let mut succeeded = 0;
    let runs = 60u64;
    for run in 0..runs {
        let mut rng = StdRng::seed_from_u64(run);
        let fleet = rng.random_range(1..=8);
        let settings = Settings {
            fleet,
            min: (fleet / 2).max(1),
            max: fleet * 2,
            boot: Duration::from_secs(rng.random_range(10..=120)),
            grace: Duration::from_secs(rng.random_range(30..=180)),
            ..Settings::default()
        };
        let min = settings.min;
        let faults = Faults {
            bad_versions: if rng.random_bool(0.2) {
                [2].into()
            } else {
                Default::default()
            },
            stuck_launches: if rng.random_bool(0.15) {
                [rng.random_range(1..=fleet as u32)].into()
            } else {
                Default::default()
            },
            throttle: if rng.random_bool(0.3) { 0.2 } else { 0.0 },
            seed: run,
            ..Faults::default()
        };
        let steps: Vec<u8> = match rng.random_range(0..3) {
            0 => vec![100],
            1 => vec![10, 50, 100],
            _ => vec![rng.random_range(1..=99), 100],
        };
        let mut req = bg::request(&steps);
        req.step_bake = Duration::from_secs(rng.random_range(0..=180));
        let pair = bg::cloud(settings, faults.clone());
        let alarm = rng.random_bool(0.25).then(|| rng.random_range(0..600));
        if let Some(at) = alarm {
            pair.alarms()
                .set_all_after(Duration::from_secs(at), slipway::cloud::AlarmState::Alarm);
        }
        let cancel = tokio_util::sync::CancellationToken::new();
        let signal = rng.random_bool(0.25).then(|| rng.random_range(0..600_000));
        if let Some(ms) = signal {
            let trigger = cancel.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                trigger.cancel();
            });
        }
        let bake = Duration::from_secs(rng.random_range(0..=240));
        let r = bg::roll_bg(&pair, &req, cancel, Duration::from_secs(900), bake).await;
        let label =
            format!("run {run}: fleet {fleet} steps {steps:?} faults {faults:?} alarm {alarm:?} signal {signal:?}");
        let broken = pair.violations(min);
        assert!(broken.is_empty(), "{label}: {broken:#?}");
        let forward = pair.forward();
        let on_new = forward.percent(&forward.target_groups[1].arn);
        match r.outcome.result {
            Verdict::Succeeded => {
                succeeded += 1;
                assert_eq!(on_new, 100, "{label}");
                assert_eq!(bg::groups(&pair)[0].2, 0, "{label}: old group at zero");
            }
            Verdict::RolledBack => {
                assert_eq!(on_new, 0, "{label}");
                let [a, b] = bg::groups(&pair);
                assert_eq!((b.2, b.3.as_str()), (0, "1"), "{label}: {b:?}");
                assert_eq!(a.2, fleet, "{label}: the old group untouched");
            }
            other => panic!("{label}: {other:?} {:?}", r.outcome),
        }
    }
    // Most runs have no fault that must stop them: a regression rolling every one back fails.
    assert!(
        succeeded * 3 >= runs,
        "only {succeeded} of {runs} blue/green runs succeeded"
    );
}
