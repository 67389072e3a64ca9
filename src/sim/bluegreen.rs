//! Two simulated Auto Scaling groups side by side, each with its own target group, behind
//! one listener whose forward action weighs the two target groups: the cloud of an Auto
//! Scaling blue/green roll. Group calls go to the group they name, target group calls to
//! the group behind the target group; the weights are logged over time so tests can
//! check that production traffic only ever went to target groups with healthy targets.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use tokio::time::Instant;

use super::{Call, Settings, Sim, SimAlarms};
use crate::cloud::{
    Activity, AutoScaling, CloudError, CloudResult, ErrorKind, Forward, Group, InstanceRefresh, LaunchTemplateSpec,
    LaunchTemplates, LoadBalancing, RefreshSpec, TargetGroup, TargetHealth, TemplateVersion, Weighted,
};

/// The default listener ARN in the simulated account.
pub const LISTENER: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0000000000000000/0000000000000000";

/// Two groups and the listener. Cloning shares the same state.
#[derive(Clone)]
pub struct SimPair {
    pub groups: [Sim; 2],
    listener: Arc<Mutex<Listener>>,
}

struct Listener {
    arn: String,
    forward: Forward,
    /// (virtual seconds, weights) after every change, starting with the first.
    history: Vec<(f64, Vec<Weighted>)>,
    /// Scheduled scale-downs to zero: (group, action name, when).
    scheduled: Vec<(String, String, Instant)>,
    log: Vec<Call>,
    start: Instant,
}

impl SimPair {
    /// `live` (its settings' fleet on version 1) takes all the traffic; `idle` is a second
    /// group on the same template with no instances. Each gets one target group of its
    /// own, named after the group. `stickiness`: the forward action's, in seconds.
    pub fn new(live: Settings, idle_group: &str, faults: super::Faults, stickiness: Option<i32>) -> SimPair {
        Self::with_listener(LISTENER, live, idle_group, faults, stickiness)
    }

    /// The same, with the listener (or listener rule) ARN given.
    pub fn with_listener(
        arn: &str,
        live: Settings,
        idle_group: &str,
        faults: super::Faults,
        stickiness: Option<i32>,
    ) -> SimPair {
        let live = Settings {
            target_groups: vec![format!("{}-tg", live.group)],
            ..live
        };
        let idle = Settings {
            group: idle_group.to_string(),
            target_groups: vec![format!("{idle_group}-tg")],
            fleet: 0,
            min: 0,
            id_offset: 0x1_0000_0000,
            ..live.clone()
        };
        let forward = Forward {
            target_groups: vec![
                Weighted {
                    arn: Settings::target_group_arn(&live.target_groups[0]),
                    weight: 100,
                },
                Weighted {
                    arn: Settings::target_group_arn(&idle.target_groups[0]),
                    weight: 0,
                },
            ],
            stickiness,
        };
        let start = Instant::now();
        let a = Sim::new(live, faults.clone());
        let b = Sim::new(idle, faults);
        // One account, one set of alarms.
        let b = Sim {
            alarms: a.alarms(),
            ..b
        };
        SimPair {
            groups: [a, b],
            listener: Arc::new(Mutex::new(Listener {
                arn: arn.to_string(),
                history: vec![(0.0, forward.target_groups.clone())],
                scheduled: Vec::new(),
                forward,
                log: Vec::new(),
                start,
            })),
        }
    }

    pub fn alarms(&self) -> SimAlarms {
        self.groups[0].alarms()
    }

    /// The ports of this cloud.
    pub fn ports(&self) -> crate::cloud::Ports {
        let mut ports = self.groups[0].ports();
        ports.asg = Arc::new(self.clone());
        ports.elb = Arc::new(self.clone());
        ports.templates = Arc::new(self.clone());
        ports.alarms = Arc::new(self.alarms());
        ports
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Listener> {
        self.listener.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The forward action now.
    pub fn forward(&self) -> Forward {
        self.lock().forward.clone()
    }

    /// Every weight setting, with the virtual second it took effect.
    pub fn weight_history(&self) -> Vec<(f64, Vec<Weighted>)> {
        self.lock().history.clone()
    }

    /// The mutating calls carried out on both groups and the listener, in time order.
    pub fn mutations(&self) -> Vec<Call> {
        let mut all: Vec<Call> = self.groups.iter().flat_map(|g| g.mutations()).collect();
        all.extend(self.lock().log.iter().filter(|c| c.error.is_none()).cloned());
        all.sort_by(|a, b| a.at.total_cmp(&b.at));
        all
    }

    /// The scheduled actions now pending: (group, action name).
    pub fn scheduled(&self) -> Vec<(String, String)> {
        self.lock()
            .scheduled
            .iter()
            .map(|(g, a, _)| (g.clone(), a.clone()))
            .collect()
    }

    /// Carries out the scheduled scale-downs that are due (at the first call after their
    /// time: nothing runs in the background).
    async fn fire_due(&self) {
        let now = Instant::now();
        let due: Vec<String> = {
            let mut l = self.lock();
            let (due, later): (Vec<_>, Vec<_>) = l.scheduled.drain(..).partition(|(_, _, at)| *at <= now);
            l.scheduled = later;
            due.into_iter().map(|(g, _, _)| g).collect()
        };
        for group in due {
            if let Some(g) = self.by_group(&group) {
                let _ = g.update_size(&group, Some(0), None, Some(0)).await;
            }
        }
    }

    fn log(&self, operation: &'static str, detail: String) {
        let mut l = self.lock();
        let at = (Instant::now() - l.start).as_secs_f64();
        l.log.push(Call {
            at,
            operation,
            detail,
            mutating: true,
            error: None,
        });
    }

    fn by_group(&self, name: &str) -> Option<&Sim> {
        self.groups.iter().find(|g| g.lock().state.settings.group == name)
    }

    fn by_target_group(&self, arn: &str) -> Option<&Sim> {
        self.groups.iter().find(|g| {
            g.lock()
                .state
                .settings
                .target_groups
                .iter()
                .any(|n| Settings::target_group_arn(n) == arn)
        })
    }

    /// What went wrong with the traffic so far: a target group taking traffic with no
    /// healthy target, or fewer healthy instances behind the weighted target groups than
    /// `floor` (the live group's minimum), at any instant.
    pub fn violations(&self, floor: i32) -> Vec<String> {
        let history = self.weight_history();
        // Each group's healthy count over time, sampled at every change.
        let samples: Vec<(String, Vec<super::Sample>)> = self
            .groups
            .iter()
            .map(|g| {
                let arn = Settings::target_group_arn(&g.lock().state.settings.target_groups[0]);
                (arn, g.samples())
            })
            .collect();
        let healthy_at = |arn: &str, at: f64| -> i32 {
            samples
                .iter()
                .find(|(a, _)| a == arn)
                .and_then(|(_, s)| s.iter().rev().find(|s| s.at <= at))
                .map_or(0, |s| s.healthy)
        };
        // Every instant something changed: a weight or a group's health.
        let mut instants: Vec<f64> = history.iter().map(|(at, _)| *at).collect();
        instants.extend(samples.iter().flat_map(|(_, s)| s.iter().map(|s| s.at)));
        instants.sort_by(f64::total_cmp);
        instants.dedup();
        let mut found = Vec::new();
        for at in instants {
            let Some((_, weights)) = history.iter().rev().find(|(t, _)| *t <= at) else {
                continue;
            };
            let mut serving = 0;
            for w in weights.iter().filter(|w| w.weight > 0) {
                let healthy = healthy_at(&w.arn, at);
                if healthy == 0 {
                    found.push(format!(
                        "{at:.0}s: weight {} on {} with no healthy target",
                        w.weight, w.arn
                    ));
                }
                serving += healthy;
            }
            if serving < floor {
                found.push(format!(
                    "{at:.0}s: {serving} healthy instance(s) serving, below the minimum {floor}"
                ));
            }
        }
        found
    }
}

fn no_group(op: &str, name: &str) -> CloudError {
    CloudError::new(
        ErrorKind::Invalid,
        op,
        Some("ValidationError"),
        format!("AutoScalingGroup name not found - {name}"),
    )
}

fn no_target_group(op: &str, arn: &str) -> CloudError {
    CloudError::new(
        ErrorKind::NotFound,
        op,
        Some("TargetGroupNotFound"),
        format!("One or more target groups not found: {arn}"),
    )
}

#[async_trait]
impl AutoScaling for SimPair {
    async fn describe_group(&self, name: &str) -> CloudResult<Option<Group>> {
        self.fire_due().await;
        match self.by_group(name) {
            Some(g) => g.describe_group(name).await,
            None => Ok(None),
        }
    }
    async fn activities_in_progress(&self, name: &str) -> CloudResult<Vec<Activity>> {
        let g = self
            .by_group(name)
            .ok_or_else(|| no_group("DescribeScalingActivities", name))?;
        g.activities_in_progress(name).await
    }
    async fn update_size(
        &self,
        name: &str,
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
    ) -> CloudResult<()> {
        self.fire_due().await;
        let g = self
            .by_group(name)
            .ok_or_else(|| no_group("UpdateAutoScalingGroup", name))?;
        g.update_size(name, min, max, desired).await
    }
    async fn set_launch_template(&self, name: &str, template: &LaunchTemplateSpec) -> CloudResult<()> {
        let g = self
            .by_group(name)
            .ok_or_else(|| no_group("UpdateAutoScalingGroup", name))?;
        g.set_launch_template(name, template).await
    }
    async fn terminate_instance(&self, instance_id: &str, decrement: bool) -> CloudResult<()> {
        let owner = self
            .groups
            .iter()
            .find(|g| g.lock().state.instances.iter().any(|i| i.id == instance_id));
        owner
            .unwrap_or(&self.groups[0])
            .terminate_instance(instance_id, decrement)
            .await
    }
    async fn start_refresh(&self, name: &str, spec: &RefreshSpec) -> CloudResult<String> {
        let g = self
            .by_group(name)
            .ok_or_else(|| no_group("StartInstanceRefresh", name))?;
        g.start_refresh(name, spec).await
    }
    async fn describe_refreshes(&self, name: &str, id: Option<&str>) -> CloudResult<Vec<InstanceRefresh>> {
        let g = self
            .by_group(name)
            .ok_or_else(|| no_group("DescribeInstanceRefreshes", name))?;
        g.describe_refreshes(name, id).await
    }
    async fn cancel_refresh(&self, name: &str) -> CloudResult<()> {
        let g = self
            .by_group(name)
            .ok_or_else(|| no_group("CancelInstanceRefresh", name))?;
        g.cancel_refresh(name).await
    }
    async fn rollback_refresh(&self, name: &str) -> CloudResult<()> {
        let g = self
            .by_group(name)
            .ok_or_else(|| no_group("RollbackInstanceRefresh", name))?;
        g.rollback_refresh(name).await
    }
    async fn scheduled_actions(&self, name: &str) -> CloudResult<Vec<String>> {
        self.fire_due().await;
        self.by_group(name)
            .ok_or_else(|| no_group("DescribeScheduledActions", name))?;
        Ok(self
            .scheduled()
            .into_iter()
            .filter(|(g, _)| g == name)
            .map(|(_, a)| a)
            .collect())
    }
    async fn schedule_scale_down(&self, name: &str, action: &str, after: std::time::Duration) -> CloudResult<()> {
        self.by_group(name)
            .ok_or_else(|| no_group("PutScheduledUpdateGroupAction", name))?;
        let at = Instant::now() + after;
        {
            let mut l = self.lock();
            l.scheduled.retain(|(g, a, _)| !(g == name && a == action));
            l.scheduled.push((name.to_string(), action.to_string(), at));
        }
        self.log(
            "PutScheduledUpdateGroupAction",
            format!("{name} {action} min=0 desired=0 in {}s", after.as_secs()),
        );
        Ok(())
    }
    async fn unschedule(&self, name: &str, action: &str) -> CloudResult<()> {
        self.lock().scheduled.retain(|(g, a, _)| !(g == name && a == action));
        self.log("DeleteScheduledAction", format!("{name} {action}"));
        Ok(())
    }
}

#[async_trait]
impl LoadBalancing for SimPair {
    async fn describe_target_group(&self, arn: &str) -> CloudResult<Option<TargetGroup>> {
        match self.by_target_group(arn) {
            Some(g) => g.describe_target_group(arn).await,
            None => Ok(None),
        }
    }
    async fn target_health(&self, arn: &str) -> CloudResult<Vec<TargetHealth>> {
        let g = self
            .by_target_group(arn)
            .ok_or_else(|| no_target_group("DescribeTargetHealth", arn))?;
        g.target_health(arn).await
    }
    async fn deregister(&self, arn: &str, targets: &[(String, Option<i32>)]) -> CloudResult<()> {
        let g = self
            .by_target_group(arn)
            .ok_or_else(|| no_target_group("DeregisterTargets", arn))?;
        g.deregister(arn, targets).await
    }
    async fn forward(&self, arn: &str) -> CloudResult<Option<Forward>> {
        let l = self.lock();
        Ok((arn == l.arn).then(|| l.forward.clone()))
    }
    async fn set_weights(&self, arn: &str, weights: &[Weighted]) -> CloudResult<()> {
        let op = if arn.contains(":listener-rule/") {
            "ModifyRule"
        } else {
            "ModifyListener"
        };
        let now = Instant::now();
        let known = self.lock().arn == arn;
        let result = if !known {
            Err(CloudError::new(
                ErrorKind::NotFound,
                op,
                Some("ListenerNotFound"),
                format!("One or more listeners not found: {arn}"),
            ))
        } else if let Some(w) = weights.iter().find(|w| self.by_target_group(&w.arn).is_none()) {
            Err(no_target_group(op, &w.arn))
        } else if weights.iter().any(|w| !(0..=999).contains(&w.weight)) || weights.iter().all(|w| w.weight == 0) {
            Err(CloudError::new(
                ErrorKind::Invalid,
                op,
                Some("ValidationError"),
                "weights must be 0 to 999, and not all 0",
            ))
        } else {
            Ok(())
        };
        // Advance both groups to now, so their health samples are current.
        for g in &self.groups {
            g.snapshot();
        }
        let mut l = self.lock();
        let at = (now - l.start).as_secs_f64();
        if result.is_ok() {
            l.forward.target_groups = weights.to_vec();
            l.history.push((at, weights.to_vec()));
        }
        let detail = weights
            .iter()
            .map(|w| format!("{}={}", w.arn.split('/').nth(1).unwrap_or(&w.arn), w.weight))
            .collect::<Vec<_>>()
            .join(" ");
        l.log.push(Call::of(at, op, detail, true, &result));
        result
    }
}

#[async_trait]
impl LaunchTemplates for SimPair {
    async fn template_version(&self, template: &str, version: &str) -> CloudResult<Option<TemplateVersion>> {
        self.groups[0].template_version(template, version).await
    }
}
