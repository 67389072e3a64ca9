//! The ECS port over aws-sdk-ecs.

use async_trait::async_trait;
use aws_sdk_ecs::types::{DesiredStatus, KeyValuePair};
use aws_sdk_ecs::Client;

use super::to_cloud;
use crate::cloud::{
    CloudError, CloudResult, ContainerSpec, Ecs, EcsDeployment, EcsService, ErrorKind, Revision, ServiceEvent,
    StoppedTask, TaskDefinition,
};

/// ECS through the AWS SDK.
/// The IAM prefix of this service's actions.
const SERVICE: &str = "ecs";

#[derive(Clone)]
pub struct EcsAdapter {
    client: Client,
}

impl EcsAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        EcsAdapter {
            client: Client::new(config),
        }
    }
}

fn not_found(e: CloudError) -> CloudError {
    match e.code.as_deref() {
        Some("ClusterNotFoundException" | "ServiceNotFoundException") => CloudError {
            kind: ErrorKind::NotFound,
            ..e
        },
        _ => e,
    }
}

#[async_trait]
impl Ecs for EcsAdapter {
    async fn describe_service(&self, cluster: &str, service: &str) -> CloudResult<Option<EcsService>> {
        let op = "DescribeServices";
        let out = match self
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) => {
                let e = not_found(to_cloud(SERVICE, op, &e));
                return if e.kind == ErrorKind::NotFound {
                    Ok(None)
                } else {
                    Err(e)
                };
            }
        };
        let Some(s) = out.services().first() else {
            return Ok(None);
        };
        if s.status() == Some("INACTIVE") {
            return Ok(None);
        }
        let deployments = s
            .deployments()
            .iter()
            .map(|d| EcsDeployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().to_string(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_string()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            })
            .collect();
        let events = s
            .events()
            .iter()
            .map(|e| ServiceEvent {
                at: e.created_at().map(|t| t.to_string()).unwrap_or_default(),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(Some(EcsService {
            arn: s.service_arn().unwrap_or_default().to_string(),
            name: s.service_name().unwrap_or(service).to_string(),
            cluster: s.cluster_arn().unwrap_or(cluster).to_string(),
            status: s.status().unwrap_or_default().to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
            task_definition: s.task_definition().unwrap_or_default().to_string(),
            deployments,
            events,
            circuit_breaker_rollback: s
                .deployment_configuration()
                .and_then(|c| c.deployment_circuit_breaker())
                .is_some_and(|b| b.enable() && b.rollback()),
        }))
    }

    async fn stopped_tasks(&self, cluster: &str, service: &str, limit: usize) -> CloudResult<Vec<StoppedTask>> {
        let listed = self
            .client
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(DesiredStatus::Stopped)
            .max_results(limit.clamp(1, 100) as i32)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "ListTasks", &e)))?;
        let arns: Vec<String> = listed.task_arns().iter().take(limit).cloned().collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "DescribeTasks", &e))?;
        Ok(described
            .tasks()
            .iter()
            .map(|t| StoppedTask {
                arn: t.task_arn().unwrap_or_default().to_string(),
                task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
                stopped_reason: t.stopped_reason().map(str::to_string),
                containers: t
                    .containers()
                    .iter()
                    .map(|c| {
                        (
                            c.name().unwrap_or_default().to_string(),
                            c.exit_code(),
                            c.reason().map(str::to_string),
                        )
                    })
                    .collect(),
            })
            .collect())
    }

    async fn task_definition(&self, arn: &str) -> CloudResult<Option<TaskDefinition>> {
        match self.describe(arn).await {
            Ok(td) => Ok(Some(model(&td))),
            Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::Invalid => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn register_revision(&self, revision: &Revision) -> CloudResult<TaskDefinition> {
        let op = "RegisterTaskDefinition";
        let td = self.describe(&revision.from).await?;
        let mut containers = td.container_definitions().to_vec();
        let Some(container) = containers
            .iter_mut()
            .find(|c| c.name() == Some(revision.container.as_str()))
        else {
            return Err(CloudError::new(
                ErrorKind::Invalid,
                op,
                None,
                format!(
                    "task definition {} has no container {:?}",
                    revision.from, revision.container
                ),
            ));
        };
        let mut env: Vec<KeyValuePair> = container.environment().to_vec();
        for (key, value) in &revision.environment {
            env.retain(|kv| kv.name() != Some(key.as_str()));
            env.push(KeyValuePair::builder().name(key).value(value).build());
        }
        env.sort_by(|a, b| a.name().cmp(&b.name()));
        container.image = Some(revision.image.clone());
        container.environment = Some(env);
        let out = self
            .client
            .register_task_definition()
            .family(td.family().unwrap_or_default())
            .set_task_role_arn(td.task_role_arn().map(str::to_string))
            .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
            .set_network_mode(td.network_mode().cloned())
            .set_container_definitions(Some(containers))
            .set_volumes(Some(td.volumes().to_vec()))
            .set_placement_constraints(Some(td.placement_constraints().to_vec()))
            .set_requires_compatibilities(Some(td.requires_compatibilities().to_vec()))
            .set_cpu(td.cpu().map(str::to_string))
            .set_memory(td.memory().map(str::to_string))
            .set_pid_mode(td.pid_mode().cloned())
            .set_ipc_mode(td.ipc_mode().cloned())
            .set_proxy_configuration(td.proxy_configuration().cloned())
            .set_ephemeral_storage(td.ephemeral_storage().cloned())
            .set_runtime_platform(td.runtime_platform().cloned())
            // No SDK retries: a retry after a lost reply would register a second revision.
            // The roll retries this call itself, first looking for the revision it asked for.
            .customize()
            .config_override(
                aws_sdk_ecs::config::Config::builder().retry_config(crate::aws::retry_config().with_max_attempts(1)),
            )
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        let registered = out
            .task_definition()
            .ok_or_else(|| CloudError::new(ErrorKind::Other, op, None, "no task definition in the answer"))?;
        Ok(model(registered))
    }

    async fn update_service(&self, cluster: &str, service: &str, task_definition: &str) -> CloudResult<String> {
        let op = "UpdateService";
        let out = self
            .client
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(task_definition)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, op, &e)))?;
        let id = out
            .service()
            .and_then(|s| s.deployments().iter().find(|d| d.status() == Some("PRIMARY")))
            .and_then(|d| d.id())
            .unwrap_or_default();
        Ok(id.to_string())
    }
}

impl EcsAdapter {
    async fn describe(&self, arn: &str) -> CloudResult<aws_sdk_ecs::types::TaskDefinition> {
        let op = "DescribeTaskDefinition";
        let out = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        out.task_definition()
            .cloned()
            .ok_or_else(|| CloudError::not_found(op, format!("task definition {arn} not found")))
    }
}

fn model(td: &aws_sdk_ecs::types::TaskDefinition) -> TaskDefinition {
    TaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
        containers: td
            .container_definitions()
            .iter()
            .map(|c| {
                let mut environment: Vec<(String, String)> = c
                    .environment()
                    .iter()
                    .map(|kv| {
                        (
                            kv.name().unwrap_or_default().to_string(),
                            kv.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                environment.sort();
                ContainerSpec {
                    name: c.name().unwrap_or_default().to_string(),
                    image: c.image().unwrap_or_default().to_string(),
                    environment,
                }
            })
            .collect(),
    }
}
