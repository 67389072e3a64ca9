//! The Auto Scaling group probe: every instance InService and Healthy, the desired count
//! reached, and (optionally) every instance on a given launch template version.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::engine::Check;
use super::gate::Probe;
use crate::cloud::{AutoScaling, Group};
use crate::error::{Error, Result};

pub struct AsgProbe {
    asg: Arc<dyn AutoScaling>,
    name: String,
    version: Option<String>,
    interval: Duration,
    last: Option<Group>,
}

impl AsgProbe {
    pub fn new(asg: Arc<dyn AutoScaling>, name: &str, version: Option<String>, interval: Duration) -> Self {
        AsgProbe {
            asg,
            name: name.to_string(),
            version,
            interval,
            last: None,
        }
    }
}

/// Why a group is not yet healthy, or None when it is.
pub fn group_not_ready(g: &Group, version: Option<&str>) -> Option<String> {
    let ready = g.instances.iter().filter(|i| i.in_service_and_healthy()).count();
    let mut problems: Vec<String> = g
        .instances
        .iter()
        .filter(|i| !i.in_service_and_healthy())
        .take(5)
        .map(|i| format!("{} {}/{}", i.id, i.lifecycle_state, i.health_status))
        .collect();
    if let Some(v) = version {
        let stale: Vec<String> = g
            .instances
            .iter()
            .filter(|i| i.launch_template_version.as_deref() != Some(v))
            .take(5)
            .map(|i| {
                format!(
                    "{} on version {}",
                    i.id,
                    i.launch_template_version.as_deref().unwrap_or("?")
                )
            })
            .collect();
        problems.extend(stale);
    }
    if problems.is_empty() && ready as i32 == g.desired && g.instances.len() as i32 == g.desired {
        return None;
    }
    let mut why = format!("{ready}/{} instances InService and Healthy", g.desired);
    if g.instances.len() as i32 != g.desired {
        why.push_str(&format!(" ({} instances for desired {})", g.instances.len(), g.desired));
    }
    if !problems.is_empty() {
        why.push_str(&format!("; {}", problems.join("; ")));
    }
    Some(why)
}

#[async_trait]
impl Probe for AsgProbe {
    fn kind(&self) -> &'static str {
        "asg"
    }

    fn name(&self) -> String {
        self.name.clone()
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn poll(&mut self) -> Result<Check<String>> {
        let group = match self.asg.describe_group(&self.name).await {
            Ok(Some(g)) => g,
            Ok(None) => {
                return Err(Error::input(
                    format!("Auto Scaling group {:?} does not exist", self.name),
                    "check the name and region: `aws autoscaling describe-auto-scaling-groups` lists them",
                ))
            }
            Err(e) => return Ok(Check::from_error(&e)),
        };
        let result = match group_not_ready(&group, self.version.as_deref()) {
            None => Check::Done(format!(
                "{} instances InService and Healthy{}",
                group.desired,
                self.version
                    .as_ref()
                    .map(|v| format!(" on version {v}"))
                    .unwrap_or_default()
            )),
            Some(why) => Check::Pending(why),
        };
        self.last = Some(group);
        Ok(result)
    }

    async fn diagnose(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        if let Ok(activities) = self.asg.activities_in_progress(&self.name).await {
            for a in activities.iter().take(5) {
                out.push(format!(
                    "activity in progress: {} ({})",
                    a.description,
                    a.status_message.as_deref().unwrap_or(&a.status_code)
                ));
            }
        }
        out
    }
}
