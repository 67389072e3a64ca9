//! Rolling an Auto Scaling group onto a new launch template version, with zero downtime:
//! discovery builds a `Plan` (read-only), `execute` carries it out step by step, and
//! any failure or signal runs the cleanup that restores what the roll changed.
//!
//! Strategies: `surge` (double the group, wait for the new half, drain and terminate
//! the old half) and `refresh` (an instance refresh, rolled back on failure).

pub mod calls;
mod cleanup;
pub mod command;
pub mod discover;
pub mod ecs;
pub mod plan;
pub mod planfile;
pub mod report;
pub mod simulate;
mod steps;

use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use calls::Ctx;
pub use discover::discover;
pub use plan::{Capacity, Observed, Plan, Step};

use crate::cloud::{AutoScaling, LaunchTemplates, LoadBalancing};
use crate::config::Strategy;
use crate::error::{Error, Result};

/// The cloud a roll talks to: AWS adapters or the simulator.
#[derive(Clone, Copy)]
pub struct Ports<'a> {
    pub asg: &'a dyn AutoScaling,
    pub elb: &'a dyn LoadBalancing,
    pub templates: &'a dyn LaunchTemplates,
}

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
        }
    }
}

/// How a roll ended, for JSON, GITHUB_OUTPUT and the step summary.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub group: String,
    pub strategy: Strategy,
    /// `succeeded`, `unchanged`, `rolled_back`, `aborted` (stopped before changing anything),
    /// `finished` (interrupted past the point of no return: the new version serves),
    /// `failed` (the cleanup did not finish), `dry_run`.
    pub result: &'static str,
    pub previous_version: i64,
    pub new_version: i64,
    pub previous_image_id: Option<String>,
    pub new_image_id: Option<String>,
    /// Old instances replaced by new ones.
    pub instances_replaced: usize,
    pub new_instances: Vec<String>,
    pub rolled_back: bool,
    pub duration_seconds: f64,
    /// Why it did not succeed.
    pub error: Option<String>,
    /// What the cleanup did.
    pub cleanup: Vec<String>,
    pub exit_code: u8,
}

impl Outcome {
    /// The outcome of a request that failed before there was a plan.
    pub fn refused(req: &Request, e: &Error) -> Self {
        Outcome {
            group: req.group.clone(),
            strategy: req.strategy,
            result: "failed",
            previous_version: 0,
            new_version: 0,
            previous_image_id: None,
            new_image_id: None,
            instances_replaced: 0,
            new_instances: Vec::new(),
            rolled_back: false,
            duration_seconds: 0.0,
            error: Some(e.to_string()),
            cleanup: Vec::new(),
            exit_code: e.exit_code(),
        }
    }

    pub fn new(plan: &Plan, result: &'static str) -> Self {
        Outcome {
            group: plan.before.group.clone(),
            strategy: plan.strategy,
            result,
            previous_version: plan.before.version,
            new_version: plan.new_version,
            previous_image_id: plan.before.image_id.clone(),
            new_image_id: plan.new_image_id.clone(),
            instances_replaced: 0,
            new_instances: Vec::new(),
            rolled_back: false,
            duration_seconds: 0.0,
            error: None,
            cleanup: Vec::new(),
            exit_code: 0,
        }
    }
}

/// What the roll has changed so far: what the cleanup must undo.
#[derive(Debug, Default)]
pub(crate) struct Run {
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

/// Carries out the plan. On failure, timeout or cancellation it cleans up, then returns
/// the outcome with the error that stopped it.
pub async fn execute(ports: &Ports<'_>, plan: &Plan, ctx: &mut Ctx) -> (Outcome, Result<()>) {
    let start = Instant::now();
    let mut run = Run::default();
    let mut failure = None;
    if plan.steps.is_empty() {
        ctx.say(&format!(
            "{}: every instance already runs version {}; nothing to do",
            plan.before.group, plan.new_version
        ));
        let mut outcome = Outcome::new(plan, "unchanged");
        outcome.duration_seconds = start.elapsed().as_secs_f64();
        return (outcome, Ok(()));
    }
    for (n, step) in plan.steps.iter().enumerate() {
        ctx.pending.set(cleanup::left_to_do(plan, &run));
        if ctx.cancel.is_cancelled() {
            failure = Some(Error::Interrupted(Some(format!("before step {}", n + 1))));
            break;
        }
        if let Err(e) = steps::run(ports, plan, step, ctx, &mut run).await {
            failure = Some(e);
            break;
        }
    }
    let mut outcome = Outcome::new(plan, "succeeded");
    let result = match failure {
        None => {
            outcome.new_instances = run.new_instances.clone();
            outcome.instances_replaced = plan.before.instances.len();
            Ok(())
        }
        Some(err) => {
            ctx.say(&format!("error: {}", err.render()));
            ctx.cancel = CancellationToken::new();
            let cleaned = cleanup::run(ports, plan, ctx, &mut run).await;
            outcome.cleanup = run.cleanup.clone();
            match cleaned {
                Ok(cleaned) => {
                    let rolled_back = cleaned == cleanup::Cleaned::RolledBack;
                    outcome.rolled_back = rolled_back;
                    if cleaned == cleanup::Cleaned::Nothing {
                        outcome.result = "aborted";
                    } else if rolled_back {
                        outcome.result = "rolled_back";
                        outcome.new_version = plan.before.version;
                        outcome.new_image_id = plan.before.image_id.clone();
                    } else {
                        outcome.result = "finished";
                        outcome.new_instances = run.new_instances.clone();
                        outcome.instances_replaced = plan.before.instances.len();
                    }
                    outcome.error = Some(err.to_string());
                    let end = match cleaned {
                        cleanup::Cleaned::RolledBack => format!("rolled back to version {}", plan.before.version),
                        cleanup::Cleaned::Finished => {
                            format!("the old instances were removed; version {} serves", plan.new_version)
                        }
                        cleanup::Cleaned::Nothing => "nothing had been changed".to_string(),
                    };
                    Err(with_ending(err, &end))
                }
                Err(cleanup_err) => {
                    outcome.result = "failed";
                    let message = format!("{err}; then the cleanup failed: {cleanup_err}");
                    outcome.error = Some(message.clone());
                    Err(Error::failed_with_help(
                        message,
                        format!("left to do by hand: {}", cleanup::left_to_do(plan, &run).join("; ")),
                    ))
                }
            }
        }
    };
    ctx.pending.set(Vec::new());
    ctx.end_phases();
    outcome.duration_seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    outcome.exit_code = result.as_ref().err().map(Error::exit_code).unwrap_or(0);
    (outcome, result)
}

/// The error with how the cleanup left things, keeping its kind (and exit code).
pub(crate) fn with_ending(err: Error, end: &str) -> Error {
    match err {
        Error::Failed { message, help } => Error::Failed {
            message: format!("{message} ({end})"),
            help,
        },
        Error::Input {
            message,
            help,
            location,
        } => Error::Input {
            message: format!("{message} ({end})"),
            help,
            location,
        },
        Error::TimedOut(message) => Error::TimedOut(format!("{message} ({end})")),
        Error::Interrupted(message) => Error::Interrupted(Some(match message {
            Some(m) => format!("{m} ({end})"),
            None => end.to_string(),
        })),
    }
}

/// Discovery, then the plan carried out (or only printed with `dry_run`).
pub async fn roll(
    ports: &Ports<'_>,
    req: &Request,
    ctx: &mut Ctx,
    dry_run: bool,
) -> (Option<Plan>, Outcome, Result<()>) {
    let start = Instant::now();
    let plan = match discover(ports, req, ctx).await {
        Ok(plan) => plan,
        Err(e) => {
            let mut outcome = Outcome::refused(req, &e);
            outcome.duration_seconds = start.elapsed().as_secs_f64();
            return (None, outcome, Err(e));
        }
    };
    if dry_run {
        let outcome = Outcome::new(&plan, "dry_run");
        return (Some(plan), outcome, Ok(()));
    }
    ctx.say(plan.text().trim_end());
    let (outcome, result) = execute(ports, &plan, ctx).await;
    (Some(plan), outcome, result)
}

/// The request a plan was made from: discovering it again must find what the plan assumed.
pub fn request_of(plan: &Plan) -> Request {
    let mut req = Request::new(&plan.before.group, plan.strategy);
    req.launch_template = plan.target.id.clone().or(plan.target.name.clone());
    req.version = plan.new_version.to_string();
    for step in &plan.steps {
        if let Step::StartRefresh { spec } = step {
            req.min_healthy_percentage = spec.min_healthy_percentage;
            req.max_healthy_percentage = spec.max_healthy_percentage;
            req.instance_warmup = spec.instance_warmup.map(|w| Duration::from_secs(w as u64));
        }
    }
    req
}

/// `--apply`: discovers again, refuses (bad input, with a diff) when the group drifted
/// from what the plan assumed, and otherwise carries out exactly the plan.
pub async fn apply(ports: &Ports<'_>, plan: &Plan, ctx: &mut Ctx) -> (Outcome, Result<()>) {
    let req = request_of(plan);
    let checked = match discover(ports, &req, ctx).await {
        Ok(fresh) => planfile::check_asg(plan, &fresh),
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        return (Outcome::refused(&req, &e), Err(e));
    }
    ctx.say(plan.text().trim_end());
    execute(ports, plan, ctx).await
}
