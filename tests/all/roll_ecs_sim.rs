//! ECS rollouts on the simulated service, on virtual time: success; a crashing image
//! rolled back with the previous revision serving throughout; the circuit breaker (and
//! a timeout without it); a deployment already in progress; cancellation mid-rollout;
//! --register-only; plan/apply and its refusals; bad input changing nothing.

use std::time::Duration;

use slipway::cloud::{Ecs, Revision, ServiceUpdate};
use slipway::roll::ecs::{EcsPlan, EcsRequest, EcsRollout};
use slipway::roll::planfile;
use slipway::roll::{self, Ctx, Mode, Outcome, Target, Verdict};
use slipway::sim::{EcsFaults, EcsSettings, SimEcs};
use tokio_util::sync::CancellationToken;

const NEW: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:2222222222222222222222222222222222222222222222222222222222222222";
const TD1: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:1";
const TD2: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/web:2";

fn request() -> EcsRequest {
    crate::support::sim_ecs_request(NEW)
}

fn sim(circuit_breaker: bool, bad: bool) -> SimEcs {
    let settings = EcsSettings {
        circuit_breaker,
        ..EcsSettings::default()
    };
    let faults = EcsFaults {
        bad_images: if bad {
            [NEW.to_string()].into()
        } else {
            Default::default()
        },
        ..EcsFaults::default()
    };
    SimEcs::new(settings, faults)
}

fn ctx(cancel: CancellationToken) -> Ctx {
    let mut ctx = Ctx::quiet(cancel);
    ctx.poll = Duration::from_secs(5);
    ctx.timeout = Duration::from_secs(300);
    ctx
}

fn rollout(sim: &SimEcs, req: &EcsRequest) -> EcsRollout {
    EcsRollout::new(&sim.ports(), req.clone())
}

async fn roll(sim: &SimEcs, req: &EcsRequest) -> (Option<EcsPlan>, Outcome, u8) {
    let rolled = roll::roll(&rollout(sim, req), Mode::Roll, &mut ctx(CancellationToken::new())).await;
    let code = rolled.result.err().map(|e| e.exit_code()).unwrap_or(0);
    assert_eq!(code, rolled.outcome.exit_code, "the outcome's exit code is the error's");
    (rolled.plan, rolled.outcome, code)
}

fn mutations(sim: &SimEcs) -> Vec<&'static str> {
    sim.mutations().iter().map(|c| c.operation).collect()
}

#[tokio::test(start_paused = true)]
async fn a_good_image_rolls_out_and_completes() {
    let sim = sim(true, false);
    let (_, o, code) = roll(&sim, &request()).await;
    assert_eq!(code, 0, "{o:?}");
    assert_eq!(o.result, Verdict::Succeeded);
    assert_eq!(
        (
            o.ecs().unwrap().previous_task_definition.clone().as_str(),
            o.ecs().unwrap().new_task_definition.clone().as_deref()
        ),
        (TD1, Some(TD2))
    );
    assert!(o
        .ecs()
        .unwrap()
        .deployment_id
        .clone()
        .as_deref()
        .unwrap()
        .starts_with("ecs-svc/"));
    assert!(!o.rolled_back && o.duration_seconds >= 50.0, "{o:?}");
    let snap = sim.snapshot();
    assert_eq!(snap.deployments.len(), 1);
    assert_eq!(snap.healthy, vec![TD2.to_string(), TD2.to_string()]);
    assert_eq!(snap.min_healthy, 2, "never below the desired count");
    assert_eq!(mutations(&sim), ["RegisterTaskDefinition", "UpdateService"]);
    let td = sim.task_definition(TD2).await.unwrap().unwrap();
    let app = td.container("app").unwrap();
    assert_eq!(app.image, NEW);
    assert_eq!(
        app.environment,
        [("MODE".into(), "prod".into()), ("VERSION".into(), "2".into())]
    );
    assert_eq!(td.containers[1].name, "log", "the sidecar is kept");
}

#[tokio::test(start_paused = true)]
async fn crashing_tasks_trip_the_circuit_breaker_and_the_previous_revision_keeps_serving() {
    let sim = sim(true, true);
    let (_, o, code) = roll(&sim, &request()).await;
    assert_eq!(code, 1, "{o:?}");
    assert_eq!(o.result, Verdict::RolledBack);
    assert!(o.rolled_back);
    let error = o.error.clone().unwrap();
    assert!(error.contains("circuit breaker"), "{error}");
    assert!(error.contains("Essential container in task exited"), "{error}");
    assert!(
        o.cleanup[0].contains("already back on web:1 (circuit breaker)"),
        "{o:?}"
    );
    let snap = sim.snapshot();
    assert_eq!(snap.task_definition, TD1);
    assert_eq!(snap.healthy, vec![TD1.to_string(), TD1.to_string()]);
    assert_eq!(snap.min_healthy, 2, "the previous revision served throughout");
    // The circuit breaker rolled back; slipway did not need a second UpdateService.
    assert_eq!(mutations(&sim), ["RegisterTaskDefinition", "UpdateService"]);
}

#[tokio::test(start_paused = true)]
async fn without_the_circuit_breaker_a_timeout_rolls_back() {
    let sim = sim(false, true);
    let (_, o, code) = roll(&sim, &request()).await;
    assert_eq!(code, 3, "timed out: {o:?}");
    assert_eq!(o.result, Verdict::RolledBack);
    assert!(o.cleanup[0].contains("service pointed back at web:1"), "{o:?}");
    assert_eq!(sim.snapshot().healthy, vec![TD1.to_string(), TD1.to_string()]);
    assert_eq!(sim.snapshot().min_healthy, 2);
    assert_eq!(
        mutations(&sim),
        ["RegisterTaskDefinition", "UpdateService", "UpdateService"]
    );
}

#[tokio::test(start_paused = true)]
async fn a_deployment_in_progress_is_refused_unless_waiting_for_idle() {
    let sim = sim(true, false);
    let other = sim
        .register_revision(&Revision {
            from: TD1.into(),
            container: "app".into(),
            image: "registry.example/web:other".into(),
            environment: Vec::new(),
        })
        .await
        .unwrap();
    let id = sim
        .update_service("web-cluster", "web", &ServiceUpdate::to(&other.arn))
        .await
        .unwrap();
    let before = sim.mutations().len();
    let (plan, o, code) = roll(&sim, &request()).await;
    assert_eq!(code, 2, "{o:?}");
    assert!(plan.is_none());
    let error = o.error.unwrap();
    assert!(
        error.contains("is busy") && error.contains(&id),
        "names the deployment: {error}"
    );
    assert_eq!(sim.mutations().len(), before, "nothing changed");

    let mut req = request();
    req.wait_for_idle = true;
    let (plan, o, code) = roll(&sim, &req).await;
    assert_eq!(code, 0, "{o:?}");
    assert_eq!(
        plan.unwrap().before.task_definition,
        other.arn,
        "planned after the other deploy"
    );
    assert!(o.ecs().unwrap().new_task_definition.clone().unwrap().ends_with("web:3"));
}

#[tokio::test(start_paused = true)]
async fn cancellation_mid_rollout_rolls_back_then_exits_130() {
    let sim = sim(true, false);
    let cancel = CancellationToken::new();
    let fire = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        fire.cancel();
    });
    let rolled = roll::roll(&rollout(&sim, &request()), Mode::Roll, &mut ctx(cancel)).await;
    let (o, result) = (rolled.outcome, rolled.result);
    assert_eq!(result.unwrap_err().exit_code(), 130, "{o:?}");
    assert_eq!(o.result, Verdict::RolledBack);
    let snap = sim.snapshot();
    assert_eq!(snap.task_definition, TD1);
    assert_eq!(snap.healthy, vec![TD1.to_string(), TD1.to_string()]);
    assert_eq!(snap.deployments.len(), 1, "the new deployment is gone: {snap:?}");
    assert_eq!(
        mutations(&sim),
        ["RegisterTaskDefinition", "UpdateService", "UpdateService"]
    );
}

#[tokio::test(start_paused = true)]
async fn register_only_registers_and_stops() {
    let sim = sim(true, false);
    let mut req = request();
    req.register_only = true;
    let (_, o, code) = roll(&sim, &req).await;
    assert_eq!((code, o.result), (0, Verdict::Registered));
    assert_eq!(o.ecs().unwrap().new_task_definition.clone().as_deref(), Some(TD2));
    assert_eq!(mutations(&sim), ["RegisterTaskDefinition"]);
    assert_eq!(sim.snapshot().task_definition, TD1);
}

#[tokio::test(start_paused = true)]
async fn throttling_is_retried_and_each_mutation_happens_once() {
    let sim = SimEcs::new(
        EcsSettings::default(),
        EcsFaults {
            throttle: 0.3,
            seed: 11,
            ..EcsFaults::default()
        },
    );
    let (_, o, code) = roll(&sim, &request()).await;
    assert_eq!(code, 0, "{o:?}");
    assert!(
        sim.calls().iter().any(|c| c.error.is_some()),
        "some calls were throttled"
    );
    assert_eq!(mutations(&sim), ["RegisterTaskDefinition", "UpdateService"]);
}

async fn plan(sim: &SimEcs) -> EcsPlan {
    let rolled = roll::roll(
        &rollout(sim, &request()),
        Mode::PlanOut,
        &mut ctx(CancellationToken::new()),
    )
    .await;
    rolled.result.unwrap();
    assert_eq!(rolled.outcome.result, Verdict::Planned);
    rolled.plan.unwrap()
}

#[tokio::test(start_paused = true)]
async fn apply_runs_a_fresh_plan_and_refuses_a_drifted_one_with_a_diff() {
    let sim = sim(true, false);
    let planned = plan(&sim).await;
    assert!(sim.mutations().is_empty(), "planning changes nothing");
    let text = planfile::render("web", "stage", Target::Ecs, &planned).unwrap();
    assert!(!text.contains("\"2\""), "the plan holds no environment values:\n{text}");
    let read: EcsPlan = planfile::parse(&text, "plan.json", "web", "stage", Target::Ecs).unwrap();
    assert_eq!(read, planned);
    let t = rollout(&sim, &request());
    let applied = roll::apply(&t, &read, &mut ctx(CancellationToken::new())).await;
    let (o, result) = (applied.outcome, applied.result);
    assert!(result.is_ok(), "{o:?}");
    assert_eq!(o.ecs().unwrap().new_task_definition.clone().as_deref(), Some(TD2));

    // Applying the same plan again: the service now runs web:2 and web:2 exists.
    let before = sim.mutations().len();
    let applied = roll::apply(&t, &read, &mut ctx(CancellationToken::new())).await;
    let (o, result) = (applied.outcome, applied.result);
    assert_eq!(o.result, Verdict::Refused);
    let err = result.unwrap_err();
    assert_eq!(err.exit_code(), 2, "{o:?}");
    let message = err.to_string();
    for text in [
        "ECS service web no longer matches the plan",
        "the service now runs web:2 instead of web:1 (another deploy ran)",
        "a newer task definition exists: web:2",
        "task_definition: planned arn:aws:ecs:us-east-1:123456789012:task-definition/web:1, now arn:aws:ecs:us-east-1:123456789012:task-definition/web:2",
        "latest_revision: planned 1, now 2",
    ] {
        assert!(message.contains(text), "{text:?} missing from:\n{message}");
    }
    assert_eq!(sim.mutations().len(), before, "nothing changed");
}

#[tokio::test(start_paused = true)]
async fn edited_foreign_and_non_plans_are_refused() {
    let sim = sim(true, false);
    let planned = plan(&sim).await;
    let text = planfile::render("web", "stage", Target::Ecs, &planned).unwrap();
    assert!(planfile::parse::<EcsPlan>(&text, "p", "web", "stage", Target::Ecs).is_ok());
    let edited = text.replace(NEW, "registry.example/evil:1");
    let err = planfile::parse::<EcsPlan>(&edited, "plan.json", "web", "stage", Target::Ecs).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("was changed after it was written"), "{err}");
    for (app, env, target) in [
        ("web", "prod", Target::Ecs),
        ("api", "stage", Target::Ecs),
        ("web", "stage", Target::Asg),
    ] {
        let err = planfile::parse::<EcsPlan>(&text, "plan.json", app, env, target).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string()
                .contains("is a plan for app \"web\", environment \"stage\", target ecs"),
            "{err}"
        );
    }
    let err = planfile::parse::<EcsPlan>("{\"format\": 1}", "plan.json", "web", "stage", Target::Ecs).unwrap_err();
    assert!(err.to_string().contains("is not a slipway plan"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn bad_input_is_refused_and_changes_nothing() {
    type Change = fn(&mut EcsRequest);
    let cases: [(&str, Change, &str); 5] = [
        (
            "cluster",
            |r| r.cluster = "nope".into(),
            "no ECS service \"web\" in cluster \"nope\"",
        ),
        (
            "service",
            |r| r.service = "nope".into(),
            "no ECS service \"nope\" in cluster \"web-cluster\"",
        ),
        (
            "container",
            |r| r.container = "nope".into(),
            "has no container \"nope\" (it has app, log)",
        ),
        (
            "image",
            |r| r.image = "Registry.example/Web::1".into(),
            "is not an image reference",
        ),
        (
            "env",
            |r| r.environment = vec![("1BAD".into(), "x".into())],
            "not an environment variable name",
        ),
    ];
    for (what, change, message) in cases {
        let sim = sim(true, false);
        let mut req = request();
        change(&mut req);
        let (plan, o, code) = roll(&sim, &req).await;
        assert_eq!(code, 2, "{what}: {o:?}");
        assert!(plan.is_none());
        assert!(o.error.as_deref().unwrap().contains(message), "{what}: {o:?}");
        assert!(sim.mutations().is_empty(), "{what}: nothing changed");
    }
}
