//! The CodeDeploy port over aws-sdk-codedeploy.

use async_trait::async_trait;
use aws_sdk_codedeploy::types::{
    Alarm, AlarmConfiguration, AppSpecContent, AutoRollbackConfiguration, AutoRollbackEvent, BundleType,
    DeploymentReadyAction, DeploymentStatus, DeploymentWaitType, RevisionLocation, RevisionLocationType, S3Location,
};
use aws_sdk_codedeploy::Client;

use super::{absent_as_none, to_cloud};
use crate::cloud::{
    CdDeployment, CdRevision, CloudError, CloudResult, CodeDeploy, DeploymentGroup, DeploymentTarget, Diagnostics,
    ErrorKind, InstanceTarget, LifecycleEvent, NewDeployment, S3Revision, TaskSet,
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

/// CodeDeploy says "does not exist" where other services say "not found"; a group with a
/// deployment under way refuses another (an answer, not worth a retry).
fn not_found(mut e: CloudError) -> CloudError {
    match e.code.as_deref() {
        Some(c) if c.ends_with("DoesNotExistException") => e.kind = ErrorKind::NotFound,
        Some("DeploymentLimitExceededException") => e.kind = ErrorKind::Invalid,
        _ => {}
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
            auto_scaling_groups: g
                .auto_scaling_groups()
                .iter()
                .filter_map(|a| a.name().map(str::to_string))
                .collect(),
            last_successful: g
                .last_successful_deployment()
                .and_then(|d| d.deployment_id())
                .map(str::to_string),
        }))
    }

    async fn create_deployment(&self, d: &NewDeployment) -> CloudResult<String> {
        let op = "CreateDeployment";
        let revision = revision_location(&d.revision);
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
            revision: info.revision().and_then(revision_of),
            group: info
                .application_name()
                .zip(info.deployment_group_name())
                .map(|(a, g)| (a.to_string(), g.to_string())),
        })
    }

    async fn deployment_target(&self, id: &str) -> CloudResult<Option<DeploymentTarget>> {
        let mut ids = Vec::new();
        let mut token = None;
        loop {
            let listed = self
                .client
                .list_deployment_targets()
                .deployment_id(id)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| not_found(to_cloud(SERVICE, "ListDeploymentTargets", &e)))?;
            ids.extend(listed.target_ids().iter().cloned());
            token = listed.next_token().map(str::to_string);
            if token.is_none() {
                break;
            }
        }
        if ids.is_empty() {
            return Ok(None);
        }
        let mut targets = Vec::new();
        // BatchGetDeploymentTargets takes up to 25 ids.
        for chunk in ids.chunks(25) {
            let out = self
                .client
                .batch_get_deployment_targets()
                .deployment_id(id)
                .set_target_ids(Some(chunk.to_vec()))
                .send()
                .await
                .map_err(|e| not_found(to_cloud(SERVICE, "BatchGetDeploymentTargets", &e)))?;
            targets.extend(out.deployment_targets().iter().cloned());
        }
        if let Some(ecs) = targets.iter().find_map(|t| t.ecs_target()) {
            return Ok(Some(DeploymentTarget {
                status: ecs.status().map(|s| s.as_str()).unwrap_or_default().to_string(),
                events: events(ecs.lifecycle_events()),
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
                instances: Vec::new(),
            }));
        }
        let instances: Vec<InstanceTarget> = targets
            .iter()
            .filter_map(|t| t.instance_target())
            .map(|i| InstanceTarget {
                id: i.target_id().unwrap_or_default().to_string(),
                status: i.status().map(|s| s.as_str()).unwrap_or_default().to_string(),
                events: events(i.lifecycle_events()),
            })
            .collect();
        if instances.is_empty() {
            return Ok(None);
        }
        Ok(Some(DeploymentTarget {
            status: String::new(),
            events: Vec::new(),
            task_sets: Vec::new(),
            instances,
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

/// The revision as CreateDeployment takes it.
fn revision_location(revision: &CdRevision) -> RevisionLocation {
    match revision {
        CdRevision::AppSpec(content) => RevisionLocation::builder()
            .revision_type(RevisionLocationType::AppSpecContent)
            .app_spec_content(AppSpecContent::builder().content(content).build())
            .build(),
        CdRevision::S3(s3) => RevisionLocation::builder()
            .revision_type(RevisionLocationType::S3)
            .s3_location(
                S3Location::builder()
                    .bucket(&s3.bucket)
                    .key(&s3.key)
                    .bundle_type(BundleType::Zip)
                    .set_e_tag(s3.etag.clone())
                    .build(),
            )
            .build(),
    }
}

/// The revision GetDeployment names (None for kinds slipway does not make: GitHub, strings).
fn revision_of(r: &RevisionLocation) -> Option<CdRevision> {
    if let Some(s3) = r.s3_location() {
        return Some(CdRevision::S3(S3Revision {
            bucket: s3.bucket()?.to_string(),
            key: s3.key()?.to_string(),
            etag: s3.e_tag().map(|e| e.trim_matches('"').to_string()),
        }));
    }
    r.app_spec_content()
        .and_then(|c| c.content())
        .map(|c| CdRevision::AppSpec(c.to_string()))
}

fn events(list: &[aws_sdk_codedeploy::types::LifecycleEvent]) -> Vec<LifecycleEvent> {
    list.iter()
        .map(|e| LifecycleEvent {
            name: e.lifecycle_event_name().unwrap_or_default().to_string(),
            status: e.status().map(|s| s.as_str()).unwrap_or_default().to_string(),
            diagnostics: e.diagnostics().map(|d| Diagnostics {
                error_code: d.error_code().map(|c| c.as_str().to_string()),
                message: d.message().map(str::to_string),
                log_tail: d.log_tail().map(str::to_string),
            }),
        })
        .collect()
}
