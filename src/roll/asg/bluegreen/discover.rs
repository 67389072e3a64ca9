//! Blue/green discovery (read-only): the listener's forward action, both groups, which
//! one is live (the one whose target group takes 100% of the traffic), and the steps.

use super::plan::{BgPlan, BgStep, FORMAT, KEEP_OLD_ACTION};
use super::BgRequest;
use crate::cloud::{LaunchTemplateSpec, Ports, TemplateVersion};
use crate::config::Strategy;
use crate::error::{Error, Result};
use crate::roll::asg::discover::observe;
use crate::roll::asg::{Capacity, Observed, Plan as GroupPlan, Request, Step};
use crate::roll::calls::{self, Ctx};

fn listener_help(req: &BgRequest) -> String {
    format!(
        "point {} at a listener or rule whose forward action holds both groups' target groups ({} and {}), with weights",
        if req.listener.contains(":listener-rule/") {
            "asg.listener_rule"
        } else {
            "asg.listener"
        },
        req.groups[0],
        req.groups[1]
    )
}

/// One group as discovery found it, with the target group it serves through.
struct Side {
    before: Observed,
    target: LaunchTemplateSpec,
    new: TemplateVersion,
    target_group: String,
}

impl Side {
    fn plan(&self) -> GroupPlan {
        GroupPlan {
            format: crate::roll::asg::plan::FORMAT,
            kind: "asg".into(),
            strategy: Strategy::BlueGreen,
            before: self.before.clone(),
            target: self.target.clone(),
            new_version: self.new.number,
            new_image_id: self.new.image_id.clone(),
            steps: Vec::new(),
        }
    }
}

pub async fn discover(ports: &Ports, req: &BgRequest, ctx: &mut Ctx) -> Result<BgPlan> {
    let op = if req.listener.contains(":listener-rule/") {
        "DescribeRules"
    } else {
        "DescribeListeners"
    };
    let forward = calls::retry(op, &ctx.cancel, || ports.elb.forward(&req.listener))
        .await?
        .ok_or_else(|| Error::input(format!("listener {} does not exist", req.listener), listener_help(req)))?;
    if forward.target_groups.len() != 2 {
        let arns: Vec<&str> = forward.target_groups.iter().map(|t| t.arn.as_str()).collect();
        return Err(Error::input(
            format!(
                "the forward action of {} holds {} target group(s) ({}), not the two groups' target groups",
                req.listener,
                arns.len(),
                if arns.is_empty() {
                    "none".to_string()
                } else {
                    arns.join(", ")
                }
            ),
            listener_help(req),
        ));
    }
    let mut observed = Vec::new();
    for name in &req.groups {
        let mut one = Request::new(name, Strategy::BlueGreen);
        one.launch_template = req.launch_template.clone();
        one.version = req.version.clone();
        let (before, target, new) = observe(ports, &one, ctx).await?;
        let mine: Vec<&String> = before
            .target_groups
            .iter()
            .map(|t| &t.arn)
            .filter(|arn| forward.target_groups.iter().any(|w| &w.arn == *arn))
            .collect();
        let [tg] = mine[..] else {
            return Err(Error::input(
                format!(
                    "Auto Scaling group {name} is attached to {} of the target groups of {}'s forward action, not exactly one",
                    mine.len(),
                    req.listener
                ),
                format!("attach {name} to its own target group of that forward action (aws autoscaling attach-load-balancer-target-groups)"),
            ));
        };
        let target_group = tg.clone();
        observed.push(Side {
            before,
            target,
            new,
            target_group,
        });
    }
    if observed[0].target_group == observed[1].target_group {
        return Err(Error::input(
            format!(
                "Auto Scaling groups {} and {} are attached to the same target group {}",
                req.groups[0], req.groups[1], observed[0].target_group
            ),
            "give each group its own target group in the listener's forward action",
        ));
    }
    let (a, b) = (&observed[0], &observed[1]);
    let (a, b) = (&a.before.launch_template, &b.before.launch_template);
    if a.id != b.id || a.name != b.name {
        return Err(Error::input(
            format!(
                "Auto Scaling groups {} and {} use different launch templates ({} and {})",
                req.groups[0],
                req.groups[1],
                a.name.as_deref().unwrap_or("-"),
                b.name.as_deref().unwrap_or("-")
            ),
            "give both groups the same launch template (asg.launch_template)",
        ));
    }
    let live = observed.iter().position(|o| forward.percent(&o.target_group) == 100).ok_or_else(|| {
        let split: Vec<String> = observed
            .iter()
            .map(|o| format!("{} {}%", o.before.group, forward.percent(&o.target_group)))
            .collect();
        Error::input(
            format!("{} splits the traffic ({}): no group is live", req.listener, split.join(", ")),
            "put one group's target group at full weight (the previous roll's rollback, or the console), then roll again",
        )
    })?;
    let idle = observed.remove(1 - live);
    let live = observed.remove(0);
    let mut plan = BgPlan {
        format: FORMAT,
        kind: "asg-blue-green".into(),
        listener: req.listener.clone(),
        forward,
        live: live.plan(),
        live_target_group: live.target_group.clone(),
        idle: idle.plan(),
        idle_target_group: idle.target_group.clone(),
        percents: req.steps.clone(),
        step_bake: crate::config::Duration(req.step_bake),
        keep_old: req.keep_old.map(crate::config::Duration),
        steps: Vec::new(),
    };
    // A scale-down scheduled by a previous roll's keep_old must not hit a group this
    // roll makes live.
    let mut scheduled = Vec::new();
    for group in &req.groups {
        let actions = calls::retry("DescribeScheduledActions", &ctx.cancel, || {
            ports.asg.scheduled_actions(group)
        })
        .await?;
        if actions.iter().any(|a| a == KEEP_OLD_ACTION) {
            scheduled.push(group.clone());
        }
    }
    plan.steps = steps(&plan, &scheduled);
    Ok(plan)
}

fn steps(plan: &BgPlan, scheduled: &[String]) -> Vec<BgStep> {
    let (live, idle) = (&plan.live.before, &plan.idle.before);
    let target = &plan.live.target;
    let up_to_date = live.version.to_string() == target.version
        && live
            .instances
            .iter()
            .all(|i| i.version.as_deref() == Some(target.version.as_str()));
    if up_to_date {
        return Vec::new();
    }
    let mut steps: Vec<BgStep> = scheduled
        .iter()
        .map(|group| BgStep::Unschedule { group: group.clone() })
        .collect();
    let mut idle_cap = idle.capacity;
    if !idle.instances.is_empty() || idle.capacity.desired > 0 {
        // Kept warm by the previous roll: scaled down before it gets the new version.
        steps.push(BgStep::Idle(Step::SetCapacity {
            min: Some(0),
            max: None,
            desired: Some(0),
            expect: idle_cap,
        }));
        steps.push(BgStep::Idle(Step::WaitGone {
            instances: idle.instance_ids(),
        }));
        idle_cap = Capacity {
            min: 0,
            desired: 0,
            ..idle_cap
        };
    }
    if idle.launch_template.version != target.version {
        steps.push(BgStep::Idle(Step::SetLaunchTemplate {
            template: target.clone(),
        }));
    }
    let cap = live.capacity;
    steps.push(BgStep::Idle(Step::SetCapacity {
        min: Some(cap.min),
        max: Some(cap.max),
        desired: Some(cap.desired),
        expect: idle_cap,
    }));
    steps.push(BgStep::Idle(Step::WaitNewHealthy {
        count: cap.desired,
        target_groups: idle.target_groups.iter().map(|t| t.arn.clone()).collect(),
    }));
    for &percent in &plan.percents {
        steps.push(BgStep::Shift {
            percent,
            weights: plan.weights(percent),
        });
        if percent < 100 && !plan.step_bake.std().is_zero() {
            steps.push(BgStep::StepBake { percent });
        }
    }
    // The health URLs show the new version once it takes all the traffic.
    steps.push(BgStep::Idle(Step::CheckProbes));
    match plan.keep_old {
        None => steps.push(BgStep::Live(Step::SetCapacity {
            min: Some(0),
            max: None,
            desired: Some(0),
            expect: cap,
        })),
        Some(after) => steps.push(BgStep::KeepWarm { after }),
    }
    steps
}
