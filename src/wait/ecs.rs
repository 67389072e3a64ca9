//! The ECS service probe: exactly one deployment, rollout COMPLETED, running == desired.
//! A FAILED rollout or a circuit-breaker rollback fails at once, and is never reported
//! as success; the report carries the last service events and why tasks stopped.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::cloud;
use super::engine::Check;
use super::gate::Probe;
use crate::cloud::{DeploymentStatus, Ecs, EcsDeployment, EcsService, RolloutState};
use crate::error::{Error, Result};

pub struct EcsProbe {
    ecs: Arc<dyn Ecs>,
    cluster: String,
    service: String,
    /// The task definition that must end up serving, when known.
    expected: Option<String>,
    interval: Duration,
    /// The primary deployment seen at the first poll.
    watched: Option<EcsDeployment>,
    /// Whether the service was there at an earlier poll.
    seen: bool,
}

impl EcsProbe {
    pub fn new(ecs: Arc<dyn Ecs>, cluster: &str, service: &str, expected: Option<String>, interval: Duration) -> Self {
        EcsProbe {
            ecs,
            cluster: cluster.to_string(),
            service: service.to_string(),
            expected,
            interval,
            watched: None,
            seen: false,
        }
    }
}

/// `family:revision` from a task definition ARN (the last path segment of any ARN).
pub fn short(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

fn reason(d: &EcsDeployment) -> String {
    d.rollout_state_reason
        .clone()
        .unwrap_or_else(|| "no reason given".into())
}

/// Judges one look at a service. `watched` is the primary deployment seen first.
pub fn judge(s: &EcsService, expected: Option<&str>, watched: Option<&EcsDeployment>) -> Check<String> {
    let Some(primary) = s.deployments.iter().find(|d| d.status == DeploymentStatus::Primary) else {
        return Check::Pending(format!("service {} has no PRIMARY deployment yet", s.name));
    };
    // A rollback: the deployment we watch (or the one with the expected task definition)
    // failed, and the service went back to another task definition.
    let target = expected
        .map(str::to_string)
        .or_else(|| watched.map(|w| w.task_definition.clone()));
    if let Some(target) = &target {
        if &primary.task_definition != target {
            let failed = s
                .deployments
                .iter()
                .find(|d| &d.task_definition == target && d.rollout_state == Some(RolloutState::Failed));
            let how = match failed {
                Some(d) => format!("deployment {} of {} FAILED ({})", d.id, short(target), reason(d)),
                None => format!("{} is no longer the primary deployment", short(target)),
            };
            return Check::Failed(format!(
                "rolled back: {how}; the service now runs {}",
                short(&primary.task_definition)
            ));
        }
    }
    if primary.rollout_state == Some(RolloutState::Failed) {
        return Check::Failed(format!(
            "deployment {} of {} FAILED: {}",
            primary.id,
            short(&primary.task_definition),
            reason(primary)
        ));
    }
    let state = primary
        .rollout_state
        .as_ref()
        .map(|r| r.as_str())
        .unwrap_or("no rollout state");
    // Settled when COMPLETED, or with no rollout state at all (older services); a state
    // AWS adds later is waited on, never taken as settled.
    let settled = match &primary.rollout_state {
        Some(RolloutState::Completed) | None => true,
        Some(RolloutState::InProgress | RolloutState::Failed | RolloutState::Unknown(_)) => false,
    };
    if s.deployments.len() == 1 && settled && primary.running == primary.desired && s.running == s.desired {
        return Check::Done(format!(
            "{} {state}, {}/{} tasks running",
            short(&primary.task_definition),
            primary.running,
            primary.desired
        ));
    }
    let mut why = format!(
        "{} deployment{}; primary {} {state}: {}/{} running, {} pending",
        s.deployments.len(),
        if s.deployments.len() == 1 { "" } else { "s" },
        short(&primary.task_definition),
        primary.running,
        primary.desired,
        primary.pending
    );
    if primary.failed_tasks > 0 {
        why.push_str(&format!(", {} failed tasks", primary.failed_tasks));
    }
    Check::Pending(why)
}

#[async_trait]
impl Probe for EcsProbe {
    fn kind(&self) -> &'static str {
        "ecs"
    }

    fn name(&self) -> String {
        format!("{}/{}", short(&self.cluster), self.service)
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn poll(&mut self) -> Result<Check<String>> {
        let service = match self.ecs.describe_service(&self.cluster, &self.service).await {
            Ok(Some(s)) => s,
            Ok(None) if self.seen => {
                return Ok(cloud::vanished(&format!(
                    "ECS service {:?} in cluster {:?}",
                    self.service, self.cluster
                )))
            }
            Ok(None) => {
                return Err(Error::input(
                    format!("ECS service {:?} not found in cluster {:?}", self.service, self.cluster),
                    "check the cluster and service names and the region",
                ))
            }
            Err(e) => return Ok(cloud::after_error(&e)),
        };
        self.seen = true;
        if self.watched.is_none() {
            self.watched = service
                .deployments
                .iter()
                .find(|d| d.status == DeploymentStatus::Primary)
                .cloned();
        }
        Ok(judge(&service, self.expected.as_deref(), self.watched.as_ref()))
    }

    async fn diagnose(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(Some(s)) = self.ecs.describe_service(&self.cluster, &self.service).await {
            out.extend(
                s.events
                    .iter()
                    .take(5)
                    .map(|e| format!("event {}: {}", e.at, e.message)),
            );
        }
        if let Ok(tasks) = self.ecs.stopped_tasks(&self.cluster, &self.service, 5).await {
            for t in tasks {
                let mut line = format!(
                    "stopped task {} ({}): {}",
                    short(&t.arn),
                    short(&t.task_definition),
                    t.stopped_reason.as_deref().unwrap_or("no reason given")
                );
                for (name, code, why) in &t.containers {
                    if code.is_some() || why.is_some() {
                        line.push_str(&format!(
                            "; container {name} exit {}{}",
                            code.map(|c| c.to_string()).unwrap_or_else(|| "?".into()),
                            why.as_deref().map(|w| format!(" ({w})")).unwrap_or_default()
                        ));
                    }
                }
                out.push(line);
            }
        }
        out
    }
}
