//! The ELBv2 port: target groups, the health of their targets, deregistration.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{CloudResult, TargetState};

/// A target group's settings that matter to waits and rolls.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetGroup {
    pub arn: String,
    pub name: String,
    /// Seconds a deregistered target drains.
    pub deregistration_delay: i32,
    pub healthy_threshold: i32,
    /// Seconds.
    pub health_check_interval: i32,
}

/// One registered target and its health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TargetHealth {
    pub id: String,
    pub port: Option<i32>,
    pub state: TargetState,
    /// e.g. Target.ResponseCodeMismatch.
    pub reason: Option<String>,
    pub description: Option<String>,
}

#[async_trait]
pub trait LoadBalancing: Send + Sync {
    /// The target group, or None when it does not exist.
    async fn describe_target_group(&self, arn: &str) -> CloudResult<Option<TargetGroup>>;
    /// Every registered target and its health (NotFound when the group does not exist).
    async fn target_health(&self, arn: &str) -> CloudResult<Vec<TargetHealth>>;
    /// Deregisters targets (they drain for the deregistration delay).
    async fn deregister(&self, arn: &str, targets: &[(String, Option<i32>)]) -> CloudResult<()>;
}
