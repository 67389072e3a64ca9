//! ECS native blue/green, canary and linear rollouts on the simulated service, on
//! virtual time. For each strategy: success; a new version failing at test traffic (the
//! test-traffic gate answers ROLLBACK, production never moves); failing after the full
//! shift during the bake; tasks crashing at scale-up (ECS rolls back itself); a timeout;
//! Ctrl-C at every phase. Each ends with the right exit code and, unless it succeeded,
//! the old revision serving. Also: refusals naming the strategy and what the service
//! lacks, the dry-run text, plan drift on the strategy, and keep_revisions.

use std::sync::Arc;
use std::time::Duration;

use slipway::cloud::{
    Controller, DeploymentSettings, Ecs, LifecycleStage, NativeStrategy, Revision, ServiceDeploymentStatus,
    ServiceLoadBalancer,
};
use slipway::roll::ecs::{EcsRequest, EcsRollout};
use slipway::roll::{self, Ctx, Mode, Outcome, Rollout, Verdict};
use slipway::sim::{EcsFaults, EcsSettings, SimEcs};
use slipway::wait::Probe;
use tokio_util::sync::CancellationToken;

const NEW: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";
const STRATEGIES: [NativeStrategy; 3] = [
    NativeStrategy::BlueGreen,
    NativeStrategy::Canary,
    NativeStrategy::Linear,
];

fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

pub fn blue_green_load_balancer() -> ServiceLoadBalancer {
    let tg = |n: &str| format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{n}/0123456789abcdef");
    let rule = |n: &str| format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/0123/{n}");
    ServiceLoadBalancer {
        target_group: Some(tg("blue")),
        container: Some("app".into()),
        port: Some(8080),
        alternate_target_group: Some(tg("green")),
        production_listener_rule: Some(rule("production")),
        test_listener_rule: Some(rule("test")),
        role: Some("arn:aws:iam::123456789012:role/ecs-infrastructure".into()),
    }
}

pub fn deployment(strategy: NativeStrategy, test_gate: bool) -> DeploymentSettings {
    DeploymentSettings {
        strategy,
        bake: minutes(2),
        canary: Some((10.0, minutes(3))),
        linear: Some((25.0, minutes(1))),
        alarms: Vec::new(),
        pause_after_test_traffic: test_gate,
        pause_timeout: Duration::from_secs(20 * 60),
    }
}

pub fn request(strategy: NativeStrategy) -> EcsRequest {
    EcsRequest {
        environment: Vec::new(),
        deployment: Some(deployment(strategy, true)),
        test_urls: 1,
        ..crate::support::sim_ecs_request(NEW)
    }
}

pub fn sim(faults: EcsFaults) -> SimEcs {
    let settings = EcsSettings {
        load_balancers: vec![blue_green_load_balancer()],
        ..EcsSettings::default()
    };
    SimEcs::new(settings, faults)
}

pub fn rollout(sim: &SimEcs, req: &EcsRequest) -> EcsRollout {
    EcsRollout::new(&sim.ports(), req.clone())
}

/// The test-traffic gate's probe in a rehearsal: the simulated test listener.
pub fn listener(sim: &SimEcs) -> Vec<Box<dyn Probe>> {
    vec![Box::new(sim.test_listener())]
}

pub fn ctx(cancel: CancellationToken) -> Ctx {
    let mut ctx = Ctx::quiet(cancel);
    ctx.poll = Duration::from_secs(5);
    ctx.timeout = minutes(20);
    ctx
}

/// Rolls with a cancel after `cancel_after`, if given; the outcome and exit code.
async fn roll_with(sim: &SimEcs, req: &EcsRequest, timeout: Duration, cancel_after: Option<Duration>) -> (Outcome, u8) {
    let cancel = CancellationToken::new();
    if let Some(at) = cancel_after {
        let fire = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(at).await;
            fire.cancel();
        });
    }
    let mut ctx = ctx(cancel.clone());
    ctx.timeout = timeout;
    ctx.test_probes = listener(sim);
    let rolled = roll::roll(&rollout(sim, req), Mode::Roll, &mut ctx).await;
    cancel.cancel();
    let code = rolled.result.err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code, "the outcome's exit code is the error's");
    (rolled.outcome, code)
}

async fn roll(sim: &SimEcs, req: &EcsRequest) -> (Outcome, u8) {
    roll_with(sim, req, minutes(20), None).await
}

fn mutations(sim: &SimEcs) -> Vec<&'static str> {
    sim.mutations().iter().map(|c| c.operation).collect()
}

/// The old revision serves all production traffic on healthy tasks, and green is gone.
pub fn assert_old_serves(sim: &SimEcs, o: &Outcome) {
    let snap = sim.snapshot();
    assert_eq!(snap.task_definition, TD1, "{o:?}\n{snap:?}");
    assert_eq!(snap.production, vec![(TD1.to_string(), 100.0)], "{snap:?}");
    assert_eq!(snap.healthy, vec![TD1.to_string(), TD1.to_string()], "{snap:?}");
    assert_eq!(snap.deployments.len(), 1, "{snap:?}");
    assert_eq!(snap.min_healthy, 2, "the old revision served throughout");
    assert_eq!(
        snap.traffic_on_unhealthy, 0,
        "production traffic never on unhealthy tasks"
    );
    let sd = snap.service_deployment.unwrap();
    assert_eq!(sd.status, ServiceDeploymentStatus::RollbackSuccessful, "{sd:?}");
}

#[tokio::test(start_paused = true)]
async fn each_strategy_succeeds_through_the_test_gate_and_the_bake() {
    for strategy in STRATEGIES {
        let sim = sim(EcsFaults::default());
        let (o, code) = roll(&sim, &request(strategy.clone())).await;
        assert_eq!((code, o.result), (0, Verdict::Succeeded), "{strategy}: {o:?}");
        let d = o.ecs().unwrap();
        assert_eq!(d.traffic_percent, Some(100.0), "{o:?}");
        assert_eq!(d.failing_stage, None);
        assert!(
            d.deployment_id.as_deref().unwrap().contains(":service-deployment/"),
            "{d:?}"
        );
        assert_eq!(
            d.strategy,
            slipway::roll::ecs::strategy_name(Some(&deployment(strategy.clone(), true)))
        );
        let snap = sim.snapshot();
        assert_eq!(snap.task_definition, TD2);
        assert_eq!(snap.production, vec![(TD2.to_string(), 100.0)]);
        assert_eq!(snap.healthy, vec![TD2.to_string(), TD2.to_string()]);
        assert_eq!(snap.min_healthy, 2, "{strategy}: blue served until green took over");
        assert_eq!(snap.traffic_on_unhealthy, 0);
        assert_eq!(
            snap.service_deployment.unwrap().status,
            ServiceDeploymentStatus::Successful
        );
        assert_eq!(
            mutations(&sim),
            ["RegisterTaskDefinition", "UpdateService", "ContinueServiceDeployment"],
            "{strategy}"
        );
        // The bake (2m) and, for canary, its 3m: the roll waited for them.
        let least = match strategy {
            NativeStrategy::Canary => 50.0 + 180.0 + 120.0,
            NativeStrategy::Linear => 50.0 + 180.0 + 120.0,
            _ => 50.0 + 120.0,
        };
        assert!(o.duration_seconds >= least, "{strategy}: {}", o.duration_seconds);
    }
}

#[tokio::test(start_paused = true)]
async fn a_version_failing_at_test_traffic_is_rolled_back_before_production_moves() {
    for strategy in STRATEGIES {
        let faults = EcsFaults {
            erroring_images: [NEW.to_string()].into(),
            ..EcsFaults::default()
        };
        let sim = sim(faults);
        let (o, code) = roll(&sim, &request(strategy.clone())).await;
        assert_eq!((code, o.result), (1, Verdict::RolledBack), "{strategy}: {o:?}");
        let error = o.error.clone().unwrap();
        assert!(
            error.contains("the simulated test listener saw HTTP 500 from web:2 (expected 200)"),
            "names the probe and what it saw: {error}"
        );
        assert!(error.contains("production traffic never moved"), "{error}");
        let d = o.ecs().unwrap();
        assert_eq!(d.failing_stage.as_deref(), Some("POST_TEST_TRAFFIC_SHIFT"));
        assert_eq!(d.traffic_percent, Some(0.0), "production never shifted");
        assert_old_serves(&sim, &o);
        let calls: Vec<String> = sim
            .mutations()
            .iter()
            .map(|c| format!("{} {}", c.operation, c.detail))
            .collect();
        assert!(
            calls[2].starts_with("ContinueServiceDeployment") && calls[2].ends_with("ROLLBACK"),
            "{calls:?}"
        );
        assert_eq!(calls.len(), 3, "the ROLLBACK answer is the rollback: {calls:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_version_failing_during_the_bake_after_the_full_shift_is_rolled_back() {
    for strategy in STRATEGIES {
        let faults = EcsFaults {
            fail_at_stage: Some(LifecycleStage::BakeTime),
            ..EcsFaults::default()
        };
        let sim = sim(faults);
        let (o, code) = roll(&sim, &request(strategy.clone())).await;
        assert_eq!((code, o.result), (1, Verdict::RolledBack), "{strategy}: {o:?}");
        let d = o.ecs().unwrap();
        assert_eq!(d.failing_stage.as_deref(), Some("BAKE_TIME"), "{o:?}");
        assert_eq!(d.traffic_percent, Some(100.0), "it had all production traffic");
        assert!(
            o.error
                .clone()
                .unwrap()
                .contains("ECS stopped the deployment at BAKE_TIME"),
            "{o:?}"
        );
        assert_old_serves(&sim, &o);
    }
}

#[tokio::test(start_paused = true)]
async fn crashing_tasks_fail_the_scale_up_and_ecs_rolls_back_itself() {
    for strategy in STRATEGIES {
        let faults = EcsFaults {
            bad_images: [NEW.to_string()].into(),
            ..EcsFaults::default()
        };
        let sim = sim(faults);
        let (o, code) = roll(&sim, &request(strategy.clone())).await;
        assert_eq!((code, o.result), (1, Verdict::RolledBack), "never success: {o:?}");
        assert_eq!(o.ecs().unwrap().failing_stage.as_deref(), Some("SCALE_UP"));
        assert!(o.cleanup[0].contains("ECS is already rolling back"), "{o:?}");
        assert_old_serves(&sim, &o);
        assert_eq!(mutations(&sim), ["RegisterTaskDefinition", "UpdateService"]);
    }
}

#[tokio::test(start_paused = true)]
async fn a_timeout_stops_the_deployment_with_rollback() {
    for strategy in STRATEGIES {
        let sim = sim(EcsFaults::default());
        // Green is healthy after 50s, then the bake alone takes 2 minutes.
        let (o, code) = roll_with(&sim, &request(strategy.clone()), Duration::from_secs(150), None).await;
        assert_eq!((code, o.result), (3, Verdict::RolledBack), "{strategy}: {o:?}");
        assert!(o.cleanup[0].contains("StopServiceDeployment ROLLBACK"), "{o:?}");
        assert!(o.ecs().unwrap().failing_stage.is_some());
        assert_old_serves(&sim, &o);
    }
}

#[tokio::test(start_paused = true)]
async fn ctrl_c_at_every_phase_ends_on_one_revision_with_exit_130() {
    for strategy in STRATEGIES {
        let mut stages = std::collections::BTreeSet::new();
        for secs in (1..480).step_by(17) {
            let sim = sim(EcsFaults::default());
            let at = Duration::from_secs(secs);
            let (o, code) = roll_with(&sim, &request(strategy.clone()), minutes(20), Some(at)).await;
            let snap = sim.snapshot();
            assert_eq!(snap.traffic_on_unhealthy, 0, "{strategy} at {secs}s");
            match o.result {
                Verdict::RolledBack => {
                    assert_eq!(code, 130, "{strategy} at {secs}s: {o:?}");
                    assert_old_serves(&sim, &o);
                    stages.insert(o.ecs().unwrap().failing_stage.clone().unwrap_or_default());
                }
                Verdict::Finished => {
                    assert_eq!(code, 130);
                    assert_eq!(snap.production, vec![(TD2.to_string(), 100.0)]);
                }
                Verdict::Succeeded => assert_eq!(code, 0, "cancelled after the end"),
                Verdict::Aborted => {
                    assert_eq!(code, 130);
                    assert_eq!(snap.task_definition, TD1);
                }
                other => panic!("{strategy} at {secs}s: {other}: {o:?}"),
            }
        }
        for stage in ["SCALE_UP", "PRODUCTION_TRAFFIC_SHIFT", "BAKE_TIME"] {
            if stage == "PRODUCTION_TRAFFIC_SHIFT" && strategy == NativeStrategy::BlueGreen {
                continue; // blue/green moves production traffic at once
            }
            assert!(stages.contains(stage), "{strategy}: interrupted at {stages:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_service_that_cannot_do_the_strategy_is_refused_naming_both() {
    let cases: Vec<(EcsSettings, &str)> = vec![
        (
            EcsSettings::default(),
            "no load balancer entry with an alternate target group",
        ),
        (
            EcsSettings {
                controller: Controller::CodeDeploy,
                load_balancers: vec![blue_green_load_balancer()],
                ..EcsSettings::default()
            },
            "deployment controller is CODE_DEPLOY",
        ),
        (
            EcsSettings {
                load_balancers: vec![ServiceLoadBalancer {
                    role: None,
                    ..blue_green_load_balancer()
                }],
                ..EcsSettings::default()
            },
            "no role",
        ),
        (
            EcsSettings {
                load_balancers: vec![ServiceLoadBalancer {
                    test_listener_rule: None,
                    ..blue_green_load_balancer()
                }],
                ..EcsSettings::default()
            },
            "no test listener rule",
        ),
    ];
    for (settings, why) in cases {
        let codedeploy = settings.controller == Controller::CodeDeploy;
        let sim = SimEcs::new(settings, EcsFaults::default());
        let (o, code) = roll(&sim, &request(NativeStrategy::Canary)).await;
        assert_eq!((code, o.result), (2, Verdict::Refused), "{o:?}");
        let error = o.error.unwrap();
        assert!(
            error.contains("ecs.strategy canary cannot deploy service web"),
            "{error}"
        );
        assert!(error.contains(why), "{error}");
        if codedeploy {
            assert!(error.contains("ecs.codedeploy"), "{error}");
        }
        assert!(sim.mutations().is_empty());
    }
}

#[tokio::test(start_paused = true)]
async fn the_dry_run_says_the_strategy_its_traffic_steps_and_alarms() {
    let sim = sim(EcsFaults::default());
    let mut req = request(NativeStrategy::Linear);
    req.deployment.as_mut().unwrap().alarms = vec!["web-5xx".into()];
    let r = rollout(&sim, &req);
    let done = roll::roll(&r, Mode::DryRun, &mut ctx(CancellationToken::new())).await;
    let text = r.plan_text(done.plan.as_ref().unwrap());
    assert!(text.contains("strategy linear"), "{text}");
    assert!(text.contains("25%, 50%, 75%, 100% every 1m"), "{text}");
    assert!(text.contains("bake 2m; alarms: web-5xx"), "{text}");
    assert!(text.contains("probe 1 test URL(s) at the PAUSE hook"), "{text}");
    assert!(sim.mutations().is_empty());

    let canary = rollout(&sim, &request(NativeStrategy::Canary));
    let done = roll::roll(&canary, Mode::DryRun, &mut ctx(CancellationToken::new())).await;
    let text = canary.plan_text(done.plan.as_ref().unwrap());
    assert!(text.contains("10% for 3m, then 100%"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_plan_made_for_another_strategy_is_refused_as_drift() {
    let sim = sim(EcsFaults::default());
    let planned = rollout(&sim, &request(NativeStrategy::Canary));
    let plan = roll::roll(&planned, Mode::PlanOut, &mut ctx(CancellationToken::new()))
        .await
        .plan
        .unwrap();
    let now = rollout(&sim, &request(NativeStrategy::BlueGreen));
    let done = roll::apply(&now, &plan, &mut ctx(CancellationToken::new())).await;
    let err = done.result.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{err}");
    assert!(err.to_string().contains("strategy is now"), "{err}");
    assert!(sim.mutations().is_empty());
    // The same strategy applies.
    let done = roll::apply(&planned, &plan, &mut ctx(CancellationToken::new())).await;
    assert!(done.result.is_ok(), "{:?}", done.outcome);
}

#[tokio::test(start_paused = true)]
async fn keep_revisions_deregisters_old_unused_revisions_after_a_success() {
    let sim = sim(EcsFaults::default());
    // Revisions 2 and 3 registered but never used; the roll registers 4.
    for n in 2..=3 {
        sim.register_revision(&Revision {
            from: TD1.into(),
            container: "app".into(),
            image: format!("registry.example/web:{n}"),
            environment: Vec::new(),
        })
        .await
        .unwrap();
    }
    let mut req = request(NativeStrategy::BlueGreen);
    req.keep_revisions = Some(2);
    let (o, code) = roll(&sim, &req).await;
    assert_eq!(code, 0, "{o:?}");
    let active = sim.task_definitions("web", true).await.unwrap();
    let inactive = sim.task_definitions("web", false).await.unwrap();
    let short = |v: &[String]| {
        v.iter()
            .map(|a| a.rsplit(':').next().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(short(&active), ["3", "4"], "the newest two stay");
    assert_eq!(short(&inactive), ["1", "2"]);

    // Never one the service uses: keep 1 while a failed roll left revision 4 serving? No:
    // keep 1 after the next roll keeps only the serving revision.
    let mut req = request(NativeStrategy::BlueGreen);
    req.image = "registry.example/web:next".into();
    req.keep_revisions = Some(0);
    let (o, code) = roll(&sim, &req).await;
    assert_eq!(code, 0, "{o:?}");
    let active = sim.task_definitions("web", true).await.unwrap();
    assert_eq!(short(&active), ["5"], "the revision in use is never deregistered");
}

#[tokio::test(start_paused = true)]
async fn drift_names_a_changed_deployment_controller_and_alternate_target_group() {
    let sim = sim(EcsFaults::default());
    let r = rollout(&sim, &request(NativeStrategy::BlueGreen));
    let plan = roll::roll(&r, Mode::PlanOut, &mut ctx(CancellationToken::new()))
        .await
        .plan
        .unwrap();
    let mut fresh = plan.clone();
    fresh.before.controller = Controller::CodeDeploy;
    fresh.before.alternate_target_group = None;
    let err = r.drift(&plan, &fresh).unwrap_err().to_string();
    assert!(
        err.contains("deployment controller is now CODE_DEPLOY instead of ECS"),
        "{err}"
    );
    assert!(err.contains("alternate target group changed"), "{err}");
    assert!(r.drift(&plan, &plan.clone()).is_ok());
}

/// An alarm going into ALARM while production traffic shifts, and one during ECS's own
/// bake: the driver's watch stops the deployment with ROLLBACK and the old revision serves
/// again. The alarms also reach ECS (deployment alarms), and the driver adds no bake of
/// its own after ECS's.
#[tokio::test(start_paused = true)]
async fn an_alarm_mid_shift_or_in_the_bake_rolls_back_every_strategy() {
    use slipway::cloud::AlarmState;
    use slipway::sim::{Faults, Settings, Sim};
    // A clean run's length, to place the alarms.
    let clean = {
        let sim = sim(EcsFaults::default());
        let (o, code) = roll(&sim, &request(NativeStrategy::BlueGreen)).await;
        assert_eq!(code, 0, "{o:?}");
        Duration::from_secs_f64(o.duration_seconds)
    };
    for strategy in STRATEGIES {
        // Early (around the test gate and the shift) and late (in the 2-minute bake).
        for at in [clean / 2, clean - Duration::from_secs(45)] {
            let sim = sim(EcsFaults::default());
            let alarms = Sim::new(Settings::default(), Faults::default()).alarms();
            alarms.put("web-5xx", AlarmState::Ok);
            alarms.set_all_after(at, AlarmState::Alarm);
            let mut req = request(strategy.clone());
            if let Some(d) = req.deployment.as_mut() {
                d.alarms = vec!["web-5xx".into()];
            }
            let mut ctx = ctx(CancellationToken::new());
            ctx.alarms = vec!["web-5xx".into()];
            ctx.alarm_port = Some(Arc::new(alarms));
            ctx.bake = minutes(2);
            ctx.test_probes = listener(&sim);
            let rolled = roll::roll(&rollout(&sim, &req), Mode::Roll, &mut ctx).await;
            let o = rolled.outcome;
            assert_eq!(o.result, Verdict::RolledBack, "{strategy:?} at {at:?}: {o:?}");
            assert_eq!(o.exit_code, 1);
            assert_eq!(o.alarm.as_deref(), Some("web-5xx"));
            assert!(
                mutations(&sim).contains(&"StopServiceDeployment"),
                "{:?}",
                mutations(&sim)
            );
            assert_old_serves(&sim, &o);
        }
    }
    // With no alarm, a 2-minute bake is ECS's alone: the roll is as long as a clean one.
    let sim = sim(EcsFaults::default());
    let mut ctx = ctx(CancellationToken::new());
    ctx.bake = minutes(2);
    ctx.test_probes = listener(&sim);
    let rolled = roll::roll(
        &rollout(&sim, &request(NativeStrategy::BlueGreen)),
        Mode::Roll,
        &mut ctx,
    )
    .await;
    assert_eq!(rolled.outcome.result, Verdict::Succeeded);
    assert!(
        rolled.outcome.duration_seconds < (clean + Duration::from_secs(60)).as_secs_f64(),
        "no second bake after ECS's: {}s against {clean:?}",
        rolled.outcome.duration_seconds
    );
}
