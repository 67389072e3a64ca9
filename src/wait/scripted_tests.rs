//! The probes' dynamics against scripted state sequences (fakes of the ports), on
//! tokio's paused clock: healthy after N polls, unhealthy past grace, ECS FAILED and
//! circuit-breaker rollbacks, calls per minute.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::asg::AsgProbe;
use super::ecs::EcsProbe;
use super::target_group::TargetGroupProbe;
use super::{gate, Outcome, Probe, Progress};
use crate::cloud::*;

/// Answers from a script, one per call; the last answer repeats.
struct Script<T: Clone> {
    answers: Mutex<VecDeque<T>>,
    calls: Mutex<u32>,
}

impl<T: Clone> Script<T> {
    fn new(answers: Vec<T>) -> Self {
        Script {
            answers: Mutex::new(answers.into()),
            calls: Mutex::new(0),
        }
    }
    fn next(&self) -> T {
        *self.calls.lock().unwrap() += 1;
        let mut q = self.answers.lock().unwrap();
        if q.len() > 1 {
            q.pop_front().unwrap()
        } else {
            q.front().cloned().expect("a script with answers")
        }
    }
    fn calls(&self) -> u32 {
        *self.calls.lock().unwrap()
    }
}

fn target(id: &str, state: &str, reason: Option<&str>) -> TargetHealth {
    TargetHealth {
        id: id.into(),
        port: Some(80),
        state: state.into(),
        reason: reason.map(str::to_string),
        description: reason.map(|_| "Health checks failed with these codes: [502]".to_string()),
    }
}

struct FakeElb(Script<Vec<TargetHealth>>);

#[async_trait]
impl LoadBalancing for FakeElb {
    async fn describe_target_group(&self, arn: &str) -> CloudResult<Option<TargetGroup>> {
        Ok(Some(TargetGroup {
            arn: arn.into(),
            name: "web".into(),
            deregistration_delay: 30,
            healthy_threshold: 3,
            health_check_interval: 10,
        }))
    }
    async fn target_health(&self, _arn: &str) -> CloudResult<Vec<TargetHealth>> {
        Ok(self.0.next())
    }
    async fn deregister(&self, _arn: &str, _t: &[(String, Option<i32>)]) -> CloudResult<()> {
        unreachable!("probes never mutate")
    }
}

const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/0123456789abcdef";

async fn run(probes: Vec<Box<dyn Probe>>, timeout: Duration) -> super::GateReport {
    gate(probes, timeout, &CancellationToken::new(), &mut Progress::hidden())
        .await
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn target_group_healthy_after_n_polls_within_one_interval() {
    let initial = vec![
        target("i-1", "initial", Some("Elb.RegistrationInProgress")),
        target("i-2", "healthy", None),
    ];
    let healthy = vec![target("i-1", "healthy", None), target("i-2", "healthy", None)];
    let elb = Arc::new(FakeElb(Script::new(vec![initial.clone(), initial, healthy])));
    let probe = TargetGroupProbe::new(elb.clone(), TG, 2, Duration::from_secs(300), Duration::from_secs(5));
    let start = Instant::now();
    let report = run(vec![Box::new(probe)], Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Healthy);
    assert_eq!(elb.0.calls(), 3);
    // Healthy at the third poll: two intervals (with ±10% jitter), never more.
    let t = report.probes[0].time_to_healthy.unwrap();
    assert!(t >= Duration::from_secs(9) && t <= Duration::from_secs(11), "{t:?}");
    assert_eq!(start.elapsed(), t);
    assert_eq!(report.probes[0].detail, "2/2 targets healthy");
}

#[tokio::test(start_paused = true)]
async fn a_target_unhealthy_past_grace_fails_fast_with_its_reason() {
    let sick = vec![
        target("i-1", "unhealthy", Some("Target.ResponseCodeMismatch")),
        target("i-2", "healthy", None),
    ];
    let elb = Arc::new(FakeElb(Script::new(vec![sick])));
    let probe = TargetGroupProbe::new(elb, TG, 1, Duration::from_secs(60), Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(
        report.elapsed <= Duration::from_secs(70),
        "fails at grace, not at the timeout: {:?}",
        report.elapsed
    );
    let cause = report.cause.unwrap();
    assert!(
        cause.contains("i-1:80 unhealthy (Target.ResponseCodeMismatch: Health checks failed"),
        "{cause}"
    );
    assert!(cause.contains("past the 1m00s grace period"), "{cause}");
}

#[tokio::test(start_paused = true)]
async fn a_target_group_that_never_fills_times_out_naming_the_minimum() {
    let elb = Arc::new(FakeElb(Script::new(vec![vec![target("i-1", "healthy", None)]])));
    let probe = TargetGroupProbe::new(elb, TG, 2, Duration::from_secs(60), Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(30)).await;
    assert_eq!(report.outcome, Outcome::TimedOut);
    assert!(report.cause.unwrap().contains("1/1 targets healthy (need at least 2)"));
}

fn deployment(id: &str, status: &str, td: &str, rollout: &str, running: i32) -> EcsDeployment {
    EcsDeployment {
        id: id.into(),
        status: status.into(),
        task_definition: format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{td}"),
        desired: 2,
        running,
        pending: 2 - running,
        failed_tasks: 0,
        rollout_state: Some(rollout.into()),
        rollout_state_reason: (rollout == "FAILED")
            .then(|| "ECS deployment circuit breaker: tasks failed to start.".to_string()),
    }
}

fn service(deployments: Vec<EcsDeployment>) -> EcsService {
    let running = deployments.iter().map(|d| d.running).sum();
    EcsService {
        arn: "arn:aws:ecs:us-east-1:123456789012:service/web/api".into(),
        name: "api".into(),
        cluster: "web".into(),
        status: "ACTIVE".into(),
        desired: 2,
        running,
        pending: 0,
        task_definition: deployments[0].task_definition.clone(),
        deployments,
        events: vec![ServiceEvent {
            at: "2026-11-22T08:00:00Z".into(),
            message: "(service api) has started 1 tasks".into(),
        }],
        circuit_breaker_rollback: true,
        controller: crate::cloud::Controller::Ecs,
        load_balancers: Vec::new(),
    }
}

struct FakeEcs(Script<EcsService>);

#[async_trait]
impl Ecs for FakeEcs {
    async fn describe_service(&self, _c: &str, _s: &str) -> CloudResult<Option<EcsService>> {
        Ok(Some(self.0.next()))
    }
    async fn stopped_tasks(&self, _c: &str, _s: &str, _l: usize) -> CloudResult<Vec<StoppedTask>> {
        Ok(vec![StoppedTask {
            arn: "arn:aws:ecs:us-east-1:123456789012:task/web/abc".into(),
            task_definition: "arn:aws:ecs:us-east-1:123456789012:task-definition/api:8".into(),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![("app".into(), Some(1), None)],
        }])
    }
    async fn task_definition(&self, _arn: &str) -> CloudResult<Option<TaskDefinition>> {
        unreachable!("probes never read task definitions")
    }
    async fn register_revision(&self, _r: &Revision) -> CloudResult<TaskDefinition> {
        unreachable!("probes never mutate")
    }
    async fn update_service(&self, _c: &str, _s: &str, _u: &ServiceUpdate) -> CloudResult<String> {
        unreachable!("probes never mutate")
    }
    async fn current_service_deployment(&self, _c: &str, _s: &str) -> CloudResult<Option<String>> {
        unreachable!("probes read services, not service deployments")
    }
    async fn service_deployment(&self, _arn: &str) -> CloudResult<Option<ServiceDeployment>> {
        unreachable!("probes read services, not service deployments")
    }
    async fn stop_service_deployment(&self, _arn: &str) -> CloudResult<()> {
        unreachable!("probes never mutate")
    }
    async fn continue_service_deployment(&self, _arn: &str, _hook: &str, _a: HookAction) -> CloudResult<()> {
        unreachable!("probes never mutate")
    }
    async fn task_definitions(&self, _family: &str, _active: bool) -> CloudResult<Vec<String>> {
        unreachable!("probes never read task definitions")
    }
    async fn deregister_task_definition(&self, _arn: &str) -> CloudResult<()> {
        unreachable!("probes never mutate")
    }
}

#[tokio::test(start_paused = true)]
async fn ecs_completes_after_the_old_deployment_drains() {
    let rolling = service(vec![
        deployment("ecs-svc/2", "PRIMARY", "api:8", "IN_PROGRESS", 1),
        deployment("ecs-svc/1", "ACTIVE", "api:7", "COMPLETED", 2),
    ]);
    let done = service(vec![deployment("ecs-svc/2", "PRIMARY", "api:8", "COMPLETED", 2)]);
    let ecs = Arc::new(FakeEcs(Script::new(vec![rolling.clone(), rolling, done])));
    let probe = EcsProbe::new(ecs, "web", "api", None, Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Healthy);
    assert_eq!(report.probes[0].detail, "api:8 COMPLETED, 2/2 tasks running");
}

#[tokio::test(start_paused = true)]
async fn ecs_failed_rollout_fails_at_once_with_events_and_stopped_tasks() {
    let failed = service(vec![
        deployment("ecs-svc/2", "PRIMARY", "api:8", "FAILED", 0),
        deployment("ecs-svc/1", "ACTIVE", "api:7", "COMPLETED", 2),
    ]);
    let ecs = Arc::new(FakeEcs(Script::new(vec![failed])));
    let probe = EcsProbe::new(ecs, "web", "api", None, Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.elapsed, Duration::ZERO, "the first poll decides");
    assert!(report
        .cause
        .unwrap()
        .contains("deployment ecs-svc/2 of api:8 FAILED: ECS deployment circuit breaker"));
    let diagnosis = report.probes[0].diagnosis.join("\n");
    assert!(diagnosis.contains("(service api) has started 1 tasks"), "{diagnosis}");
    assert!(
        diagnosis.contains("Essential container in task exited; container app exit 1"),
        "{diagnosis}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_circuit_breaker_rollback_is_never_success() {
    // The new deployment fails; the breaker makes the old task definition primary again and
    // it completes: a settled, running service that must still count as a failure.
    let rolling = service(vec![
        deployment("ecs-svc/2", "PRIMARY", "api:8", "IN_PROGRESS", 0),
        deployment("ecs-svc/1", "ACTIVE", "api:7", "COMPLETED", 2),
    ]);
    let mut rolled_back = service(vec![deployment("ecs-svc/3", "PRIMARY", "api:7", "COMPLETED", 2)]);
    rolled_back
        .deployments
        .push(deployment("ecs-svc/2", "INACTIVE", "api:8", "FAILED", 0));
    let ecs = Arc::new(FakeEcs(Script::new(vec![rolling, rolled_back])));
    let probe = EcsProbe::new(ecs, "web", "api", None, Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Failed);
    let cause = report.cause.unwrap();
    assert!(
        cause.contains("rolled back: deployment ecs-svc/2 of api:8 FAILED"),
        "{cause}"
    );
    assert!(cause.contains("the service now runs api:7"), "{cause}");
}

#[tokio::test(start_paused = true)]
async fn ecs_with_an_expected_task_definition_catches_a_rollback_seen_late() {
    // Polling starts after the rollback already completed.
    let settled_old = service(vec![deployment("ecs-svc/3", "PRIMARY", "api:7", "COMPLETED", 2)]);
    let ecs = Arc::new(FakeEcs(Script::new(vec![settled_old])));
    let expected = Some("arn:aws:ecs:us-east-1:123456789012:task-definition/api:8".to_string());
    let probe = EcsProbe::new(ecs, "web", "api", expected, Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Failed);
    assert!(report
        .cause
        .unwrap()
        .contains("api:8 is no longer the primary deployment"));
}

struct FakeAsg(Script<Group>);

#[async_trait]
impl AutoScaling for FakeAsg {
    async fn describe_group(&self, _n: &str) -> CloudResult<Option<Group>> {
        Ok(Some(self.0.next()))
    }
    async fn activities_in_progress(&self, _n: &str) -> CloudResult<Vec<Activity>> {
        Ok(vec![])
    }
    async fn update_size(&self, _: &str, _: Option<i32>, _: Option<i32>, _: Option<i32>) -> CloudResult<()> {
        unreachable!()
    }
    async fn set_launch_template(&self, _: &str, _: &LaunchTemplateSpec) -> CloudResult<()> {
        unreachable!()
    }
    async fn terminate_instance(&self, _: &str, _: bool) -> CloudResult<()> {
        unreachable!()
    }
    async fn start_refresh(&self, _: &str, _: &RefreshSpec) -> CloudResult<String> {
        unreachable!()
    }
    async fn describe_refreshes(&self, _: &str, _: Option<&str>) -> CloudResult<Vec<InstanceRefresh>> {
        unreachable!()
    }
    async fn cancel_refresh(&self, _: &str) -> CloudResult<()> {
        unreachable!()
    }
    async fn rollback_refresh(&self, _: &str) -> CloudResult<()> {
        unreachable!()
    }
}

fn group(instances: &[(&str, &str, &str, &str)], desired: i32) -> Group {
    Group {
        name: "web".into(),
        min: 1,
        max: 4,
        desired,
        launch_template: None,
        instances: instances
            .iter()
            .map(|(id, life, health, v)| GroupInstance {
                id: id.to_string(),
                lifecycle_state: (*life).into(),
                health_status: (*health).into(),
                launch_template_version: Some(v.to_string()),
                availability_zone: None,
            })
            .collect(),
        target_group_arns: vec![],
        health_check_grace_period: 60,
        health_check_type: "ELB".into(),
    }
}

#[tokio::test(start_paused = true)]
async fn asg_waits_for_count_health_and_version() {
    let booting = group(
        &[("i-1", "InService", "Healthy", "3"), ("i-2", "Pending", "Healthy", "4")],
        2,
    );
    let old = group(
        &[
            ("i-1", "InService", "Healthy", "3"),
            ("i-2", "InService", "Healthy", "4"),
        ],
        2,
    );
    let new = group(
        &[
            ("i-3", "InService", "Healthy", "4"),
            ("i-2", "InService", "Healthy", "4"),
        ],
        2,
    );
    let asg = Arc::new(FakeAsg(Script::new(vec![booting, old, new])));
    let probe = AsgProbe::new(asg.clone(), "web", Some("4".into()), Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(600)).await;
    assert_eq!(report.outcome, Outcome::Healthy);
    assert_eq!(asg.0.calls(), 3);
    assert_eq!(
        report.probes[0].detail,
        "2 instances InService and Healthy on version 4"
    );
}

#[tokio::test(start_paused = true)]
async fn aws_probes_stay_under_20_describe_calls_per_minute() {
    let elb = Arc::new(FakeElb(Script::new(vec![vec![target("i-1", "initial", None)]])));
    let probe = TargetGroupProbe::new(elb.clone(), TG, 1, Duration::from_secs(600), Duration::from_secs(5));
    let report = run(vec![Box::new(probe)], Duration::from_secs(300)).await;
    assert_eq!(report.outcome, Outcome::TimedOut);
    let per_minute = elb.0.calls() as f64 / 5.0;
    assert!(per_minute <= 14.0, "{per_minute} DescribeTargetHealth calls per minute");
}
