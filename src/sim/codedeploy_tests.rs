//! The simulated CodeDeploy's dynamics, driven through its port.

use super::*;
use crate::cloud::{CodeDeploy, Controller, Ecs, NewDeployment, Revision};
use crate::sim::SimEcs;
use crate::sim::{EcsFaults, EcsSettings};
use tokio::time::sleep;

fn sim(settings: CdSettings, bad: bool, late: Option<Duration>) -> SimEcs {
    let settings = EcsSettings {
        controller: Controller::CodeDeploy,
        codedeploy: settings,
        ..EcsSettings::default()
    };
    let faults = EcsFaults {
        bad_images: if bad {
            ["web:2".to_string()].into()
        } else {
            Default::default()
        },
        late_crash: late,
        ..EcsFaults::default()
    };
    SimEcs::new(settings, faults)
}

async fn deploy(sim: &SimEcs) -> String {
    let revision = Revision {
        from: "web:1".into(),
        container: "app".into(),
        image: "web:2".into(),
        environment: Vec::new(),
    };
    let td = sim.register_revision(&revision).await.unwrap();
    let app_spec = format!(
        r#"{{"version":0.0,"Resources":[{{"TargetService":{{"Type":"AWS::ECS::Service","Properties":{{"TaskDefinition":"{}"}}}}}}]}}"#,
        td.arn
    );
    let c = CdSettings::default();
    let new = NewDeployment {
        application: c.application,
        group: c.group,
        config: None,
        revision: crate::cloud::CdRevision::AppSpec(app_spec),
        description: "test".into(),
        alarms: Vec::new(),
    };
    sim.create_deployment(&new).await.unwrap()
}

#[tokio::test(start_paused = true)]
async fn a_canary_shifts_in_two_steps_keeps_blue_through_the_wait_then_replaces_it() {
    let settings = CdSettings {
        config: "CodeDeployDefault.ECSCanary10Percent5Minutes".into(),
        ..CdSettings::default()
    };
    let sim = sim(settings, false, None);
    assert!(
        sim.update_service("web-cluster", "web", &crate::cloud::ServiceUpdate::to("web:1"))
            .await
            .is_err(),
        "CODE_DEPLOY refuses UpdateService"
    );
    let id = deploy(&sim).await;
    sleep(Duration::from_secs(51)).await;
    assert_eq!(sim.snapshot().traffic, 10.0);
    let target = sim.deployment_target(&id).await.unwrap().unwrap();
    assert_eq!(target.green_traffic(), 10.0);
    assert_eq!(target.events[1].status, "Succeeded");
    sleep(Duration::from_secs(300)).await;
    assert_eq!(sim.snapshot().traffic, 100.0);
    assert_eq!(sim.get_deployment(&id).await.unwrap().status, CdStatus::InProgress);
    sleep(Duration::from_secs(300)).await;
    assert_eq!(sim.get_deployment(&id).await.unwrap().status, CdStatus::Succeeded);
    let service = sim.describe_service("web-cluster", "web").await.unwrap().unwrap();
    assert!(service.task_definition.ends_with("web:2"));
    assert!(sim.snapshot().unhealthy_traffic.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_crashing_image_fails_install_with_diagnostics_and_never_takes_traffic() {
    let sim = sim(CdSettings::default(), true, None);
    let id = deploy(&sim).await;
    sleep(Duration::from_secs(60)).await;
    let d = sim.get_deployment(&id).await.unwrap();
    assert_eq!(d.status, CdStatus::Failed);
    assert!(d.rollback_deployment.is_some());
    let target = sim.deployment_target(&id).await.unwrap().unwrap();
    let failed = target.failed_event().unwrap();
    assert_eq!(failed.name, "Install");
    assert!(failed
        .diagnostics
        .as_ref()
        .unwrap()
        .message
        .as_ref()
        .unwrap()
        .contains("exited"));
    assert_eq!(sim.snapshot().peak_traffic, 0.0);
    assert!(sim.snapshot().healthy.iter().all(|td| td.ends_with("web:1")));
}

#[tokio::test(start_paused = true)]
async fn ready_waits_for_continue_and_stop_rolls_back() {
    let settings = CdSettings {
        waits_for_ready: true,
        ..CdSettings::default()
    };
    let sim = sim(settings, false, None);
    let id = deploy(&sim).await;
    sleep(Duration::from_secs(60)).await;
    assert_eq!(sim.get_deployment(&id).await.unwrap().status, CdStatus::Ready);
    assert_eq!(sim.snapshot().traffic, 0.0);
    sim.stop_deployment(&id, true).await.unwrap();
    assert_eq!(sim.get_deployment(&id).await.unwrap().status, CdStatus::Stopped);
    assert!(sim.continue_deployment(&id).await.is_err());
    // The rollback deployment removes green by its end.
    sleep(Duration::from_secs(31)).await;
    assert!(sim.snapshot().healthy.iter().all(|td| td.ends_with("web:1")));
    assert!(sim
        .active_deployments("AppECS-web-cluster-web", "DgpECS-web-cluster-web")
        .await
        .unwrap()
        .is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_late_crash_during_the_termination_wait_sends_traffic_back_to_blue() {
    let sim = sim(CdSettings::default(), true, Some(Duration::from_secs(120)));
    let id = deploy(&sim).await;
    sleep(Duration::from_secs(60)).await;
    assert_eq!(sim.snapshot().traffic, 100.0);
    sleep(Duration::from_secs(120)).await;
    let d = sim.get_deployment(&id).await.unwrap();
    assert_eq!(d.status, CdStatus::Failed);
    assert_eq!(sim.snapshot().traffic, 0.0);
    assert!(
        sim.snapshot().unhealthy_traffic.is_empty(),
        "{:?}",
        sim.snapshot().unhealthy_traffic
    );
}

/// A rollback is a deployment of its own (rollbackInfo.rollbackDeploymentId): in
/// progress, and keeping the group busy, until the original task set serves again.
#[tokio::test(start_paused = true)]
async fn a_rollback_is_a_deployment_of_its_own_that_takes_time_and_keeps_the_group_busy() {
    let sim = sim(CdSettings::default(), true, None);
    let id = deploy(&sim).await;
    let mut d = sim.get_deployment(&id).await.unwrap();
    for _ in 0..120 {
        if d.status == CdStatus::Failed {
            break;
        }
        sleep(Duration::from_secs(1)).await;
        d = sim.get_deployment(&id).await.unwrap();
    }
    assert_eq!(d.status, CdStatus::Failed);
    let rollback = d.rollback_deployment.expect("a rollback deployment");
    let r = sim.get_deployment(&rollback).await.unwrap();
    assert_eq!(r.status, CdStatus::InProgress, "it takes time");
    let active = sim
        .active_deployments("AppECS-web-cluster-web", "DgpECS-web-cluster-web")
        .await
        .unwrap();
    assert_eq!(active, vec![rollback.clone()], "the group is busy with the rollback");
    sleep(Duration::from_secs(40)).await;
    assert_eq!(sim.get_deployment(&rollback).await.unwrap().status, CdStatus::Succeeded);
    let active = sim
        .active_deployments("AppECS-web-cluster-web", "DgpECS-web-cluster-web")
        .await
        .unwrap();
    assert!(active.is_empty(), "{active:?}");
}
