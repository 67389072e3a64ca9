//! A CodeDeploy rollout's plan: what discovery saw of the service, its task definition
//! and the deployment group, then the ordered steps (register a revision, create the
//! deployment from an AppSpec, the optional test-traffic gate, wait until production
//! traffic shifted, wait until the deployment succeeded), and the AppSpec itself.

use serde::{Deserialize, Serialize};

use crate::cloud::{Controller, Shift};
use crate::error::Result;
use crate::roll::ecs::plan::{drift_reasons, short, EcsObserved, PlannedRevision};

/// The deployment group as discovery saw it, with the config the deployment uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupSeen {
    pub application: String,
    pub name: String,
    /// The deployment config the deployment uses (ecs.codedeploy.config, else the group's).
    pub config: String,
    pub shift: Shift,
    /// deploymentReadyOption STOP_DEPLOYMENT: the deployment waits for ContinueDeployment.
    pub waits_for_ready: bool,
    pub ready_wait_minutes: i32,
    pub termination_wait_minutes: i32,
}

/// One step of a CodeDeploy rollout, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum CdStep {
    /// RegisterTaskDefinition: a copy of the current revision with one container changed.
    RegisterRevision { revision: PlannedRevision },
    /// CreateDeployment with an AppSpec naming the new revision.
    CreateDeployment,
    /// Probe health.test_urls while only test traffic reaches the new revision, then
    /// ContinueDeployment (or stop with rollback).
    TestGate,
    /// A group that waits for a reroute (deploymentReadyOption STOP_DEPLOYMENT) and no
    /// health.test_urls: ContinueDeployment as soon as the replacement is ready, or the
    /// group would stop the deployment when its wait ends.
    Continue,
    /// Wait until all production traffic is on the new revision.
    WaitTrafficShifted,
    /// Wait until the deployment succeeded (the termination wait included).
    WaitSucceeded,
    /// `--resume`: take over the deployment a roll left running (from here on a failure,
    /// timeout, alarm or signal stops it with rollback).
    Attach { id: String },
    /// Deregister the family's older revisions, keeping the newest `keep` and any in use.
    KeepRevisions { keep: u32 },
}

/// A CodeDeploy rollout's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CdPlan {
    pub format: u32,
    pub kind: String,
    pub before: EcsObserved,
    pub controller: Controller,
    pub group: GroupSeen,
    /// The container port of the service's load balancer entry for the container.
    pub container_port: i32,
    /// (AppSpec hook, Lambda function), in lifecycle order.
    pub hooks: Vec<(String, String)>,
    pub steps: Vec<CdStep>,
}

impl CdPlan {
    /// The revision the plan registers, if any.
    pub fn revision(&self) -> Option<&PlannedRevision> {
        self.steps.iter().find_map(|s| match s {
            CdStep::RegisterRevision { revision } => Some(revision),
            _ => None,
        })
    }

    pub fn describe(&self, step: &CdStep) -> String {
        let (b, g) = (&self.before, &self.group);
        match step {
            CdStep::RegisterRevision { revision } => format!(
                "register {}:{} from revision {} with container {} image {}",
                b.family,
                b.latest_revision + 1,
                b.revision,
                revision.container,
                revision.image
            ),
            CdStep::CreateDeployment => {
                let mut text = format!(
                    "create a CodeDeploy deployment in {}/{} with {} ({}), container {} port {}",
                    g.application,
                    g.name,
                    g.config,
                    g.shift.describe(),
                    b.container,
                    self.container_port
                );
                if !self.hooks.is_empty() {
                    let hooks: Vec<String> = self.hooks.iter().map(|(h, f)| format!("{h}={f}")).collect();
                    text.push_str(&format!(", hooks {}", hooks.join(", ")));
                }
                text
            }
            CdStep::TestGate => format!(
                "probe health.test_urls on test traffic, then continue (the group waits up to {}m for it)",
                g.ready_wait_minutes
            ),
            CdStep::Continue => format!(
                "continue the deployment once the replacement is ready (the group waits for a reroute, up to {}m; \
                 no health.test_urls to probe first)",
                g.ready_wait_minutes
            ),
            CdStep::WaitTrafficShifted => format!("wait until production traffic shifted ({})", g.shift.describe()),
            CdStep::WaitSucceeded => format!(
                "wait until the deployment succeeded (the original task set is kept {}m; stopped with rollback to {} on failure)",
                g.termination_wait_minutes,
                short(&b.task_definition)
            ),
            CdStep::Attach { id } => format!(
                "resume CodeDeploy deployment {id} of {}/{}, stopping it with rollback on failure",
                g.application, g.name
            ),
            CdStep::KeepRevisions { keep } => format!(
                "deregister older revisions of {}, keeping the newest {keep} and any in use",
                b.family
            ),
        }
    }

    pub fn text(&self) -> String {
        self.before.plan_text(
            " through CodeDeploy (strategy codedeploy)",
            self.steps.iter().map(|s| self.describe(s)),
        )
    }
}

/// Refuses a plan when the service or the deployment group drifted from what it assumed.
pub fn drift(planned: &CdPlan, fresh: &CdPlan) -> Result<()> {
    if planned == fresh {
        return Ok(());
    }
    let mut reasons = drift_reasons(&planned.before, &fresh.before);
    if planned.controller != fresh.controller {
        reasons.push(format!(
            "the service's deployment controller is now {} instead of {}",
            fresh.controller, planned.controller
        ));
    }
    if planned.group != fresh.group {
        reasons.push(format!(
            "the deployment group {} changed (strategy {} -> {})",
            planned.group.name, planned.group.config, fresh.group.config
        ));
    }
    if planned.container_port != fresh.container_port {
        reasons.push("the service's load balancer entry changed".into());
    }
    if reasons.is_empty() {
        reasons.push("the service changed".into());
    }
    Err(crate::roll::planfile::drifted(
        &format!("ECS service {}", planned.before.service),
        reasons,
        planned,
        fresh,
    ))
}

/// The AppSpec of an ECS deployment: the new task definition, the container and port the
/// load balancer routes to, and the Lambda hooks.
pub fn app_spec(task_definition: &str, container: &str, port: i32, hooks: &[(String, String)]) -> String {
    let hooks: Vec<serde_json::Value> = hooks
        .iter()
        .map(|(hook, function)| serde_json::json!({ hook.as_str(): function }))
        .collect();
    let mut spec = serde_json::json!({
        "version": 0.0,
        "Resources": [{
            "TargetService": {
                "Type": "AWS::ECS::Service",
                "Properties": {
                    "TaskDefinition": task_definition,
                    "LoadBalancerInfo": { "ContainerName": container, "ContainerPort": port }
                }
            }
        }]
    });
    if !hooks.is_empty() {
        spec["Hooks"] = hooks.into();
    }
    spec.to_string()
}

#[cfg(test)]
mod tests {
    use super::app_spec;

    #[test]
    fn the_app_spec_names_the_revision_the_container_and_the_hooks_in_order() {
        let hooks = vec![
            ("BeforeInstall".to_string(), "check-db".to_string()),
            ("AfterAllowTestTraffic".to_string(), "smoke".to_string()),
        ];
        let spec: serde_json::Value = serde_json::from_str(&app_spec("arn:td/web:2", "app", 8080, &hooks)).unwrap();
        let props = &spec["Resources"][0]["TargetService"]["Properties"];
        assert_eq!(props["TaskDefinition"], "arn:td/web:2");
        assert_eq!(props["LoadBalancerInfo"]["ContainerName"], "app");
        assert_eq!(props["LoadBalancerInfo"]["ContainerPort"], 8080);
        assert_eq!(spec["Hooks"][0]["BeforeInstall"], "check-db");
        assert_eq!(spec["Hooks"][1]["AfterAllowTestTraffic"], "smoke");
        assert!(app_spec("t", "c", 1, &[]).find("Hooks").is_none());
    }
}
