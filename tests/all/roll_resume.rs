//! Long bakes without blocking: `--wait-until traffic-shifted` returns once production
//! traffic is on the new revision (result traffic_shifted, exit 0, the deployment still
//! running on the platform), and `--resume` later follows the deployment to its end with
//! the same rules as the roll: success; an alarm during the bake rolls it back (exit 1);
//! a deployment the platform rolled back itself is rolled_back, never success. For ECS
//! native blue/green, canary and linear, and for CodeDeploy, on the simulator's virtual
//! clock; plus the refusals (exit 2) of ids that do not belong to the service.

use std::sync::Arc;
use std::time::Duration;

use slipway::cloud::{AlarmState, CdStatus, LifecycleStage, NativeStrategy, ServiceDeploymentStatus};
use slipway::roll::codedeploy::CodeDeployRequest;
use slipway::roll::ecs::EcsRequest;
use slipway::roll::{self, Ctx, Mode, Outcome, Verdict, WaitUntil};
use slipway::sim::{CdSettings, EcsFaults, Faults, Settings, Sim, SimEcs};
use tokio_util::sync::CancellationToken;

use crate::roll_codedeploy_sim as cd;
use crate::roll_ecs_native as native;

const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";
const NEW: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn minutes(m: u64) -> Duration {
    Duration::from_secs(60 * m)
}

/// A native request with a 10-minute bake, returning at traffic_shifted.
fn shifted(strategy: NativeStrategy) -> EcsRequest {
    let mut req = native::request(strategy);
    if let Some(d) = req.deployment.as_mut() {
        d.bake = minutes(10);
    }
    req.wait_until = WaitUntil::TrafficShifted;
    req
}

/// The request `--resume ID` makes for the same environment.
fn resuming(req: &EcsRequest, id: &str) -> EcsRequest {
    EcsRequest {
        image: String::new(),
        wait_until: WaitUntil::Completed,
        resume: Some(id.to_string()),
        ..req.clone()
    }
}

async fn run_native(sim: &SimEcs, req: &EcsRequest, mut ctx: Ctx) -> Outcome {
    ctx.test_probes = native::listener(sim);
    let rolled = roll::roll(&native::rollout(sim, req), Mode::Roll, &mut ctx).await;
    let code = rolled.result.as_ref().err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code, "{:?}", rolled.outcome);
    rolled.outcome
}

/// Alarms that go into ALARM at `at` (virtual time from now).
fn alarm_after(ctx: &mut Ctx, at: Duration) {
    let alarms = Sim::new(Settings::default(), Faults::default()).alarms();
    alarms.put("web-5xx", AlarmState::Ok);
    alarms.set_all_after(at, AlarmState::Alarm);
    ctx.alarms = vec!["web-5xx".into()];
    ctx.alarm_port = Some(Arc::new(alarms));
}

#[tokio::test(start_paused = true)]
async fn a_native_roll_returns_at_traffic_shifted_and_a_resume_follows_it_to_success() {
    for strategy in [
        NativeStrategy::BlueGreen,
        NativeStrategy::Canary,
        NativeStrategy::Linear,
    ] {
        let sim = native::sim(EcsFaults::default());
        let req = shifted(strategy.clone());
        let o = run_native(&sim, &req, native::ctx(CancellationToken::new())).await;
        assert_eq!(
            (o.exit_code, o.result),
            (0, Verdict::TrafficShifted),
            "{strategy}: {o:?}"
        );
        let d = o.ecs().unwrap();
        assert_eq!(d.traffic_percent, Some(100.0), "{o:?}");
        let id = d.deployment_id.clone().unwrap();
        assert!(id.contains(":service-deployment/web-cluster/web/"), "{id}");
        // The roll did not wait for ECS's 10-minute bake: the deployment still runs.
        assert!(o.duration_seconds < 600.0, "{strategy}: {}", o.duration_seconds);
        let snap = sim.snapshot();
        assert_eq!(snap.production, vec![(TD2.to_string(), 100.0)], "{snap:?}");
        let sd = snap.service_deployment.unwrap();
        assert_eq!(sd.status, ServiceDeploymentStatus::InProgress, "{sd:?}");
        let outputs = slipway::roll::report::outputs(&o);
        assert!(
            outputs.contains(&("result", "traffic_shifted".to_string())),
            "{outputs:?}"
        );
        assert!(outputs.contains(&("ecs-deployment-id", id.clone())), "{outputs:?}");

        // Later, another job resumes it: it follows the bake to SUCCESSFUL.
        let o = run_native(&sim, &resuming(&req, &id), native::ctx(CancellationToken::new())).await;
        assert_eq!((o.exit_code, o.result), (0, Verdict::Succeeded), "{strategy}: {o:?}");
        let snap = sim.snapshot();
        assert_eq!(snap.task_definition, TD2);
        assert_eq!(
            snap.service_deployment.unwrap().status,
            ServiceDeploymentStatus::Successful
        );
        assert_eq!(snap.traffic_on_unhealthy, 0);
        assert!(
            !sim.mutations().iter().any(|c| c.operation == "StopServiceDeployment"),
            "{:?}",
            sim.mutations()
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_resume_rolls_back_on_an_alarm_in_the_bake_and_never_reports_ecs_rollbacks_as_success() {
    // An alarm during ECS's bake: the resumed roll stops the deployment with ROLLBACK.
    let sim = native::sim(EcsFaults::default());
    let req = shifted(NativeStrategy::BlueGreen);
    let o = run_native(&sim, &req, native::ctx(CancellationToken::new())).await;
    let id = o.ecs().unwrap().deployment_id.clone().unwrap();
    let mut ctx = native::ctx(CancellationToken::new());
    alarm_after(&mut ctx, minutes(2));
    let o = run_native(&sim, &resuming(&req, &id), ctx).await;
    assert_eq!((o.exit_code, o.result), (1, Verdict::RolledBack), "{o:?}");
    assert_eq!(o.alarm.as_deref(), Some("web-5xx"));
    assert!(sim.mutations().iter().any(|c| c.operation == "StopServiceDeployment"));
    native::assert_old_serves(&sim, &o);

    // Ctrl-C during a resumed bake rolls back too (exit 130), as in the roll.
    let sim = native::sim(EcsFaults::default());
    let o = run_native(&sim, &req, native::ctx(CancellationToken::new())).await;
    let id = o.ecs().unwrap().deployment_id.clone().unwrap();
    let cancel = CancellationToken::new();
    let fire = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(minutes(3)).await;
        fire.cancel();
    });
    let o = run_native(&sim, &resuming(&req, &id), native::ctx(cancel)).await;
    assert_eq!((o.exit_code, o.result), (130, Verdict::RolledBack), "{o:?}");
    native::assert_old_serves(&sim, &o);

    // ECS rolls back by itself during its bake (its own alarms, here a fault): the resume
    // says rolled_back with the stage, exit 1.
    let faults = EcsFaults {
        fail_at_stage: Some(LifecycleStage::BakeTime),
        ..EcsFaults::default()
    };
    let sim = native::sim(faults);
    let o = run_native(&sim, &req, native::ctx(CancellationToken::new())).await;
    assert_eq!(o.result, Verdict::TrafficShifted, "{o:?}");
    let id = o.ecs().unwrap().deployment_id.clone().unwrap();
    let o = run_native(&sim, &resuming(&req, &id), native::ctx(CancellationToken::new())).await;
    assert_eq!(
        (o.exit_code, o.result),
        (1, Verdict::RolledBack),
        "never success: {o:?}"
    );
    assert_eq!(o.ecs().unwrap().failing_stage.as_deref(), Some("BAKE_TIME"), "{o:?}");
    native::assert_old_serves(&sim, &o);
}

#[tokio::test(start_paused = true)]
async fn a_resume_of_an_id_that_is_not_this_services_deployment_is_refused() {
    let sim = native::sim(EcsFaults::default());
    let req = shifted(NativeStrategy::BlueGreen);
    for (id, says) in [
        ("d-ABCDEFGHI", "is not a service deployment of ECS service web"),
        (
            "arn:aws:ecs:us-east-1:123456789012:service-deployment/other-cluster/web/abc",
            "is not a service deployment of ECS service web",
        ),
        (
            "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/nope",
            "no service deployment",
        ),
    ] {
        let o = run_native(&sim, &resuming(&req, id), native::ctx(CancellationToken::new())).await;
        assert_eq!((o.exit_code, o.result), (2, Verdict::Refused), "{id}: {o:?}");
        assert!(o.error.as_deref().unwrap_or("").contains(says), "{id}: {o:?}");
    }
    assert!(sim.mutations().is_empty(), "{:?}", sim.mutations());
}

fn cd_settings() -> CdSettings {
    CdSettings {
        termination_wait: minutes(30),
        ..cd::canary()
    }
}

async fn run_cd(sim: &SimEcs, req: &CodeDeployRequest, ctx: Ctx) -> Outcome {
    cd::roll_with(sim, req, ctx).await.0
}

#[tokio::test(start_paused = true)]
async fn a_codedeploy_roll_returns_at_traffic_shifted_and_a_resume_follows_the_termination_wait() {
    let sim = SimEcs::new(cd::settings(cd_settings()), EcsFaults::default());
    let mut req = cd::request(NEW, false);
    req.ecs.wait_until = WaitUntil::TrafficShifted;
    let o = run_cd(&sim, &req, cd::ctx(&sim, CancellationToken::new(), false)).await;
    assert_eq!((o.exit_code, o.result), (0, Verdict::TrafficShifted), "{o:?}");
    let id = o.ecs().unwrap().deployment_id.clone().unwrap();
    assert!(
        o.duration_seconds < 1800.0,
        "did not wait out the termination wait: {o:?}"
    );
    let d = sim.ports().codedeploy.get_deployment(&id).await.unwrap();
    assert_eq!(d.status, CdStatus::InProgress, "{d:?}");
    assert_eq!(sim.snapshot().traffic, 100.0);

    let mut resume = req.clone();
    resume.ecs = EcsRequest {
        image: String::new(),
        wait_until: WaitUntil::Completed,
        resume: Some(id.clone()),
        keep_revisions: Some(1),
        ..req.ecs.clone()
    };
    let mut ctx = cd::ctx(&sim, CancellationToken::new(), false);
    ctx.timeout = minutes(60);
    let o = run_cd(&sim, &resume, ctx).await;
    assert_eq!((o.exit_code, o.result), (0, Verdict::Succeeded), "{o:?}");
    let d = sim.ports().codedeploy.get_deployment(&id).await.unwrap();
    assert_eq!(d.status, CdStatus::Succeeded);
    // keep_revisions works for CodeDeploy services too: web:1 is gone, web:2 serves.
    let ops: Vec<String> = sim
        .mutations()
        .iter()
        .map(|c| format!("{} {}", c.operation, c.detail))
        .collect();
    assert!(
        ops.iter()
            .any(|c| c.starts_with("DeregisterTaskDefinition") && c.contains("web:1")),
        "{ops:?}"
    );
    assert_eq!(sim.snapshot().task_definition, TD2);

    // An alarm in the termination wait of a resumed deployment: stopped with rollback.
    let sim = SimEcs::new(cd::settings(cd_settings()), EcsFaults::default());
    let o = run_cd(&sim, &req, cd::ctx(&sim, CancellationToken::new(), false)).await;
    let id = o.ecs().unwrap().deployment_id.clone().unwrap();
    resume.ecs.resume = Some(id);
    let mut ctx = cd::ctx(&sim, CancellationToken::new(), false);
    ctx.timeout = minutes(60);
    alarm_after(&mut ctx, minutes(5));
    let o = run_cd(&sim, &resume, ctx).await;
    assert_eq!((o.exit_code, o.result), (1, Verdict::RolledBack), "{o:?}");
    assert_eq!(o.alarm.as_deref(), Some("web-5xx"));
    cd::old_serves(&sim);

    // A deployment of another application or group: refused before anything.
    let mut other = resume.clone();
    other.application = "AppECS-other-web".into();
    let before = sim.mutations().len();
    let o = run_cd(&sim, &other, cd::ctx(&sim, CancellationToken::new(), false)).await;
    assert_eq!((o.exit_code, o.result), (2, Verdict::Refused), "{o:?}");
    assert!(
        o.error
            .as_deref()
            .unwrap_or("")
            .contains("belongs to AppECS-web-cluster-web/DgpECS-web-cluster-web"),
        "{o:?}"
    );
    assert_eq!(sim.mutations().len(), before);

    // Not a CodeDeploy id: refused before anything.
    resume.ecs.resume = Some("arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/x".into());
    let before = sim.mutations().len();
    let o = run_cd(&sim, &resume, cd::ctx(&sim, CancellationToken::new(), false)).await;
    assert_eq!((o.exit_code, o.result), (2, Verdict::Refused), "{o:?}");
    assert_eq!(sim.mutations().len(), before);
}
