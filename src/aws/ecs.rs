//! The ECS port over aws-sdk-ecs.

use async_trait::async_trait;
use aws_sdk_ecs::types::DesiredStatus;
use aws_sdk_ecs::Client;

use super::to_cloud;
use crate::cloud::{CloudError, CloudResult, Ecs, EcsDeployment, EcsService, ErrorKind, ServiceEvent, StoppedTask};

/// ECS through the AWS SDK.
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
                let e = not_found(to_cloud(op, &e));
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
            .map_err(|e| not_found(to_cloud("ListTasks", &e)))?;
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
            .map_err(|e| to_cloud("DescribeTasks", &e))?;
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
}
