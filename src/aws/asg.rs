//! The Auto Scaling port over aws-sdk-autoscaling.

use std::marker::PhantomData;

use async_trait::async_trait;
use aws_sdk_autoscaling::config::interceptors::InterceptorContext;
use aws_sdk_autoscaling::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_autoscaling::error::ProvideErrorMetadata;
use aws_sdk_autoscaling::operation::describe_instance_refreshes::DescribeInstanceRefreshesError;
use aws_sdk_autoscaling::operation::terminate_instance_in_auto_scaling_group::TerminateInstanceInAutoScalingGroupError;
use aws_sdk_autoscaling::types::{
    AlarmSpecification, DesiredConfiguration, LaunchTemplateSpecification, RefreshPreferences,
};
use aws_sdk_autoscaling::Client;

use super::to_cloud;
use crate::cloud::{
    Activity, AutoScaling, CloudResult, ErrorKind, Group, GroupInstance, InstanceRefresh, LaunchTemplateSpec,
    RefreshSpec,
};

/// Auto Scaling through the AWS SDK.
/// The IAM prefix of this service's actions.
const SERVICE: &str = "autoscaling";

#[derive(Clone)]
pub struct AsgAdapter {
    client: Client,
}

impl AsgAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        AsgAdapter {
            client: Client::new(config),
        }
    }
}

fn text(s: Option<&str>) -> String {
    s.unwrap_or_default().to_string()
}

fn spec(lt: &LaunchTemplateSpecification) -> LaunchTemplateSpec {
    LaunchTemplateSpec {
        id: lt.launch_template_id().map(str::to_string),
        name: lt.launch_template_name().map(str::to_string),
        version: lt.version().unwrap_or("$Default").to_string(),
    }
}

fn sdk_spec(t: &LaunchTemplateSpec) -> LaunchTemplateSpecification {
    LaunchTemplateSpecification::builder()
        .set_launch_template_id(t.id.clone())
        .set_launch_template_name(if t.id.is_some() { None } else { t.name.clone() })
        .version(&t.version)
        .build()
}

impl AsgAdapter {
    /// Whether an instance has left its group or is on its way out.
    async fn gone(&self, instance_id: &str) -> CloudResult<bool> {
        let out = self
            .client
            .describe_auto_scaling_instances()
            .instance_ids(instance_id)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "DescribeAutoScalingInstances", &e))?;
        Ok(out
            .auto_scaling_instances()
            .iter()
            .all(|i| i.lifecycle_state().is_some_and(|s| s.starts_with("Terminat"))))
    }
}

/// Forbids retrying a bare HTTP 500 without an error code to operation `E`: that is how an
/// endpoint without the API (moto, for instance refreshes) answers, every time, and how
/// moto answers a terminate of an instance already gone. AWS's own 5xx carry a code and
/// are retried as usual, and so is throttling.
struct NoRetryOnBare500<E>(PhantomData<fn() -> E>);

impl<E> NoRetryOnBare500<E> {
    fn new() -> Self {
        NoRetryOnBare500(PhantomData)
    }
}

impl<E> std::fmt::Debug for NoRetryOnBare500<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NoRetryOnBare500")
    }
}

impl<E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static> ClassifyRetry for NoRetryOnBare500<E> {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let status_500 = ctx.response().is_some_and(|r| r.status().as_u16() == 500);
        let without_code = match ctx.output_or_error() {
            Some(Err(e)) => e
                .as_operation_error()
                .and_then(|e| e.downcast_ref::<E>())
                .is_some_and(|e| e.code().is_none()),
            _ => false,
        };
        if status_500 && without_code {
            RetryAction::RetryForbidden
        } else {
            RetryAction::NoActionIndicated
        }
    }

    fn name(&self) -> &'static str {
        "NoRetryOnBare500"
    }
}

#[async_trait]
impl AutoScaling for AsgAdapter {
    async fn describe_group(&self, name: &str) -> CloudResult<Option<Group>> {
        let op = "DescribeAutoScalingGroups";
        let out = self
            .client
            .describe_auto_scaling_groups()
            .auto_scaling_group_names(name)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        let Some(g) = out.auto_scaling_groups().first() else {
            return Ok(None);
        };
        let instances = g
            .instances()
            .iter()
            .map(|i| GroupInstance {
                id: text(i.instance_id()),
                lifecycle_state: text(i.lifecycle_state().map(|s| s.as_str())).as_str().into(),
                health_status: text(i.health_status()).as_str().into(),
                launch_template_version: i.launch_template().and_then(|t| t.version()).map(str::to_string),
                availability_zone: i.availability_zone().map(str::to_string),
            })
            .collect();
        Ok(Some(Group {
            name: text(g.auto_scaling_group_name()),
            min: g.min_size().unwrap_or(0),
            max: g.max_size().unwrap_or(0),
            desired: g.desired_capacity().unwrap_or(0),
            launch_template: g.launch_template().map(spec),
            instances,
            target_group_arns: g.target_group_arns().to_vec(),
            health_check_grace_period: g.health_check_grace_period().unwrap_or(0),
            health_check_type: text(g.health_check_type()),
        }))
    }

    async fn activities_in_progress(&self, name: &str) -> CloudResult<Vec<Activity>> {
        let op = "DescribeScalingActivities";
        let out = self
            .client
            .describe_scaling_activities()
            .auto_scaling_group_name(name)
            .max_records(20)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        Ok(out
            .activities()
            .iter()
            .map(|a| Activity {
                id: text(a.activity_id()),
                description: a.description().unwrap_or_default().to_string(),
                status_code: text(a.status_code().map(|s| s.as_str())),
                status_message: a.status_message().map(str::to_string),
                progress: a.progress(),
            })
            .filter(Activity::in_progress)
            .collect())
    }

    async fn update_size(
        &self,
        name: &str,
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> CloudResult<()> {
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .set_min_size(min)
            .set_max_size(max)
            .set_desired_capacity(desired)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "UpdateAutoScalingGroup", &e))?;
        Ok(())
    }

    async fn set_launch_template(&self, name: &str, template: &LaunchTemplateSpec) -> CloudResult<()> {
        self.client
            .update_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_template(sdk_spec(template))
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "UpdateAutoScalingGroup", &e))?;
        Ok(())
    }

    async fn terminate_instance(&self, instance_id: &str, decrement: bool) -> CloudResult<()> {
        let err = match self
            .client
            .terminate_instance_in_auto_scaling_group()
            .instance_id(instance_id)
            .should_decrement_desired_capacity(decrement)
            .customize()
            .config_override(
                aws_sdk_autoscaling::config::Config::builder()
                    .retry_classifier(NoRetryOnBare500::<TerminateInstanceInAutoScalingGroupError>::new()),
            )
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => to_cloud(SERVICE, "TerminateInstanceInAutoScalingGroup", &e),
        };
        // When the reply to an attempt that worked was lost, the SDK's retry finds the
        // instance gone (AWS: ValidationError; moto: a 500). Sending it again could only
        // fail, or decrement the capacity twice: look whether it is gone instead.
        if !matches!(err.kind, ErrorKind::Denied | ErrorKind::Credentials) && self.gone(instance_id).await? {
            return Ok(());
        }
        Err(err)
    }

    async fn start_refresh(&self, name: &str, spec: &RefreshSpec) -> CloudResult<String> {
        let prefs = RefreshPreferences::builder()
            .min_healthy_percentage(spec.min_healthy_percentage)
            .max_healthy_percentage(spec.max_healthy_percentage)
            .set_instance_warmup(spec.instance_warmup)
            .skip_matching(spec.skip_matching)
            .auto_rollback(spec.auto_rollback)
            .set_alarm_specification((!spec.alarms.is_empty()).then(|| {
                AlarmSpecification::builder()
                    .set_alarms(Some(spec.alarms.clone()))
                    .build()
            }))
            .set_bake_time(spec.bake_time)
            .build();
        let out = self
            .client
            .start_instance_refresh()
            .auto_scaling_group_name(name)
            .desired_configuration(
                DesiredConfiguration::builder()
                    .launch_template(sdk_spec(&spec.launch_template))
                    .build(),
            )
            .preferences(prefs)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "StartInstanceRefresh", &e))?;
        Ok(out.instance_refresh_id().unwrap_or_default().to_string())
    }

    async fn describe_refreshes(&self, name: &str, id: Option<&str>) -> CloudResult<Vec<InstanceRefresh>> {
        let out = self
            .client
            .describe_instance_refreshes()
            .auto_scaling_group_name(name)
            .set_instance_refresh_ids(id.map(|i| vec![i.to_string()]))
            // An endpoint without the API should not cost the SDK's whole backoff.
            .customize()
            .config_override(
                aws_sdk_autoscaling::config::Config::builder()
                    .retry_classifier(NoRetryOnBare500::<DescribeInstanceRefreshesError>::new()),
            )
            .send()
            .await
            .map_err(|e| {
                // An endpoint without the API (moto) answers a bare HTTP 500 with no error
                // code; AWS's own 5xx always carry one.
                let bare_500 = e.raw_response().is_some_and(|r| r.status().as_u16() == 500)
                    && crate::aws::error_code(&e).is_none();
                let mut err = to_cloud(SERVICE, "DescribeInstanceRefreshes", &e);
                if bare_500 {
                    err.code = Some("NotImplemented".into());
                    err.message = "this endpoint does not implement DescribeInstanceRefreshes".into();
                }
                err
            })?;
        Ok(out
            .instance_refreshes()
            .iter()
            .map(|r| InstanceRefresh {
                id: r.instance_refresh_id().unwrap_or_default().to_string(),
                status: r.status().map(|s| s.as_str()).unwrap_or_default().into(),
                status_reason: r.status_reason().map(str::to_string),
                percentage_complete: r.percentage_complete(),
                instances_to_update: r.instances_to_update(),
            })
            .collect())
    }

    async fn cancel_refresh(&self, name: &str) -> CloudResult<()> {
        self.client
            .cancel_instance_refresh()
            .auto_scaling_group_name(name)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "CancelInstanceRefresh", &e))?;
        Ok(())
    }

    async fn rollback_refresh(&self, name: &str) -> CloudResult<()> {
        self.client
            .rollback_instance_refresh()
            .auto_scaling_group_name(name)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "RollbackInstanceRefresh", &e))?;
        Ok(())
    }

    async fn scheduled_actions(&self, name: &str) -> CloudResult<Vec<String>> {
        let out = self
            .client
            .describe_scheduled_actions()
            .auto_scaling_group_name(name)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "DescribeScheduledActions", &e))?;
        Ok(out
            .scheduled_update_group_actions()
            .iter()
            .filter_map(|a| a.scheduled_action_name().map(str::to_string))
            .collect())
    }

    async fn schedule_scale_down(&self, name: &str, action: &str, after: std::time::Duration) -> CloudResult<()> {
        let start = std::time::SystemTime::now() + after;
        self.client
            .put_scheduled_update_group_action()
            .auto_scaling_group_name(name)
            .scheduled_action_name(action)
            .start_time(aws_sdk_autoscaling::primitives::DateTime::from(start))
            .min_size(0)
            .desired_capacity(0)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "PutScheduledUpdateGroupAction", &e))?;
        Ok(())
    }

    async fn unschedule(&self, name: &str, action: &str) -> CloudResult<()> {
        self.client
            .delete_scheduled_action()
            .auto_scaling_group_name(name)
            .scheduled_action_name(action)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "DeleteScheduledAction", &e))?;
        Ok(())
    }
}
