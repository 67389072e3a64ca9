//! Discovery: read-only calls that read the group, its launch template versions and
//! target groups, check the request against them, and build the plan.

use tokio_util::sync::CancellationToken;

use super::plan::{Capacity, Observed, Plan, PlannedInstance, Step, FORMAT};
use super::Request;
use crate::cloud::{Group, LaunchTemplateSpec, Ports, RefreshSpec, TemplateVersion};
use crate::config::Strategy;
use crate::error::{Error, Result};
use crate::roll::calls::{self, Ctx};

/// Why the group is busy, or None when idle.
pub(super) async fn busy(ports: &Ports, group: &str, cancel: &CancellationToken) -> Result<Option<String>> {
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
/// (The driver has already refused a busy group, or waited until it was idle.)
pub async fn discover(ports: &Ports, req: &Request, ctx: &mut Ctx) -> Result<Plan> {
    let (before, target, new) = observe(ports, req, ctx).await?;
    let steps = match req.strategy {
        Strategy::Surge => surge_steps(&before, &target, req)?,
        Strategy::Refresh => refresh_steps(&before, &target, req)?,
        Strategy::BlueGreen => {
            return Err(Error::input(
                format!("Auto Scaling group {}: blue_green rolls two groups, not one", req.group),
                "set asg.groups and asg.listener (or asg.listener_rule) in slipway.yml",
            ))
        }
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

/// Read-only: the group as it is (capacity, launch template version, instances, target
/// groups), the launch template pinned to the version to roll onto, and that version.
pub(super) async fn observe(
    ports: &Ports,
    req: &Request,
    ctx: &mut Ctx,
) -> Result<(Observed, LaunchTemplateSpec, TemplateVersion)> {
    let name = &req.group;
    let group = describe(ports, name, ctx).await?;
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
    Ok((before, target, new))
}

pub(super) async fn describe(ports: &Ports, name: &str, ctx: &Ctx) -> Result<Group> {
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
    let mut expect = cap;
    if let Some((count, bake)) = req.canary {
        if count >= cap.desired {
            return Err(Error::input(
                format!(
                    "asg.canary {count} is not fewer than group {}'s desired capacity {}",
                    before.group, cap.desired
                ),
                format!(
                    "use 1 to {} canary instance(s), or remove asg.canary",
                    (cap.desired - 1).max(1)
                ),
            ));
        }
        // The canary first: max raised once, for the whole surge.
        steps.push(Step::SetCapacity {
            min: None,
            max: raise.then_some(need),
            desired: Some(cap.desired + count),
            expect: cap,
        });
        steps.push(Step::WaitNewHealthy {
            count,
            target_groups: tgs.clone(),
        });
        steps.push(Step::CheckProbes);
        steps.push(Step::CanaryBake {
            count,
            bake: bake.as_secs(),
            target_groups: tgs.clone(),
        });
        expect = Capacity {
            desired: cap.desired + count,
            max: cap.max.max(if raise { need } else { cap.max }),
            ..cap
        };
    }
    steps.push(Step::SetCapacity {
        min: None,
        max: (raise && req.canary.is_none()).then_some(need),
        desired: Some(need),
        expect,
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

/// Whether AWS can roll a refresh of this group back itself. "A rollback is not supported
/// in the following situations: ... The Auto Scaling group uses the launch template's
/// $Latest or $Default version." (autoscaling 2011-01-01 model, RefreshPreferences.AutoRollback;
/// StartInstanceRefresh refuses AutoRollback there with IrreversibleInstanceRefresh.) Such a
/// group is refreshed without it, and slipway's cleanup refreshes it back to the version
/// it ran (pinned by number: `$Latest` would name the new version by then).
pub(super) fn reversible(before: &Observed) -> bool {
    !before.launch_template.version.starts_with('$')
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
                auto_rollback: reversible(before),
                alarms: req.alarms.clone(),
                bake_time: req.bake.filter(|b| !b.is_zero()).map(|b| b.as_secs() as i32),
            },
        },
        Step::WaitRefresh,
        Step::CheckProbes,
    ])
}
