//! The simulated service's rolling dynamics: a good image completes, a crashing one trips
//! the circuit breaker, unknown names and throttling; native deployments: the paused
//! hook, canary and linear traffic steps, the bake, stop and continue.

use super::*;
use crate::cloud::{
    DeploymentSettings, Ecs, HookAction, NativeStrategy, Revision, ServiceDeploymentStatus, ServiceUpdate,
};
use tokio::time::sleep;

fn revision(sim_image: &str) -> Revision {
    Revision {
        from: arn("web", 1),
        container: "app".into(),
        image: sim_image.into(),
        environment: vec![("VERSION".into(), "2".into())],
    }
}

#[tokio::test(start_paused = true)]
async fn a_good_image_completes_and_the_old_tasks_drain() {
    let sim = SimEcs::new(EcsSettings::default(), EcsFaults::default());
    let td = sim.register_revision(&revision("web:2")).await.unwrap();
    assert_eq!(td.revision, 2);
    assert_eq!(td.container("app").unwrap().environment.len(), 2);
    sim.update_service("web-cluster", "web", &ServiceUpdate::to(&td.arn))
        .await
        .unwrap();
    let s = sim.describe_service("web-cluster", "web").await.unwrap().unwrap();
    assert_eq!(s.deployments.len(), 2);
    assert_eq!(
        s.deployments[0].rollout_state,
        Some(crate::cloud::RolloutState::InProgress)
    );
    sleep(Duration::from_secs(50)).await;
    let snap = sim.snapshot();
    assert_eq!(snap.deployments.len(), 2, "the old tasks drain for 30s");
    assert_eq!(snap.deployments[0].3, "IN_PROGRESS");
    assert_eq!(snap.healthy.len(), 4);
    sleep(Duration::from_secs(30)).await;
    let snap = sim.snapshot();
    assert_eq!(snap.deployments.len(), 1);
    assert_eq!(snap.deployments[0].3, "COMPLETED");
    assert_eq!(sim.snapshot().healthy, vec![td.arn.clone(), td.arn]);
    assert_eq!(sim.snapshot().min_healthy, 2);
}

#[tokio::test(start_paused = true)]
async fn a_crashing_image_trips_the_circuit_breaker_and_rolls_back() {
    let faults = EcsFaults {
        bad_images: ["web:bad".to_string()].into(),
        ..EcsFaults::default()
    };
    let sim = SimEcs::new(EcsSettings::default(), faults);
    let td = sim.register_revision(&revision("web:bad")).await.unwrap();
    sim.update_service("web-cluster", "web", &ServiceUpdate::to(&td.arn))
        .await
        .unwrap();
    // Two tasks crash every 30s; the threshold is 3.
    sleep(Duration::from_secs(31)).await;
    assert_eq!(sim.snapshot().deployments[0].3, "IN_PROGRESS");
    sleep(Duration::from_secs(30)).await;
    let snap = sim.snapshot();
    assert_eq!(snap.deployments[0].1, arn("web", 1), "rolled back: {snap:?}");
    assert!(snap.deployments.iter().any(|d| d.1 == td.arn && d.3 == "FAILED"));
    sleep(Duration::from_secs(120)).await;
    let snap = sim.snapshot();
    assert_eq!(snap.deployments.len(), 1);
    assert_eq!(snap.deployments[0].3, "COMPLETED");
    assert_eq!(snap.min_healthy, 2, "the previous revision served throughout");
    let stopped = sim.stopped_tasks("web-cluster", "web", 10).await.unwrap();
    assert!(stopped
        .iter()
        .any(|t| t.stopped_reason.as_deref() == Some("Essential container in task exited")));
}

#[tokio::test(start_paused = true)]
async fn unknown_names_and_throttling() {
    let sim = SimEcs::new(
        EcsSettings::default(),
        EcsFaults {
            throttle: 1.0,
            ..EcsFaults::default()
        },
    );
    let err = sim.describe_service("web-cluster", "web").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled);
    sim.set_faults(EcsFaults::default());
    assert!(sim.describe_service("nope", "web").await.unwrap().is_none());
    assert!(sim.describe_service("web-cluster", "nope").await.unwrap().is_none());
    assert!(sim.task_definition("web:9").await.unwrap().is_none());
    assert_eq!(sim.task_definition("web").await.unwrap().unwrap().revision, 1);
    assert!(sim.mutations().is_empty());
}

fn native(strategy: NativeStrategy, pause: bool) -> ServiceUpdate {
    ServiceUpdate {
        task_definition: arn("web", 2),
        deployment: Some(DeploymentSettings {
            strategy,
            bake: Duration::from_secs(120),
            canary: Some((10.0, Duration::from_secs(180))),
            linear: Some((25.0, Duration::from_secs(60))),
            alarms: Vec::new(),
            pause_after_test_traffic: pause,
            pause_timeout: Duration::from_secs(20 * 60),
        }),
    }
}

async fn started(update: &ServiceUpdate) -> (SimEcs, String) {
    let sim = SimEcs::new(EcsSettings::default(), EcsFaults::default());
    sim.register_revision(&revision("web:2")).await.unwrap();
    sim.update_service("web-cluster", "web", update).await.unwrap();
    let arn = sim
        .current_service_deployment("web-cluster", "web")
        .await
        .unwrap()
        .unwrap();
    (sim, arn)
}

/// (stage, production %, test %) now.
async fn at(sim: &SimEcs, arn: &str) -> (String, f64, f64) {
    let d = sim.service_deployment(arn).await.unwrap().unwrap();
    (
        d.stage.unwrap().to_string(),
        d.production_percent.unwrap(),
        d.test_percent.unwrap(),
    )
}

#[tokio::test(start_paused = true)]
async fn a_canary_pauses_for_test_traffic_then_shifts_bakes_and_cleans_up() {
    let (sim, sd) = started(&native(NativeStrategy::Canary, true)).await;
    assert_eq!(at(&sim, &sd).await, ("SCALE_UP".into(), 0.0, 0.0));
    sleep(Duration::from_secs(60)).await;
    assert_eq!(at(&sim, &sd).await, ("POST_TEST_TRAFFIC_SHIFT".into(), 0.0, 100.0));
    sleep(Duration::from_secs(600)).await;
    let d = sim.service_deployment(&sd).await.unwrap().unwrap();
    let hook = d.awaiting().expect("the PAUSE hook waits for an answer").id.clone();
    assert_eq!(sim.snapshot().production, vec![(arn("web", 1), 100.0)]);
    sim.continue_service_deployment(&sd, &hook, HookAction::Continue)
        .await
        .unwrap();
    assert_eq!(at(&sim, &sd).await, ("PRODUCTION_TRAFFIC_SHIFT".into(), 10.0, 100.0));
    assert_eq!(
        sim.snapshot().production,
        vec![(arn("web", 2), 10.0), (arn("web", 1), 90.0)]
    );
    sleep(Duration::from_secs(179)).await;
    assert_eq!(at(&sim, &sd).await.1, 10.0);
    sleep(Duration::from_secs(2)).await;
    assert_eq!(at(&sim, &sd).await, ("BAKE_TIME".into(), 100.0, 100.0));
    sleep(Duration::from_secs(120)).await;
    assert_eq!(at(&sim, &sd).await.0, "CLEAN_UP");
    sleep(Duration::from_secs(30)).await;
    let snap = sim.snapshot();
    assert_eq!(
        snap.service_deployment.unwrap().status,
        ServiceDeploymentStatus::Successful
    );
    assert_eq!(snap.healthy, vec![arn("web", 2), arn("web", 2)]);
    assert_eq!((snap.min_healthy, snap.traffic_on_unhealthy), (2, 0));
    let err = sim.stop_service_deployment(&sd).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "a finished deployment cannot be stopped");
}

#[tokio::test(start_paused = true)]
async fn linear_moves_production_traffic_in_steps() {
    let (sim, sd) = started(&native(NativeStrategy::Linear, false)).await;
    sleep(Duration::from_secs(50)).await;
    let mut seen = Vec::new();
    for _ in 0..5 {
        seen.push(at(&sim, &sd).await.1);
        sleep(Duration::from_secs(60)).await;
    }
    assert_eq!(seen, [25.0, 50.0, 75.0, 100.0, 100.0]);
    assert_eq!(at(&sim, &sd).await.0, "CLEAN_UP", "after the 2m bake");
}

#[tokio::test(start_paused = true)]
async fn stop_and_rollback_answers_move_traffic_back_and_remove_green() {
    let (sim, sd) = started(&native(NativeStrategy::BlueGreen, true)).await;
    sleep(Duration::from_secs(60)).await;
    let err = sim
        .continue_service_deployment(&sd, "no-such-hook", HookAction::Continue)
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid);
    let hook = sim
        .service_deployment(&sd)
        .await
        .unwrap()
        .unwrap()
        .awaiting()
        .unwrap()
        .id
        .clone();
    sim.continue_service_deployment(&sd, &hook, HookAction::Rollback)
        .await
        .unwrap();
    let d = sim.service_deployment(&sd).await.unwrap().unwrap();
    assert_eq!(d.status, ServiceDeploymentStatus::RollbackInProgress);
    assert_eq!((d.production_percent, d.test_percent), (Some(0.0), Some(0.0)));
    sleep(Duration::from_secs(30)).await;
    let snap = sim.snapshot();
    assert_eq!(
        snap.service_deployment.unwrap().status,
        ServiceDeploymentStatus::RollbackSuccessful
    );
    assert_eq!(snap.task_definition, arn("web", 1));
    assert_eq!(snap.healthy, vec![arn("web", 1), arn("web", 1)]);
    assert_eq!(snap.deployments.len(), 1);
    let err = sim.stop_service_deployment("arn:nope").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);

    // StopServiceDeployment in mid-shift does the same.
    let (sim, sd) = started(&native(NativeStrategy::Canary, false)).await;
    sleep(Duration::from_secs(60)).await;
    assert_eq!(at(&sim, &sd).await.1, 10.0);
    sim.stop_service_deployment(&sd).await.unwrap();
    assert_eq!(sim.snapshot().production, vec![(arn("web", 1), 100.0)]);
    sleep(Duration::from_secs(30)).await;
    assert_eq!(sim.snapshot().healthy, vec![arn("web", 1), arn("web", 1)]);
    assert_eq!(sim.snapshot().traffic_on_unhealthy, 0);
}

/// A PAUSE hook nobody answers (the runner died) expires after its timeout, and ECS rolls
/// the deployment back by itself: nothing stays paused for ECS's default 24 hours.
#[tokio::test(start_paused = true)]
async fn an_unanswered_pause_hook_rolls_back_when_it_expires() {
    let (sim, sd) = started(&native(NativeStrategy::Canary, true)).await;
    sleep(Duration::from_secs(60)).await;
    assert_eq!(at(&sim, &sd).await.0, "POST_TEST_TRAFFIC_SHIFT");
    // native() gives the hook 20 minutes.
    sleep(Duration::from_secs(18 * 60)).await;
    let d = sim.service_deployment(&sd).await.unwrap().unwrap();
    assert!(d.awaiting().is_some(), "still waiting before its timeout");
    sleep(Duration::from_secs(3 * 60)).await;
    let d = sim.service_deployment(&sd).await.unwrap().unwrap();
    assert!(d.awaiting().is_none());
    assert!(
        d.rollback_reason
            .as_deref()
            .is_some_and(|r| r.contains("lifecycle hook timed out")),
        "{d:?}"
    );
    sleep(Duration::from_secs(120)).await;
    let snap = sim.snapshot();
    assert_eq!(
        snap.service_deployment.unwrap().status,
        ServiceDeploymentStatus::RollbackSuccessful
    );
    assert_eq!(snap.production, vec![(arn("web", 1), 100.0)]);
}
