//! The simulated ECS service behind the `Ecs` port, on tokio's clock: tasks start, pass
//! their container health check or crash (an image injected as failing), the deployment
//! circuit breaker trips after its threshold and rolls back to the last completed
//! revision, old deployments drain once the primary is healthy, and rolloutState moves
//! IN_PROGRESS -> COMPLETED or FAILED. Like the Auto Scaling simulator, nothing runs in
//! the background: every call first plays the events up to now. Calls are logged.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

mod native;
mod port;

use super::codedeploy::{Cd, CdSettings};
use super::Call;
use crate::cloud::{
    CloudError, CloudResult, ContainerSpec, Controller, DeploymentSettings, ErrorKind, LifecycleStage,
    ServiceDeployment, ServiceEvent, ServiceLoadBalancer, StoppedTask, TaskDefinition,
};
use native::Native;
pub use native::TestListener;

/// The physics of the simulated service.
#[derive(Debug, Clone)]
pub struct EcsSettings {
    pub cluster: String,
    pub service: String,
    /// The task definition family; revision 1 runs at the start.
    pub family: String,
    /// The container a roll changes; the task definition also has a `log` sidecar.
    pub container: String,
    pub image: String,
    /// Tasks the service runs.
    pub desired: i32,
    /// From launch to RUNNING.
    pub start: Duration,
    /// From RUNNING to a passing container health check.
    pub health: Duration,
    /// A failing image's container exits this long after it started running.
    pub crash: Duration,
    /// An old task stops this long after it is told to (connection draining).
    pub drain: Duration,
    /// The deployment circuit breaker, with rollback.
    pub circuit_breaker: bool,
    /// Who deploys the service.
    pub controller: Controller,
    /// The service's load balancer entries.
    pub load_balancers: Vec<ServiceLoadBalancer>,
    /// The CodeDeploy application and deployment group (used when `controller` is CODE_DEPLOY).
    pub codedeploy: CdSettings,
}

impl Default for EcsSettings {
    fn default() -> Self {
        EcsSettings {
            cluster: "web-cluster".into(),
            service: "web".into(),
            family: "web".into(),
            container: "app".into(),
            image: "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1".into(),
            desired: 2,
            start: Duration::from_secs(20),
            health: Duration::from_secs(30),
            crash: Duration::from_secs(10),
            drain: Duration::from_secs(30),
            circuit_breaker: true,
            controller: Controller::Ecs,
            load_balancers: Vec::new(),
            codedeploy: CdSettings::default(),
        }
    }
}

impl EcsSettings {
    /// The number of failed tasks that trips the circuit breaker (AWS: half the desired
    /// count, at least 3, at most 200).
    pub fn threshold(&self) -> i32 {
        ((self.desired + 1) / 2).clamp(3, 200)
    }
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct EcsFaults {
    /// Share of calls answered with a ThrottlingException (nothing done).
    pub throttle: f64,
    /// Tasks whose container runs one of these images crash.
    pub bad_images: BTreeSet<String>,
    pub fail_at_stage: Option<LifecycleStage>,
    /// Tasks on a bad image pass their health check and exit this long after starting
    /// (a version that fails later, e.g. under production traffic), instead of never passing it.
    pub late_crash: Option<Duration>,
    /// Tasks on these images pass their container health check but answer HTTP 500
    /// (seen by the simulated test listener, `TestListener`).
    pub erroring_images: BTreeSet<String>,
    pub seed: u64,
}

pub(super) struct Task {
    pub(super) arn: String,
    pub(super) deployment: String,
    pub(super) task_definition: String,
    pub(super) launched: Instant,
    /// When it stops (crash or drain), and why.
    pub(super) stop_at: Option<Instant>,
    /// Never passes its health check; exits soon after it starts.
    pub(super) crash: bool,
    /// Passes its health check, then exits (`EcsFaults::late_crash`).
    pub(super) late: bool,
}

pub(super) struct Deployment {
    pub(super) id: String,
    pub(super) task_definition: String,
    pub(super) primary: bool,
    pub(super) rollout: &'static str,
    pub(super) reason: Option<String>,
    pub(super) failed: i32,
}

pub(super) struct State {
    pub(super) s: EcsSettings,
    pub(super) faults: EcsFaults,
    pub(super) clock: Instant,
    pub(super) definitions: Vec<TaskDefinition>,
    /// The primary deployment first.
    pub(super) deployments: Vec<Deployment>,
    pub(super) tasks: Vec<Task>,
    /// Newest first.
    pub(super) stopped: Vec<StoppedTask>,
    /// Newest first.
    pub(super) events: Vec<ServiceEvent>,
    /// The task definition of the last deployment that completed.
    pub(super) stable: String,
    pub(super) start: Instant,
    pub(super) next: u64,
    /// The fewest healthy tasks on any one instant since the start (sampled per event).
    /// Native service deployments, oldest first.
    natives: Vec<Native>,
    /// The service's deployment configuration (None: rolling).
    config: Option<DeploymentSettings>,
    /// Deregistered task definitions.
    inactive: BTreeSet<String>,
    /// Instants (events) at which production traffic went to a revision short of healthy tasks.
    traffic_on_unhealthy: u32,
    pub(super) min_healthy: i32,
    /// CodeDeploy's deployments of a CODE_DEPLOY-controlled service.
    pub(super) cd: Cd,
}

/// What the simulated service looks like at one instant.
#[derive(Debug, Clone)]
pub struct EcsSnapshot {
    pub task_definition: String,
    /// (id, task definition, PRIMARY/ACTIVE, rollout state)
    pub deployments: Vec<(String, String, String, String)>,
    /// Healthy tasks and the task definition each runs.
    pub healthy: Vec<String>,
    /// The fewest healthy tasks at any instant so far.
    pub min_healthy: i32,
    /// Production traffic per task definition, percent.
    pub production: Vec<(String, f64)>,
    /// Events at which production traffic went to a revision short of healthy tasks.
    pub traffic_on_unhealthy: u32,
    /// The last native service deployment, as DescribeServiceDeployments shows it.
    pub service_deployment: Option<ServiceDeployment>,
    /// CodeDeploy: the production traffic percent on the replacement task set now.
    pub traffic: f64,
    /// CodeDeploy: the highest production traffic percent the last deployment reached.
    pub peak_traffic: f64,
    /// CodeDeploy: each instant production traffic went to a task set with no healthy task.
    pub unhealthy_traffic: Vec<String>,
}

/// The simulated ECS service. Cloning shares the same state.
#[derive(Clone)]
pub struct SimEcs {
    inner: Arc<Mutex<(State, StdRng, Vec<Call>)>>,
}

fn arn(family: &str, revision: i32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{revision}")
}

impl State {
    pub(super) fn healthy(&self, t: &Task, at: Instant) -> bool {
        t.stop_at.is_none_or(|s| s > at) && !t.crash && at >= t.launched + self.s.start + self.s.health
    }

    pub(super) fn running(&self, t: &Task, at: Instant) -> bool {
        at >= t.launched + self.s.start && t.stop_at.is_none_or(|s| s > at)
    }

    pub(super) fn event(&mut self, at: Instant, message: String) {
        let secs = (at - self.start).as_secs();
        self.events.insert(
            0,
            ServiceEvent {
                at: format!("2024-06-01T00:{:02}:{:02}Z", (secs / 60) % 60, secs % 60),
                message: format!("(service {}) {message}", self.s.service),
            },
        );
        self.events.truncate(100);
    }

    pub(super) fn launch(&mut self, deployment: usize, at: Instant) {
        self.next += 1;
        let d = &self.deployments[deployment];
        let image = self
            .definitions
            .iter()
            .find(|td| td.arn == d.task_definition)
            .and_then(|td| td.container(&self.s.container))
            .map(|c| c.image.clone())
            .unwrap_or_default();
        let bad = self.faults.bad_images.contains(&image);
        let (crash, late) = match self.faults.late_crash {
            Some(_) => (false, bad),
            None => (bad, false),
        };
        let stop_at = match self.faults.late_crash {
            Some(after) if late => Some(at + self.s.start + after),
            _ => crash.then(|| at + self.s.start + self.s.crash),
        };
        self.tasks.push(Task {
            arn: format!(
                "arn:aws:ecs:us-east-1:123456789012:task/{}/{:032x}",
                self.s.cluster, self.next
            ),
            deployment: d.id.clone(),
            task_definition: d.task_definition.clone(),
            launched: at,
            stop_at,
            crash,
            late,
        });
    }

    pub(super) fn new_deployment(&mut self, task_definition: &str, at: Instant) -> String {
        let id = self.add_deployment(task_definition);
        self.step(at);
        id
    }

    /// A new primary deployment, not yet acted on.
    fn add_deployment(&mut self, task_definition: &str) -> String {
        self.next += 1;
        let id = format!("ecs-svc/{:019}", 4_000_000_000_000_000_000u64 + self.next);
        for d in &mut self.deployments {
            d.primary = false;
        }
        self.deployments.insert(
            0,
            Deployment {
                id: id.clone(),
                task_definition: task_definition.to_string(),
                primary: true,
                rollout: "IN_PROGRESS",
                reason: Some(format!("ECS deployment {id} in progress.")),
                failed: 0,
            },
        );
        id
    }

    fn next_event(&self, now: Instant) -> Option<Instant> {
        let s = &self.s;
        self.tasks
            .iter()
            .flat_map(|t| {
                [
                    Some(t.launched + s.start),
                    Some(t.launched + s.start + s.health),
                    t.stop_at,
                ]
            })
            .flatten()
            .chain(self.native_next())
            .chain(self.cd.next_event())
            .filter(|t| *t > self.clock && *t <= now)
            .min()
    }

    /// What ECS does at `at`.
    fn step(&mut self, at: Instant) {
        self.clock = self.clock.max(at);
        // Tasks that stopped.
        let (gone, kept): (Vec<Task>, Vec<Task>) = std::mem::take(&mut self.tasks)
            .into_iter()
            .partition(|t| t.stop_at.is_some_and(|s| s <= at));
        self.tasks = kept;
        for t in gone {
            let failed = t.crash || t.late;
            if failed {
                if let Some(d) = self.deployments.iter_mut().find(|d| d.id == t.deployment) {
                    d.failed += 1;
                }
            }
            let id = t.arn.rsplit('/').next().unwrap_or_default().to_string();
            self.event(at, format!("has stopped 1 running tasks: (task {id})."));
            self.stopped.insert(
                0,
                StoppedTask {
                    arn: t.arn,
                    task_definition: t.task_definition,
                    stopped_reason: Some(if failed {
                        "Essential container in task exited".into()
                    } else {
                        "Scaling activity initiated by (deployment)".into()
                    }),
                    containers: vec![(
                        self.s.container.clone(),
                        Some(if failed { 1 } else { 0 }),
                        t.crash.then(|| "exited: health check never passed".to_string()),
                    )],
                },
            );
            self.stopped.truncate(100);
        }
        if self.deployments.is_empty() {
            return;
        }
        if self.s.controller == Controller::CodeDeploy {
            super::codedeploy::step(self, at);
            return;
        }
        if let Some(n) = self.native_active() {
            self.step_native(n, at);
            if self.traffic_on_unhealthy(at) {
                self.traffic_on_unhealthy += 1;
            }
            let serving = self.tasks.iter().filter(|t| self.healthy(t, at)).count() as i32;
            self.min_healthy = self.min_healthy.min(serving);
            return;
        }
        // The circuit breaker.
        let threshold = self.s.threshold();
        if self.s.circuit_breaker
            && self.deployments[0].rollout == "IN_PROGRESS"
            && self.deployments[0].failed >= threshold
        {
            let (id, failed_td) = (
                self.deployments[0].id.clone(),
                self.deployments[0].task_definition.clone(),
            );
            self.deployments[0].rollout = "FAILED";
            self.deployments[0].reason = Some("ECS deployment circuit breaker: tasks failed to start.".into());
            self.event(at, format!("deployment {id} deployment failed: tasks failed to start."));
            if self.stable != failed_td {
                let stable = self.stable.clone();
                let back = self.new_deployment(&stable, at);
                self.event(at, format!("rolling back to deployment {back}."));
                return;
            }
        }
        // The primary keeps its desired count of tasks.
        let primary = self.deployments[0].id.clone();
        let live = self.tasks.iter().filter(|t| t.deployment == primary).count() as i32;
        for _ in live..self.s.desired {
            self.launch(0, at);
        }
        // Once the primary is healthy, the others drain and go.
        let healthy = self
            .tasks
            .iter()
            .filter(|t| t.deployment == primary && self.healthy(t, at))
            .count() as i32;
        if healthy >= self.s.desired {
            let drain = at + self.s.drain;
            for t in self.tasks.iter_mut().filter(|t| t.deployment != primary) {
                if t.stop_at.is_none() {
                    t.stop_at = Some(drain);
                }
            }
            let tasks = &self.tasks;
            self.deployments
                .retain(|d| d.primary || tasks.iter().any(|t| t.deployment == d.id));
            if self.deployments.len() == 1 && self.deployments[0].rollout == "IN_PROGRESS" {
                let d = &mut self.deployments[0];
                d.rollout = "COMPLETED";
                d.reason = Some(format!("ECS deployment {} completed.", d.id));
                self.stable = d.task_definition.clone();
                self.event(at, "has reached a steady state.".into());
            }
        }
        let serving = self.tasks.iter().filter(|t| self.healthy(t, at)).count() as i32;
        self.min_healthy = self.min_healthy.min(serving);
    }

    fn advance(&mut self, now: Instant) {
        while let Some(at) = self.next_event(now) {
            self.step(at);
        }
        self.step(now);
    }

    pub(super) fn find(&self, reference: &str) -> Option<&TaskDefinition> {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        match name.split_once(':') {
            Some((family, rev)) => self
                .definitions
                .iter()
                .find(|td| td.family == family && td.revision.to_string() == rev),
            None => self
                .definitions
                .iter()
                .filter(|td| td.family == name)
                .max_by_key(|td| td.revision),
        }
    }

    fn check(&self, op: &str, cluster: &str, service: &str) -> CloudResult<()> {
        if cluster != self.s.cluster {
            return Err(CloudError::new(
                ErrorKind::NotFound,
                op,
                Some("ClusterNotFoundException"),
                "Cluster not found.",
            ));
        }
        if service != self.s.service {
            return Err(CloudError::new(
                ErrorKind::NotFound,
                op,
                Some("ServiceNotFoundException"),
                "Service not found.",
            ));
        }
        Ok(())
    }
}

impl SimEcs {
    /// This service's ports, with a default Auto Scaling group beside it.
    pub fn ports(&self) -> crate::cloud::Ports {
        super::ports(
            &super::Sim::new(super::Settings::default(), super::Faults::default()),
            self,
        )
    }

    pub fn new(settings: EcsSettings, faults: EcsFaults) -> Self {
        let now = Instant::now();
        let long_ago = now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now);
        let first = TaskDefinition {
            arn: arn(&settings.family, 1),
            family: settings.family.clone(),
            revision: 1,
            containers: vec![
                ContainerSpec {
                    name: settings.container.clone(),
                    image: settings.image.clone(),
                    environment: vec![("MODE".into(), "prod".into())],
                },
                ContainerSpec {
                    name: "log".into(),
                    image: "public.ecr.aws/aws-observability/aws-for-fluent-bit:2.32.0".into(),
                    environment: Vec::new(),
                },
            ],
        };
        let mut state = State {
            clock: long_ago,
            stable: first.arn.clone(),
            definitions: vec![first.clone()],
            deployments: Vec::new(),
            tasks: Vec::new(),
            stopped: Vec::new(),
            events: Vec::new(),
            start: now,
            next: 0,
            min_healthy: settings.desired,
            natives: Vec::new(),
            config: None,
            inactive: BTreeSet::new(),
            traffic_on_unhealthy: 0,
            cd: Cd::default(),
            faults: faults.clone(),
            s: settings,
        };
        state.new_deployment(&first.arn, long_ago);
        state.advance(now);
        state.min_healthy = state.s.desired;
        let rng = StdRng::seed_from_u64(faults.seed);
        SimEcs {
            inner: Arc::new(Mutex::new((state, rng, Vec::new()))),
        }
    }

    pub(super) fn call<T>(
        &self,
        operation: &'static str,
        detail: String,
        mutating: bool,
        f: impl FnOnce(&mut State, Instant) -> CloudResult<T>,
    ) -> CloudResult<T> {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (state, rng, log) = &mut *guard;
        let now = Instant::now();
        state.advance(now);
        let result = if rng.random::<f64>() < state.faults.throttle {
            Err(CloudError::new(
                ErrorKind::Throttled,
                operation,
                Some("ThrottlingException"),
                "Rate exceeded",
            ))
        } else {
            f(state, now)
        };
        log.push(Call::of(
            (now - state.start).as_secs_f64(),
            operation,
            detail,
            mutating,
            &result,
        ));
        result
    }

    /// Reads the state now (advancing the model, logging nothing).
    pub(super) fn with_state<T>(&self, f: impl FnOnce(&State, Instant) -> T) -> T {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        guard.0.advance(now);
        f(&guard.0, now)
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).2.clone()
    }

    /// The mutating calls that were carried out.
    pub fn mutations(&self) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.mutating && c.error.is_none())
            .collect()
    }

    /// Changes the faults from now on.
    pub fn set_faults(&self, faults: EcsFaults) {
        self.inner.lock().unwrap_or_else(|e| e.into_inner()).0.faults = faults;
    }

    /// The state now (advancing the model, logging nothing).
    pub fn snapshot(&self) -> EcsSnapshot {
        let mut guard = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut guard.0;
        let now = Instant::now();
        state.advance(now);
        EcsSnapshot {
            task_definition: state.deployments[0].task_definition.clone(),
            deployments: state
                .deployments
                .iter()
                .map(|d| {
                    (
                        d.id.clone(),
                        d.task_definition.clone(),
                        if d.primary { "PRIMARY" } else { "ACTIVE" }.to_string(),
                        d.rollout.to_string(),
                    )
                })
                .collect(),
            healthy: state
                .tasks
                .iter()
                .filter(|t| state.healthy(t, now))
                .map(|t| t.task_definition.clone())
                .collect(),
            min_healthy: state.min_healthy,
            production: state.production(),
            traffic_on_unhealthy: state.traffic_on_unhealthy,
            service_deployment: state.natives.last().map(|n| n.model()),
            traffic: state.cd.traffic(),
            peak_traffic: state.cd.peak,
            unhealthy_traffic: state.cd.unhealthy_traffic.clone(),
        }
    }

    /// The test listener, as a probe (for `health.test_urls` in a rehearsal).
    pub fn test_listener(&self) -> TestListener {
        TestListener {
            sim: self.clone(),
            interval: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests;
