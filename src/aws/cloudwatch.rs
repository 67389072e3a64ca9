//! The CloudWatch alarms port over aws-sdk-cloudwatch: DescribeAlarms for metric,
//! composite and log alarms, at most 100 names a call, every page read.

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::{DateTime, DateTimeFormat};
use aws_sdk_cloudwatch::types::{AlarmType, StateValue};
use aws_sdk_cloudwatch::Client;

use super::to_cloud;
use crate::cloud::alarms::NAMES_PER_CALL;
use crate::cloud::{Alarm, Alarms, CloudResult};

/// The IAM prefix of this service's actions.
const SERVICE: &str = "cloudwatch";

/// CloudWatch alarms through the AWS SDK.
#[derive(Clone)]
pub struct CloudWatchAdapter {
    client: Client,
}

impl CloudWatchAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        CloudWatchAdapter {
            client: Client::new(config),
        }
    }
}

fn alarm(
    name: Option<&str>,
    state: Option<&StateValue>,
    reason: Option<&str>,
    updated: Option<&DateTime>,
    composite: bool,
) -> Alarm {
    Alarm {
        name: name.unwrap_or_default().to_string(),
        state: state.map(|s| s.as_str()).unwrap_or("INSUFFICIENT_DATA").into(),
        reason: reason.unwrap_or_default().to_string(),
        updated: updated.and_then(|t| t.fmt(DateTimeFormat::DateTime).ok()),
        composite,
    }
}

#[async_trait]
impl Alarms for CloudWatchAdapter {
    async fn describe(&self, names: &[String]) -> CloudResult<Vec<Alarm>> {
        let mut found = Vec::new();
        for chunk in names.chunks(NAMES_PER_CALL) {
            let mut token: Option<String> = None;
            loop {
                let out = self
                    .client
                    .describe_alarms()
                    .set_alarm_names(Some(chunk.to_vec()))
                    .alarm_types(AlarmType::MetricAlarm)
                    .alarm_types(AlarmType::CompositeAlarm)
                    // Asked for by name, or DescribeAlarms leaves log alarms out (cloudwatch
                    // 2010-08-01 model, DescribeAlarmsInput.AlarmTypes: "If you omit this
                    // parameter, only metric alarms are returned").
                    .alarm_types(AlarmType::LogAlarm)
                    .max_records(100)
                    .set_next_token(token.take())
                    .send()
                    .await
                    .map_err(|e| to_cloud(SERVICE, "DescribeAlarms", &e))?;
                for a in out.metric_alarms() {
                    found.push(alarm(
                        a.alarm_name(),
                        a.state_value(),
                        a.state_reason(),
                        a.state_updated_timestamp(),
                        false,
                    ));
                }
                for a in out.log_alarms() {
                    found.push(alarm(
                        a.alarm_name(),
                        a.state_value(),
                        a.state_reason(),
                        a.state_updated_timestamp(),
                        false,
                    ));
                }
                for a in out.composite_alarms() {
                    found.push(alarm(
                        a.alarm_name(),
                        a.state_value(),
                        a.state_reason(),
                        a.state_updated_timestamp(),
                        true,
                    ));
                }
                match out.next_token() {
                    Some(next) if !next.is_empty() => token = Some(next.to_string()),
                    _ => break,
                }
            }
        }
        Ok(found)
    }
}
