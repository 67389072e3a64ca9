//! Rolling an Auto Scaling group onto a new launch template version, with zero downtime.
//! Strategies: `surge` (double the group, wait for the new half, drain and terminate the
//! old half) and `refresh` (an instance refresh, rolled back on failure). The driver in
//! `roll` runs it; this module is discovery, the steps and the cleanup.

pub mod bluegreen;
mod cleanup;
pub mod discover;
pub mod plan;
mod steps;

use std::time::Duration;

pub use discover::discover;
pub use plan::{Capacity, Observed, Plan, Step};

use super::outcome::{AsgDetails, Details, Target, Verdict};
use super::{Cleaned, Ctx, Rollout};
use crate::cloud::Ports;
use crate::config::Strategy;
use crate::error::Result;

/// What to roll, and how.
#[derive(Debug, Clone)]
pub struct Request {
    pub group: String,
    pub strategy: Strategy,
    /// The launch template name or id; default: the one the group uses.
    pub launch_template: Option<String>,
    /// The version to roll onto: a number, `$Latest` or `$Default` (pinned at discovery).
    pub version: String,
    pub min_healthy_percentage: i32,
    pub max_healthy_percentage: i32,
    pub instance_warmup: Option<Duration>,
    pub allow_raise_max: bool,
    pub wait_for_idle: bool,
    /// Refresh: alarms the refresh watches itself (AlarmSpecification).
    pub alarms: Vec<String>,
    /// Refresh: the refresh's own BakeTime.
    pub bake: Option<Duration>,
    /// Surge: (instances, bake) of a canary launched and gated before the rest.
    pub canary: Option<(i32, Duration)>,
}

impl Request {
    /// A request with slipway.yml's defaults.
    pub fn new(group: &str, strategy: Strategy) -> Self {
        Request {
            group: group.to_string(),
            strategy,
            launch_template: None,
            version: "$Latest".into(),
            min_healthy_percentage: 100,
            max_healthy_percentage: 200,
            instance_warmup: None,
            allow_raise_max: true,
            wait_for_idle: false,
            alarms: Vec::new(),
            bake: None,
            canary: None,
        }
    }

    /// The request a plan was made from: discovering it again must find what the plan assumed.
    pub fn of(plan: &Plan) -> Request {
        let mut req = Request::new(&plan.before.group, plan.strategy);
        req.launch_template = plan.target.id.clone().or(plan.target.name.clone());
        req.version = plan.new_version.to_string();
        for step in &plan.steps {
            if let Step::CanaryBake { count, bake, .. } = step {
                req.canary = Some((*count, Duration::from_secs(*bake)));
            }
            if let Step::StartRefresh { spec } = step {
                req.min_healthy_percentage = spec.min_healthy_percentage;
                req.max_healthy_percentage = spec.max_healthy_percentage;
                req.instance_warmup = spec.instance_warmup.map(|w| Duration::from_secs(w.max(0) as u64));
                req.alarms = spec.alarms.clone();
                req.bake = spec.bake_time.map(|b| Duration::from_secs(b.max(0) as u64));
            }
        }
        req
    }
}

/// What the roll has changed so far: what the cleanup must undo.
#[derive(Debug, Default)]
pub struct Run {
    pub lt_changed: bool,
    pub capacity_changed: bool,
    /// Surge: the old instances started leaving; from here the cleanup finishes the roll.
    pub committed: bool,
    /// StartInstanceRefresh was called (it may have started even if the call failed).
    pub refresh_started: bool,
    pub refresh_id: Option<String>,
    pub new_instances: Vec<String>,
    pub cleanup: Vec<String>,
}

/// An Auto Scaling group roll: the ports it talks to and the request.
pub struct AsgRollout {
    pub ports: Ports,
    pub req: Request,
}

impl AsgRollout {
    pub fn new(ports: Ports, req: Request) -> Self {
        AsgRollout { ports, req }
    }
}

impl Rollout for AsgRollout {
    type Plan = Plan;
    type Run = Run;
    const TARGET: Target = Target::Asg;

    fn name(&self) -> String {
        self.req.group.clone()
    }

    async fn busy(&self, ctx: &Ctx) -> Result<Option<String>> {
        let busy = discover::busy(&self.ports, &self.req.group, &ctx.cancel).await;
        if busy.is_err() {
            // A missing group fails those reads too: say that it is missing (bad input).
            discover::describe(&self.ports, &self.req.group, ctx).await?;
        }
        busy
    }

    fn wait_for_idle(&self) -> bool {
        self.req.wait_for_idle
    }

    async fn discover(&self, ctx: &mut Ctx) -> Result<Plan> {
        discover(&self.ports, &self.req, ctx).await
    }

    async fn rediscover(&self, plan: &Plan, ctx: &mut Ctx) -> Result<Plan> {
        discover(&self.ports, &Request::of(plan), ctx).await
    }

    fn drift(&self, planned: &Plan, fresh: &Plan) -> Result<()> {
        plan::drift(planned, fresh)
    }

    fn plan_text(&self, plan: &Plan) -> String {
        plan.text()
    }

    fn steps(&self, plan: &Plan) -> usize {
        plan.steps.len()
    }

    /// Surge bakes before the old instances leave: both versions serve, and the old one
    /// is still there to roll back to. Refresh bakes after the last step.
    fn bake_point(&self, plan: &Plan) -> usize {
        match plan.strategy {
            Strategy::Surge => plan
                .steps
                .iter()
                .position(|s| matches!(s, Step::Deregister { .. } | Step::Terminate { .. }))
                .unwrap_or(plan.steps.len()),
            Strategy::Refresh | Strategy::BlueGreen => plan.steps.len(),
        }
    }

    /// A refresh given a BakeTime bakes itself (status Baking, still able to roll back).
    fn platform_bakes(&self, plan: &Plan) -> bool {
        plan.steps
            .iter()
            .any(|s| matches!(s, Step::StartRefresh { spec } if spec.bake_time.is_some_and(|b| b > 0)))
    }

    fn up_to_date(&self, plan: &Plan) -> String {
        format!(
            "{}: every instance already runs version {}; nothing to do",
            plan.before.group, plan.new_version
        )
    }

    async fn step(&self, plan: &Plan, n: usize, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
        steps::run(&self.ports, plan, &plan.steps[n], ctx, run).await
    }

    fn left_to_do(&self, plan: &Plan, run: &Run) -> Vec<String> {
        cleanup::left_to_do(plan, run)
    }

    async fn cleanup(&self, plan: &Plan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
        cleanup::run(&self.ports, plan, ctx, run).await
    }

    fn ending(&self, plan: &Plan, _run: &Run, cleaned: Cleaned) -> String {
        match cleaned {
            Cleaned::RolledBack => format!("rolled back to version {}", plan.before.version),
            Cleaned::Finished => format!("the old instances were removed; version {} serves", plan.new_version),
            Cleaned::Nothing => "nothing had been changed".to_string(),
        }
    }

    fn cleanup_log(&self, run: &Run) -> Vec<String> {
        run.cleanup.clone()
    }

    fn details(&self, plan: Option<&Plan>, run: Option<&Run>, verdict: Verdict) -> Details {
        let Some(plan) = plan else {
            return Details::Asg(AsgDetails {
                group: self.req.group.clone(),
                strategy: self.req.strategy,
                previous_version: 0,
                new_version: 0,
                previous_image_id: None,
                new_image_id: None,
                instances_replaced: 0,
                new_instances: Vec::new(),
                blue_green: None,
            });
        };
        let b = &plan.before;
        let mut d = AsgDetails {
            group: b.group.clone(),
            strategy: plan.strategy,
            previous_version: b.version,
            new_version: plan.new_version,
            previous_image_id: b.image_id.clone(),
            new_image_id: plan.new_image_id.clone(),
            instances_replaced: 0,
            new_instances: Vec::new(),
            blue_green: None,
        };
        match verdict {
            Verdict::Succeeded | Verdict::Finished => {
                d.instances_replaced = b.instances.len();
                d.new_instances = run.map(|r| r.new_instances.clone()).unwrap_or_default();
            }
            Verdict::RolledBack => {
                d.new_version = b.version;
                d.new_image_id = b.image_id.clone();
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
