//! Auto Scaling blue/green on the simulated cloud (two groups behind a weighted
//! listener), on virtual time: success with every weight step in order, a failing new
//! version, a launch that never boots, an alarm at every step, a timeout, a signal at
//! every phase, keep_old and the next roll scaling the kept group down first, a version
//! breaking under traffic, drift refused by --apply (the randomized runs are in
//! roll_harness.rs). Every run checks the traffic invariants: production traffic only
//! on target groups with healthy targets, and never fewer healthy instances behind the
//! weighted target groups than the live group's minimum.

use std::time::Duration;

use slipway::cloud::AlarmState;
use slipway::roll::asg::bluegreen::{BgPlan, BgRequest, BlueGreenRollout};
use slipway::roll::{roll, Ctx, Mode, Outcome, Verdict};
use slipway::sim::bluegreen::LISTENER;
use slipway::sim::{Faults, Settings, SimPair};
use tokio_util::sync::CancellationToken;

const ALARM: &str = "web-5xx";

pub fn request(steps: &[u8]) -> BgRequest {
    BgRequest {
        groups: ["web-a".into(), "web-b".into()],
        listener: LISTENER.into(),
        launch_template: None,
        version: "2".into(),
        steps: steps.to_vec(),
        step_bake: Duration::from_secs(120),
        keep_old: None,
        wait_for_idle: false,
    }
}

pub fn cloud(settings: Settings, faults: Faults) -> SimPair {
    let pair = SimPair::new(
        Settings {
            group: "web-a".into(),
            ..settings
        },
        "web-b",
        faults,
        Some(60),
    );
    pair.alarms().put(ALARM, AlarmState::Ok);
    pair
}

pub struct Rolled {
    pub plan: Option<BgPlan>,
    pub outcome: Outcome,
    pub code: u8,
}

pub async fn roll_bg(
    pair: &SimPair,
    req: &BgRequest,
    cancel: CancellationToken,
    timeout: Duration,
    bake: Duration,
) -> Rolled {
    let mut ctx = Ctx::quiet(cancel);
    ctx.timeout = timeout;
    ctx.bake = bake;
    let ports = pair.ports();
    ctx.alarms = vec![ALARM.into()];
    ctx.alarm_port = Some(ports.alarms.clone());
    let rolled = roll(&BlueGreenRollout::new(ports, req.clone()), Mode::Roll, &mut ctx).await;
    let code = rolled.result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code);
    Rolled {
        plan: rolled.plan,
        outcome: rolled.outcome,
        code,
    }
}

/// The new group's share at each weight change after the first setting.
fn shares(pair: &SimPair) -> Vec<i32> {
    pair.weight_history()
        .iter()
        .skip(1)
        .map(|(_, w)| w.iter().find(|w| w.arn.contains("/web-b-tg/")).unwrap().weight)
        .collect()
}

/// The two groups' (min, max, desired, launch template version, instances on v2 serving).
pub fn groups(pair: &SimPair) -> [(i32, i32, i32, String, usize); 2] {
    pair.groups.clone().map(|g| {
        let s = g.snapshot();
        let serving = s.instances.iter().filter(|i| i.1 == 2 && i.3).count();
        (
            s.capacity.min,
            s.capacity.max,
            s.capacity.desired,
            s.launch_template_version.clone(),
            serving,
        )
    })
}

/// Rolled back: all the traffic on web-a (still 4 on version 1), web-b at zero on version 1.
fn assert_rolled_back(pair: &SimPair, label: &str) {
    let forward = pair.forward();
    assert_eq!(
        forward.percent(&forward.target_groups[0].arn),
        100,
        "{label}: {forward:?}"
    );
    assert!(
        pair.groups[0].snapshot().settled_on(1, 4),
        "{label}: web-a serves as before"
    );
    let [_, b] = groups(pair);
    assert_eq!(
        (b.0, b.2, b.3.as_str()),
        (0, 0, "1"),
        "{label}: web-b at zero, back on 1: {b:?}"
    );
    assert_eq!(forward.stickiness, Some(60), "{label}: stickiness kept");
}

fn assert_invariants(pair: &SimPair, label: &str) {
    let broken = pair.violations(2);
    assert!(broken.is_empty(), "{label}: {broken:#?}");
}

#[tokio::test(start_paused = true)]
async fn blue_green_moves_traffic_in_steps_then_scales_the_old_group_to_zero() {
    let pair = cloud(Settings::default(), Faults::default());
    let start = tokio::time::Instant::now();
    let r = roll_bg(
        &pair,
        &request(&[10, 50, 100]),
        CancellationToken::new(),
        Duration::from_secs(600),
        Duration::from_secs(300),
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    assert_eq!(r.outcome.result, Verdict::Succeeded);
    assert_eq!(shares(&pair), vec![10, 50, 100]);
    let [a, b] = groups(&pair);
    assert_eq!((a.0, a.2), (0, 0), "old group at zero: {a:?}");
    assert_eq!((b.0, b.1, b.2, b.3.as_str(), b.4), (2, 8, 4, "2", 4), "{b:?}");
    assert_invariants(&pair, "success");
    let bg = r.outcome.asg().unwrap().blue_green.clone().unwrap();
    assert_eq!(
        (
            bg.live_group_before.as_str(),
            bg.live_group_after.as_str(),
            bg.weight_reached
        ),
        ("web-a", "web-b", 100)
    );
    assert_eq!(bg.stickiness, Some(60));
    // Each step baked 2m; the driver's bake 5m ran at 100% before the scale-down (the
    // log's seconds are floats: a hundredth of slack).
    let history = pair.weight_history();
    assert!(
        history[2].0 - history[1].0 >= 119.99 && history[3].0 - history[2].0 >= 119.99,
        "{history:?}"
    );
    let scaled_down = pair
        .mutations()
        .into_iter()
        .rfind(|c| c.operation == "UpdateAutoScalingGroup" && c.detail.starts_with("web-a"))
        .unwrap();
    assert!(
        scaled_down.at - history[3].0 >= 299.99,
        "baked before the scale-down: {scaled_down:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(700));
    let text = r.plan.unwrap().text();
    assert!(
        text.contains("stickiness 60s") && text.contains("traffic steps 10%, 50%, 100%"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failing_new_version_never_gets_traffic_and_is_rolled_back() {
    for (label, faults) in [
        (
            "unhealthy version",
            Faults {
                bad_versions: [2].into(),
                ..Faults::default()
            },
        ),
        (
            "a launch that never boots",
            Faults {
                stuck_launches: [2].into(),
                ..Faults::default()
            },
        ),
    ] {
        let pair = cloud(Settings::default(), faults);
        let r = roll_bg(
            &pair,
            &request(&[10, 50, 100]),
            CancellationToken::new(),
            Duration::from_secs(600),
            Duration::ZERO,
        )
        .await;
        assert_eq!(
            (r.code, r.outcome.result),
            (1, Verdict::RolledBack),
            "{label}: {:?}",
            r.outcome
        );
        assert_eq!(shares(&pair), Vec::<i32>::new(), "{label}: no traffic ever moved");
        assert_rolled_back(&pair, label);
        assert_invariants(&pair, label);
    }
}

#[tokio::test(start_paused = true)]
async fn an_alarm_at_any_step_puts_the_traffic_back_on_the_old_group() {
    // Boot ~90s; 10% from ~90s, 50% from ~210s, 100% from ~330s, bake to ~630s.
    for (at, reached) in [(30, 0), (150, 10), (270, 50), (450, 100)] {
        let pair = cloud(Settings::default(), Faults::default());
        pair.alarms().set_all_after(Duration::from_secs(at), AlarmState::Alarm);
        let r = roll_bg(
            &pair,
            &request(&[10, 50, 100]),
            CancellationToken::new(),
            Duration::from_secs(600),
            Duration::from_secs(300),
        )
        .await;
        let label = format!("alarm at {at}s");
        assert_eq!(
            (r.code, r.outcome.result),
            (1, Verdict::RolledBack),
            "{label}: {:?}",
            r.outcome
        );
        assert_eq!(r.outcome.alarm.as_deref(), Some(ALARM));
        let bg = r.outcome.asg().unwrap().blue_green.clone().unwrap();
        assert_eq!(bg.weight_reached, reached, "{label}");
        assert_eq!(bg.live_group_after, "web-a");
        assert_rolled_back(&pair, &label);
        assert_invariants(&pair, &label);
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_rolls_back_with_exit_3() {
    let pair = cloud(
        Settings {
            boot: Duration::from_secs(300),
            ..Settings::default()
        },
        Faults::default(),
    );
    let r = roll_bg(
        &pair,
        &request(&[100]),
        CancellationToken::new(),
        Duration::from_secs(120),
        Duration::ZERO,
    )
    .await;
    assert_eq!((r.code, r.outcome.result), (3, Verdict::RolledBack), "{:?}", r.outcome);
    assert_rolled_back(&pair, "timeout");
    assert_invariants(&pair, "timeout");
}

#[tokio::test(start_paused = true)]
async fn a_signal_at_every_phase_cleans_up() {
    let mut seen = std::collections::BTreeSet::new();
    for secs in (0..=660).step_by(20) {
        let pair = cloud(Settings::default(), Faults::default());
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(secs * 1000 + 500)).await;
            trigger.cancel();
        });
        let r = roll_bg(
            &pair,
            &request(&[10, 50, 100]),
            cancel,
            Duration::from_secs(600),
            Duration::from_secs(300),
        )
        .await;
        let label = format!("signal at {secs}s");
        match r.code {
            130 => {
                assert_eq!(r.outcome.result, Verdict::RolledBack, "{label}: {:?}", r.outcome);
                assert_rolled_back(&pair, &label);
                seen.insert(r.outcome.asg().unwrap().blue_green.clone().unwrap().weight_reached);
            }
            0 => {
                let [a, b] = groups(&pair);
                assert_eq!((a.2, b.4), (0, 4), "{label}");
                seen.insert(200);
            }
            other => panic!("{label}: exit {other}: {:?}", r.outcome),
        }
        assert_invariants(&pair, &label);
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        vec![0, 10, 50, 100, 200],
        "every phase was hit"
    );
}

#[tokio::test(start_paused = true)]
async fn keep_old_leaves_the_old_group_warm_and_the_next_roll_scales_it_down_first() {
    let pair = cloud(Settings::default(), Faults::default());
    let mut req = request(&[100]);
    req.keep_old = Some(Duration::from_secs(1800));
    let r = roll_bg(
        &pair,
        &req,
        CancellationToken::new(),
        Duration::from_secs(600),
        Duration::ZERO,
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    assert!(r.outcome.asg().unwrap().blue_green.as_ref().unwrap().kept_old);
    let [a, _] = groups(&pair);
    assert_eq!(a.2, 4, "the old group kept warm");
    assert!(pair.groups[0].snapshot().settled_on(1, 4));
    assert_eq!(
        pair.scheduled(),
        vec![("web-a".to_string(), "slipway-keep-old".to_string())]
    );
    // The next roll (back onto version 1, say) finds web-b live and web-a warm.
    let mut back = request(&[100]);
    back.version = "1".into();
    let r = roll_bg(
        &pair,
        &back,
        CancellationToken::new(),
        Duration::from_secs(600),
        Duration::ZERO,
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    let plan = r.plan.unwrap();
    assert_eq!(plan.live.before.group, "web-b");
    let text = plan.text();
    for line in [
        "1. web-a: delete the scale-down the previous roll scheduled",
        "2. web-a: update capacity: min 2 -> 0, desired 4 -> 0",
        "3. web-a: wait until 4 instance(s) have left the group",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(pair.scheduled().is_empty(), "web-a serves now: its scale-down is gone");
    assert_eq!(shares(&pair), vec![100, 0]);
    assert_invariants(&pair, "keep_old and back");
}

#[tokio::test(start_paused = true)]
async fn apply_refuses_a_plan_whose_weights_drifted() {
    let pair = cloud(Settings::default(), Faults::default());
    let req = request(&[10, 100]);
    let mut ctx = Ctx::quiet(CancellationToken::new());
    let rollout = BlueGreenRollout::new(pair.ports(), req);
    let planned = roll(&rollout, Mode::PlanOut, &mut ctx).await;
    let plan = planned.plan.unwrap();
    // Someone moves half the traffic by hand.
    let weights = plan.weights(50);
    slipway::cloud::LoadBalancing::set_weights(&pair, LISTENER, &weights)
        .await
        .unwrap();
    let before = pair.mutations().len();
    let applied = slipway::roll::apply(&rollout, &plan, &mut ctx).await;
    let e = applied.result.unwrap_err();
    assert_eq!(e.exit_code(), 2, "{e}");
    assert!(e.to_string().contains("splits the traffic"), "{e}");
    assert_eq!(pair.mutations().len(), before, "nothing changed");
}

#[tokio::test(start_paused = true)]
async fn a_version_that_breaks_under_traffic_fails_its_step_bake_and_is_rolled_back() {
    // Healthy from ~90s, serving 10% from ~92s and 50% from ~212s; its targets fail at
    // ~230s (in service at 60s, 150s of serving, then two failed checks).
    let faults = Faults {
        bad_versions: [2].into(),
        late_failure: Some(Duration::from_secs(150)),
        ..Faults::default()
    };
    let pair = cloud(Settings::default(), faults);
    let r = roll_bg(
        &pair,
        &request(&[10, 50, 100]),
        CancellationToken::new(),
        Duration::from_secs(600),
        Duration::ZERO,
    )
    .await;
    assert_eq!((r.code, r.outcome.result), (1, Verdict::RolledBack), "{:?}", r.outcome);
    let error = r.outcome.error.clone().unwrap();
    assert!(error.contains("the bake at 50% failed"), "{error}");
    assert_eq!(shares(&pair), vec![10, 50, 0], "back to the old group from 50%");
    assert_rolled_back(&pair, "late failure");
    // The traffic left the failing targets within a few looks of their failure.
    let history = pair.weight_history();
    let back = history.last().unwrap().0;
    assert!((230.0..=260.0).contains(&back), "weights back at {back}s: {history:?}");
    let broken: Vec<String> = pair.violations(2);
    assert!(
        broken
            .iter()
            .all(|v| v.contains("no healthy target") || v.contains("below the minimum")),
        "{broken:?}"
    );
    let first = broken
        .first()
        .map(|v| v.split('s').next().unwrap().parse::<f64>().unwrap());
    assert!(
        first.is_none_or(|at| at >= 230.0),
        "nothing was wrong before the version broke: {broken:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_kept_warm_group_is_scaled_to_zero_when_keep_old_runs_out() {
    let pair = cloud(Settings::default(), Faults::default());
    let mut req = request(&[100]);
    req.keep_old = Some(Duration::from_secs(1800));
    let r = roll_bg(
        &pair,
        &req,
        CancellationToken::new(),
        Duration::from_secs(600),
        Duration::ZERO,
    )
    .await;
    assert_eq!(r.code, 0, "{:?}", r.outcome);
    tokio::time::sleep(Duration::from_secs(1700)).await;
    let ports = pair.ports();
    ports.asg.describe_group("web-a").await.unwrap();
    assert_eq!(groups(&pair)[0].2, 4, "still warm before the 30m are up");
    tokio::time::sleep(Duration::from_secs(200)).await;
    ports.asg.describe_group("web-a").await.unwrap();
    let [a, b] = groups(&pair);
    assert_eq!((a.0, a.2), (0, 0), "scaled to zero once keep_old ran out: {a:?}");
    assert_eq!(b.4, 4, "the new group serves on");
    assert!(pair.scheduled().is_empty());
    assert_invariants(&pair, "keep_old ran out");
}
