//! The plan: read-only discovery of the group, its launch template and target groups,
//! then the ordered mutations a roll intends, each with the state it expects. `--dry-run`
//! prints it; it serialises to JSON so a later job can apply exactly it.

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::calls::{self, Ctx};
use super::{Ports, Request};
use crate::cloud::{Group, LaunchTemplateSpec, RefreshSpec, TargetGroup};
use crate::config::Strategy;
use crate::error::{Error, Result};
use crate::wait::{self, Check, Pacing};

/// The plan format version.
pub const FORMAT: u32 = 1;

/// Min, max and desired capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capacity {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

/// One instance as discovery found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedInstance {
    pub id: String,
    pub version: Option<String>,
}

/// What discovery saw; the plan's mutations assume it, and a rollback restores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observed {
    pub group: String,
    pub capacity: Capacity,
    /// The launch template as the group had it (`$Latest` and `$Default` included).
    pub launch_template: LaunchTemplateSpec,
    /// The version number it stood for.
    pub version: i64,
    pub image_id: Option<String>,
    pub instances: Vec<PlannedInstance>,
    pub target_groups: Vec<TargetGroup>,
}

impl Observed {
    /// The launch template pinned to the version discovery resolved.
    pub fn pinned(&self) -> LaunchTemplateSpec {
        LaunchTemplateSpec {
            version: self.version.to_string(),
            ..self.launch_template.clone()
        }
    }

    pub fn instance_ids(&self) -> Vec<String> {
        self.instances.iter().map(|i| i.id.clone()).collect()
    }
}

/// One mutation (or wait) of a roll, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Step {
    /// Point the group at the new launch template version.
    SetLaunchTemplate { template: LaunchTemplateSpec },
    /// UpdateAutoScalingGroup with the sizes given; `expect` is the capacity before.
    SetCapacity {
        min: Option<i32>,
        max: Option<i32>,
        desired: Option<i32>,
        expect: Capacity,
    },
    /// Wait until `count` new instances are InService and healthy in every target group.
    WaitNewHealthy { count: i32, target_groups: Vec<String> },
    /// Run the extra health probes (health URLs showing the new version), when given.
    CheckProbes,
    /// Deregister the old instances from every target group.
    Deregister {
        target_groups: Vec<String>,
        instances: Vec<String>,
    },
    /// Wait until they have drained (the longest deregistration delay, in seconds).
    WaitDrained {
        target_groups: Vec<String>,
        instances: Vec<String>,
        delay: i32,
    },
    /// Terminate the old instances, decrementing desired capacity.
    Terminate { instances: Vec<String>, decrement: bool },
    /// Wait until the terminated instances have left the group.
    WaitGone { instances: Vec<String> },
    /// StartInstanceRefresh.
    StartRefresh { spec: RefreshSpec },
    /// Follow the refresh until it succeeds or fails.
    WaitRefresh,
}

impl Step {
    pub fn mutates(&self) -> bool {
        matches!(
            self,
            Step::SetLaunchTemplate { .. }
                | Step::SetCapacity { .. }
                | Step::Deregister { .. }
                | Step::Terminate { .. }
                | Step::StartRefresh { .. }
        )
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        let list = |ids: &[String]| match ids.len() {
            0..=3 => ids.join(", "),
            n => format!("{}, ... ({n} instances)", ids[..2].join(", ")),
        };
        match self {
            Step::SetLaunchTemplate { template } => format!(
                "set the group's launch template {} to version {}",
                template.name.as_deref().or(template.id.as_deref()).unwrap_or("-"),
                template.version
            ),
            Step::SetCapacity { min, max, desired, expect } => {
                let mut parts = Vec::new();
                if let Some(v) = min {
                    parts.push(format!("min {} -> {v}", expect.min));
                }
                if let Some(v) = max {
                    parts.push(format!("max {} -> {v}", expect.max));
                }
                if let Some(v) = desired {
                    parts.push(format!("desired {} -> {v}", expect.desired));
                }
                format!("update capacity: {}", parts.join(", "))
            }
            Step::WaitNewHealthy { count, target_groups } => format!(
                "wait until {count} new instances are InService and healthy in {} target group(s)",
                target_groups.len()
            ),
            Step::CheckProbes => "check the extra health probes, if any".into(),
            Step::Deregister { target_groups, instances } => format!(
                "deregister {} from {} target group(s)",
                list(instances),
                target_groups.len()
            ),
            Step::WaitDrained { delay, .. } => format!("wait for draining (deregistration delay {delay}s)"),
            Step::Terminate { instances, decrement } => format!(
                "terminate {}{}",
                list(instances),
                if *decrement { ", decrementing desired capacity" } else { "" }
            ),
            Step::WaitGone { instances } => format!("wait until {} instance(s) have left the group", instances.len()),
            Step::StartRefresh { spec } => format!(
                "start an instance refresh to version {} (min healthy {}%, max healthy {}%, warmup {}, skip matching, auto rollback {})",
                spec.launch_template.version,
                spec.min_healthy_percentage,
                spec.max_healthy_percentage,
                spec.instance_warmup.map(|w| format!("{w}s")).unwrap_or_else(|| "default".into()),
                if spec.auto_rollback { "on" } else { "off" }
            ),
            Step::WaitRefresh => "follow the refresh until it succeeds (rolled back on failure)".into(),
        }
    }
}

/// A roll's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub format: u32,
    pub kind: String,
    pub strategy: Strategy,
    pub before: Observed,
    /// The launch template pinned to the new version.
    pub target: LaunchTemplateSpec,
    pub new_version: i64,
    pub new_image_id: Option<String>,
    pub steps: Vec<Step>,
}

impl Plan {
    /// The plan as readable lines.
    pub fn text(&self) -> String {
        let b = &self.before;
        let mut out = format!(
            "plan: {} {} from version {} to {} ({} instance(s), min {}, max {}, desired {})\n",
            strategy_name(self.strategy),
            b.group,
            b.version,
            self.new_version,
            b.instances.len(),
            b.capacity.min,
            b.capacity.max,
            b.capacity.desired
        );
        if self.steps.is_empty() {
            out.push_str("  nothing to do: every instance already runs the new version\n");
        }
        for (n, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}\n", n + 1, step.describe()));
        }
        out
    }
}

pub fn strategy_name(s: Strategy) -> &'static str {
    match s {
        Strategy::Surge => "surge",
        Strategy::Refresh => "refresh",
    }
}

/// Why the group is busy, or None when idle.
async fn busy(ports: &Ports<'_>, group: &str, cancel: &CancellationToken) -> Result<Option<String>> {
    let refreshes = match calls::retry_raw("DescribeInstanceRefreshes", cancel, || {
        ports.asg.describe_refreshes(group, None)
    })
    .await
    {
        Ok(r) => r,
        // Endpoints standing in for AWS (moto) lack instance refreshes: there are none.
        Err(calls::Raw::Cloud(e)) if e.code.as_deref() == Some("NotImplemented") => {
            tracing::warn!("{e}: assuming no instance refresh is in progress");
            Vec::new()
        }
        Err(calls::Raw::Cloud(e)) => return Err(e.into()),
        Err(calls::Raw::Wait(e)) => return Err(e),
    };
    if let Some(r) = refreshes.iter().find(|r| r.in_progress()) {
        return Ok(Some(format!(
            "instance refresh {} is {} ({}% complete)",
            r.id,
            r.status,
            r.percentage_complete.unwrap_or(0)
        )));
    }
    let activities = calls::retry("DescribeScalingActivities", cancel, || {
        ports.asg.activities_in_progress(group)
    })
    .await?;
    Ok(activities
        .first()
        .map(|a| format!("scaling activity {} is {}: {}", a.id, a.status_code, a.description)))
}

/// Reads the group, checks the request against it and builds the plan. Read-only.
pub async fn discover(ports: &Ports<'_>, req: &Request, ctx: &mut Ctx) -> Result<Plan> {
    let name = &req.group;
    let group = describe(ports, name, ctx).await?;
    if let Some(why) = busy(ports, name, &ctx.cancel).await? {
        if !req.wait_for_idle {
            return Err(Error::input(
                format!("Auto Scaling group {name} is busy: {why}"),
                "wait for it to finish, or pass --wait-for-idle to wait for it before rolling",
            ));
        }
        ctx.say(&format!("{name} is busy ({why}); waiting until it is idle"));
        let pacing = Pacing::new(ctx.poll, ctx.timeout);
        let cancel = ctx.cancel.clone();
        wait::until(&format!("{name} idle"), &pacing, &cancel, &mut ctx.progress, || async {
            Ok(match busy(ports, name, &cancel).await? {
                Some(why) => Check::Pending(why),
                None => Check::Done(()),
            })
        })
        .await?;
    }
    let group = if req.wait_for_idle {
        describe(ports, name, ctx).await?
    } else {
        group
    };
    let lt = group.launch_template.clone().ok_or_else(|| {
        Error::input(
            format!(
                "Auto Scaling group {name} has no launch template (a launch configuration or a mixed instances policy)"
            ),
            "give the group a launch template; slipway rolls launch template versions",
        )
    })?;
    let template = match &req.launch_template {
        Some(t) => {
            if lt.name.as_deref() != Some(t.as_str()) && lt.id.as_deref() != Some(t.as_str()) {
                return Err(Error::input(
                    format!(
                        "Auto Scaling group {name} uses launch template {}, not {t}",
                        lt.name.as_deref().or(lt.id.as_deref()).unwrap_or("-")
                    ),
                    "fix asg.launch_template in slipway.yml or --launch-template",
                ));
            }
            t.clone()
        }
        None => lt.id.clone().or(lt.name.clone()).unwrap_or_default(),
    };
    let current = calls::retry("DescribeLaunchTemplateVersions", &ctx.cancel, || {
        ports.templates.template_version(&template, &lt.version)
    })
    .await?
    .ok_or_else(|| {
        Error::input(
            format!(
                "the group's launch template {template} version {} does not exist",
                lt.version
            ),
            "point the group at an existing launch template version",
        )
    })?;
    let new = calls::retry("DescribeLaunchTemplateVersions", &ctx.cancel, || {
        ports.templates.template_version(&template, &req.version)
    })
    .await?
    .ok_or_else(|| {
        Error::input(
            format!("launch template {template} has no version {}", req.version),
            "pass --launch-template-version with an existing version (slipway-bake prints the one it created)",
        )
    })?;
    let mut target_groups = Vec::new();
    for arn in &group.target_group_arns {
        let tg = calls::retry("DescribeTargetGroups", &ctx.cancel, || {
            ports.elb.describe_target_group(arn)
        })
        .await?
        .ok_or_else(|| Error::failed(format!("target group {arn} of group {name} does not exist")))?;
        target_groups.push(tg);
    }
    let before = Observed {
        group: name.clone(),
        capacity: Capacity {
            min: group.min,
            max: group.max,
            desired: group.desired,
        },
        launch_template: lt.clone(),
        version: current.number,
        image_id: current.image_id,
        instances: group
            .instances
            .iter()
            .map(|i| PlannedInstance {
                id: i.id.clone(),
                version: i.launch_template_version.clone(),
            })
            .collect(),
        target_groups,
    };
    let target = LaunchTemplateSpec {
        version: new.number.to_string(),
        ..lt
    };
    let steps = match req.strategy {
        Strategy::Surge => surge_steps(&before, &target, req)?,
        Strategy::Refresh => refresh_steps(&before, &target, req)?,
    };
    Ok(Plan {
        format: FORMAT,
        kind: "asg".into(),
        strategy: req.strategy,
        before,
        target,
        new_version: new.number,
        new_image_id: new.image_id,
        steps,
    })
}

async fn describe(ports: &Ports<'_>, name: &str, ctx: &Ctx) -> Result<Group> {
    calls::retry("DescribeAutoScalingGroups", &ctx.cancel, || {
        ports.asg.describe_group(name)
    })
    .await?
    .ok_or_else(|| {
        Error::input(
            format!("no Auto Scaling group named {name:?} in this account and region"),
            "check asg.name in slipway.yml (or --group) and the environment's region",
        )
    })
}

fn up_to_date(before: &Observed, target: &LaunchTemplateSpec) -> bool {
    before.version.to_string() == target.version
        && before
            .instances
            .iter()
            .all(|i| i.version.as_deref() == Some(target.version.as_str()))
}

fn surge_steps(before: &Observed, target: &LaunchTemplateSpec, req: &Request) -> Result<Vec<Step>> {
    if up_to_date(before, target) {
        return Ok(Vec::new());
    }
    let cap = before.capacity;
    let need = cap.desired * 2;
    let raise = need > cap.max;
    if raise && !req.allow_raise_max {
        return Err(Error::input(
            format!(
                "surge needs room for twice the desired capacity ({need}) but group {} has max size {} and raising it is not allowed",
                before.group, cap.max
            ),
            format!("set asg.allow_raise_max: true, raise the group's max size to {need}, or use --strategy refresh"),
        ));
    }
    let old = before.instance_ids();
    let tgs: Vec<String> = before.target_groups.iter().map(|t| t.arn.clone()).collect();
    let mut steps = Vec::new();
    if before.launch_template.version != target.version {
        steps.push(Step::SetLaunchTemplate {
            template: target.clone(),
        });
    }
    if cap.desired == 0 {
        return Ok(steps);
    }
    steps.push(Step::SetCapacity {
        min: None,
        max: raise.then_some(need),
        desired: Some(need),
        expect: cap,
    });
    steps.push(Step::WaitNewHealthy {
        count: cap.desired,
        target_groups: tgs.clone(),
    });
    steps.push(Step::CheckProbes);
    if !tgs.is_empty() {
        steps.push(Step::Deregister {
            target_groups: tgs.clone(),
            instances: old.clone(),
        });
        steps.push(Step::WaitDrained {
            target_groups: tgs,
            instances: old.clone(),
            delay: before
                .target_groups
                .iter()
                .map(|t| t.deregistration_delay)
                .max()
                .unwrap_or(0),
        });
    }
    steps.push(Step::Terminate {
        instances: old.clone(),
        decrement: true,
    });
    if raise {
        steps.push(Step::SetCapacity {
            min: None,
            max: Some(cap.max),
            desired: None,
            expect: Capacity {
                desired: cap.desired,
                max: need,
                ..cap
            },
        });
    }
    steps.push(Step::WaitGone { instances: old });
    Ok(steps)
}

fn refresh_steps(before: &Observed, target: &LaunchTemplateSpec, req: &Request) -> Result<Vec<Step>> {
    if up_to_date(before, target) {
        return Ok(Vec::new());
    }
    let (min, max) = (req.min_healthy_percentage, req.max_healthy_percentage);
    if !(0..=100).contains(&min) || !(100..=200).contains(&max) || (min == 100 && max == 100) {
        return Err(Error::input(
            format!("min_healthy_percentage {min} and max_healthy_percentage {max} cannot refresh the group"),
            "use min 0-100 and max 100-200, not both 100 (e.g. min 100, max 200)",
        ));
    }
    Ok(vec![
        Step::StartRefresh {
            spec: RefreshSpec {
                launch_template: target.clone(),
                min_healthy_percentage: min,
                max_healthy_percentage: max,
                instance_warmup: req.instance_warmup.map(|w| w.as_secs() as i32),
                skip_matching: true,
                auto_rollback: true,
            },
        },
        Step::WaitRefresh,
        Step::CheckProbes,
    ])
}
