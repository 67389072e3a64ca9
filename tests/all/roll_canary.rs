//! A surge's canary (`asg.canary`, `asg.canary_bake`) on the simulated group, on virtual
//! time: the canary instances launch first and serve beside the old ones through their
//! bake before the rest of the surge; a canary failing its health checks, an alarm in
//! its bake and Ctrl-C in its bake each remove just the canary (the group never grew past
//! it) and leave the original instances serving; a canary as large as the group is bad
//! input changing nothing.

use std::sync::Arc;
use std::time::Duration;

use slipway::cloud::AlarmState;
use slipway::config::Strategy;
use slipway::roll::{roll, AsgRollout, Ctx, Mode, Outcome, Verdict};
use slipway::sim::{Faults, Settings, Sim};
use tokio_util::sync::CancellationToken;

use crate::roll_sim::{min_healthy, request};

const BAKE: Duration = Duration::from_secs(300);

fn canary_request(count: i32) -> slipway::roll::Request {
    let mut req = request(Strategy::Surge);
    req.canary = Some((count, BAKE));
    req
}

async fn roll_canary(sim: &Sim, count: i32, ctx: &mut Ctx) -> Outcome {
    let rolled = roll(&AsgRollout::new(sim.ports(), canary_request(count)), Mode::Roll, ctx).await;
    let code = rolled.result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code, "{:?}", rolled.outcome);
    rolled.outcome
}

fn ctx(cancel: CancellationToken) -> Ctx {
    let mut ctx = Ctx::quiet(cancel);
    ctx.timeout = Duration::from_secs(1200);
    ctx
}

/// The capacity changes the roll made, as (virtual second, detail).
fn sizes(sim: &Sim) -> Vec<(f64, String)> {
    sim.mutations()
        .into_iter()
        .filter(|c| c.operation == "UpdateAutoScalingGroup" && c.detail.contains("desired="))
        .map(|c| (c.at, c.detail))
        .collect()
}

fn ids(sim: &Sim) -> Vec<String> {
    sim.snapshot().instances.iter().map(|i| i.0.clone()).collect()
}

/// The original instances serve again on version 1 and the group never grew past the canary.
fn just_the_canary_removed(sim: &Sim, before: &[String], o: &Outcome) {
    assert_eq!((o.result, o.rolled_back), (Verdict::RolledBack, true), "{o:?}");
    let snap = sim.snapshot();
    assert!(snap.settled_on(1, 4), "{snap:?}");
    assert_eq!(ids(sim), before, "the original instances serve");
    assert_eq!(snap.capacity.desired, 4);
    let grew: Vec<_> = sizes(sim)
        .into_iter()
        .filter(|(_, d)| d.contains("desired=Some(8)"))
        .collect();
    assert!(grew.is_empty(), "the rest of the surge never started: {grew:?}");
    assert!(min_healthy(sim) >= 4, "{:?}", sim.samples());
}

#[tokio::test(start_paused = true)]
async fn the_canary_serves_through_its_bake_before_the_rest_of_the_surge() {
    let sim = Sim::new(Settings::default(), Faults::default());
    let before = ids(&sim);
    let o = roll_canary(&sim, 1, &mut ctx(CancellationToken::new())).await;
    assert_eq!((o.exit_code, o.result), (0, Verdict::Succeeded), "{o:?}");
    let snap = sim.snapshot();
    assert!(snap.settled_on(2, 4), "{snap:?}");
    assert!(snap.instances.iter().all(|i| !before.contains(&i.0)));
    let sizes = sizes(&sim);
    let at = |needle: &str| {
        sizes
            .iter()
            .find(|(_, d)| d.contains(needle))
            .map(|(t, _)| *t)
            .unwrap_or_else(|| panic!("{needle} in {sizes:?}"))
    };
    // One canary first (desired 5), then, after its boot and its 5-minute bake, the rest (8).
    let (canary, rest) = (at("desired=Some(5)"), at("desired=Some(8)"));
    let boot = Settings::default().boot.as_secs_f64();
    assert!(rest - canary >= boot + BAKE.as_secs_f64(), "{sizes:?}");
    assert!(min_healthy(&sim) >= 4, "{:?}", sim.samples());
    let surge = Settings::default().surge_minimum().as_secs_f64();
    assert!(o.duration_seconds >= surge + BAKE.as_secs_f64(), "{o:?}");
}

#[tokio::test(start_paused = true)]
async fn a_canary_failing_its_health_checks_removes_just_the_canary() {
    let faults = Faults {
        bad_versions: [2].into(),
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    let before = ids(&sim);
    let o = roll_canary(&sim, 1, &mut ctx(CancellationToken::new())).await;
    assert_eq!(o.exit_code, 1, "{o:?}");
    assert!(
        o.error.as_deref().unwrap().contains("failed its health checks"),
        "{o:?}"
    );
    just_the_canary_removed(&sim, &before, &o);
}

#[tokio::test(start_paused = true)]
async fn an_alarm_or_ctrl_c_in_the_canary_bake_removes_just_the_canary() {
    // The canary is healthy after boot + grace; the alarm trips 2 minutes into its bake.
    let settings = Settings::default();
    let in_bake = settings.boot + Duration::from_secs(120) + Duration::from_secs(120);
    let sim = Sim::new(settings.clone(), Faults::default());
    let before = ids(&sim);
    let alarms = sim.alarms();
    alarms.put("web-5xx", AlarmState::Ok);
    alarms.set_all_after(in_bake, AlarmState::Alarm);
    let mut c = ctx(CancellationToken::new());
    c.alarms = vec!["web-5xx".into()];
    c.alarm_port = Some(Arc::new(alarms));
    let o = roll_canary(&sim, 1, &mut c).await;
    assert_eq!((o.exit_code, o.alarm.as_deref()), (1, Some("web-5xx")), "{o:?}");
    just_the_canary_removed(&sim, &before, &o);

    let sim = Sim::new(settings, Faults::default());
    let before = ids(&sim);
    let cancel = CancellationToken::new();
    let fire = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(in_bake).await;
        fire.cancel();
    });
    let o = roll_canary(&sim, 1, &mut ctx(cancel)).await;
    assert_eq!(o.exit_code, 130, "{o:?}");
    assert!(o.error.as_deref().unwrap().contains("during the canary bake"), "{o:?}");
    just_the_canary_removed(&sim, &before, &o);
}

#[tokio::test(start_paused = true)]
async fn a_canary_as_large_as_the_group_is_refused_and_the_dry_run_shows_it() {
    let sim = Sim::new(Settings::default(), Faults::default());
    let o = roll_canary(&sim, 4, &mut ctx(CancellationToken::new())).await;
    assert_eq!((o.exit_code, o.result), (2, Verdict::Refused), "{o:?}");
    let error = o.error.unwrap();
    assert!(error.contains("asg.canary 4 is not fewer than"), "{error}");
    assert!(sim.mutations().is_empty());

    let mut c = ctx(CancellationToken::new());
    let rolled = roll(&AsgRollout::new(sim.ports(), canary_request(2)), Mode::DryRun, &mut c).await;
    let plan = rolled.plan.expect("a plan");
    let text = plan.text();
    assert!(
        text.contains("canary: 2 new instance(s) serve beside the old ones for 5m"),
        "{text}"
    );
    assert!(sim.mutations().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_canary_that_never_boots_times_out_and_is_removed() {
    // The canary's launch never leaves Pending; a deadline shorter than the group's own
    // give-up: the wait for the canary times out (exit 3) and just the canary goes.
    let faults = Faults {
        stuck_launches: [1].into(),
        ..Faults::default()
    };
    let sim = Sim::new(Settings::default(), faults);
    let before = ids(&sim);
    let mut c = ctx(CancellationToken::new());
    c.timeout = Duration::from_secs(150);
    let o = roll_canary(&sim, 1, &mut c).await;
    assert_eq!(o.exit_code, 3, "{o:?}");
    just_the_canary_removed(&sim, &before, &o);
}
