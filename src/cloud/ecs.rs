//! The ECS port: a service, its deployments and events, and why its tasks stopped.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use std::time::Duration;

use super::{
    CloudResult, Controller, DeploymentStatus, HookStatus, LifecycleStage, NativeStrategy, RolloutState,
    ServiceDeploymentStatus,
};

/// One deployment of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsDeployment {
    pub id: String,
    pub status: DeploymentStatus,
    pub task_definition: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub failed_tasks: i32,
    pub rollout_state: Option<RolloutState>,
    pub rollout_state_reason: Option<String>,
}

/// A service event ("(service web) has reached a steady state.").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceEvent {
    /// RFC 3339.
    pub at: String,
    pub message: String,
}

/// An ECS service as the jobs see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EcsService {
    pub arn: String,
    pub name: String,
    pub cluster: String,
    /// ACTIVE, DRAINING or INACTIVE.
    pub status: String,
    pub desired: i32,
    pub running: i32,
    pub pending: i32,
    pub task_definition: String,
    pub deployments: Vec<EcsDeployment>,
    /// Newest first.
    pub events: Vec<ServiceEvent>,
    /// Whether the deployment circuit breaker rolls back.
    pub circuit_breaker_rollback: bool,
    /// Who deploys it: ECS itself, CodeDeploy, or an external controller.
    pub controller: Controller,
    /// The load balancer target groups its tasks register with.
    pub load_balancers: Vec<ServiceLoadBalancer>,
}

/// One load balancer entry of a service: the target group a container port registers
/// with and, for ECS blue/green, the alternate target group and listener rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServiceLoadBalancer {
    pub target_group: Option<String>,
    pub container: Option<String>,
    pub port: Option<i32>,
    /// ECS blue/green: the target group the new revision's tasks register with.
    pub alternate_target_group: Option<String>,
    /// ECS blue/green: the listener rule that routes production traffic.
    pub production_listener_rule: Option<String>,
    /// ECS blue/green: the listener rule that routes test traffic.
    pub test_listener_rule: Option<String>,
    /// ECS blue/green: the role ECS uses to change the listener rules.
    pub role: Option<String>,
}

/// A stopped task and why it stopped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoppedTask {
    pub arn: String,
    pub task_definition: String,
    pub stopped_reason: Option<String>,
    /// (container, exit code, reason) for containers that exited.
    pub containers: Vec<(String, Option<i32>, Option<String>)>,
}

/// One container of a task definition, as a rollout changes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// Environment variables, sorted by name.
    pub environment: Vec<(String, String)>,
}

/// A task definition revision, reduced to what rollouts read and change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskDefinition {
    pub arn: String,
    pub family: String,
    pub revision: i32,
    pub containers: Vec<ContainerSpec>,
}

impl TaskDefinition {
    pub fn container(&self, name: &str) -> Option<&ContainerSpec> {
        self.containers.iter().find(|c| c.name == name)
    }
}

/// What a new revision changes in one container of an existing task definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    /// The task definition the new revision copies, everything else unchanged.
    pub from: String,
    pub container: String,
    pub image: String,
    /// Environment variables set (added or replaced) in that container.
    pub environment: Vec<(String, String)>,
}

/// What UpdateService changes: the task definition and, for ECS native strategies, how
/// the deployment runs (deploymentConfiguration). One call carries both.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceUpdate {
    pub task_definition: String,
    /// None: the service's own deployment configuration stays as it is.
    pub deployment: Option<DeploymentSettings>,
}

impl ServiceUpdate {
    /// Only the task definition changes.
    pub fn to(task_definition: &str) -> Self {
        ServiceUpdate {
            task_definition: task_definition.to_string(),
            deployment: None,
        }
    }
}

/// An ECS native deployment's settings (deploymentConfiguration of UpdateService).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentSettings {
    pub strategy: NativeStrategy,
    /// bakeTimeInMinutes: how long the new revision serves all traffic before the old
    /// one is removed (whole minutes).
    pub bake: Duration,
    /// canaryConfiguration: (percent, bake) for CANARY.
    pub canary: Option<(f64, Duration)>,
    /// linearConfiguration: (step percent, step bake) for LINEAR.
    pub linear: Option<(f64, Duration)>,
    /// CloudWatch alarms that roll the deployment back (enabled with rollback when not empty).
    pub alarms: Vec<String>,
    /// A PAUSE lifecycle hook at POST_TEST_TRAFFIC_SHIFT: the deployment waits for
    /// ContinueServiceDeployment while the new revision takes only test traffic.
    pub pause_after_test_traffic: bool,
    /// How long ECS keeps that hook waiting before it rolls the deployment back by itself
    /// (its timeoutConfiguration, action ROLLBACK): a little longer than slipway's test
    /// gate, so a runner that died mid-gate leaves no deployment paused for ECS's default
    /// of 24 hours.
    #[serde(default = "default_pause_timeout")]
    pub pause_timeout: Duration,
}

/// ECS's own default hook timeout: "Default: 1440 (24 hours)" (ecs 2014-11-13 model,
/// DeploymentLifecycleHookTimeoutConfiguration.timeoutInMinutes).
pub fn default_pause_timeout() -> Duration {
    Duration::from_secs(1440 * 60)
}

/// The longest a lifecycle hook may wait, in minutes: DeploymentLifecycleHookDuration is
/// an integer from 1 to 20160 (ecs 2014-11-13 model).
pub const MAX_HOOK_MINUTES: u64 = 20160;

/// A lifecycle hook of a service deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HookDetail {
    pub id: String,
    /// AWS_LAMBDA or PAUSE.
    pub target_type: String,
    pub status: HookStatus,
}

/// A service deployment (DescribeServiceDeployments), as a native rollout follows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceDeployment {
    pub arn: String,
    pub status: ServiceDeploymentStatus,
    pub status_reason: Option<String>,
    pub stage: Option<LifecycleStage>,
    /// The service revision the deployment moves to.
    pub target_revision: Option<String>,
    /// The share of production traffic the target revision takes (0 to 100).
    pub production_percent: Option<f64>,
    /// The share of test traffic the target revision takes (0 to 100).
    pub test_percent: Option<f64>,
    pub hooks: Vec<HookDetail>,
    /// Why it rolls back, when it does.
    pub rollback_reason: Option<String>,
}

impl ServiceDeployment {
    /// The hook waiting for ContinueServiceDeployment, if any.
    pub fn awaiting(&self) -> Option<&HookDetail> {
        self.hooks.iter().find(|h| h.status == HookStatus::AwaitingAction)
    }
}

/// What to do with a paused lifecycle hook.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum HookAction {
    Continue,
    Rollback,
}

impl HookAction {
    /// AWS's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            HookAction::Continue => "CONTINUE",
            HookAction::Rollback => "ROLLBACK",
        }
    }
}

#[async_trait]
pub trait Ecs: Send + Sync {
    /// The service, or None when the cluster or service does not exist.
    async fn describe_service(&self, cluster: &str, service: &str) -> CloudResult<Option<EcsService>>;
    /// The most recently stopped tasks of the service (at most `limit`).
    async fn stopped_tasks(&self, cluster: &str, service: &str, limit: usize) -> CloudResult<Vec<StoppedTask>>;
    /// A task definition revision (ARN or family:revision), or None when it does not exist.
    async fn task_definition(&self, arn: &str) -> CloudResult<Option<TaskDefinition>>;
    /// Registers a new revision: a copy of `revision.from` with one container changed.
    async fn register_revision(&self, revision: &Revision) -> CloudResult<TaskDefinition>;
    /// Points the service at a task definition with, for native strategies, the
    /// deployment settings (UpdateService); returns the new primary deployment's id.
    async fn update_service(&self, cluster: &str, service: &str, update: &ServiceUpdate) -> CloudResult<String>;
    /// The service's current service deployment ARN (DescribeServices
    /// currentServiceDeployment), None when it has none or does not exist.
    async fn current_service_deployment(&self, cluster: &str, service: &str) -> CloudResult<Option<String>>;
    /// A service deployment (DescribeServiceDeployments), None when it does not exist.
    async fn service_deployment(&self, arn: &str) -> CloudResult<Option<ServiceDeployment>>;
    /// Stops a service deployment and rolls it back (StopServiceDeployment ROLLBACK).
    async fn stop_service_deployment(&self, arn: &str) -> CloudResult<()>;
    /// Answers a paused lifecycle hook (ContinueServiceDeployment).
    async fn continue_service_deployment(&self, arn: &str, hook_id: &str, action: HookAction) -> CloudResult<()>;
    /// The family's revisions with this status (ACTIVE or INACTIVE), oldest first
    /// (ListTaskDefinitions).
    async fn task_definitions(&self, family: &str, active: bool) -> CloudResult<Vec<String>>;
    /// Deregisters a task definition revision (DeregisterTaskDefinition).
    async fn deregister_task_definition(&self, arn: &str) -> CloudResult<()>;
}
