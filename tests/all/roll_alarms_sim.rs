//! The alarm gate and the bake on the simulated cloud, on virtual time, for every target
//! (ASG surge, ASG refresh, ECS rolling): an alarm going into ALARM mid-roll rolls back
//! with the old version serving; a failure during the bake (after the full shift) rolls
//! back too; INSUFFICIENT_DATA is ignored unless told; an alarm already in ALARM and a
//! missing alarm refuse the roll before any change; Ctrl-C during the bake cleans up;
//! and the benchmark of the delay from ALARM to the rollback's first mutating call.

use std::sync::Arc;
use std::time::Duration;

use slipway::cloud::AlarmState;
use slipway::config::{MissingData, Strategy};
use slipway::roll::ecs::{EcsRequest, EcsRollout};
use slipway::roll::{self, AsgRollout, Ctx, Mode, Outcome, Stop, Verdict};
use slipway::sim::{self, EcsFaults, EcsSettings, Faults, Settings, Sim, SimEcs};
use tokio_util::sync::CancellationToken;

use crate::roll_sim::request;

const ALARM: &str = "web-5xx";
const NEW: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
const POLL: Duration = Duration::from_secs(5);
/// slipway-roll's default --poll-interval.
const DEFAULT_POLL: Duration = Duration::from_secs(2);

/// What a roll is rolling.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Surge,
    Refresh,
    Ecs,
}

/// How the alarm behaves in a scenario.
struct Scenario {
    kind: Kind,
    /// The alarm's state before the roll.
    initial: AlarmState,
    /// The alarm goes into this state at this virtual time.
    flip: Option<(Duration, AlarmState)>,
    missing_data: MissingData,
    bake: Duration,
    /// Ctrl-C at this virtual time.
    cancel_at: Option<Duration>,
    /// Alarm names watched (default: the one alarm).
    names: Vec<String>,
    /// Share of DescribeAlarms calls throttled.
    throttle: f64,
    /// The roll's --poll-interval.
    poll: Duration,
}

impl Scenario {
    fn new(kind: Kind) -> Self {
        Scenario {
            kind,
            initial: AlarmState::Ok,
            flip: None,
            missing_data: MissingData::Ignore,
            bake: Duration::ZERO,
            cancel_at: None,
            names: vec![ALARM.to_string()],
            throttle: 0.0,
            poll: POLL,
        }
    }
}

struct Ran {
    outcome: Outcome,
    code: u8,
    error: String,
    asg: Sim,
    ecs: SimEcs,
}

impl Ran {
    /// Virtual seconds of each mutating call that was carried out (both simulators).
    fn mutation_times(&self) -> Vec<f64> {
        let mut at: Vec<f64> = self.asg.mutations().iter().map(|c| c.at).collect();
        at.extend(self.ecs.mutations().iter().map(|c| c.at));
        at.sort_by(f64::total_cmp);
        at
    }

    /// The old version serves again (and only it).
    fn assert_old_version_serves(&self, ids_before: &[String]) {
        match self.outcome.target {
            slipway::roll::Target::Asg => {
                let snap = self.asg.snapshot();
                assert!(snap.settled_on(1, 4), "not back on version 1: {snap:?}");
                assert_eq!(snap.launch_template_version, "1");
                if self.outcome.asg().unwrap().strategy == Strategy::Surge {
                    let ids: Vec<String> = snap.instances.iter().map(|i| i.0.clone()).collect();
                    assert_eq!(ids, ids_before, "the original instances serve again");
                }
            }
            slipway::roll::Target::Ecs => {
                let snap = self.ecs.snapshot();
                assert_eq!(snap.task_definition, TD1, "{snap:?}");
            }
            // Alarms on CodeDeploy to EC2 are tested in roll_codedeploy_ec2_sim.
            slipway::roll::Target::Codedeploy => unreachable!("these scenarios roll a group or a service"),
        }
    }
}

fn ecs_request() -> EcsRequest {
    crate::support::sim_ecs_request(NEW)
}

async fn run(s: &Scenario) -> Ran {
    let asg = Sim::new(Settings::default(), Faults::default());
    let ecs = SimEcs::new(EcsSettings::default(), EcsFaults::default());
    let alarms = asg.alarms();
    alarms.put(ALARM, s.initial.clone());
    alarms.throttle(s.throttle, 7);
    if let Some((at, state)) = &s.flip {
        alarms.set_all_after(*at, state.clone());
    }
    let cancel = CancellationToken::new();
    if let Some(at) = s.cancel_at {
        let c = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            c.cancel();
        });
    }
    let ports = sim::ports(&asg, &ecs);
    let mut ctx = Ctx::quiet(cancel);
    ctx.poll = s.poll;
    ctx.timeout = Duration::from_secs(900);
    ctx.alarms = s.names.clone();
    ctx.alarms_missing_data = s.missing_data;
    ctx.alarm_port = Some(Arc::new(alarms));
    ctx.bake = s.bake;
    let finished = match s.kind {
        Kind::Surge | Kind::Refresh => {
            let strategy = if s.kind == Kind::Surge {
                Strategy::Surge
            } else {
                Strategy::Refresh
            };
            let r = roll::roll(&AsgRollout::new(ports, request(strategy)), Mode::Roll, &mut ctx).await;
            (r.outcome, r.result)
        }
        Kind::Ecs => {
            let r = roll::roll(&EcsRollout::new(&ports, ecs_request()), Mode::Roll, &mut ctx).await;
            (r.outcome, r.result)
        }
    };
    let (outcome, result) = finished;
    let code = result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, outcome.exit_code, "the outcome's exit code is the error's");
    Ran {
        error: result.err().map(|e| e.render()).unwrap_or_default(),
        outcome,
        code,
        asg,
        ecs,
    }
}

fn ids(sim: &Sim) -> Vec<String> {
    sim.snapshot().instances.iter().map(|i| i.0.clone()).collect()
}

/// How long the roll takes with quiet alarms (virtual time, so the same every run).
async fn clean_duration(kind: Kind) -> Duration {
    let ran = run(&Scenario::new(kind)).await;
    assert_eq!(ran.code, 0, "{:?} {}", ran.outcome, ran.error);
    Duration::from_secs_f64(ran.outcome.duration_seconds)
}

/// Seconds from the alarm going into ALARM at `at` to the rollback's first mutating call.
fn delay(ran: &Ran, at: Duration) -> f64 {
    let at = at.as_secs_f64();
    let first = ran
        .mutation_times()
        .into_iter()
        .find(|t| *t >= at)
        .expect("a mutating call after the alarm");
    first - at
}

async fn alarm_mid_roll_rolls_back(kind: Kind) {
    let total = clean_duration(kind).await;
    let at = total / 2;
    let mut s = Scenario::new(kind);
    s.flip = Some((at, AlarmState::Alarm));
    let before = ids(&Sim::new(Settings::default(), Faults::default()));
    let ran = run(&s).await;
    assert_eq!(ran.code, 1, "{:?} {}", ran.outcome, ran.error);
    assert_eq!(ran.outcome.result, Verdict::RolledBack, "{}", ran.error);
    assert_eq!(ran.outcome.stopped_by, Some(Stop::Failure));
    assert_eq!(ran.outcome.alarm.as_deref(), Some(ALARM));
    assert!(
        ran.error
            .contains(&format!("alarm {ALARM} is ALARM since 2026-01-01T00:")),
        "the error names the alarm and when: {}",
        ran.error
    );
    assert!(ran.error.contains("set to ALARM by --sim-alarm-after"), "{}", ran.error);
    ran.assert_old_version_serves(&before);
    // The rollback starts within one poll interval (plus its jitter) of the alarm.
    let d = delay(&ran, at);
    assert!(
        d <= POLL.as_secs_f64() * 1.1,
        "{kind:?}: rollback started {d}s after the alarm"
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_mid_surge_rolls_back_to_the_original_instances() {
    alarm_mid_roll_rolls_back(Kind::Surge).await;
}

#[tokio::test(start_paused = true)]
async fn an_alarm_mid_refresh_rolls_back() {
    alarm_mid_roll_rolls_back(Kind::Refresh).await;
}

#[tokio::test(start_paused = true)]
async fn an_alarm_mid_ecs_rollout_rolls_back() {
    alarm_mid_roll_rolls_back(Kind::Ecs).await;
}

async fn alarm_during_bake_rolls_back(kind: Kind) {
    let total = clean_duration(kind).await;
    let bake = Duration::from_secs(600);
    // Well into the bake: every step before the bake point is done.
    let at = total + bake / 2;
    let mut s = Scenario::new(kind);
    s.bake = bake;
    s.flip = Some((at, AlarmState::Alarm));
    let before = ids(&Sim::new(Settings::default(), Faults::default()));
    let ran = run(&s).await;
    assert_eq!(ran.code, 1, "{:?} {}", ran.outcome, ran.error);
    assert_eq!(ran.outcome.result, Verdict::RolledBack, "{}", ran.error);
    assert_eq!(ran.outcome.alarm.as_deref(), Some(ALARM));
    ran.assert_old_version_serves(&before);
    let d = delay(&ran, at);
    assert!(
        d <= POLL.as_secs_f64() * 1.1,
        "{kind:?}: rollback started {d}s after the alarm"
    );
}

#[tokio::test(start_paused = true)]
async fn an_alarm_during_a_surge_bake_rolls_back_before_the_old_instances_leave() {
    alarm_during_bake_rolls_back(Kind::Surge).await;
}

#[tokio::test(start_paused = true)]
async fn an_alarm_during_a_refresh_bake_refreshes_back() {
    alarm_during_bake_rolls_back(Kind::Refresh).await;
}

#[tokio::test(start_paused = true)]
async fn an_alarm_during_an_ecs_bake_points_the_service_back() {
    alarm_during_bake_rolls_back(Kind::Ecs).await;
}

#[tokio::test(start_paused = true)]
async fn a_quiet_bake_succeeds_after_the_bake_time_polling_at_most_every_poll_interval() {
    for kind in [Kind::Surge, Kind::Refresh, Kind::Ecs] {
        let total = clean_duration(kind).await;
        let mut s = Scenario::new(kind);
        s.bake = Duration::from_secs(600);
        let ran = run(&s).await;
        assert_eq!(ran.code, 0, "{kind:?}: {:?} {}", ran.outcome, ran.error);
        assert_eq!(ran.outcome.result, Verdict::Succeeded);
        let took = ran.outcome.duration_seconds;
        // The roll's own length varies with the jitter of its polls (a surge by more than
        // 10s between runs), so the bounds allow half a roll either way: the bake (600s)
        // happened, and happened once (a refresh bakes inside the refresh, Baking, with
        // no second bake after it).
        let (roll, bake) = (total.as_secs_f64(), s.bake.as_secs_f64());
        assert!(
            took >= roll / 2.0 + bake,
            "{kind:?}: {took}s is shorter than the roll ({total:?}) and the bake"
        );
        assert!(
            took <= roll * 1.5 + bake,
            "{kind:?}: {took}s is longer than the roll ({total:?}) and one bake"
        );
        let calls = ran.asg.alarms().calls();
        let per_minute = calls.len() as f64 / (took / 60.0);
        // One call per poll (5s, with 10% jitter either way), plus the read before the roll.
        assert!(
            per_minute <= 60.0 / (POLL.as_secs_f64() * 0.9) + 1.0,
            "{kind:?}: {per_minute}/min"
        );
        assert!(
            per_minute >= 60.0 / (POLL.as_secs_f64() * 1.1) - 1.0,
            "{kind:?}: {per_minute}/min: the bake is watched too"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn throttled_alarm_reads_are_retried_and_an_alarm_still_rolls_back() {
    for kind in [Kind::Surge, Kind::Ecs] {
        let total = clean_duration(kind).await;
        let mut s = Scenario::new(kind);
        s.throttle = 0.5;
        let ran = run(&s).await;
        assert_eq!(ran.code, 0, "{kind:?}: throttling is not a failure: {}", ran.error);
        s.flip = Some((total / 2, AlarmState::Alarm));
        let ran = run(&s).await;
        assert_eq!(ran.outcome.result, Verdict::RolledBack, "{kind:?}: {}", ran.error);
        assert_eq!(ran.outcome.alarm.as_deref(), Some(ALARM));
    }
}

#[tokio::test(start_paused = true)]
async fn insufficient_data_is_ignored_by_default_and_fails_when_told() {
    let total = clean_duration(Kind::Surge).await;
    let mut s = Scenario::new(Kind::Surge);
    s.initial = AlarmState::InsufficientData;
    let ran = run(&s).await;
    assert_eq!(ran.code, 0, "ignored by default: {}", ran.error);

    s.missing_data = MissingData::Fail;
    let ran = run(&s).await;
    assert_eq!(ran.code, 1, "{}", ran.error);
    assert_eq!(ran.outcome.result, Verdict::Refused, "refused before any change");
    assert!(ran.mutation_times().is_empty());

    let mut s = Scenario::new(Kind::Surge);
    s.missing_data = MissingData::Fail;
    s.flip = Some((total / 2, AlarmState::InsufficientData));
    let before = ids(&Sim::new(Settings::default(), Faults::default()));
    let ran = run(&s).await;
    assert_eq!(ran.outcome.result, Verdict::RolledBack, "{}", ran.error);
    assert!(ran.error.contains("is INSUFFICIENT_DATA"), "{}", ran.error);
    ran.assert_old_version_serves(&before);
}

#[tokio::test(start_paused = true)]
async fn an_alarm_already_in_alarm_refuses_the_roll_before_any_change() {
    for kind in [Kind::Surge, Kind::Ecs] {
        let mut s = Scenario::new(kind);
        s.initial = AlarmState::Alarm;
        let ran = run(&s).await;
        assert_eq!(ran.code, 1, "{}", ran.error);
        assert_eq!(ran.outcome.result, Verdict::Refused);
        assert_eq!(ran.outcome.alarm.as_deref(), Some(ALARM));
        assert!(ran.error.contains("refusing to roll while it is"), "{}", ran.error);
        assert!(ran.mutation_times().is_empty(), "{kind:?}: nothing changed");
    }
}

#[tokio::test(start_paused = true)]
async fn alarms_that_do_not_exist_are_bad_input_listing_them_and_nothing_changes() {
    for kind in [Kind::Surge, Kind::Refresh, Kind::Ecs] {
        let mut s = Scenario::new(kind);
        s.names = vec![ALARM.into(), "web-typo".into(), "web-latency".into()];
        let ran = run(&s).await;
        assert_eq!(ran.code, 2, "{}", ran.error);
        assert_eq!(ran.outcome.stopped_by, Some(Stop::BadInput));
        assert!(ran.error.contains("not found: web-typo, web-latency"), "{}", ran.error);
        assert!(ran.mutation_times().is_empty(), "{kind:?}: nothing changed");
    }
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_during_the_bake_cleans_up_and_exits_130() {
    for kind in [Kind::Surge, Kind::Ecs] {
        let total = clean_duration(kind).await;
        let mut s = Scenario::new(kind);
        s.bake = Duration::from_secs(600);
        s.cancel_at = Some(total + Duration::from_secs(120));
        let before = ids(&Sim::new(Settings::default(), Faults::default()));
        let ran = run(&s).await;
        assert_eq!(ran.code, 130, "{kind:?}: {:?} {}", ran.outcome, ran.error);
        assert_eq!(ran.outcome.result, Verdict::RolledBack, "{}", ran.error);
        assert!(ran.error.contains("during the bake"), "{}", ran.error);
        assert_eq!(ran.outcome.alarm, None);
        ran.assert_old_version_serves(&before);
    }
}

/// The benchmark (scripts/bench-alarm.sh runs it with 20 trials): on virtual time, the
/// delay from the alarm going into ALARM to the rollback's first mutating call, and
/// DescribeAlarms calls per minute, over ECS rolls with the alarm at a different point
/// of each. SLIPWAY_BENCH_TRIALS sets the trials (default 1). Each trial must roll back
/// within one poll interval (with its jitter) and stay under 20 calls a minute.
#[tokio::test(start_paused = true)]
async fn alarm_to_rollback_delay_benchmark() {
    let trials: usize = std::env::var("SLIPWAY_BENCH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let total = clean_duration(Kind::Ecs).await;
    let every = slipway::roll::watch::alarm_interval(DEFAULT_POLL);
    let (mut delays, mut rates) = (Vec::new(), Vec::new());
    for n in 0..trials {
        // From 20% to 80% of the roll.
        let share = 0.2 + 0.6 * (n as f64 + 0.5) / trials as f64;
        let at = total.mul_f64(share);
        let mut s = Scenario::new(Kind::Ecs);
        s.flip = Some((at, AlarmState::Alarm));
        // The roll's default --poll-interval: the alarms are read every ALARM_FLOOR.
        s.poll = DEFAULT_POLL;
        let ran = run(&s).await;
        assert_eq!(ran.outcome.result, Verdict::RolledBack, "{}", ran.error);
        let d = delay(&ran, at);
        // The watch's rate: its looks (after the read before the roll) over their span.
        let calls = ran.asg.alarms().calls();
        let looks = &calls[1..];
        let span = looks.last().unwrap() - looks[0];
        let per_minute = 60.0 * (looks.len() - 1) as f64 / span;
        assert!(d <= every.as_secs_f64() * 1.1, "trial {n}: {d}s");
        assert!(
            per_minute <= 20.0,
            "trial {n}: {per_minute} DescribeAlarms calls a minute"
        );
        delays.push(d);
        rates.push(per_minute);
    }
    delays.sort_by(f64::total_cmp);
    let median = delays[delays.len() / 2];
    let max = delays.last().copied().unwrap_or(0.0);
    let rate = rates.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "alarm -> rollback started ({trials} trial(s), --poll-interval {}s, alarms read every {}s): median {median:.2}s, max {max:.2}s; DescribeAlarms at most {rate:.1}/min",
        DEFAULT_POLL.as_secs(),
        every.as_secs()
    );
}
