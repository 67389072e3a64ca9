//! The ELBv2 port over aws-sdk-elasticloadbalancingv2.

use async_trait::async_trait;
use aws_sdk_elasticloadbalancingv2::types::TargetDescription;
use aws_sdk_elasticloadbalancingv2::Client;

use super::{absent_as_none, to_cloud};
use crate::cloud::{CloudError, CloudResult, ErrorKind, Forward, LoadBalancing, TargetGroup, TargetHealth, Weighted};

/// ELBv2 through the AWS SDK.
/// The IAM prefix of this service's actions.
const SERVICE: &str = "elasticloadbalancing";

#[derive(Clone)]
pub struct ElbAdapter {
    client: Client,
}

impl ElbAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        ElbAdapter {
            client: Client::new(config),
        }
    }
}

fn not_found(e: CloudError) -> CloudError {
    if e.code.as_deref() == Some("TargetGroupNotFound") {
        CloudError {
            kind: ErrorKind::NotFound,
            ..e
        }
    } else {
        e
    }
}

#[async_trait]
impl LoadBalancing for ElbAdapter {
    async fn describe_target_group(&self, arn: &str) -> CloudResult<Option<TargetGroup>> {
        let op = "DescribeTargetGroups";
        let Some(out) = absent_as_none(
            self.client
                .describe_target_groups()
                .target_group_arns(arn)
                .send()
                .await
                .map_err(|e| not_found(to_cloud(SERVICE, op, &e))),
        )?
        else {
            return Ok(None);
        };
        let Some(tg) = out.target_groups().first() else {
            return Ok(None);
        };
        let attrs = self
            .client
            .describe_target_group_attributes()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "DescribeTargetGroupAttributes", &e))?;
        let delay = attrs
            .attributes()
            .iter()
            .find(|a| a.key() == Some("deregistration_delay.timeout_seconds"))
            .and_then(|a| a.value())
            .and_then(|v| v.parse().ok())
            .unwrap_or(300);
        Ok(Some(TargetGroup {
            arn: tg.target_group_arn().unwrap_or(arn).to_string(),
            name: tg.target_group_name().unwrap_or_default().to_string(),
            deregistration_delay: delay,
            healthy_threshold: tg.healthy_threshold_count().unwrap_or(5),
            health_check_interval: tg.health_check_interval_seconds().unwrap_or(30),
        }))
    }

    async fn target_health(&self, arn: &str) -> CloudResult<Vec<TargetHealth>> {
        let out = self
            .client
            .describe_target_health()
            .target_group_arn(arn)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "DescribeTargetHealth", &e)))?;
        Ok(out
            .target_health_descriptions()
            .iter()
            .map(|d| {
                let health = d.target_health();
                TargetHealth {
                    id: d.target().and_then(|t| t.id()).unwrap_or_default().to_string(),
                    port: d.target().and_then(|t| t.port()),
                    state: health
                        .and_then(|h| h.state())
                        .map(|s| s.as_str())
                        .unwrap_or("unknown")
                        .into(),
                    reason: health.and_then(|h| h.reason()).map(|r| r.as_str().to_string()),
                    description: health.and_then(|h| h.description()).map(str::to_string),
                }
            })
            .collect())
    }

    async fn deregister(&self, arn: &str, targets: &[(String, Option<i32>)]) -> CloudResult<()> {
        let op = "DeregisterTargets";
        let mut descriptions = Vec::new();
        for (id, port) in targets {
            let d = TargetDescription::builder().id(id).set_port(*port).build();
            descriptions.push(d);
        }
        let err = match self
            .client
            .deregister_targets()
            .target_group_arn(arn)
            .set_targets(Some(descriptions))
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e) => not_found(to_cloud(SERVICE, op, &e)),
        };
        // A retry after a lost reply finds the targets already gone: InvalidTarget. Done,
        // if none of them is registered (or anything but draining) any more.
        if err.code.as_deref() == Some("InvalidTarget") {
            let health = self.target_health(arn).await?;
            let still = health
                .iter()
                .any(|h| !h.state.draining() && targets.iter().any(|(id, _)| id == &h.id));
            if !still {
                return Ok(());
            }
        }
        Err(err)
    }

    async fn forward(&self, arn: &str) -> CloudResult<Option<Forward>> {
        super::listener::forward(&self.client, arn).await
    }

    async fn set_weights(&self, arn: &str, weights: &[Weighted]) -> CloudResult<()> {
        super::listener::set_weights(&self.client, arn, weights).await
    }
}
