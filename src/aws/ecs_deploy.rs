//! The ECS port's native-deployment calls over aws-sdk-ecs: UpdateService's deployment
//! configuration, DescribeServiceDeployments, Stop/ContinueServiceDeployment, and the
//! task definition listing and deregistration of `keep_revisions`.

use aws_sdk_ecs::types::{
    CanaryConfiguration, DeploymentAlarms, DeploymentConfiguration, DeploymentLifecycleHook,
    DeploymentLifecycleHookAction, DeploymentLifecycleHookStage, DeploymentLifecycleHookTargetType,
    DeploymentLifecycleHookTimeoutConfiguration, DeploymentStrategy, LinearConfiguration, SortOrder,
    StopServiceDeploymentStopType, TaskDefinitionStatus,
};

use super::ecs::{EcsAdapter, SERVICE};
use super::to_cloud;
use crate::cloud::{
    CloudResult, DeploymentSettings, ErrorKind, HookAction, HookDetail, NativeStrategy, ServiceDeployment,
};

/// Whole minutes, rounded up (ECS takes minutes).
fn minutes(d: std::time::Duration) -> i32 {
    d.as_secs().div_ceil(60) as i32
}

/// UpdateService's deploymentConfiguration for a native strategy.
pub(super) fn configuration(s: &DeploymentSettings) -> DeploymentConfiguration {
    let mut c = DeploymentConfiguration::builder()
        .strategy(DeploymentStrategy::from(s.strategy.as_str()))
        .bake_time_in_minutes(minutes(s.bake));
    if let (NativeStrategy::Canary, Some((percent, bake))) = (&s.strategy, s.canary) {
        c = c.canary_configuration(
            CanaryConfiguration::builder()
                .canary_percent(percent)
                .canary_bake_time_in_minutes(minutes(bake))
                .build(),
        );
    }
    if let (NativeStrategy::Linear, Some((percent, bake))) = (&s.strategy, s.linear) {
        c = c.linear_configuration(
            LinearConfiguration::builder()
                .step_percent(percent)
                .step_bake_time_in_minutes(minutes(bake))
                .build(),
        );
    }
    if !s.alarms.is_empty() {
        let alarms = DeploymentAlarms::builder()
            .set_alarm_names(Some(s.alarms.clone()))
            .enable(true)
            .rollback(true)
            .build()
            .expect("alarm names, enable and rollback are set");
        c = c.alarms(alarms);
    }
    if s.pause_after_test_traffic {
        c = c.lifecycle_hooks(
            DeploymentLifecycleHook::builder()
                .target_type(DeploymentLifecycleHookTargetType::Pause)
                .lifecycle_stages(DeploymentLifecycleHookStage::PostTestTrafficShift)
                // Rolled back by ECS itself if nobody answers in time (a runner that died).
                .timeout_configuration(
                    DeploymentLifecycleHookTimeoutConfiguration::builder()
                        .timeout_in_minutes(
                            s.pause_timeout
                                .as_secs()
                                .div_ceil(60)
                                .clamp(1, crate::cloud::ecs::MAX_HOOK_MINUTES) as i32,
                        )
                        .action(DeploymentLifecycleHookAction::Rollback)
                        .build(),
                )
                .build(),
        );
    }
    c.build()
}

impl EcsAdapter {
    pub(super) async fn current_deployment(&self, cluster: &str, service: &str) -> CloudResult<Option<String>> {
        let out = self
            .client
            .describe_services()
            .cluster(cluster)
            .services(service)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "DescribeServices", &e))?;
        Ok(out
            .services()
            .first()
            .and_then(|s| s.current_service_deployment())
            .map(str::to_string))
    }

    pub(super) async fn describe_deployment(&self, arn: &str) -> CloudResult<Option<ServiceDeployment>> {
        let op = "DescribeServiceDeployments";
        let out = self
            .client
            .describe_service_deployments()
            .service_deployment_arns(arn)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        let Some(d) = out.service_deployments().first() else {
            return Ok(None);
        };
        let target = d.target_service_revision();
        Ok(Some(ServiceDeployment {
            arn: d.service_deployment_arn().unwrap_or(arn).to_string(),
            status: d.status().map(|s| s.as_str()).unwrap_or("UNKNOWN").into(),
            status_reason: d.status_reason().map(str::to_string),
            stage: d.lifecycle_stage().map(|s| s.as_str().into()),
            target_revision: target.and_then(|t| t.arn()).map(str::to_string),
            production_percent: target.and_then(|t| t.requested_production_traffic_weight()),
            test_percent: target.and_then(|t| t.requested_test_traffic_weight()),
            hooks: d
                .lifecycle_hook_details()
                .iter()
                .map(|h| HookDetail {
                    id: h.hook_id().unwrap_or_default().to_string(),
                    target_type: h.target_type().map(|t| t.as_str()).unwrap_or_default().to_string(),
                    status: h.status().map(|s| s.as_str()).unwrap_or("UNKNOWN").into(),
                })
                .collect(),
            rollback_reason: d.rollback().and_then(|r| r.reason()).map(str::to_string),
        }))
    }

    pub(super) async fn stop_deployment(&self, arn: &str) -> CloudResult<()> {
        self.client
            .stop_service_deployment()
            .service_deployment_arn(arn)
            .stop_type(StopServiceDeploymentStopType::Rollback)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "StopServiceDeployment", &e))?;
        Ok(())
    }

    pub(super) async fn continue_deployment(&self, arn: &str, hook_id: &str, action: HookAction) -> CloudResult<()> {
        self.client
            .continue_service_deployment()
            .service_deployment_arn(arn)
            .hook_id(hook_id)
            .action(DeploymentLifecycleHookAction::from(action.as_str()))
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "ContinueServiceDeployment", &e))?;
        Ok(())
    }

    pub(super) async fn list_definitions(&self, family: &str, active: bool) -> CloudResult<Vec<String>> {
        let status = if active {
            TaskDefinitionStatus::Active
        } else {
            TaskDefinitionStatus::Inactive
        };
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .client
                .list_task_definitions()
                .family_prefix(family)
                .status(status.clone())
                .sort(SortOrder::Asc)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| to_cloud(SERVICE, "ListTaskDefinitions", &e))?;
            // familyPrefix matches by prefix: keep this family's revisions only.
            arns.extend(
                out.task_definition_arns()
                    .iter()
                    .filter(|a| a.rsplit('/').next().and_then(|n| n.rsplit_once(':')).map(|(f, _)| f) == Some(family))
                    .cloned(),
            );
            token = out.next_token().map(str::to_string);
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    pub(super) async fn deregister(&self, arn: &str) -> CloudResult<()> {
        match self
            .client
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => {
                let e = to_cloud(SERVICE, "DeregisterTaskDefinition", &e);
                // Already gone: nothing left to do.
                if e.kind == ErrorKind::NotFound {
                    Ok(())
                } else {
                    Err(e)
                }
            }
        }
    }
}
