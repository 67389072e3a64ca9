//! The Auto Scaling port: groups, their instances, scaling activities and instance refreshes.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{CloudResult, Health, Lifecycle, RefreshStatus};

/// A launch template as a group uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplateSpec {
    pub id: Option<String>,
    pub name: Option<String>,
    /// A number, `$Latest` or `$Default`.
    pub version: String,
}

/// One instance of a group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInstance {
    pub id: String,
    pub lifecycle_state: Lifecycle,
    pub health_status: Health,
    /// The launch template version the instance was launched from, when known.
    pub launch_template_version: Option<String>,
    pub availability_zone: Option<String>,
}

impl GroupInstance {
    pub fn in_service_and_healthy(&self) -> bool {
        self.lifecycle_state == Lifecycle::InService && self.health_status == Health::Healthy
    }
}

/// An Auto Scaling group as the jobs see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub name: String,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub launch_template: Option<LaunchTemplateSpec>,
    pub instances: Vec<GroupInstance>,
    pub target_group_arns: Vec<String>,
    /// Seconds.
    pub health_check_grace_period: i32,
    /// EC2 or ELB.
    pub health_check_type: String,
}

/// A scaling activity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub id: String,
    pub description: String,
    /// InProgress, Successful, Failed, Cancelled, ...
    pub status_code: String,
    pub status_message: Option<String>,
    pub progress: Option<i32>,
}

impl Activity {
    pub fn in_progress(&self) -> bool {
        !matches!(self.status_code.as_str(), "Successful" | "Failed" | "Cancelled")
    }
}

/// What StartInstanceRefresh is asked to do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefreshSpec {
    pub launch_template: LaunchTemplateSpec,
    pub min_healthy_percentage: i32,
    pub max_healthy_percentage: i32,
    /// Seconds.
    pub instance_warmup: Option<i32>,
    pub skip_matching: bool,
    pub auto_rollback: bool,
    /// CloudWatch alarms the refresh watches itself (AlarmSpecification): one in ALARM
    /// rolls it back, even when slipway is no longer running.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alarms: Vec<String>,
    /// Seconds the refresh holds (Baking) after replacing the last instance, watching the
    /// alarms, before it is Successful (BakeTime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_time: Option<i32>,
}

/// An instance refresh.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstanceRefresh {
    pub id: String,
    pub status: RefreshStatus,
    pub status_reason: Option<String>,
    pub percentage_complete: Option<i32>,
    pub instances_to_update: Option<i32>,
}

impl InstanceRefresh {
    pub fn in_progress(&self) -> bool {
        match self.status {
            RefreshStatus::Pending
            | RefreshStatus::InProgress
            | RefreshStatus::Cancelling
            | RefreshStatus::RollbackInProgress
            | RefreshStatus::Baking => true,
            // A status AWS adds later is taken as still going: it is waited on, not overrun.
            RefreshStatus::Unknown(_) => true,
            RefreshStatus::Successful
            | RefreshStatus::Failed
            | RefreshStatus::Cancelled
            | RefreshStatus::RollbackFailed
            | RefreshStatus::RollbackSuccessful => false,
        }
    }
}

#[async_trait]
pub trait AutoScaling: Send + Sync {
    /// The group, or None when it does not exist.
    async fn describe_group(&self, name: &str) -> CloudResult<Option<Group>>;
    /// Scaling activities still in progress.
    async fn activities_in_progress(&self, name: &str) -> CloudResult<Vec<Activity>>;
    /// Sets any of min, max and desired at once (UpdateAutoScalingGroup).
    async fn update_size(
        &self,
        name: &str,
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> CloudResult<()>;
    /// Points the group at a launch template version.
    async fn set_launch_template(&self, name: &str, template: &LaunchTemplateSpec) -> CloudResult<()>;
    /// Terminates one instance; with `decrement` the desired capacity drops by one.
    async fn terminate_instance(&self, instance_id: &str, decrement: bool) -> CloudResult<()>;
    /// StartInstanceRefresh; returns its id.
    async fn start_refresh(&self, name: &str, spec: &RefreshSpec) -> CloudResult<String>;
    /// The group's refreshes, newest first (only `id` when given).
    async fn describe_refreshes(&self, name: &str, id: Option<&str>) -> CloudResult<Vec<InstanceRefresh>>;
    /// CancelInstanceRefresh.
    async fn cancel_refresh(&self, name: &str) -> CloudResult<()>;
    /// RollbackInstanceRefresh.
    async fn rollback_refresh(&self, name: &str) -> CloudResult<()>;
    /// The names of the group's scheduled actions (DescribeScheduledActions).
    async fn scheduled_actions(&self, name: &str) -> CloudResult<Vec<String>> {
        Err(unsupported("DescribeScheduledActions", name))
    }
    /// Schedules the group's scale-down to zero (min 0, desired 0) `after` from now,
    /// as the one-time scheduled action `action` (PutScheduledUpdateGroupAction).
    async fn schedule_scale_down(&self, name: &str, action: &str, after: std::time::Duration) -> CloudResult<()> {
        let _ = (action, after);
        Err(unsupported("PutScheduledUpdateGroupAction", name))
    }
    /// Deletes the scheduled action `action` of the group (DeleteScheduledAction).
    async fn unschedule(&self, name: &str, action: &str) -> CloudResult<()> {
        let _ = action;
        Err(unsupported("DeleteScheduledAction", name))
    }
}

fn unsupported(op: &str, group: &str) -> super::CloudError {
    super::CloudError::new(
        super::ErrorKind::Invalid,
        op,
        None,
        format!("scheduled actions are not available here (group {group})"),
    )
}
