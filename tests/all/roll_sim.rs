//! slipway-roll on the simulated cloud, on virtual time: both strategies succeeding,
//! rolled back on an unhealthy version, a stuck instance, throttling, cancellation at
//! every phase, bad input changing nothing, and a busy group.

use std::time::Duration;

use async_trait::async_trait;
use slipway::config::Strategy;
use slipway::roll::{roll, AsgRollout, Ctx, Mode, Outcome, Plan, Request, Verdict};
use slipway::sim::{Faults, Settings, Sim};
use slipway::wait::{Check, Probe};
use tokio_util::sync::CancellationToken;

pub fn request(strategy: Strategy) -> Request {
    let mut req = Request::new("web-asg", strategy);
    req.version = "2".into();
    if strategy == Strategy::Refresh {
        req.min_healthy_percentage = 75;
        req.max_healthy_percentage = 125;
    }
    req
}

pub struct Rolled {
    pub plan: Option<Plan>,
    pub outcome: Outcome,
    pub code: u8,
}

pub async fn roll_with(sim: &Sim, req: &Request, cancel: CancellationToken, probes: Vec<Box<dyn Probe>>) -> Rolled {
    let mut ctx = Ctx::quiet(cancel);
    ctx.timeout = Duration::from_secs(600);
    ctx.probes = probes;
    let rolled = roll(&AsgRollout::new(sim.ports(), req.clone()), Mode::Roll, &mut ctx).await;
    let code = rolled.result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code, "the outcome's exit code is the error's");
    Rolled {
        plan: rolled.plan,
        outcome: rolled.outcome,
        code,
    }
}

pub async fn roll_on(sim: &Sim, strategy: Strategy) -> Rolled {
    roll_with(sim, &request(strategy), CancellationToken::new(), Vec::new()).await
}

/// Healthy capacity never dropped below `min` at any sampled instant.
pub fn min_healthy(sim: &Sim) -> i32 {
    sim.samples().iter().map(|s| s.healthy).min().unwrap_or(0)
}

/// Back on version 1 with the capacity restored. After a surge the original instances
/// are the ones serving (the new ones were removed); a refresh rolls back by replacing
/// instances, so there only the version and the count are checked.
fn assert_restored(sim: &Sim, strategy: Strategy, ids_before: &[String]) {
    let snap = sim.snapshot();
    assert!(snap.settled_on(1, 4), "not back on version 1: {snap:?}");
    assert_eq!(snap.launch_template_version, "1");
    assert_eq!(
        (snap.capacity.min, snap.capacity.max, snap.capacity.desired),
        (2, 8, 4),
        "{snap:?}"
    );
    let ids: Vec<String> = snap.instances.iter().map(|i| i.0.clone()).collect();
    assert_eq!(ids.len(), 4);
    if strategy == Strategy::Surge {
        assert_eq!(ids, ids_before, "the original instances serve again");
    }
}

fn ids(sim: &Sim) -> Vec<String> {
    sim.snapshot().instances.iter().map(|i| i.0.clone()).collect()
}

#[tokio::test(start_paused = true)]
async fn surge_replaces_every_instance_and_restores_capacity() {
    let sim = Sim::new(Settings::default(), Faults::default());
    let before = ids(&sim);
    let r = roll_on(&sim, Strategy::Surge).await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    let snap = sim.snapshot();
    assert!(snap.settled_on(2, 4), "{snap:?}");
    assert_eq!(snap.launch_template_version, "2");
    assert_eq!((snap.capacity.min, snap.capacity.max, snap.capacity.desired), (2, 8, 4));
    assert!(snap.instances.iter().all(|i| !before.contains(&i.0)));
    assert_eq!(r.outcome.asg().unwrap().instances_replaced, 4);
    assert_eq!(
        (
            r.outcome.asg().unwrap().previous_version,
            r.outcome.asg().unwrap().new_version
        ),
        (1, 2)
    );
    assert!(!r.outcome.rolled_back);
    assert!(min_healthy(&sim) >= 4, "{:?}", sim.samples());
    let ops: Vec<&str> = sim.mutations().iter().map(|c| c.operation).collect();
    assert_eq!(
        &ops[..3],
        ["UpdateAutoScalingGroup", "UpdateAutoScalingGroup", "DeregisterTargets"]
    );
    assert_eq!(
        ops.iter()
            .filter(|o| **o == "TerminateInstanceInAutoScalingGroup")
            .count(),
        4
    );
    // Virtual time, so exact: within 5% of the physical minimum (the polls' share).
    let minimum = Settings::default().surge_minimum().as_secs_f64();
    assert!(
        r.outcome.duration_seconds >= minimum && r.outcome.duration_seconds <= minimum * 1.05,
        "{} vs {minimum}",
        r.outcome.duration_seconds
    );
}

#[tokio::test(start_paused = true)]
async fn surge_raises_max_when_allowed_and_puts_it_back() {
    let settings = Settings {
        max: 4,
        ..Settings::default()
    };
    let sim = Sim::new(settings, Faults::default());
    let r = roll_on(&sim, Strategy::Surge).await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    let details: Vec<String> = sim.mutations().iter().map(|c| c.detail.clone()).collect();
    assert!(
        details.iter().any(|d| d.contains("max=Some(8) desired=Some(8)")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("max=Some(4) desired=None")),
        "{details:?}"
    );
    assert_eq!(sim.snapshot().capacity.max, 4);
}

#[tokio::test(start_paused = true)]
async fn surge_with_an_unhealthy_version_rolls_back_and_the_old_fleet_serves() {
    let faults = Faults {
        bad_versions: [2].into(),
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    let before = ids(&sim);
    let r = roll_on(&sim, Strategy::Surge).await;
    assert_eq!(r.code, 1, "{:?}", r.outcome);
    assert!(r.outcome.rolled_back);
    assert_eq!(r.outcome.result, Verdict::RolledBack);
    assert!(
        r.outcome.error.as_deref().unwrap().contains("failed its health checks"),
        "{:?}",
        r.outcome
    );
    assert_restored(&sim, Strategy::Surge, &before);
    assert_eq!(ids(&sim), before, "the original instances were never touched");
    assert!(min_healthy(&sim) >= 4);
}

#[tokio::test(start_paused = true)]
async fn surge_with_an_instance_that_never_boots_is_rolled_back() {
    let stuck = || Faults {
        stuck_launches: [3].into(),
        ..Faults::default()
    };
    // The group gives up on it after boot + grace (180s) and replaces it: the roll fails.
    let sim = Sim::new(Settings::default(), stuck());
    let before = ids(&sim);
    let r = roll_on(&sim, Strategy::Surge).await;
    assert_eq!(r.code, 1, "{:?}", r.outcome);
    assert!(r.outcome.rolled_back);
    assert!(
        r.outcome.error.as_deref().unwrap().contains("Unhealthy"),
        "{:?}",
        r.outcome
    );
    assert_restored(&sim, Strategy::Surge, &before);
    assert_eq!(ids(&sim), before);

    // With a deadline shorter than that, the roll times out waiting for it: exit 3.
    let sim = Sim::new(Settings::default(), stuck());
    let mut ctx = Ctx::quiet(CancellationToken::new());
    ctx.timeout = Duration::from_secs(150);
    let rolled = roll(
        &AsgRollout::new(sim.ports(), request(Strategy::Surge)),
        Mode::Roll,
        &mut ctx,
    )
    .await;
    let (outcome, result) = (rolled.outcome, rolled.result);
    assert_eq!(result.unwrap_err().exit_code(), 3, "{outcome:?}");
    assert!(outcome.rolled_back);
    assert!(outcome.error.as_deref().unwrap().contains("is Pending"), "{outcome:?}");
    assert_restored(&sim, Strategy::Surge, &before);
    assert_eq!(ids(&sim), before);
}

#[tokio::test(start_paused = true)]
async fn surge_rides_out_throttling_and_server_errors() {
    let faults = Faults {
        throttle: 0.3,
        server_error: 0.05,
        seed: 7,
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    let r = roll_on(&sim, Strategy::Surge).await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    assert!(sim.snapshot().settled_on(2, 4));
    assert!(sim.calls().iter().any(|c| c.error.as_deref() == Some("Throttling")));
    assert!(min_healthy(&sim) >= 4);
}

#[tokio::test(start_paused = true)]
async fn refresh_replaces_every_instance_and_reports_progress() {
    let sim = Sim::new(Settings::default(), Faults::default());
    let r = roll_on(&sim, Strategy::Refresh).await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    let snap = sim.snapshot();
    assert!(snap.settled_on(2, 4), "{snap:?}");
    assert_eq!(snap.launch_template_version, "2");
    assert_eq!(snap.refresh_status.as_deref(), Some("Successful"));
    assert!(min_healthy(&sim) >= 3, "75% of 4: {:?}", sim.samples());
    let start = sim
        .mutations()
        .into_iter()
        .find(|c| c.operation == "StartInstanceRefresh")
        .unwrap();
    assert!(start.detail.contains("version 2 min 75% max 125%"), "{}", start.detail);
    assert!(
        start.detail.contains("skip_matching=true auto_rollback=true"),
        "{}",
        start.detail
    );
}

#[tokio::test(start_paused = true)]
async fn refresh_with_an_unhealthy_version_is_rolled_back() {
    let faults = Faults {
        bad_versions: [2].into(),
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    let before = ids(&sim);
    let r = roll_on(&sim, Strategy::Refresh).await;
    assert_eq!(r.code, 1, "{:?}", r.outcome);
    assert!(r.outcome.rolled_back);
    assert_restored(&sim, Strategy::Refresh, &before);
    assert!(min_healthy(&sim) >= 3);
}

#[tokio::test(start_paused = true)]
async fn refresh_with_a_stuck_instance_is_rolled_back() {
    let faults = Faults {
        stuck_launches: [1].into(),
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    let before = ids(&sim);
    let r = roll_on(&sim, Strategy::Refresh).await;
    assert_eq!(r.code, 1, "{:?}", r.outcome);
    assert!(r.outcome.rolled_back);
    assert!(
        r.outcome.error.as_deref().unwrap().contains("RollbackInProgress"),
        "{:?}",
        r.outcome
    );
    assert_restored(&sim, Strategy::Refresh, &before);
}

#[tokio::test(start_paused = true)]
async fn refresh_rides_out_throttling() {
    let faults = Faults {
        throttle: 0.3,
        server_error: 0.05,
        seed: 11,
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    let r = roll_on(&sim, Strategy::Refresh).await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    assert!(sim.snapshot().settled_on(2, 4));
}

/// Cancels at `at` and checks the group ends fully restored or fully new, never between.
async fn cancel_at(strategy: Strategy, at: Duration) -> (u8, &'static str) {
    let sim = Sim::new(Settings::default(), Faults::default());
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(at).await;
        trigger.cancel();
    });
    let r = roll_with(&sim, &request(strategy), cancel, Vec::new()).await;
    let snap = sim.snapshot();
    let cap = (snap.capacity.min, snap.capacity.max, snap.capacity.desired);
    assert_eq!(cap, (2, 8, 4), "at {at:?}: capacity not restored: {snap:?}");
    let healthy_floor = if strategy == Strategy::Surge { 4 } else { 3 };
    assert!(min_healthy(&sim) >= healthy_floor, "at {at:?}: {:?}", sim.samples());
    match r.code {
        0 => assert!(snap.settled_on(2, 4), "finished before the cancel at {at:?}: {snap:?}"),
        130 => {
            if r.outcome.rolled_back || r.outcome.result == Verdict::Aborted {
                assert!(snap.settled_on(1, 4), "at {at:?}: {snap:?}");
                assert_eq!(snap.launch_template_version, "1");
            } else {
                assert_eq!(r.outcome.result, Verdict::Finished);
                assert!(snap.settled_on(2, 4), "at {at:?}: {snap:?}");
            }
        }
        code => panic!("at {at:?}: exit {code}: {:?}", r.outcome),
    }
    (r.code, r.outcome.result.as_str())
}

#[tokio::test(start_paused = true)]
async fn surge_cancelled_at_every_phase_cleans_up() {
    let mut results = std::collections::BTreeSet::new();
    for secs in (0..200).step_by(4) {
        results.insert(cancel_at(Strategy::Surge, Duration::from_millis(secs * 1000 + 500)).await);
    }
    for expected in [(130, "rolled_back"), (130, "finished"), (0, "succeeded")] {
        assert!(results.contains(&expected), "{expected:?} not seen: {results:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn refresh_cancelled_at_every_phase_cleans_up() {
    let mut results = std::collections::BTreeSet::new();
    for secs in (0..500).step_by(10) {
        results.insert(cancel_at(Strategy::Refresh, Duration::from_millis(secs * 1000 + 500)).await);
    }
    for expected in [(130, "rolled_back"), (0, "succeeded")] {
        assert!(results.contains(&expected), "{expected:?} not seen: {results:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_with_exit_2_and_changes_nothing() {
    let cases: Vec<(Settings, Request, &str)> = vec![
        (
            Settings::default(),
            Request {
                group: "nope".into(),
                ..request(Strategy::Surge)
            },
            "no Auto Scaling group named \"nope\"",
        ),
        (
            Settings::default(),
            Request {
                version: "9".into(),
                ..request(Strategy::Surge)
            },
            "has no version 9",
        ),
        (
            Settings::default(),
            Request {
                version: "9".into(),
                ..request(Strategy::Refresh)
            },
            "has no version 9",
        ),
        (
            Settings {
                max: 6,
                ..Settings::default()
            },
            Request {
                allow_raise_max: false,
                ..request(Strategy::Surge)
            },
            "max size 6",
        ),
        (
            Settings::default(),
            Request {
                launch_template: Some("other".into()),
                ..request(Strategy::Surge)
            },
            "not other",
        ),
    ];
    for (settings, req, message) in cases {
        let sim = Sim::new(settings, Faults::default());
        let r = roll_with(&sim, &req, CancellationToken::new(), Vec::new()).await;
        assert_eq!(r.code, 2, "{message}: {:?}", r.outcome);
        assert!(r.outcome.error.as_deref().unwrap().contains(message), "{:?}", r.outcome);
        assert!(r.plan.is_none());
        assert!(sim.mutations().is_empty(), "{:?}", sim.mutations());
    }
}

#[tokio::test(start_paused = true)]
async fn a_busy_group_is_refused_unless_asked_to_wait() {
    let sim = Sim::new(Settings::default(), Faults::default());
    sim.scale_to(5);
    let r = roll_on(&sim, Strategy::Surge).await;
    assert_eq!(r.code, 2, "{:?}", r.outcome);
    let error = r.outcome.error.unwrap();
    assert!(
        error.contains("is busy: scaling activity") && error.contains("Launching a new EC2 instance"),
        "{error}"
    );
    assert!(sim.mutations().is_empty());

    let req = Request {
        wait_for_idle: true,
        ..request(Strategy::Surge)
    };
    let r = roll_with(&sim, &req, CancellationToken::new(), Vec::new()).await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    assert!(sim.snapshot().settled_on(2, 5));
}

#[tokio::test(start_paused = true)]
async fn dry_run_plans_and_changes_nothing() {
    let sim = Sim::new(
        Settings {
            max: 4,
            ..Settings::default()
        },
        Faults::default(),
    );
    let mut ctx = Ctx::quiet(CancellationToken::new());
    let rolled = roll(
        &AsgRollout::new(sim.ports(), request(Strategy::Surge)),
        Mode::DryRun,
        &mut ctx,
    )
    .await;
    let (plan, outcome, result) = (rolled.plan, rolled.outcome, rolled.result);
    assert!(result.is_ok());
    assert_eq!(outcome.result, Verdict::DryRun);
    let plan = plan.unwrap();
    let text = plan.text();
    assert!(text.contains("update capacity: max 4 -> 8, desired 4 -> 8"), "{text}");
    assert!(text.contains("terminate"), "{text}");
    let json = serde_json::to_string(&plan).unwrap();
    let back: Plan = serde_json::from_str(&json).unwrap();
    assert_eq!(back, plan);
    assert!(sim.mutations().is_empty());
}

/// A probe standing in for "the health URL shows the new version".
struct VersionProbe {
    healthy: bool,
}

#[async_trait]
impl Probe for VersionProbe {
    fn kind(&self) -> &'static str {
        "http"
    }
    fn name(&self) -> String {
        "https://web.example.com/version".into()
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(5)
    }
    async fn poll(&mut self) -> slipway::Result<Check<String>> {
        Ok(if self.healthy {
            Check::Done("version 2".into())
        } else {
            Check::Failed("serves version 1, expected 2".into())
        })
    }
}

#[tokio::test(start_paused = true)]
async fn extra_probes_gate_the_roll() {
    for strategy in [Strategy::Surge, Strategy::Refresh] {
        let sim = Sim::new(Settings::default(), Faults::default());
        let r = roll_with(
            &sim,
            &request(strategy),
            CancellationToken::new(),
            vec![Box::new(VersionProbe { healthy: true })],
        )
        .await;
        assert_eq!(r.code, 0, "{:?}", r.outcome);

        let sim = Sim::new(Settings::default(), Faults::default());
        let before = ids(&sim);
        let r = roll_with(
            &sim,
            &request(strategy),
            CancellationToken::new(),
            vec![Box::new(VersionProbe { healthy: false })],
        )
        .await;
        assert_eq!(r.code, 1, "{:?}", r.outcome);
        assert!(
            r.outcome.error.as_deref().unwrap().contains("serves version 1"),
            "{:?}",
            r.outcome
        );
        assert!(r.outcome.rolled_back);
        assert_restored(&sim, strategy, &before);
    }
}

/// Reads the cleanup steps left while the gate runs, as a second signal would print them.
struct PendingProbe {
    pending: slipway::signal::Pending,
    seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

#[async_trait]
impl Probe for PendingProbe {
    fn kind(&self) -> &'static str {
        "http"
    }
    fn name(&self) -> String {
        "pending".into()
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(1)
    }
    async fn poll(&mut self) -> slipway::Result<Check<String>> {
        *self.seen.lock().unwrap() = self.pending.get();
        Ok(Check::Done("ok".into()))
    }
}

#[tokio::test(start_paused = true)]
async fn the_cleanup_left_to_do_is_kept_current_for_a_second_signal() {
    let sim = Sim::new(Settings::default(), Faults::default());
    let pending = slipway::signal::Pending::default();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let mut ctx = Ctx::new(
        CancellationToken::new(),
        pending.clone(),
        slipway::wait::Progress::hidden(),
    );
    ctx.quiet = true;
    ctx.probes = vec![Box::new(PendingProbe {
        pending: pending.clone(),
        seen: seen.clone(),
    })];
    let rolled = roll(
        &AsgRollout::new(sim.ports(), request(Strategy::Surge)),
        Mode::Roll,
        &mut ctx,
    )
    .await;
    let (outcome, result) = (rolled.outcome, rolled.result);
    assert!(result.is_ok(), "{outcome:?}");
    let during = seen.lock().unwrap().clone();
    assert_eq!(
        during,
        [
            "set web-asg's launch template back to version 1",
            "terminate the new instances of web-asg",
            "restore min 2, max 8, desired 4 on web-asg"
        ]
    );
    assert!(pending.get().is_empty(), "nothing left once done");
}

/// The simulated group moved onto `$Default` (default version 1) before the roll.
async fn on_default(sim: &Sim) {
    let g = sim.ports().asg.describe_group("web-asg").await.unwrap().unwrap();
    let mut spec = g.launch_template.unwrap();
    spec.version = "$Default".into();
    sim.ports().asg.set_launch_template("web-asg", &spec).await.unwrap();
}

fn operations(sim: &Sim) -> Vec<(&'static str, String)> {
    sim.mutations().into_iter().map(|c| (c.operation, c.detail)).collect()
}

/// AWS refuses AutoRollback for a group on $Latest or $Default (autoscaling model,
/// RefreshPreferences.AutoRollback): the simulator refuses what AWS refuses, on the group's
/// own version, whatever the desired one.
#[tokio::test(start_paused = true)]
async fn the_simulator_refuses_auto_rollback_for_a_group_on_default() {
    let sim = Sim::new(Settings::default(), Faults::default());
    on_default(&sim).await;
    let g = sim.ports().asg.describe_group("web-asg").await.unwrap().unwrap();
    let spec = slipway::cloud::RefreshSpec {
        launch_template: slipway::cloud::LaunchTemplateSpec {
            version: "2".into(),
            ..g.launch_template.unwrap()
        },
        min_healthy_percentage: 75,
        max_healthy_percentage: 125,
        instance_warmup: None,
        skip_matching: true,
        auto_rollback: true,
        alarms: Vec::new(),
        bake_time: None,
    };
    let err = sim.ports().asg.start_refresh("web-asg", &spec).await.unwrap_err();
    assert_eq!(err.code.as_deref(), Some("IrreversibleInstanceRefresh"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn a_group_on_default_is_refreshed_without_auto_rollback() {
    let sim = Sim::new(Settings::default(), Faults::default());
    on_default(&sim).await;
    let r = roll_on(&sim, Strategy::Refresh).await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    let snap = sim.snapshot();
    assert!(snap.settled_on(2, 4), "{snap:?}");
    assert_eq!(snap.launch_template_version, "2");
    let start = operations(&sim)
        .into_iter()
        .find(|(op, _)| *op == "StartInstanceRefresh")
        .unwrap();
    assert!(start.1.contains("auto_rollback=false"), "{}", start.1);
    let text = r.plan.unwrap().steps[0].describe();
    assert!(
        text.contains("auto rollback off: the group uses $Latest or $Default"),
        "{text}"
    );
}

/// Failing on a group AWS cannot roll back: slipway's cleanup refreshes it back onto the
/// numbered version it ran, and says rolled_back only once it serves again.
#[tokio::test(start_paused = true)]
async fn a_failing_refresh_of_a_group_on_default_is_refreshed_back_by_slipway() {
    let faults = Faults {
        bad_versions: [2].into(),
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    on_default(&sim).await;
    let r = roll_on(&sim, Strategy::Refresh).await;
    assert_eq!(r.code, 1, "{:?}", r.outcome);
    assert_eq!(r.outcome.result, Verdict::RolledBack, "{:?}", r.outcome);
    let snap = sim.snapshot();
    assert!(snap.settled_on(1, 4), "{snap:?}");
    assert_eq!(
        snap.launch_template_version, "1",
        "pinned: $Default would name what it names now"
    );
    let ops: Vec<&str> = operations(&sim).iter().map(|(op, _)| *op).collect();
    assert!(!ops.contains(&"RollbackInstanceRefresh"), "{ops:?}");
    assert_eq!(
        ops.iter().filter(|op| **op == "StartInstanceRefresh").count(),
        2,
        "{ops:?}"
    );
}

/// Interrupted mid-refresh on such a group: cancelled, waited for, refreshed back.
#[tokio::test(start_paused = true)]
async fn an_interrupted_refresh_of_a_group_on_default_is_cancelled_and_refreshed_back() {
    let sim = Sim::new(Settings::default(), Faults::default());
    on_default(&sim).await;
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(100)).await;
        trigger.cancel();
    });
    let r = roll_with(&sim, &request(Strategy::Refresh), cancel, Vec::new()).await;
    assert_eq!(r.code, 130, "{:?}", r.outcome);
    assert_eq!(r.outcome.result, Verdict::RolledBack, "{:?}", r.outcome);
    let ops: Vec<&str> = operations(&sim).iter().map(|(op, _)| *op).collect();
    let cancelled = ops
        .iter()
        .position(|op| *op == "CancelInstanceRefresh")
        .expect("cancelled");
    let back = ops.iter().rposition(|op| *op == "StartInstanceRefresh").unwrap();
    assert!(cancelled < back, "{ops:?}");
    assert!(!ops.contains(&"RollbackInstanceRefresh"), "{ops:?}");
    let snap = sim.snapshot();
    assert!(snap.settled_on(1, 4), "{snap:?}");
    assert_eq!(snap.launch_template_version, "1");
}
