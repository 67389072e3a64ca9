//! The target group probe: every registered target healthy and at least a minimum count,
//! each unhealthy target's reason and description in the report, and a fast failure when
//! a target stays unhealthy past a grace period.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;

use super::engine::{human, Check};
use super::gate::Probe;
use crate::cloud::{ErrorKind, LoadBalancing, TargetHealth};
use crate::error::{Error, Result};

pub struct TargetGroupProbe {
    elb: Arc<dyn LoadBalancing>,
    arn: String,
    min_healthy: usize,
    grace: Duration,
    interval: Duration,
    checked: bool,
    unhealthy_since: HashMap<String, Instant>,
    last: Vec<TargetHealth>,
}

impl TargetGroupProbe {
    pub fn new(
        elb: Arc<dyn LoadBalancing>,
        arn: &str,
        min_healthy: usize,
        grace: Duration,
        interval: Duration,
    ) -> Self {
        TargetGroupProbe {
            elb,
            arn: arn.to_string(),
            min_healthy,
            grace,
            interval,
            checked: false,
            unhealthy_since: HashMap::new(),
            last: Vec::new(),
        }
    }

    fn missing(&self) -> Error {
        Error::input(
            format!("target group {} does not exist", self.arn),
            "check the ARN (region and account too): `aws elbv2 describe-target-groups` lists them",
        )
    }
}

/// `targetgroup/NAME/ID` -> NAME.
pub fn target_group_name(arn: &str) -> &str {
    arn.split(":targetgroup/")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(arn)
}

fn describe(t: &TargetHealth) -> String {
    let port = t.port.map(|p| format!(":{p}")).unwrap_or_default();
    let mut out = format!("{}{port} {}", t.id, t.state);
    match (&t.reason, &t.description) {
        (Some(r), Some(d)) => out.push_str(&format!(" ({r}: {d})")),
        (Some(r), None) => out.push_str(&format!(" ({r})")),
        (None, Some(d)) => out.push_str(&format!(" ({d})")),
        (None, None) => {}
    }
    out
}

#[async_trait]
impl Probe for TargetGroupProbe {
    fn kind(&self) -> &'static str {
        "target-group"
    }

    fn name(&self) -> String {
        target_group_name(&self.arn).to_string()
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn poll(&mut self) -> Result<Check<String>> {
        if !self.checked {
            match self.elb.describe_target_group(&self.arn).await {
                Ok(Some(_)) => self.checked = true,
                Ok(None) => return Err(self.missing()),
                Err(e) => return Ok(Check::from_error(&e)),
            }
        }
        let targets = match self.elb.target_health(&self.arn).await {
            Ok(t) => t,
            Err(e) if e.kind == ErrorKind::NotFound => return Err(self.missing()),
            Err(e) => return Ok(Check::from_error(&e)),
        };
        let now = Instant::now();
        let counted: Vec<&TargetHealth> = targets.iter().filter(|t| t.state != "draining").collect();
        let healthy = counted.iter().filter(|t| t.state == "healthy").count();
        let others: Vec<&&TargetHealth> = counted.iter().filter(|t| t.state != "healthy").collect();
        self.unhealthy_since
            .retain(|id, _| others.iter().any(|t| &t.id == id && t.state == "unhealthy"));
        let mut failed = Vec::new();
        for t in &others {
            if t.state == "unhealthy" {
                let since = *self.unhealthy_since.entry(t.id.clone()).or_insert(now);
                if now.duration_since(since) >= self.grace {
                    failed.push(format!("{} for {}", describe(t), human(now.duration_since(since))));
                }
            }
        }
        let result = if !failed.is_empty() {
            Check::Failed(format!(
                "{} unhealthy past the {} grace period: {}",
                if failed.len() == 1 {
                    "a target stayed"
                } else {
                    "targets stayed"
                },
                human(self.grace),
                failed.join("; ")
            ))
        } else if others.is_empty() && healthy >= self.min_healthy {
            Check::Done(format!("{healthy}/{} targets healthy", counted.len()))
        } else {
            let mut why = format!("{healthy}/{} targets healthy", counted.len());
            if healthy < self.min_healthy {
                why.push_str(&format!(" (need at least {})", self.min_healthy));
            }
            let listed: Vec<String> = others.iter().take(5).map(|t| describe(t)).collect();
            if !listed.is_empty() {
                why.push_str(&format!("; {}", listed.join("; ")));
            }
            if others.len() > 5 {
                why.push_str(&format!("; and {} more", others.len() - 5));
            }
            Check::Pending(why)
        };
        self.last = targets;
        Ok(result)
    }

    async fn diagnose(&mut self) -> Vec<String> {
        self.last
            .iter()
            .filter(|t| t.state != "healthy")
            .map(describe)
            .collect()
    }
}
