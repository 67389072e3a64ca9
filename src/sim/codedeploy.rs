//! The simulated CodeDeploy behind the `CodeDeploy` port, for a CODE_DEPLOY-controlled
//! service of the ECS simulator (same tasks, same clock): a deployment starts a
//! replacement (green) task set beside the original (blue), plays the lifecycle events
//! (Install waits for the green tasks to be healthy), waits for READY when the group says
//! so, shifts production traffic per its deployment config, keeps blue through the
//! termination wait, then removes it. A failure (green tasks exiting), the READY wait
//! running out or StopDeployment routes all traffic back to blue and removes green.
//! Production traffic on a task set with no healthy task is recorded for the invariants.

use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::ecs::{SimEcs, State};
use crate::cloud::{
    CdDeployment, CdStatus, CloudError, CloudResult, CodeDeploy, DeploymentGroup, DeploymentTarget, Diagnostics,
    ErrorKind, LifecycleEvent, NewDeployment, Shift, TaskSet,
};
use crate::error::Result;
use crate::wait::{Check, Probe};

/// The lifecycle events of an ECS deployment, in order.
pub const EVENTS: [&str; 8] = [
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// The simulated application and deployment group.
#[derive(Debug, Clone)]
pub struct CdSettings {
    pub application: String,
    pub group: String,
    /// The group's deployment config.
    pub config: String,
    /// deploymentReadyOption STOP_DEPLOYMENT: wait for ContinueDeployment before shifting.
    pub waits_for_ready: bool,
    /// How long it waits for that before it stops.
    pub ready_wait: Duration,
    /// How long blue is kept after all production traffic shifted.
    pub termination_wait: Duration,
    pub auto_rollback: bool,
}

impl Default for CdSettings {
    fn default() -> Self {
        CdSettings {
            application: "AppECS-web-cluster-web".into(),
            group: "DgpECS-web-cluster-web".into(),
            config: "CodeDeployDefault.ECSAllAtOnce".into(),
            waits_for_ready: false,
            ready_wait: Duration::from_secs(600),
            termination_wait: Duration::from_secs(300),
            auto_rollback: true,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    Install,
    /// Waiting for ContinueDeployment until then.
    Ready(Instant),
    /// Shifting production traffic: the next step (index into the shift's steps) and when.
    Shifting(usize, Instant),
    /// The termination wait, until then.
    Bake(Instant),
    Over,
}

struct Dep {
    id: String,
    status: CdStatus,
    config: String,
    /// The ECS deployment id of the green task set.
    green: String,
    phase: Phase,
    /// Status of each of `EVENTS`.
    events: Vec<(&'static str, Option<Diagnostics>)>,
    weight: f64,
    error: Option<(String, String)>,
    rollback: Option<String>,
    continued: bool,
}

/// CodeDeploy's state beside the ECS service's.
#[derive(Default)]
pub struct Cd {
    deployments: Vec<Dep>,
    next: u64,
    /// Every instant production traffic went to a task set with no healthy task.
    pub(super) unhealthy_traffic: Vec<String>,
    /// The highest production traffic percent green reached in the last deployment.
    pub(super) peak: f64,
}

impl Cd {
    pub(super) fn next_event(&self) -> Option<Instant> {
        self.deployments
            .iter()
            .filter_map(|d| match d.phase {
                Phase::Ready(t) | Phase::Shifting(_, t) | Phase::Bake(t) => Some(t),
                Phase::Install | Phase::Over => None,
            })
            .min()
    }

    /// The green traffic percent of the deployment under way (0 when none).
    pub(super) fn traffic(&self) -> f64 {
        self.deployments
            .iter()
            .find(|d| d.phase != Phase::Over)
            .map_or(0.0, |d| d.weight)
    }
}

fn set_event(d: &mut Dep, name: &str, status: &'static str, diagnostics: Option<Diagnostics>) {
    if let Some(e) = d.events.iter_mut().zip(EVENTS).find(|(_, n)| *n == name) {
        *e.0 = (status, diagnostics);
    }
}

fn healthy_in(s: &State, deployment: &str, at: Instant) -> i32 {
    s.tasks
        .iter()
        .filter(|t| t.deployment == deployment && s.healthy(t, at))
        .count() as i32
}

/// Ends the deployment: traffic back to blue, green's tasks stopped.
fn roll_back(s: &mut State, i: usize, at: Instant, status: CdStatus, error: (String, String), rollback: bool) {
    let green = s.cd.deployments[i].green.clone();
    if rollback {
        s.cd.next += 1;
        let id = format!("d-RB{:07}", s.cd.next);
        let d = &mut s.cd.deployments[i];
        d.weight = 0.0;
        d.rollback = Some(id);
        for t in s.tasks.iter_mut().filter(|t| t.deployment == green) {
            t.crash = false;
            t.late = false;
            t.stop_at = Some(at);
        }
        s.deployments.retain(|d| d.id != green);
        let message = format!(
            "CodeDeploy rolled back: traffic back on the original task set ({})",
            error.1
        );
        s.event(at, message);
    }
    let d = &mut s.cd.deployments[i];
    d.status = status;
    d.error = Some(error);
    d.phase = Phase::Over;
    for e in d.events.iter_mut().filter(|e| e.0 == "Pending" || e.0 == "InProgress") {
        e.0 = "Skipped";
    }
}

/// Fails the deployment at lifecycle event `event` because green tasks exited.
fn fail(s: &mut State, i: usize, at: Instant, event: &str) {
    let reason = s
        .stopped
        .first()
        .and_then(|t| t.stopped_reason.clone())
        .unwrap_or_else(|| "tasks stopped".into());
    let message = format!("the replacement task set's tasks stopped: {reason}");
    let diagnostics = Diagnostics {
        error_code: Some("UnknownError".into()),
        message: Some(message.clone()),
        log_tail: Some(format!("exit code 1: {reason}")),
    };
    let d = &mut s.cd.deployments[i];
    if EVENTS.contains(&event) {
        set_event(d, event, "Failed", Some(diagnostics));
    }
    let rollback = s.s.codedeploy.auto_rollback;
    roll_back(
        s,
        i,
        at,
        CdStatus::Failed,
        ("ECS_UPDATE_ERROR".into(), message),
        rollback,
    );
}

/// Starts shifting production traffic.
fn shift(s: &mut State, i: usize, at: Instant) {
    let d = &mut s.cd.deployments[i];
    set_event(d, "BeforeAllowTraffic", "Succeeded", None);
    set_event(d, "AllowTraffic", "InProgress", None);
    d.status = CdStatus::InProgress;
    d.phase = Phase::Shifting(0, at);
}

/// What CodeDeploy does at `at` (called from the ECS simulator's step).
pub(super) fn step(s: &mut State, at: Instant) {
    // Blue (the primary) keeps its count; a green task set under way keeps its count too.
    let primary = s.deployments[0].id.clone();
    let live = s.tasks.iter().filter(|t| t.deployment == primary).count() as i32;
    for _ in live..s.s.desired {
        s.launch(0, at);
    }
    let Some(i) = s.cd.deployments.iter().position(|d| d.phase != Phase::Over) else {
        return;
    };
    let green = s.cd.deployments[i].green.clone();
    if let Some(g) = s.deployments.iter().position(|d| d.id == green) {
        let live = s.tasks.iter().filter(|t| t.deployment == green).count() as i32;
        for _ in live..s.s.desired {
            s.launch(g, at);
        }
    }
    let failed = s.deployments.iter().find(|d| d.id == green).map_or(0, |d| d.failed);
    let settings = s.s.codedeploy.clone();
    let phase = s.cd.deployments[i].phase;
    match phase {
        Phase::Install if failed > 0 => fail(s, i, at, "Install"),
        Phase::Install => {
            if healthy_in(s, &green, at) >= s.s.desired {
                let d = &mut s.cd.deployments[i];
                for e in ["Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic"] {
                    set_event(d, e, "Succeeded", None);
                }
                if settings.waits_for_ready {
                    d.status = CdStatus::Ready;
                    d.phase = Phase::Ready(at + settings.ready_wait);
                } else {
                    shift(s, i, at);
                }
            }
        }
        Phase::Ready(_) if failed > 0 => fail(s, i, at, "AfterAllowTestTraffic"),
        Phase::Ready(_) if s.cd.deployments[i].continued => shift(s, i, at),
        Phase::Ready(until) if at >= until => {
            let error = (
                "TIMEOUT".to_string(),
                "the deployment was not continued within the deployment group's wait time".to_string(),
            );
            roll_back(s, i, at, CdStatus::Stopped, error, true);
        }
        Phase::Shifting(_, _) if failed > 0 => fail(s, i, at, "AllowTraffic"),
        Phase::Shifting(n, when) if at >= when => {
            let d = &mut s.cd.deployments[i];
            let steps = Shift::of(&d.config).steps();
            d.weight = steps[n].1;
            s.cd.peak = s.cd.peak.max(d.weight);
            match steps.get(n + 1) {
                Some((minutes, _)) => d.phase = Phase::Shifting(n + 1, at + Duration::from_secs(*minutes as u64 * 60)),
                None => {
                    set_event(d, "AllowTraffic", "Succeeded", None);
                    set_event(d, "AfterAllowTraffic", "Succeeded", None);
                    d.phase = Phase::Bake(at + settings.termination_wait);
                }
            }
        }
        Phase::Bake(_) if failed > 0 => fail(s, i, at, "TerminationWait"),
        Phase::Bake(until) if at >= until => {
            // Green becomes the service's primary; blue's tasks drain and go.
            let drain = at + s.s.drain;
            for t in s.tasks.iter_mut().filter(|t| t.deployment != green) {
                t.stop_at = Some(t.stop_at.map_or(drain, |s| s.min(drain)));
            }
            s.deployments.retain(|d| d.id == green);
            s.deployments[0].primary = true;
            s.deployments[0].rollout = "COMPLETED";
            s.stable = s.deployments[0].task_definition.clone();
            let d = &mut s.cd.deployments[i];
            d.status = CdStatus::Succeeded;
            d.phase = Phase::Over;
            d.weight = 0.0;
            s.event(at, "has reached a steady state.".into());
        }
        Phase::Ready(_) | Phase::Shifting(_, _) | Phase::Bake(_) | Phase::Over => {}
    }
    watch(s, at);
}

/// Records production traffic on a task set with no healthy task.
fn watch(s: &mut State, at: Instant) {
    let weight = s.cd.traffic();
    let blue = s.deployments[0].id.clone();
    let green =
        s.cd.deployments
            .iter()
            .find(|d| d.phase != Phase::Over)
            .map(|d| d.green.clone());
    let secs = (at - s.start).as_secs_f64();
    if weight < 100.0 && healthy_in(s, &blue, at) == 0 {
        s.cd.unhealthy_traffic.push(format!(
            "{secs:.0}s: {:.0}% on blue with no healthy task",
            100.0 - weight
        ));
    }
    if let Some(green) = green {
        if weight > 0.0 && healthy_in(s, &green, at) == 0 {
            s.cd.unhealthy_traffic
                .push(format!("{secs:.0}s: {weight:.0}% on green with no healthy task"));
        }
    }
}

/// The test listener of the simulated service as a health probe: it routes to the
/// replacement task set of the deployment under way and answers as its tasks do (503 with
/// no healthy task, 500 from an image injected as erroring, 200 otherwise).
pub struct TestListener {
    pub sim: SimEcs,
    pub interval: Duration,
}

#[async_trait]
impl Probe for TestListener {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn name(&self) -> String {
        "the simulated test listener".into()
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn poll(&mut self) -> Result<Check<String>> {
        Ok(self.sim.with_state(|s, at| {
            let Some(d) = s.cd.deployments.iter().find(|d| d.phase != Phase::Over) else {
                return Check::Pending("HTTP 503: no replacement task set behind the test listener".into());
            };
            let td = s
                .deployments
                .iter()
                .find(|e| e.id == d.green)
                .map(|e| e.task_definition.clone());
            if healthy_in(s, &d.green, at) == 0 {
                return Check::Pending("HTTP 503: no healthy task behind the test listener".into());
            }
            let image = td
                .and_then(|td| s.find(&td).cloned())
                .and_then(|td| td.container(&s.s.container).map(|c| c.image.clone()))
                .unwrap_or_default();
            if s.faults.erroring_images.contains(&image) {
                Check::Failed(format!("HTTP 500 from {image} on the test listener (expected 200)"))
            } else {
                Check::Done(format!("HTTP 200 from {image}"))
            }
        }))
    }
}

fn invalid(op: &str, code: &str, message: impl Into<String>) -> CloudError {
    CloudError::new(ErrorKind::Invalid, op, Some(code), message)
}

fn find<'a>(s: &'a mut State, op: &str, id: &str) -> CloudResult<(usize, &'a mut Dep)> {
    s.cd.deployments
        .iter_mut()
        .enumerate()
        .find(|(_, d)| d.id == id)
        .ok_or_else(|| {
            CloudError::new(
                ErrorKind::NotFound,
                op,
                Some("DeploymentDoesNotExistException"),
                format!("The deployment {id} could not be found."),
            )
        })
}

/// The task definition an AppSpec names.
fn app_spec_task_definition(app_spec: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(app_spec).ok()?;
    v["Resources"].as_array()?.iter().find_map(|r| {
        r["TargetService"]["Properties"]["TaskDefinition"]
            .as_str()
            .map(str::to_string)
    })
}

#[async_trait]
impl CodeDeploy for SimEcs {
    async fn deployment_group(&self, application: &str, group: &str) -> CloudResult<Option<DeploymentGroup>> {
        self.call("GetDeploymentGroup", format!("{application}/{group}"), false, |s, _| {
            let c = &s.s.codedeploy;
            if application != c.application || group != c.group {
                return Ok(None);
            }
            Ok(Some(DeploymentGroup {
                application: c.application.clone(),
                name: c.group.clone(),
                config: Some(c.config.clone()),
                waits_for_ready: c.waits_for_ready,
                ready_wait_minutes: (c.ready_wait.as_secs() / 60) as i32,
                termination_wait_minutes: (c.termination_wait.as_secs() / 60) as i32,
                ecs_services: vec![(s.s.cluster.clone(), s.s.service.clone())],
                target_groups: vec![format!("{}-blue", s.s.service), format!("{}-green", s.s.service)],
                auto_rollback: c.auto_rollback,
            }))
        })
    }

    async fn create_deployment(&self, new: &NewDeployment) -> CloudResult<String> {
        let detail = format!("{}/{} config {:?}", new.application, new.group, new.config);
        self.call("CreateDeployment", detail, true, |s, at| {
            let op = "CreateDeployment";
            let c = s.s.codedeploy.clone();
            if new.application != c.application {
                return Err(invalid(op, "ApplicationDoesNotExistException", "No application found"));
            }
            if new.group != c.group {
                return Err(invalid(
                    op,
                    "DeploymentGroupDoesNotExistException",
                    "No deployment group found",
                ));
            }
            if s.cd.deployments.iter().any(|d| d.phase != Phase::Over) {
                return Err(invalid(
                    op,
                    "DeploymentLimitExceededException",
                    "The deployment group already has an active deployment",
                ));
            }
            let Some(td) = app_spec_task_definition(&new.app_spec).and_then(|r| s.find(&r).map(|td| td.arn.clone()))
            else {
                return Err(invalid(
                    op,
                    "InvalidRevisionException",
                    "the AppSpec names no registered task definition",
                ));
            };
            s.cd.next += 1;
            let id = format!("d-SIM{:06}", s.cd.next);
            // The green task set: an ECS deployment that is not the primary.
            s.next += 1;
            let green = format!("ecs-svc/{:019}", 4_000_000_000_000_000_000u64 + s.next);
            s.deployments.push(super::ecs::Deployment {
                id: green.clone(),
                task_definition: td,
                primary: false,
                rollout: "IN_PROGRESS",
                reason: Some(format!("CodeDeploy deployment {id}")),
                failed: 0,
            });
            let mut events: Vec<(&'static str, Option<Diagnostics>)> = vec![("Pending", None); EVENTS.len()];
            events[0] = ("Succeeded", None);
            events[1] = ("InProgress", None);
            s.cd.peak = 0.0;
            s.cd.deployments.push(Dep {
                id: id.clone(),
                status: CdStatus::InProgress,
                config: new.config.clone().unwrap_or(c.config),
                green,
                phase: Phase::Install,
                events,
                weight: 0.0,
                error: None,
                rollback: None,
                continued: false,
            });
            step(s, at);
            Ok(id)
        })
    }

    async fn get_deployment(&self, id: &str) -> CloudResult<CdDeployment> {
        self.call("GetDeployment", id.into(), false, |s, _| {
            let (_, d) = find(s, "GetDeployment", id)?;
            Ok(CdDeployment {
                id: d.id.clone(),
                status: d.status.clone(),
                config: Some(d.config.clone()),
                error_code: d.error.as_ref().map(|e| e.0.clone()),
                error_message: d.error.as_ref().map(|e| e.1.clone()),
                rollback_deployment: d.rollback.clone(),
            })
        })
    }

    async fn deployment_target(&self, id: &str) -> CloudResult<Option<DeploymentTarget>> {
        self.call("BatchGetDeploymentTargets", id.into(), false, |s, at| {
            let blue = s.deployments[0].id.clone();
            let desired = s.s.desired as i64;
            let count = |s: &State, dep: &str| {
                let tasks = s.tasks.iter().filter(|t| t.deployment == dep);
                let running = tasks.clone().filter(|t| s.running(t, at)).count() as i64;
                (running, tasks.count() as i64 - running)
            };
            let (blue_running, blue_pending) = count(s, &blue);
            let (_, d) = find(s, "BatchGetDeploymentTargets", id)?;
            let (weight, green, status) = (d.weight, d.green.clone(), d.status.clone());
            let events = d
                .events
                .iter()
                .zip(EVENTS)
                .map(|((status, diagnostics), name)| LifecycleEvent {
                    name: name.to_string(),
                    status: status.to_string(),
                    diagnostics: diagnostics.clone(),
                })
                .collect();
            let (green_running, green_pending) = count(s, &green);
            let mut task_sets = vec![TaskSet {
                id: blue,
                label: "Blue".into(),
                desired,
                running: blue_running,
                pending: blue_pending,
                traffic_weight: 100.0 - weight,
                target_group: Some(format!("{}-blue", s.s.service)),
            }];
            if !status.ended() {
                task_sets.push(TaskSet {
                    id: green,
                    label: "Green".into(),
                    desired,
                    running: green_running,
                    pending: green_pending,
                    traffic_weight: weight,
                    target_group: Some(format!("{}-green", s.s.service)),
                });
            }
            Ok(Some(DeploymentTarget {
                status: status.to_string(),
                events,
                task_sets,
            }))
        })
    }

    async fn active_deployments(&self, application: &str, group: &str) -> CloudResult<Vec<String>> {
        self.call("ListDeployments", format!("{application}/{group}"), false, |s, _| {
            Ok(s.cd
                .deployments
                .iter()
                .filter(|d| d.phase != Phase::Over)
                .map(|d| d.id.clone())
                .collect())
        })
    }

    async fn stop_deployment(&self, id: &str, auto_rollback: bool) -> CloudResult<String> {
        let detail = format!("{id} autoRollbackEnabled={auto_rollback}");
        self.call("StopDeployment", detail, true, |s, at| {
            let op = "StopDeployment";
            let (i, d) = find(s, op, id)?;
            if d.phase == Phase::Over {
                return Err(invalid(
                    op,
                    "DeploymentAlreadyCompletedException",
                    format!("The deployment {id} has already completed."),
                ));
            }
            let error = ("MANUAL_STOP".to_string(), "the deployment was stopped".to_string());
            roll_back(s, i, at, CdStatus::Stopped, error, auto_rollback);
            Ok("Succeeded".into())
        })
    }

    async fn continue_deployment(&self, id: &str) -> CloudResult<()> {
        self.call("ContinueDeployment", id.into(), true, |s, at| {
            let op = "ContinueDeployment";
            let (_, d) = find(s, op, id)?;
            if d.status != CdStatus::Ready {
                return Err(invalid(
                    op,
                    "DeploymentIsNotInReadyStateException",
                    format!("The deployment {id} is not in a ready state."),
                ));
            }
            d.continued = true;
            step(s, at);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::{Controller, Ecs, Revision};
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
            app_spec,
            description: "test".into(),
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
            sim.update_service("web-cluster", "web", "web:1").await.is_err(),
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
        sleep(Duration::from_secs(1)).await;
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
}
