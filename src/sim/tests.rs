//! The simulator's physics on virtual time: boot, healthy checks, draining, shutdown,
//! the group replacing an unhealthy instance, injected throttling, the call log.

use std::time::Duration;

use tokio::time::sleep;

use super::{Faults, Settings, Sim};
use crate::cloud::{AutoScaling, ErrorKind, Health, Lifecycle, LoadBalancing};

fn tg() -> String {
    Settings::target_group_arn("web")
}

async fn states(sim: &Sim) -> Vec<String> {
    let mut s: Vec<String> = sim
        .target_health(&tg())
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.state.to_string())
        .collect();
    s.sort();
    s
}

#[tokio::test(start_paused = true)]
async fn a_launched_instance_boots_then_passes_its_checks() {
    let sim = Sim::new(Settings::default(), Faults::default());
    sim.update_size("web-asg", None, None, Some(5)).await.unwrap();
    let g = sim.describe_group("web-asg").await.unwrap().unwrap();
    assert_eq!(
        g.instances
            .iter()
            .filter(|i| i.lifecycle_state == Lifecycle::Pending)
            .count(),
        1
    );
    sleep(Duration::from_secs(60)).await;
    assert_eq!(
        states(&sim).await,
        ["healthy", "healthy", "healthy", "healthy", "initial"]
    );
    // Three checks ten seconds apart.
    sleep(Duration::from_secs(29)).await;
    assert_eq!(states(&sim).await.iter().filter(|s| *s == "initial").count(), 1);
    sleep(Duration::from_secs(1)).await;
    assert!(states(&sim).await.iter().all(|s| s == "healthy"));
}

#[tokio::test(start_paused = true)]
async fn a_terminated_instance_drains_then_shuts_down() {
    let sim = Sim::new(Settings::default(), Faults::default());
    let id = sim.describe_group("web-asg").await.unwrap().unwrap().instances[0]
        .id
        .clone();
    sim.terminate_instance(&id, true).await.unwrap();
    assert_eq!(sim.snapshot().capacity.desired, 3);
    assert!(states(&sim).await.contains(&"draining".to_string()));
    sleep(Duration::from_secs(30)).await;
    assert_eq!(states(&sim).await.len(), 3, "drained after the deregistration delay");
    assert_eq!(sim.snapshot().instances.len(), 4, "still shutting down");
    sleep(Duration::from_secs(10)).await;
    assert_eq!(sim.snapshot().instances.len(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_group_replaces_an_instance_failing_its_checks() {
    let sim = Sim::new(
        Settings::default(),
        Faults {
            bad_versions: [1].into(),
            ..Faults::default()
        },
    );
    sim.update_size("web-asg", None, None, Some(5)).await.unwrap();
    // Boot 60s, then unhealthy after max(grace 120s, 2 failed checks).
    sleep(Duration::from_secs(179)).await;
    assert!(sim
        .describe_group("web-asg")
        .await
        .unwrap()
        .unwrap()
        .instances
        .iter()
        .all(|i| i.health_status == Health::Healthy));
    sleep(Duration::from_secs(1)).await;
    let g = sim.describe_group("web-asg").await.unwrap().unwrap();
    let unhealthy: Vec<_> = g
        .instances
        .iter()
        .filter(|i| i.health_status == Health::Unhealthy)
        .collect();
    assert_eq!(unhealthy.len(), 1);
    assert_eq!(unhealthy[0].lifecycle_state, Lifecycle::Terminating);
    assert_eq!(
        g.instances
            .iter()
            .filter(|i| i.lifecycle_state == Lifecycle::Pending)
            .count(),
        1,
        "a replacement"
    );
}

#[tokio::test(start_paused = true)]
async fn throttled_calls_do_nothing_and_are_logged() {
    let sim = Sim::new(
        Settings::default(),
        Faults {
            throttle: 1.0,
            ..Faults::default()
        },
    );
    let err = sim.update_size("web-asg", None, None, Some(8)).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled);
    assert_eq!(sim.snapshot().capacity.desired, 4);
    assert!(sim.mutations().is_empty());
    let calls = sim.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].error.as_deref(), Some("Throttling"));
}

#[tokio::test(start_paused = true)]
async fn sizes_are_validated_like_aws() {
    let sim = Sim::new(Settings::default(), Faults::default());
    let err = sim.update_size("web-asg", None, None, Some(9)).await.unwrap_err();
    assert!(
        err.message.contains("between the specified min size:2 and max size:8"),
        "{err}"
    );
    sim.update_size("web-asg", None, None, Some(2)).await.unwrap();
    let g = sim.describe_group("web-asg").await.unwrap().unwrap();
    let id = g
        .instances
        .iter()
        .find(|i| i.lifecycle_state == Lifecycle::InService)
        .unwrap()
        .id
        .clone();
    let err = sim.terminate_instance(&id, true).await.unwrap_err();
    assert!(err.message.contains("cannot decrement"), "{err}");
    assert_eq!(sim.mutations().len(), 1);
}
