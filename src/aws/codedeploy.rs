//! The CodeDeploy port over aws-sdk-codedeploy.

use async_trait::async_trait;
use aws_sdk_codedeploy::types::{
    Alarm, AlarmConfiguration, AppSpecContent, AutoRollbackConfiguration, AutoRollbackEvent, DeploymentReadyAction,
    DeploymentStatus, DeploymentWaitType, RevisionLocation, RevisionLocationType,
};
use aws_sdk_codedeploy::Client;

use super::{absent_as_none, to_cloud};
use crate::cloud::{
    CdDeployment, CloudError, CloudResult, CodeDeploy, DeploymentGroup, DeploymentTarget, Diagnostics, ErrorKind,
    LifecycleEvent, NewDeployment, TaskSet,
};

/// The IAM prefix of this service's actions.
const SERVICE: &str = "codedeploy";

/// CodeDeploy through the AWS SDK.
#[derive(Clone)]
pub struct CodeDeployAdapter {
    client: Client,
}

impl CodeDeployAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        CodeDeployAdapter {
            client: Client::new(config),
        }
    }
}

/// CodeDeploy says "does not exist" where other services say "not found".
fn not_found(mut e: CloudError) -> CloudError {
    if e.code.as_deref().is_some_and(|c| c.ends_with("DoesNotExistException")) {
        e.kind = ErrorKind::NotFound;
    }
    e
}

/// Every status that means "not over yet".
const ACTIVE: [DeploymentStatus; 5] = [
    DeploymentStatus::Created,
    DeploymentStatus::Queued,
    DeploymentStatus::InProgress,
    DeploymentStatus::Baking,
    DeploymentStatus::Ready,
];

#[async_trait]
impl CodeDeploy for CodeDeployAdapter {
    async fn deployment_group(&self, application: &str, group: &str) -> CloudResult<Option<DeploymentGroup>> {
        let op = "GetDeploymentGroup";
        let Some(out) = absent_as_none(
            self.client
                .get_deployment_group()
                .application_name(application)
                .deployment_group_name(group)
                .send()
                .await
                .map_err(|e| not_found(to_cloud(SERVICE, op, &e))),
        )?
        else {
            return Ok(None);
        };
        let Some(g) = out.deployment_group_info() else {
            return Ok(None);
        };
        let blue_green = g.blue_green_deployment_configuration();
        let ready = blue_green.and_then(|b| b.deployment_ready_option());
        Ok(Some(DeploymentGroup {
            application: g.application_name().unwrap_or(application).to_string(),
            name: g.deployment_group_name().unwrap_or(group).to_string(),
            config: g.deployment_config_name().map(str::to_string),
            waits_for_ready: ready
                .and_then(|r| r.action_on_timeout())
                .is_some_and(|a| *a == DeploymentReadyAction::StopDeployment),
            ready_wait_minutes: ready.map(|r| r.wait_time_in_minutes()).unwrap_or(0),
            termination_wait_minutes: blue_green
                .and_then(|b| b.terminate_blue_instances_on_deployment_success())
                .map(|t| t.termination_wait_time_in_minutes())
                .unwrap_or(0),
            ecs_services: g
                .ecs_services()
                .iter()
                .map(|s| {
                    (
                        s.cluster_name().unwrap_or_default().to_string(),
                        s.service_name().unwrap_or_default().to_string(),
                    )
                })
                .collect(),
            target_groups: g
                .load_balancer_info()
                .map(|lb| {
                    lb.target_group_pair_info_list()
                        .iter()
                        .flat_map(|p| p.target_groups())
                        .filter_map(|t| t.name().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            auto_rollback: g.auto_rollback_configuration().is_some_and(|a| a.enabled()),
        }))
    }

    async fn create_deployment(&self, d: &NewDeployment) -> CloudResult<String> {
        let op = "CreateDeployment";
        let revision = RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().content(&d.app_spec).build())
            .build();
        let mut call = self
            .client
            .create_deployment()
            .application_name(&d.application)
            .deployment_group_name(&d.group)
            .set_deployment_config_name(d.config.clone())
            .revision(revision)
            .description(&d.description);
        if !d.alarms.is_empty() {
            // CodeDeploy watches the roll's alarms too and rolls back on one by itself.
            let alarms = d
                .alarms
                .iter()
                .map(|name| Alarm::builder().name(name).build())
                .collect();
            call = call
                .override_alarm_configuration(
                    AlarmConfiguration::builder()
                        .enabled(true)
                        .ignore_poll_alarm_failure(false)
                        .set_alarms(Some(alarms))
                        .build(),
                )
                .auto_rollback_configuration(
                    AutoRollbackConfiguration::builder()
                        .enabled(true)
                        .events(AutoRollbackEvent::DeploymentFailure)
                        .events(AutoRollbackEvent::DeploymentStopOnAlarm)
                        .build(),
                );
        }
        let out = call.send().await.map_err(|e| not_found(to_cloud(SERVICE, op, &e)))?;
        out.deployment_id()
            .map(str::to_string)
            .ok_or_else(|| CloudError::new(ErrorKind::Other, op, None, "the answer has no deploymentId"))
    }

    async fn get_deployment(&self, id: &str) -> CloudResult<CdDeployment> {
        let op = "GetDeployment";
        let out = self
            .client
            .get_deployment()
            .deployment_id(id)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, op, &e)))?;
        let info = out
            .deployment_info()
            .ok_or_else(|| CloudError::not_found(op, format!("deployment {id} not found")))?;
        let error = info.error_information();
        Ok(CdDeployment {
            id: info.deployment_id().unwrap_or(id).to_string(),
            status: info.status().map(|s| s.as_str()).unwrap_or_default().into(),
            config: info.deployment_config_name().map(str::to_string),
            error_code: error.and_then(|e| e.code()).map(|c| c.as_str().to_string()),
            error_message: error.and_then(|e| e.message()).map(str::to_string),
            rollback_deployment: info
                .rollback_info()
                .and_then(|r| r.rollback_deployment_id())
                .map(str::to_string),
        })
    }

    async fn deployment_target(&self, id: &str) -> CloudResult<Option<DeploymentTarget>> {
        let listed = self
            .client
            .list_deployment_targets()
            .deployment_id(id)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "ListDeploymentTargets", &e)))?;
        let ids = listed.target_ids().to_vec();
        if ids.is_empty() {
            return Ok(None);
        }
        let out = self
            .client
            .batch_get_deployment_targets()
            .deployment_id(id)
            .set_target_ids(Some(ids))
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "BatchGetDeploymentTargets", &e)))?;
        let Some(ecs) = out.deployment_targets().iter().find_map(|t| t.ecs_target()) else {
            return Ok(None);
        };
        Ok(Some(DeploymentTarget {
            status: ecs.status().map(|s| s.as_str()).unwrap_or_default().to_string(),
            events: ecs
                .lifecycle_events()
                .iter()
                .map(|e| LifecycleEvent {
                    name: e.lifecycle_event_name().unwrap_or_default().to_string(),
                    status: e.status().map(|s| s.as_str()).unwrap_or_default().to_string(),
                    diagnostics: e.diagnostics().map(|d| Diagnostics {
                        error_code: d.error_code().map(|c| c.as_str().to_string()),
                        message: d.message().map(str::to_string),
                        log_tail: d.log_tail().map(str::to_string),
                    }),
                })
                .collect(),
            task_sets: ecs
                .task_sets_info()
                .iter()
                .map(|t| TaskSet {
                    id: t.identifer().unwrap_or_default().to_string(),
                    label: t.task_set_label().map(|l| l.as_str()).unwrap_or_default().to_string(),
                    desired: t.desired_count(),
                    running: t.running_count(),
                    pending: t.pending_count(),
                    traffic_weight: t.traffic_weight(),
                    target_group: t.target_group().and_then(|g| g.name()).map(str::to_string),
                })
                .collect(),
        }))
    }

    async fn active_deployments(&self, application: &str, group: &str) -> CloudResult<Vec<String>> {
        let out = self
            .client
            .list_deployments()
            .application_name(application)
            .deployment_group_name(group)
            .set_include_only_statuses(Some(ACTIVE.to_vec()))
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "ListDeployments", &e)))?;
        Ok(out.deployments().to_vec())
    }

    async fn stop_deployment(&self, id: &str, auto_rollback: bool) -> CloudResult<String> {
        let out = self
            .client
            .stop_deployment()
            .deployment_id(id)
            .auto_rollback_enabled(auto_rollback)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "StopDeployment", &e)))?;
        Ok(out.status().map(|s| s.as_str()).unwrap_or_default().to_string())
    }

    async fn continue_deployment(&self, id: &str) -> CloudResult<()> {
        self.client
            .continue_deployment()
            .deployment_id(id)
            .deployment_wait_type(DeploymentWaitType::ReadyWait)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "ContinueDeployment", &e)))?;
        Ok(())
    }
}
