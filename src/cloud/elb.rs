//! The ELBv2 port: target groups, the health of their targets, deregistration, and the
//! weights of a listener's (or listener rule's) forward action.

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

/// One target group of a forward action, with its weight (0 to 999).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Weighted {
    pub arn: String,
    pub weight: i32,
}

/// The forward action of a listener (its default actions) or of a listener rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// The target groups and their weights, as AWS lists them (empty: no forward action).
    pub target_groups: Vec<Weighted>,
    /// Target group stickiness: its duration in seconds when enabled (it pins clients
    /// to one target group while weights shift).
    pub stickiness: Option<i32>,
}

impl Forward {
    /// The share of the traffic (percent, rounded down) `arn` takes.
    pub fn percent(&self, arn: &str) -> i32 {
        let total: i32 = self.target_groups.iter().map(|t| t.weight).sum();
        let mine: i32 = self
            .target_groups
            .iter()
            .filter(|t| t.arn == arn)
            .map(|t| t.weight)
            .sum();
        if total == 0 {
            0
        } else {
            mine * 100 / total
        }
    }
}

#[async_trait]
pub trait LoadBalancing: Send + Sync {
    /// The target group, or None when it does not exist.
    async fn describe_target_group(&self, arn: &str) -> CloudResult<Option<TargetGroup>>;
    /// Every registered target and its health (NotFound when the group does not exist).
    async fn target_health(&self, arn: &str) -> CloudResult<Vec<TargetHealth>>;
    /// Deregisters targets (they drain for the deregistration delay).
    async fn deregister(&self, arn: &str, targets: &[(String, Option<i32>)]) -> CloudResult<()>;
    /// The forward action of a listener or listener rule (by ARN), or None when it does
    /// not exist.
    async fn forward(&self, arn: &str) -> CloudResult<Option<Forward>> {
        Err(super::CloudError::new(
            super::ErrorKind::Invalid,
            "DescribeListeners",
            None,
            format!("listeners are not available here ({arn})"),
        ))
    }
    /// Sets the weights of the listener's or rule's forward action (ModifyListener or
    /// ModifyRule), keeping its other actions, its stickiness and the rule's conditions.
    async fn set_weights(&self, arn: &str, weights: &[Weighted]) -> CloudResult<()> {
        let _ = weights;
        Err(super::CloudError::new(
            super::ErrorKind::Invalid,
            "ModifyListener",
            None,
            format!("listeners are not available here ({arn})"),
        ))
    }
}
