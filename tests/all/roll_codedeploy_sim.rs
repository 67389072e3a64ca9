//! CodeDeploy blue/green rollouts of a CODE_DEPLOY-controlled service on the simulator,
//! on virtual time: success with a canary shift; the new version failing on test traffic
//! (the test gate stops it, production never shifts); a crashing image failing Install;
//! a failure during the termination wait (blue still there takes the traffic back); a
//! timeout; Ctrl-C in every phase; bad input and a busy group changing nothing. Every
//! failure ends with the old revision serving and production traffic never on a task set
//! without a healthy task.

use std::time::Duration;

use slipway::cloud::{CdStatus, CodeDeploy, Controller, NewDeployment, ServiceLoadBalancer};
use slipway::roll::codedeploy::{app_spec, CodeDeployRequest, CodeDeployRollout};
use slipway::roll::{self, Ctx, Mode, Outcome, Verdict};
use slipway::sim::codedeploy::TestListener;
use slipway::sim::{CdSettings, EcsFaults, EcsSettings, SimEcs};
use tokio_util::sync::CancellationToken;

const NEW: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

/// How the new image misbehaves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bad {
    No,
    /// Its tasks exit before passing their health check.
    Crash,
    /// Its tasks pass their health check, then exit after this many seconds.
    Late(u64),
    /// Its tasks are healthy but answer HTTP 500.
    Erroring,
}

pub fn settings(cd: CdSettings) -> EcsSettings {
    EcsSettings {
        controller: Controller::CodeDeploy,
        load_balancers: vec![ServiceLoadBalancer {
            target_group: Some("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-blue/1".into()),
            container: Some("app".into()),
            port: Some(8080),
            ..ServiceLoadBalancer::default()
        }],
        codedeploy: cd,
        ..EcsSettings::default()
    }
}

pub fn faults(bad: Bad, image: &str) -> EcsFaults {
    let image: std::collections::BTreeSet<String> = [image.to_string()].into();
    match bad {
        Bad::No => EcsFaults::default(),
        Bad::Crash => EcsFaults {
            bad_images: image,
            ..EcsFaults::default()
        },
        Bad::Late(secs) => EcsFaults {
            bad_images: image,
            late_crash: Some(Duration::from_secs(secs)),
            ..EcsFaults::default()
        },
        Bad::Erroring => EcsFaults {
            erroring_images: image,
            ..EcsFaults::default()
        },
    }
}

pub fn canary() -> CdSettings {
    CdSettings {
        config: "CodeDeployDefault.ECSCanary10Percent5Minutes".into(),
        ..CdSettings::default()
    }
}

fn ready() -> CdSettings {
    CdSettings {
        waits_for_ready: true,
        ..CdSettings::default()
    }
}

pub fn request(image: &str, test_gate: bool) -> CodeDeployRequest {
    let (application, group) = CodeDeployRequest::default_names("web-cluster", "web");
    CodeDeployRequest {
        ecs: crate::support::sim_ecs_request(image),
        application,
        group,
        config: None,
        hooks: Vec::new(),
        test_gate,
    }
}

pub fn ctx(sim: &SimEcs, cancel: CancellationToken, test_gate: bool) -> Ctx {
    let mut ctx = Ctx::quiet(cancel);
    ctx.poll = Duration::from_secs(5);
    ctx.timeout = Duration::from_secs(900);
    if test_gate {
        ctx.test_probes = vec![Box::new(TestListener {
            sim: sim.clone(),
            interval: Duration::from_secs(5),
        })];
    }
    ctx
}

pub async fn roll_with(sim: &SimEcs, req: &CodeDeployRequest, mut ctx: Ctx) -> (Outcome, u8) {
    let rollout = CodeDeployRollout::new(&sim.ports(), req.clone());
    let rolled = roll::roll(&rollout, Mode::Roll, &mut ctx).await;
    let code = rolled.result.err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code, "the outcome's exit code is the error's");
    (rolled.outcome, code)
}

async fn roll(sim: &SimEcs, req: &CodeDeployRequest) -> (Outcome, u8) {
    let ctx = ctx(sim, CancellationToken::new(), req.test_gate);
    roll_with(sim, req, ctx).await
}

fn mutations(sim: &SimEcs) -> Vec<&'static str> {
    sim.mutations().iter().map(|c| c.operation).collect()
}

/// The old revision serves all production traffic, nothing of the new one is left, and
/// production traffic never went to a task set without a healthy task.
pub fn old_serves(sim: &SimEcs) {
    let snap = sim.snapshot();
    assert_eq!(snap.task_definition, TD1, "{snap:?}");
    assert_eq!(snap.traffic, 0.0, "{snap:?}");
    assert!(snap.healthy.iter().all(|td| td == TD1), "{snap:?}");
    assert!(snap.unhealthy_traffic.is_empty(), "{:?}", snap.unhealthy_traffic);
}

#[tokio::test(start_paused = true)]
async fn a_canary_deployment_shifts_traffic_and_succeeds() {
    let sim = SimEcs::new(settings(canary()), EcsFaults::default());
    let (o, code) = roll(&sim, &request(NEW, false)).await;
    assert_eq!(code, 0, "{o:?}");
    assert_eq!(o.result, Verdict::Succeeded);
    let e = o.ecs().unwrap();
    assert_eq!((e.strategy.as_str(), e.traffic_percent), ("codedeploy", Some(100.0)));
    assert_eq!(e.new_task_definition.as_deref(), Some(TD2));
    assert!(e.deployment_id.as_deref().unwrap().starts_with("d-"), "{e:?}");
    assert_eq!(e.failing_stage, None);
    // Install (50s), 10% for 5 minutes, then the 5-minute termination wait.
    assert!(o.duration_seconds >= 650.0, "{o:?}");
    assert_eq!(mutations(&sim), ["RegisterTaskDefinition", "CreateDeployment"]);
    let snap = sim.snapshot();
    assert_eq!(snap.task_definition, TD2);
    assert_eq!(snap.peak_traffic, 100.0);
    assert!(snap.unhealthy_traffic.is_empty(), "{:?}", snap.unhealthy_traffic);
}

#[tokio::test(start_paused = true)]
async fn a_version_failing_on_test_traffic_is_stopped_before_production_shifts() {
    let sim = SimEcs::new(settings(ready()), faults(Bad::Erroring, NEW));
    let (o, code) = roll(&sim, &request(NEW, true)).await;
    assert_eq!(code, 1, "{o:?}");
    assert_eq!(o.result, Verdict::RolledBack);
    let error = o.error.clone().unwrap();
    assert!(
        error.contains("test traffic gate") && error.contains("HTTP 500"),
        "{error}"
    );
    assert!(
        error.contains("simulated test listener"),
        "the report names the probe: {error}"
    );
    let e = o.ecs().unwrap();
    assert_eq!(
        e.failing_stage.as_deref(),
        Some("AfterAllowTestTraffic (test traffic gate)")
    );
    assert_eq!(e.traffic_percent, Some(0.0));
    assert_eq!(sim.snapshot().peak_traffic, 0.0, "production never shifted");
    assert_eq!(
        mutations(&sim),
        ["RegisterTaskDefinition", "CreateDeployment", "StopDeployment"]
    );
    old_serves(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_healthy_version_passes_the_test_gate_and_is_continued() {
    let sim = SimEcs::new(settings(ready()), EcsFaults::default());
    let (o, code) = roll(&sim, &request(NEW, true)).await;
    assert_eq!(code, 0, "{o:?}");
    assert_eq!(
        mutations(&sim),
        ["RegisterTaskDefinition", "CreateDeployment", "ContinueDeployment"]
    );
    assert_eq!(sim.snapshot().task_definition, TD2);
}

#[tokio::test(start_paused = true)]
async fn a_crashing_image_fails_install_and_codedeploy_rolls_it_back_itself() {
    let sim = SimEcs::new(settings(CdSettings::default()), faults(Bad::Crash, NEW));
    let (o, code) = roll(&sim, &request(NEW, false)).await;
    assert_eq!(code, 1, "{o:?}");
    assert_eq!(o.result, Verdict::RolledBack, "never a success");
    assert!(o.rolled_back);
    let error = o.error.clone().unwrap();
    assert!(error.contains("lifecycle event Install failed"), "{error}");
    assert!(
        error.contains("Essential container in task exited"),
        "the diagnostics: {error}"
    );
    assert_eq!(o.ecs().unwrap().failing_stage.as_deref(), Some("Install"));
    // CodeDeploy rolled back through its own deployment, followed to its end.
    assert!(
        o.cleanup[0].contains("ended Failed; CodeDeploy rolls back with d-RB"),
        "{o:?}"
    );
    let rollback = o
        .ecs()
        .unwrap()
        .rollback_deployment_id
        .clone()
        .expect("the rollback's id");
    assert!(
        o.cleanup[1].contains(&format!("rollback {rollback} succeeded")),
        "{o:?}"
    );
    assert_eq!(mutations(&sim), ["RegisterTaskDefinition", "CreateDeployment"]);
    old_serves(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_failure_during_the_termination_wait_sends_traffic_back_to_the_kept_blue() {
    let sim = SimEcs::new(settings(CdSettings::default()), faults(Bad::Late(120), NEW));
    let (o, code) = roll(&sim, &request(NEW, false)).await;
    assert_eq!(code, 1, "{o:?}");
    assert_eq!(o.result, Verdict::RolledBack);
    let e = o.ecs().unwrap();
    assert_eq!(e.traffic_percent, Some(100.0), "it had all production traffic");
    assert_eq!(e.failing_stage.as_deref(), Some("termination wait"));
    assert_eq!(sim.snapshot().peak_traffic, 100.0);
    old_serves(&sim);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_stops_the_deployment_with_rollback() {
    let cd = CdSettings {
        termination_wait: Duration::from_secs(3600),
        ..CdSettings::default()
    };
    let sim = SimEcs::new(settings(cd), EcsFaults::default());
    let (o, code) = roll(&sim, &request(NEW, false)).await;
    assert_eq!(code, 3, "{o:?}");
    assert_eq!(o.result, Verdict::RolledBack);
    assert!(o.cleanup.iter().any(|l| l.contains("StopDeployment")), "{o:?}");
    let stop = sim
        .mutations()
        .into_iter()
        .find(|c| c.operation == "StopDeployment")
        .unwrap();
    assert!(stop.detail.ends_with("autoRollbackEnabled=true"), "{stop:?}");
    old_serves(&sim);
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_in_every_phase_stops_with_rollback_then_exits_130() {
    // Install, waiting at READY (behind a test gate that is not healthy yet), the
    // canary's 10%, the termination wait.
    for (cd, at) in [(canary(), 10), (ready(), 120), (canary(), 200), (canary(), 500)] {
        let sim = SimEcs::new(settings(cd.clone()), EcsFaults::default());
        let cancel = CancellationToken::new();
        let fire = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(at)).await;
            fire.cancel();
        });
        let gated = cd.waits_for_ready;
        let mut ctx = ctx(&sim, cancel, false);
        if gated {
            ctx.test_probes = vec![Box::new(NeverHealthy)];
        }
        let (o, code) = roll_with(&sim, &request(NEW, gated), ctx).await;
        assert_eq!(code, 130, "at {at}s: {o:?}");
        assert_eq!(o.result, Verdict::RolledBack, "at {at}s: {o:?}");
        assert_eq!(
            mutations(&sim),
            ["RegisterTaskDefinition", "CreateDeployment", "StopDeployment"],
            "at {at}s"
        );
        let id = o.ecs().unwrap().deployment_id.clone().unwrap();
        assert_eq!(sim.get_deployment(&id).await.unwrap().status, CdStatus::Stopped);
        old_serves(&sim);
    }
}

#[tokio::test(start_paused = true)]
async fn bad_input_and_a_busy_group_change_nothing() {
    // No such application/group: both names and the console defaults.
    let sim = SimEcs::new(settings(CdSettings::default()), EcsFaults::default());
    let mut req = request(NEW, false);
    req.group = "nope".into();
    let (o, code) = roll(&sim, &req).await;
    assert_eq!(code, 2, "{o:?}");
    let error = o.error.unwrap();
    assert!(
        error.contains("\"AppECS-web-cluster-web\"") && error.contains("\"nope\""),
        "{error}"
    );
    assert!(error.contains("DgpECS-web-cluster-web"), "{error}");
    // A test gate needs the group to wait for READY.
    let (o, code) = roll(&sim, &request(NEW, true)).await;
    assert_eq!(code, 2, "{o:?}");
    assert!(o.error.unwrap().contains("deploymentReadyOption"));
    // The container must be in the service's load balancer entries.
    let mut req = request(NEW, false);
    req.ecs.container = "log".into();
    let (o, code) = roll(&sim, &req).await;
    assert_eq!(code, 2, "{o:?}");
    assert!(o.error.unwrap().contains("app:8080"));
    assert!(mutations(&sim).is_empty());
    // A deployment under way makes the group busy.
    let busy = SimEcs::new(settings(ready()), EcsFaults::default());
    let (application, group) = CodeDeployRequest::default_names("web-cluster", "web");
    let other = NewDeployment {
        application,
        group,
        config: None,
        revision: slipway::cloud::CdRevision::AppSpec(app_spec(TD1, "app", 8080, &[])),
        description: "someone else".into(),
        alarms: Vec::new(),
    };
    let id = busy.create_deployment(&other).await.unwrap();
    let (o, code) = roll(&busy, &request(NEW, false)).await;
    assert_eq!(code, 2, "{o:?}");
    let error = o.error.unwrap();
    assert!(error.contains("is busy") && error.contains(&id), "{error}");
    assert_eq!(mutations(&busy), ["CreateDeployment"], "only the other deployment");
}

#[tokio::test(start_paused = true)]
async fn a_plan_is_applied_as_made_and_refused_after_drift() {
    let sim = SimEcs::new(settings(canary()), EcsFaults::default());
    let rollout = CodeDeployRollout::new(&sim.ports(), request(NEW, false));
    let planned = roll::roll(&rollout, Mode::PlanOut, &mut ctx(&sim, CancellationToken::new(), false)).await;
    let plan = planned.plan.unwrap();
    assert_eq!(plan.kind, "codedeploy");
    assert_eq!(
        plan.group.shift,
        slipway::cloud::Shift::Canary {
            percent: 10,
            minutes: 5
        }
    );
    assert!(plan.text().contains("10% then 100% after 5m"), "{}", plan.text());
    assert!(mutations(&sim).is_empty(), "planning changes nothing");
    // The same cloud: applied as planned.
    let applied = roll::apply(&rollout, &plan, &mut ctx(&sim, CancellationToken::new(), false)).await;
    assert_eq!(applied.outcome.result, Verdict::Succeeded, "{:?}", applied.outcome);
    // Now the service runs web:2: the plan no longer matches.
    let again = roll::apply(&rollout, &plan, &mut ctx(&sim, CancellationToken::new(), false)).await;
    assert_eq!(again.outcome.exit_code, 2, "{:?}", again.outcome);
    assert!(again.outcome.error.unwrap().contains("no longer matches the plan"));
    // The controller is part of the plan.
    let mut other = plan.clone();
    other.controller = Controller::Ecs;
    let refused = slipway::roll::codedeploy::plan::drift(&other, &plan).unwrap_err();
    assert!(
        refused.to_string().contains("deployment controller is now CODE_DEPLOY"),
        "{refused}"
    );
    assert_eq!(
        mutations(&sim),
        ["RegisterTaskDefinition", "CreateDeployment"],
        "the refused apply changed nothing"
    );
}

/// A CloudWatch alarm going into ALARM during the canary's 10%, and during the
/// termination wait after the full shift (the driver's alarm watch, as for every roll):
/// StopDeployment with rollback, the old revision serves again, exit 1 naming the alarm.
#[tokio::test(start_paused = true)]
async fn an_alarm_during_the_canary_or_the_termination_wait_stops_with_rollback() {
    use slipway::cloud::AlarmState;
    use slipway::sim::{Faults, Settings, Sim};
    for at in [200, 500] {
        let sim = SimEcs::new(settings(canary()), EcsFaults::default());
        let alarms = Sim::new(Settings::default(), Faults::default()).alarms();
        alarms.put("web-5xx", AlarmState::Ok);
        alarms.set_all_after(Duration::from_secs(at), AlarmState::Alarm);
        let mut ctx = ctx(&sim, CancellationToken::new(), false);
        ctx.alarms = vec!["web-5xx".into()];
        ctx.alarm_port = Some(std::sync::Arc::new(alarms));
        let (o, code) = roll_with(&sim, &request(NEW, false), ctx).await;
        assert_eq!((code, o.result), (1, Verdict::RolledBack), "alarm at {at}s: {o:?}");
        assert_eq!(o.alarm.as_deref(), Some("web-5xx"));
        assert!(o.error.as_deref().unwrap_or("").contains("web-5xx"), "{o:?}");
        let stop = sim
            .mutations()
            .into_iter()
            .find(|c| c.operation == "StopDeployment")
            .expect("the alarm stops the deployment");
        assert!(stop.detail.ends_with("autoRollbackEnabled=true"), "{stop:?}");
        old_serves(&sim);
    }
}

/// The bake runs in the termination wait, while blue still stands by: an alarm during the
/// bake stops the deployment with rollback (not a deployment that already succeeded).
#[tokio::test(start_paused = true)]
async fn the_bake_runs_in_the_termination_wait_and_a_failed_bake_rolls_back() {
    use slipway::cloud::AlarmState;
    use slipway::sim::{Faults, Settings, Sim};
    let cd = CdSettings {
        termination_wait: Duration::from_secs(3600),
        ..canary()
    };
    let sim = SimEcs::new(settings(cd.clone()), EcsFaults::default());
    let alarms = Sim::new(Settings::default(), Faults::default()).alarms();
    alarms.put("web-5xx", AlarmState::Ok);
    // After the canary's 5 minutes and the full shift, inside a 20-minute bake.
    alarms.set_all_after(Duration::from_secs(900), AlarmState::Alarm);
    let mut ctx = ctx(&sim, CancellationToken::new(), false);
    ctx.timeout = Duration::from_secs(7200);
    ctx.alarms = vec!["web-5xx".into()];
    ctx.alarm_port = Some(std::sync::Arc::new(alarms));
    ctx.bake = Duration::from_secs(1200);
    let (o, code) = roll_with(&sim, &request(NEW, false), ctx).await;
    assert_eq!((code, o.result), (1, Verdict::RolledBack), "{o:?}");
    assert_eq!(
        o.ecs().unwrap().traffic_percent,
        Some(100.0),
        "the bake came after the full shift: {o:?}"
    );
    assert!(mutations(&sim).contains(&"StopDeployment"), "{:?}", mutations(&sim));
    old_serves(&sim);
    // Quiet: the bake overlaps the hour-long termination wait instead of following it.
    let sim = SimEcs::new(settings(cd), EcsFaults::default());
    let mut quiet = self::ctx(&sim, CancellationToken::new(), false);
    quiet.timeout = Duration::from_secs(7200);
    quiet.bake = Duration::from_secs(1200);
    let (o, code) = roll_with(&sim, &request(NEW, false), quiet).await;
    assert_eq!(code, 0, "{o:?}");
    assert!(
        o.duration_seconds < 3600.0 + 600.0,
        "baked after the termination wait: {o:?}"
    );
}

/// A rollback that leaves the new revision serving is never `rolled_back`: the roll is
/// `failed`, says so, and says what is left to do.
#[tokio::test(start_paused = true)]
async fn a_rollback_that_fails_leaves_the_roll_failed_with_what_is_left_to_do() {
    let cd = CdSettings {
        failing_rollback: true,
        ..CdSettings::default()
    };
    let sim = SimEcs::new(settings(cd), faults(Bad::Crash, NEW));
    let (o, code) = roll(&sim, &request(NEW, false)).await;
    assert_eq!(code, 1, "{o:?}");
    assert_eq!(o.result, Verdict::Failed, "{o:?}");
    assert!(!o.rolled_back);
    let error = o.error.clone().unwrap();
    assert!(
        error.contains("ended Failed") && error.contains("the new revision may still take production traffic"),
        "{error}"
    );
    assert!(o.ecs().unwrap().rollback_deployment_id.is_some(), "{o:?}");
}

/// Traffic that comes back only when the rollback deployment ends: the roll waits for
/// that end before it claims the old revision serves.
#[tokio::test(start_paused = true)]
async fn a_rollback_whose_traffic_comes_back_late_is_waited_for() {
    let cd = CdSettings {
        late_reroute: true,
        rollback_time: Duration::from_secs(90),
        ..CdSettings::default()
    };
    let sim = SimEcs::new(settings(cd), faults(Bad::Crash, NEW));
    let (o, code) = roll(&sim, &request(NEW, false)).await;
    assert_eq!((code, o.result), (1, Verdict::RolledBack), "{o:?}");
    let snap = sim.snapshot();
    assert_eq!(snap.traffic, 0.0, "{snap:?}");
    assert_eq!(snap.task_definition, TD1, "{snap:?}");
}

/// A group that waits for a reroute (STOP_DEPLOYMENT) and no health.test_urls: slipway
/// continues the deployment as soon as the replacement is ready, instead of letting the
/// group stop it when its wait ends.
#[tokio::test(start_paused = true)]
async fn a_group_waiting_for_a_reroute_is_continued_without_test_urls() {
    let sim = SimEcs::new(settings(ready()), EcsFaults::default());
    let (o, code) = roll(&sim, &request(NEW, false)).await;
    assert_eq!(code, 0, "{o:?}");
    assert_eq!(
        mutations(&sim),
        ["RegisterTaskDefinition", "CreateDeployment", "ContinueDeployment"]
    );
    assert_eq!(sim.snapshot().task_definition, TD2);
    assert!(
        o.duration_seconds < 600.0,
        "not after the group's 10 minute wait: {o:?}"
    );
}

/// Test traffic that never turns healthy.
struct NeverHealthy;

#[async_trait::async_trait]
impl slipway::wait::Probe for NeverHealthy {
    fn kind(&self) -> &'static str {
        "http"
    }
    fn name(&self) -> String {
        "test listener".into()
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(5)
    }
    async fn poll(&mut self) -> slipway::Result<slipway::wait::Check<String>> {
        Ok(slipway::wait::Check::Pending("HTTP 503".into()))
    }
}

/// The gate is bounded by the group's wait: a gate that outlasts it says so (and the
/// deployment is stopped with rollback), instead of a ContinueDeployment error.
#[tokio::test(start_paused = true)]
async fn a_test_gate_that_outlasts_the_groups_wait_says_so() {
    let cd = CdSettings {
        ready_wait: Duration::from_secs(120),
        ..ready()
    };
    let sim = SimEcs::new(settings(cd), EcsFaults::default());
    let mut ctx = ctx(&sim, CancellationToken::new(), false);
    ctx.test_probes = vec![Box::new(NeverHealthy)];
    let (o, code) = roll_with(&sim, &request(NEW, true), ctx).await;
    assert_eq!((code, o.result), (1, Verdict::RolledBack), "{o:?}");
    let error = o.error.clone().unwrap();
    assert!(
        error.contains("the test traffic gate outlasted the group's wait (2m00s)"),
        "{error}"
    );
    assert!(
        !mutations(&sim).contains(&"ContinueDeployment"),
        "{:?}",
        mutations(&sim)
    );
    old_serves(&sim);
}

/// A bake longer than the group's termination wait would outlive the original task set
/// (CodeDeploy deletes it when that wait ends): refused before any change.
#[tokio::test(start_paused = true)]
async fn a_bake_longer_than_the_termination_wait_is_refused_before_any_change() {
    let sim = SimEcs::new(settings(CdSettings::default()), EcsFaults::default());
    let mut ctx = ctx(&sim, CancellationToken::new(), false);
    ctx.bake = Duration::from_secs(600);
    let (o, code) = roll_with(&sim, &request(NEW, false), ctx).await;
    assert_eq!((code, o.result), (2, Verdict::Refused), "{o:?}");
    let error = o.error.clone().unwrap();
    assert!(
        error.contains("the bake (10m) is longer than deployment group DgpECS-web-cluster-web's termination wait (5m)"),
        "{error}"
    );
    assert!(mutations(&sim).is_empty(), "{:?}", mutations(&sim));
}
