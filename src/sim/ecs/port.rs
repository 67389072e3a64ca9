//! The simulated service answering the `Ecs` port's calls (each logged, the model first
//! played up to now).

use async_trait::async_trait;

use super::{arn, SimEcs, Task};
use crate::cloud::{
    CloudError, CloudResult, Ecs, EcsDeployment, EcsService, ErrorKind, HookAction, NativeStrategy, Revision,
    ServiceDeployment, ServiceUpdate, StoppedTask, TaskDefinition,
};

#[async_trait]
impl Ecs for SimEcs {
    async fn describe_service(&self, cluster: &str, service: &str) -> CloudResult<Option<EcsService>> {
        self.call("DescribeServices", format!("{cluster}/{service}"), false, |s, now| {
            if s.check("DescribeServices", cluster, service).is_err() {
                return Ok(None);
            }
            let deployments: Vec<EcsDeployment> = s
                .deployments
                .iter()
                .map(|d| {
                    let tasks: Vec<&Task> = s.tasks.iter().filter(|t| t.deployment == d.id).collect();
                    let running = tasks.iter().filter(|t| s.running(t, now)).count() as i32;
                    EcsDeployment {
                        id: d.id.clone(),
                        status: if d.primary { "PRIMARY" } else { "ACTIVE" }.into(),
                        task_definition: d.task_definition.clone(),
                        desired: if d.primary { s.s.desired } else { tasks.len() as i32 },
                        running,
                        pending: tasks.len() as i32 - running,
                        failed_tasks: d.failed,
                        rollout_state: Some(d.rollout.into()),
                        rollout_state_reason: d.reason.clone(),
                    }
                })
                .collect();
            let running = deployments.iter().map(|d| d.running).sum();
            let pending = deployments.iter().map(|d| d.pending).sum();
            Ok(Some(EcsService {
                arn: format!(
                    "arn:aws:ecs:us-east-1:123456789012:service/{}/{}",
                    s.s.cluster, s.s.service
                ),
                name: s.s.service.clone(),
                cluster: format!("arn:aws:ecs:us-east-1:123456789012:cluster/{}", s.s.cluster),
                status: "ACTIVE".into(),
                desired: s.s.desired,
                running,
                pending,
                task_definition: s.deployments[0].task_definition.clone(),
                deployments,
                events: s.events.clone(),
                circuit_breaker_rollback: s.s.circuit_breaker,
                controller: s.s.controller.clone(),
                load_balancers: s.s.load_balancers.clone(),
            }))
        })
    }

    async fn stopped_tasks(&self, cluster: &str, service: &str, limit: usize) -> CloudResult<Vec<StoppedTask>> {
        self.call("ListTasks", format!("{cluster}/{service} STOPPED"), false, |s, _| {
            s.check("ListTasks", cluster, service)?;
            Ok(s.stopped.iter().take(limit).cloned().collect())
        })
    }

    async fn task_definition(&self, arn: &str) -> CloudResult<Option<TaskDefinition>> {
        self.call("DescribeTaskDefinition", arn.into(), false, |s, _| {
            Ok(s.find(arn).cloned())
        })
    }

    async fn register_revision(&self, revision: &Revision) -> CloudResult<TaskDefinition> {
        let detail = format!(
            "from {} container {} image {}",
            revision.from, revision.container, revision.image
        );
        self.call("RegisterTaskDefinition", detail, true, |s, _| {
            let op = "RegisterTaskDefinition";
            let Some(from) = s.find(&revision.from).cloned() else {
                return Err(CloudError::new(
                    ErrorKind::Invalid,
                    op,
                    Some("ClientException"),
                    format!("Unable to describe task definition {}.", revision.from),
                ));
            };
            let mut td = from.clone();
            let Some(c) = td.containers.iter_mut().find(|c| c.name == revision.container) else {
                return Err(CloudError::new(
                    ErrorKind::Invalid,
                    op,
                    Some("ClientException"),
                    format!("no container {:?}", revision.container),
                ));
            };
            c.image = revision.image.clone();
            for (k, v) in &revision.environment {
                c.environment.retain(|(key, _)| key != k);
                c.environment.push((k.clone(), v.clone()));
            }
            c.environment.sort();
            td.revision = s
                .definitions
                .iter()
                .filter(|d| d.family == from.family)
                .map(|d| d.revision)
                .max()
                .unwrap_or(0)
                + 1;
            td.arn = arn(&td.family, td.revision);
            s.definitions.push(td.clone());
            Ok(td)
        })
    }

    async fn update_service(&self, cluster: &str, service: &str, update: &ServiceUpdate) -> CloudResult<String> {
        let task_definition = update.task_definition.as_str();
        let mut detail = format!("{cluster}/{service} task definition {task_definition}");
        if let Some(d) = &update.deployment {
            detail.push_str(&format!(" strategy {}", d.strategy));
        }
        self.call("UpdateService", detail, true, |s, now| {
            let op = "UpdateService";
            s.check(op, cluster, service)?;
            if s.s.controller == crate::cloud::Controller::CodeDeploy {
                return Err(CloudError::new(
                    ErrorKind::Invalid,
                    op,
                    Some("InvalidParameterException"),
                    "Unable to update task definition on services with a CODE_DEPLOY deployment controller. \
                     Use AWS CodeDeploy to deploy a new task definition.",
                ));
            }
            let Some(td) = s.find(task_definition).map(|td| td.arn.clone()) else {
                return Err(CloudError::new(
                    ErrorKind::Invalid,
                    op,
                    Some("InvalidParameterException"),
                    "TaskDefinition not found.",
                ));
            };
            if s.native_active().is_some() {
                return Err(CloudError::new(
                    ErrorKind::Invalid,
                    op,
                    Some("InvalidParameterException"),
                    "A service deployment is in progress.",
                ));
            }
            if let Some(d) = &update.deployment {
                s.config = Some(d.clone());
            }
            if s.deployments[0].task_definition == td {
                return Ok(s.deployments[0].id.clone());
            }
            match s.config.clone() {
                Some(config) if config.strategy != NativeStrategy::Rolling => Ok(s.start_native(config, &td, now)),
                _ => Ok(s.new_deployment(&td, now)),
            }
        })
    }

    async fn current_service_deployment(&self, cluster: &str, service: &str) -> CloudResult<Option<String>> {
        self.call("DescribeServices", format!("{cluster}/{service}"), false, |s, _| {
            s.check("DescribeServices", cluster, service)?;
            Ok(s.natives.last().map(|n| n.arn.clone()))
        })
    }

    async fn service_deployment(&self, arn: &str) -> CloudResult<Option<ServiceDeployment>> {
        self.call("DescribeServiceDeployments", arn.into(), false, |s, _| {
            Ok(s.natives.iter().find(|n| n.arn == arn).map(|n| n.model()))
        })
    }

    async fn stop_service_deployment(&self, arn: &str) -> CloudResult<()> {
        self.call("StopServiceDeployment", format!("{arn} ROLLBACK"), true, |s, now| {
            s.stop_native(arn, now)
        })
    }

    async fn continue_service_deployment(&self, arn: &str, hook_id: &str, action: HookAction) -> CloudResult<()> {
        let detail = format!("{arn} hook {hook_id} {}", action.as_str());
        self.call("ContinueServiceDeployment", detail, true, |s, now| {
            s.continue_native(arn, hook_id, action, now)
        })
    }

    async fn task_definitions(&self, family: &str, active: bool) -> CloudResult<Vec<String>> {
        let status = if active { "ACTIVE" } else { "INACTIVE" };
        self.call("ListTaskDefinitions", format!("{family} {status}"), false, |s, _| {
            let mut revisions: Vec<&TaskDefinition> = s
                .definitions
                .iter()
                .filter(|td| td.family == family && s.inactive.contains(&td.arn) != active)
                .collect();
            revisions.sort_by_key(|td| td.revision);
            Ok(revisions.iter().map(|td| td.arn.clone()).collect())
        })
    }

    async fn deregister_task_definition(&self, arn: &str) -> CloudResult<()> {
        self.call("DeregisterTaskDefinition", arn.into(), true, |s, _| {
            let Some(td) = s.find(arn).map(|td| td.arn.clone()) else {
                return Err(CloudError::new(
                    ErrorKind::Invalid,
                    "DeregisterTaskDefinition",
                    Some("ClientException"),
                    "The specified task definition does not exist.",
                ));
            };
            s.inactive.insert(td);
            Ok(())
        })
    }
}
