//! The CodeDeploy port, for both compute platforms: a deployment group (an ECS blue/green
//! pair, or EC2 instances and Auto Scaling groups), deployments created from an AppSpec or
//! an S3 bundle, their lifecycle events (with task sets for ECS, per instance for EC2), and
//! stopping or continuing one.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{CdStatus, CloudResult};

/// A deployment group of an ECS application, reduced to what a roll reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeploymentGroup {
    pub application: String,
    pub name: String,
    /// The group's deployment config (CodeDeployDefault.ECSAllAtOnce when unset).
    pub config: Option<String>,
    /// The deployment waits for ContinueDeployment before shifting production traffic
    /// (deploymentReadyOption.actionOnTimeout STOP_DEPLOYMENT).
    pub waits_for_ready: bool,
    /// How long it waits for that, in minutes (then it stops).
    pub ready_wait_minutes: i32,
    /// How long the original task set is kept after the traffic shifted, in minutes.
    pub termination_wait_minutes: i32,
    /// (cluster, service) the group deploys.
    pub ecs_services: Vec<(String, String)>,
    /// The target group names of its blue/green pair.
    pub target_groups: Vec<String>,
    /// The group rolls back by itself when a deployment fails.
    pub auto_rollback: bool,
    /// EC2: the Auto Scaling groups the group deploys to.
    #[serde(default)]
    pub auto_scaling_groups: Vec<String>,
    /// The last deployment that succeeded (lastSuccessfulDeployment), when there is one.
    #[serde(default)]
    pub last_successful: Option<String>,
}

/// A bundle in S3 (revisionType S3, bundleType zip).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct S3Revision {
    pub bucket: String,
    pub key: String,
    /// The object's ETag (unquoted): CodeDeploy refuses a different object under the key.
    pub etag: Option<String>,
}

/// What a deployment deploys.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum CdRevision {
    /// An ECS AppSpec, as JSON (revisionType AppSpecContent).
    AppSpec(String),
    /// A zip bundle holding appspec.yml (EC2).
    S3(S3Revision),
}

/// What to deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewDeployment {
    pub application: String,
    pub group: String,
    /// A deployment config overriding the group's.
    pub config: Option<String>,
    pub revision: CdRevision,
    pub description: String,
    /// CloudWatch alarms CodeDeploy itself watches during this deployment, stopping and
    /// rolling it back on one even when nobody is watching (empty: the group's own).
    pub alarms: Vec<String>,
}

/// A deployment's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdDeployment {
    pub id: String,
    pub status: CdStatus,
    pub config: Option<String>,
    /// errorInformation code and message, when it failed or stopped.
    pub error_code: Option<String>,
    pub error_message: Option<String>,
    /// Set on a deployment CodeDeploy rolled back (rollbackInfo.rollbackDeploymentId).
    pub rollback_deployment: Option<String>,
    /// What it deploys, as GetDeployment returns it.
    #[serde(default)]
    pub revision: Option<CdRevision>,
    /// The application and deployment group it belongs to.
    #[serde(default)]
    pub group: Option<(String, String)>,
}

/// Why a lifecycle event failed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostics {
    pub error_code: Option<String>,
    pub message: Option<String>,
    pub log_tail: Option<String>,
}

/// One lifecycle event (ECS: BeforeInstall ... AfterAllowTraffic; EC2: ApplicationStop ...
/// ValidateService).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LifecycleEvent {
    pub name: String,
    /// Pending, InProgress, Succeeded, Failed, Skipped or Unknown.
    pub status: String,
    pub diagnostics: Option<Diagnostics>,
}

/// One task set of the deployment: the original (Blue) or the replacement (Green).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSet {
    pub id: String,
    /// "Blue" (original) or "Green" (replacement), as AWS spells them.
    pub label: String,
    pub desired: i64,
    pub running: i64,
    pub pending: i64,
    /// The share of production traffic it takes, 0..=100.
    pub traffic_weight: f64,
    pub target_group: Option<String>,
}

/// One EC2 instance a deployment deploys to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceTarget {
    /// The instance id (i-...).
    pub id: String,
    /// Pending, InProgress, Succeeded, Failed, Skipped, Ready or Unknown.
    pub status: String,
    pub events: Vec<LifecycleEvent>,
}

/// The targets of a deployment: its ECS target (events and task sets), or its instances.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeploymentTarget {
    pub status: String,
    pub events: Vec<LifecycleEvent>,
    pub task_sets: Vec<TaskSet>,
    /// EC2: each instance with its own lifecycle events (empty for ECS).
    #[serde(default)]
    pub instances: Vec<InstanceTarget>,
}

impl DeploymentTarget {
    /// The replacement task set's share of production traffic (0 before there is one).
    pub fn green_traffic(&self) -> f64 {
        self.task_sets
            .iter()
            .filter(|t| t.label == "Green")
            .map(|t| t.traffic_weight)
            .sum()
    }

    /// The first event that failed (ECS), or the first failed event of an instance.
    pub fn failed_event(&self) -> Option<&LifecycleEvent> {
        self.failed_instance().map(|(_, e)| e)
    }

    /// The failing event with the instance it failed on (None for the ECS target).
    pub fn failed_instance(&self) -> Option<(Option<&str>, &LifecycleEvent)> {
        if let Some(e) = self.events.iter().find(|e| e.status == "Failed") {
            return Some((None, e));
        }
        self.instances.iter().find_map(|i| {
            i.events
                .iter()
                .find(|e| e.status == "Failed")
                .map(|e| (Some(i.id.as_str()), e))
        })
    }

    /// EC2: instances (succeeded, failed, still to do).
    pub fn instance_counts(&self) -> (usize, usize, usize) {
        let count = |s: &str| self.instances.iter().filter(|i| i.status == s).count();
        let (ok, failed) = (count("Succeeded"), count("Failed"));
        (ok, failed, self.instances.len() - ok - failed)
    }
}

#[async_trait]
pub trait CodeDeploy: Send + Sync {
    /// The deployment group, or None when the application or the group does not exist.
    async fn deployment_group(&self, application: &str, group: &str) -> CloudResult<Option<DeploymentGroup>>;
    /// Creates a deployment (CreateDeployment); returns its id.
    async fn create_deployment(&self, deployment: &NewDeployment) -> CloudResult<String>;
    /// A deployment's state (GetDeployment).
    async fn get_deployment(&self, id: &str) -> CloudResult<CdDeployment>;
    /// The deployment's ECS target, or None before CodeDeploy made one
    /// (ListDeploymentTargets + BatchGetDeploymentTargets).
    async fn deployment_target(&self, id: &str) -> CloudResult<Option<DeploymentTarget>>;
    /// Deployments of the group still under way (created, queued, in progress, baking or ready).
    async fn active_deployments(&self, application: &str, group: &str) -> CloudResult<Vec<String>>;
    /// Stops a deployment (StopDeployment), rolling back when `auto_rollback`; returns its status.
    async fn stop_deployment(&self, id: &str, auto_rollback: bool) -> CloudResult<String>;
    /// Lets a deployment waiting for READY shift production traffic (ContinueDeployment READY_WAIT).
    async fn continue_deployment(&self, id: &str) -> CloudResult<()>;
}

/// How a deployment config shifts production traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Shift {
    AllAtOnce,
    /// `percent` first, the rest after `minutes`.
    Canary {
        percent: u32,
        minutes: u32,
    },
    /// `percent` more every `minutes`.
    Linear {
        percent: u32,
        minutes: u32,
    },
}

impl Shift {
    /// Reads a predefined config name (`CodeDeployDefault.ECSCanary10Percent5Minutes`,
    /// `CodeDeployDefault.ECSLinear10PercentEvery1Minutes`, ...). Names it cannot read
    /// (custom configs) are taken as all at once.
    pub fn of(config: &str) -> Shift {
        let name = config.rsplit('.').next().unwrap_or(config);
        let name = name.strip_prefix("ECS").unwrap_or(name);
        let number = |s: &str| s.parse::<u32>().ok().filter(|n| *n > 0);
        let parse = |rest: &str, between: &str| -> Option<(u32, u32)> {
            let (percent, rest) = rest.split_once("Percent")?;
            let rest = rest.strip_prefix(between)?;
            let minutes = rest.strip_suffix("Minutes").or_else(|| rest.strip_suffix("Minute"))?;
            Some((number(percent)?.min(100), number(minutes)?))
        };
        if let Some((percent, minutes)) = name.strip_prefix("Canary").and_then(|r| parse(r, "")) {
            Shift::Canary { percent, minutes }
        } else if let Some((percent, minutes)) = name.strip_prefix("Linear").and_then(|r| parse(r, "Every")) {
            Shift::Linear { percent, minutes }
        } else {
            Shift::AllAtOnce
        }
    }

    /// The production traffic percentages it goes through, with the minutes before each.
    pub fn steps(&self) -> Vec<(u32, f64)> {
        match *self {
            Shift::AllAtOnce => vec![(0, 100.0)],
            Shift::Canary { percent, minutes } => vec![(0, percent as f64), (minutes, 100.0)],
            Shift::Linear { percent, minutes } => {
                let mut steps = Vec::new();
                let mut at = 0u32;
                while at < 100 {
                    at = (at + percent).min(100);
                    steps.push((if steps.is_empty() { 0 } else { minutes }, at as f64));
                }
                steps
            }
        }
    }

    /// The steps in words ("10% then 100% after 5m").
    pub fn describe(&self) -> String {
        match *self {
            Shift::AllAtOnce => "100% at once".into(),
            Shift::Canary { percent, minutes } => format!("{percent}% then 100% after {minutes}m"),
            Shift::Linear { percent, minutes } => format!("{percent}% more every {minutes}m"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Shift;

    #[test]
    fn predefined_configs_are_read_and_custom_ones_are_all_at_once() {
        assert_eq!(Shift::of("CodeDeployDefault.ECSAllAtOnce"), Shift::AllAtOnce);
        assert_eq!(
            Shift::of("CodeDeployDefault.ECSCanary10Percent5Minutes"),
            Shift::Canary {
                percent: 10,
                minutes: 5
            }
        );
        assert_eq!(
            Shift::of("CodeDeployDefault.ECSLinear10PercentEvery1Minutes"),
            Shift::Linear {
                percent: 10,
                minutes: 1
            }
        );
        assert_eq!(Shift::of("MyCompanyConfig"), Shift::AllAtOnce);
        let linear = Shift::Linear {
            percent: 30,
            minutes: 2,
        }
        .steps();
        assert_eq!(linear, vec![(0, 30.0), (2, 60.0), (2, 90.0), (2, 100.0)]);
    }
}
