//! Auto Scaling blue/green by weighted target groups: two groups behind one listener
//! (or listener rule) whose forward action weighs their target groups. The idle group
//! gets the new launch template version and the live group's capacity, its targets must
//! be healthy, then the traffic moves over in weight steps (each baked: alarms, target
//! health), and after the driver's bake the old group is scaled to zero (or kept warm).
//! The group steps are the Auto Scaling roll's own (`asg::steps`), run on either group.

pub mod cli;
mod discover;
pub mod plan;

use std::time::Duration;

pub use plan::{BgPlan, BgStep};

use super::{Run as GroupRun, Step};
use crate::cloud::Ports;
use crate::config::Strategy;
use crate::error::Result;
use crate::roll::calls::{self, Ctx};
use crate::roll::outcome::{AsgDetails, BlueGreenDetails, Details, Target, Verdict};
use crate::roll::{Cleaned, Rollout};
use crate::wait::target_group::TargetGroupProbe;
use crate::wait::Probe;

/// What to roll: the two groups, the listener or rule, the version and the weight steps.
#[derive(Debug, Clone)]
pub struct BgRequest {
    pub groups: [String; 2],
    /// The listener's or listener rule's ARN.
    pub listener: String,
    pub launch_template: Option<String>,
    /// A number, `$Latest` or `$Default` (pinned at discovery).
    pub version: String,
    /// Percent of the traffic on the new group at each step, ending at 100.
    pub steps: Vec<u8>,
    pub step_bake: Duration,
    pub keep_old: Option<Duration>,
    pub wait_for_idle: bool,
}

impl BgRequest {
    /// The request a plan was made from (for the drift check of `--apply`).
    pub fn of(plan: &BgPlan, groups: [String; 2]) -> BgRequest {
        BgRequest {
            groups,
            listener: plan.listener.clone(),
            launch_template: plan.live.target.id.clone().or(plan.live.target.name.clone()),
            version: plan.live.new_version.to_string(),
            steps: plan.percents.clone(),
            step_bake: plan.step_bake.std(),
            keep_old: plan.keep_old.map(|d| d.std()),
            wait_for_idle: false,
        }
    }
}

/// What the roll has changed so far.
#[derive(Debug, Default)]
pub struct BgRun {
    pub idle: GroupRun,
    pub live: GroupRun,
    /// A weight change was sent (it may have applied even if the call failed).
    pub shifted: bool,
    /// The most traffic the new group took, in percent.
    pub reached: u8,
    /// The old group's scale-down was sent: from here the cleanup finishes the roll.
    pub committed: bool,
    pub cleanup: Vec<String>,
}

pub struct BlueGreenRollout {
    pub ports: Ports,
    pub req: BgRequest,
}

impl BlueGreenRollout {
    pub fn new(ports: Ports, req: BgRequest) -> Self {
        BlueGreenRollout { ports, req }
    }
}

/// The step bake's probes: both target groups keep every target healthy (the new one
/// with at least the live group's desired count).
fn target_probes(ports: &Ports, plan: &BgPlan, ctx: &Ctx) -> Vec<Box<dyn Probe>> {
    let grace = Duration::from_secs(30);
    let poll = ctx.poll.max(Duration::from_secs(1));
    vec![
        Box::new(TargetGroupProbe::new(
            ports.elb.clone(),
            &plan.idle_target_group,
            plan.live.before.capacity.desired.max(1) as usize,
            grace,
            poll,
        )),
        Box::new(TargetGroupProbe::new(
            ports.elb.clone(),
            &plan.live_target_group,
            plan.live.before.capacity.desired.max(1) as usize,
            grace,
            poll,
        )),
    ]
}

impl Rollout for BlueGreenRollout {
    type Plan = BgPlan;
    type Run = BgRun;
    const TARGET: Target = Target::Asg;

    fn name(&self) -> String {
        self.req.groups.join(" / ")
    }

    async fn busy(&self, ctx: &Ctx) -> Result<Option<String>> {
        for group in &self.req.groups {
            let busy = super::discover::busy(&self.ports, group, &ctx.cancel).await;
            if busy.is_err() {
                super::discover::describe(&self.ports, group, ctx).await?;
            }
            if let Some(why) = busy? {
                return Ok(Some(format!("{group}: {why}")));
            }
        }
        Ok(None)
    }

    fn wait_for_idle(&self) -> bool {
        self.req.wait_for_idle
    }

    async fn discover(&self, ctx: &mut Ctx) -> Result<BgPlan> {
        discover::discover(&self.ports, &self.req, ctx).await
    }

    async fn rediscover(&self, plan: &BgPlan, ctx: &mut Ctx) -> Result<BgPlan> {
        let groups = [plan.live.before.group.clone(), plan.idle.before.group.clone()];
        discover::discover(&self.ports, &BgRequest::of(plan, groups), ctx).await
    }

    fn drift(&self, planned: &BgPlan, fresh: &BgPlan) -> Result<()> {
        plan::drift(planned, fresh)
    }

    fn plan_text(&self, plan: &BgPlan) -> String {
        plan.text()
    }

    fn steps(&self, plan: &BgPlan) -> usize {
        plan.steps.len()
    }

    /// The bake runs with the new group taking all the traffic and the old group still
    /// running: a failure then shifts the traffic back at once.
    fn bake_point(&self, plan: &BgPlan) -> usize {
        plan.steps
            .iter()
            .position(|s| matches!(s, BgStep::Live(_) | BgStep::KeepWarm { .. }))
            .unwrap_or(plan.steps.len())
    }

    fn up_to_date(&self, plan: &BgPlan) -> String {
        format!(
            "{}: the live group already runs version {}; nothing to do",
            plan.live.before.group, plan.live.new_version
        )
    }

    async fn step(&self, plan: &BgPlan, n: usize, ctx: &mut Ctx, run: &mut BgRun) -> Result<()> {
        let ports = &self.ports;
        match &plan.steps[n] {
            BgStep::Idle(step) => super::steps::run(ports, &plan.idle, step, ctx, &mut run.idle).await,
            BgStep::Live(step) => {
                if matches!(step, Step::SetCapacity { .. }) {
                    run.committed = true;
                }
                super::steps::run(ports, &plan.live, step, ctx, &mut run.live).await
            }
            BgStep::Shift { percent, weights } => {
                ctx.phase(&plan.describe(&plan.steps[n]));
                run.shifted = true;
                calls::retry(op(&plan.listener), &ctx.cancel, || {
                    ports.elb.set_weights(&plan.listener, weights)
                })
                .await?;
                run.reached = run.reached.max(*percent);
                ctx.say(&format!("{}% of the traffic on {}", percent, plan.idle.before.group));
                Ok(())
            }
            BgStep::Unschedule { group } => {
                ctx.phase(&plan.describe(&plan.steps[n]));
                calls::retry("DeleteScheduledAction", &ctx.cancel, || {
                    ports.asg.unschedule(group, plan::KEEP_OLD_ACTION)
                })
                .await
            }
            BgStep::KeepWarm { after } => {
                ctx.phase(&plan.describe(&plan.steps[n]));
                let group = &plan.live.before.group;
                let scheduled = calls::retry("PutScheduledUpdateGroupAction", &ctx.cancel, || {
                    ports.asg.schedule_scale_down(group, plan::KEEP_OLD_ACTION, after.std())
                })
                .await;
                // The new version serves: a missing schedule is no reason to roll back.
                if let Err(e) = scheduled {
                    ctx.say(&format!(
                        "warning: {group} stays warm with no scheduled scale-down ({e}); scale it to zero by hand after {after}"
                    ));
                }
                Ok(())
            }
            BgStep::StepBake { percent } => {
                let probes = target_probes(ports, plan, ctx);
                let what = format!("bake at {percent}%");
                let (_, result) = crate::roll::watch::bake_on(ctx, plan.step_bake.std(), &what, probes).await;
                result
            }
        }
    }

    fn left_to_do(&self, plan: &BgPlan, run: &BgRun) -> Vec<String> {
        let (live, idle) = (&plan.live.before, &plan.idle.before);
        let mut todo = Vec::new();
        if run.committed {
            todo.push(format!("scale {} to zero (min 0, desired 0)", live.group));
            return todo;
        }
        if run.shifted {
            todo.push(format!(
                "set the weights of {} back to 100% on {} ({}) and 0% on {}",
                plan.listener, live.group, plan.live_target_group, idle.group
            ));
        }
        if run.idle.capacity_changed {
            todo.push(format!("scale {} to zero (min 0, desired 0)", idle.group));
        }
        if run.idle.lt_changed {
            todo.push(format!(
                "set {}'s launch template back to version {}",
                idle.group, idle.launch_template.version
            ));
        }
        todo
    }

    async fn cleanup(&self, plan: &BgPlan, ctx: &mut Ctx, run: &mut BgRun) -> Result<Cleaned> {
        cleanup(&self.ports, plan, ctx, run).await
    }

    fn ending(&self, plan: &BgPlan, _run: &BgRun, cleaned: Cleaned) -> String {
        let (live, idle) = (&plan.live.before.group, &plan.idle.before.group);
        match cleaned {
            Cleaned::RolledBack => format!(
                "rolled back: {live} takes all the traffic on version {}, {idle} scaled to zero",
                plan.live.before.version
            ),
            Cleaned::Finished => format!(
                "{idle} takes all the traffic on version {}; {live} scaled to zero",
                plan.live.new_version
            ),
            Cleaned::Nothing => "nothing had been changed".to_string(),
        }
    }

    fn cleanup_log(&self, run: &BgRun) -> Vec<String> {
        run.cleanup.clone()
    }

    fn details(&self, plan: Option<&BgPlan>, run: Option<&BgRun>, verdict: Verdict) -> Details {
        let Some(plan) = plan else {
            return Details::Asg(AsgDetails {
                group: self.name(),
                strategy: Strategy::BlueGreen,
                previous_version: 0,
                new_version: 0,
                previous_image_id: None,
                new_image_id: None,
                instances_replaced: 0,
                new_instances: Vec::new(),
                blue_green: None,
            });
        };
        let (l, i) = (&plan.live, &plan.idle);
        let moved = matches!(verdict, Verdict::Succeeded | Verdict::Finished);
        let mut d = AsgDetails {
            group: if moved {
                i.before.group.clone()
            } else {
                l.before.group.clone()
            },
            strategy: Strategy::BlueGreen,
            previous_version: l.before.version,
            new_version: l.new_version,
            previous_image_id: l.before.image_id.clone(),
            new_image_id: l.new_image_id.clone(),
            instances_replaced: 0,
            new_instances: Vec::new(),
            blue_green: Some(BlueGreenDetails {
                live_group_before: l.before.group.clone(),
                live_group_after: if moved {
                    i.before.group.clone()
                } else {
                    l.before.group.clone()
                },
                weight_reached: run.map_or(0, |r| r.reached),
                stickiness: plan.forward.stickiness,
                kept_old: moved && plan.keep_old.is_some(),
            }),
        };
        match verdict {
            Verdict::Succeeded | Verdict::Finished => {
                d.instances_replaced = l.before.instances.len();
                d.new_instances = run.map(|r| r.idle.new_instances.clone()).unwrap_or_default();
            }
            Verdict::RolledBack => {
                d.new_version = l.before.version;
                d.new_image_id = l.before.image_id.clone();
            }
            Verdict::Unchanged
            | Verdict::TrafficShifted
            | Verdict::Registered
            | Verdict::Aborted
            | Verdict::Failed
            | Verdict::Refused
            | Verdict::DryRun
            | Verdict::Planned => {}
        }
        Details::Asg(d)
    }
}

/// ModifyRule for a listener rule's ARN, ModifyListener for a listener's.
fn op(arn: &str) -> &'static str {
    if arn.contains(":listener-rule/") {
        "ModifyRule"
    } else {
        "ModifyListener"
    }
}

fn done(ctx: &Ctx, run: &mut BgRun, text: String) {
    ctx.say(&format!("cleanup: {text}"));
    run.cleanup.push(text);
}

/// Past the old group's scale-down: finish it. Before: weights back to the old group,
/// the launch template restored on the new group, the new group scaled to zero.
async fn cleanup(ports: &Ports, plan: &BgPlan, ctx: &mut Ctx, run: &mut BgRun) -> Result<Cleaned> {
    let (live, idle) = (&plan.live.before, &plan.idle.before);
    if run.committed {
        ctx.phase(&format!("finishing: scaling {} to zero", live.group));
        calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
            ports.asg.update_size(&live.group, Some(0), None, Some(0))
        })
        .await?;
        done(ctx, run, format!("{} scaled to zero", live.group));
        return Ok(Cleaned::Finished);
    }
    if !run.shifted && !run.idle.capacity_changed && !run.idle.lt_changed {
        return Ok(Cleaned::Nothing);
    }
    ctx.phase(&format!("rolling back to {}", live.group));
    if run.shifted {
        let weights = plan.weights(0);
        calls::retry(op(&plan.listener), &ctx.cancel, || {
            ports.elb.set_weights(&plan.listener, &weights)
        })
        .await?;
        done(
            ctx,
            run,
            format!("all the traffic back on {} (weights 100/0)", live.group),
        );
    }
    if run.idle.lt_changed {
        let pinned = idle.pinned();
        calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
            ports.asg.set_launch_template(&idle.group, &pinned)
        })
        .await?;
        done(
            ctx,
            run,
            format!("{}'s launch template set back to version {}", idle.group, idle.version),
        );
    }
    if run.idle.capacity_changed {
        calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
            ports.asg.update_size(&idle.group, Some(0), None, Some(0))
        })
        .await?;
        done(ctx, run, format!("{} scaled to zero", idle.group));
    }
    Ok(Cleaned::RolledBack)
}
