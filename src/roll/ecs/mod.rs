//! Rolling an ECS service onto a new image: register a revision of its task definition
//! with the new image (and environment overrides) for one container, UpdateService, gate
//! on the ECS probe (a circuit-breaker rollback is a failure), and on failure, timeout or
//! a signal point the service back at the previous revision and wait until it is stable.

mod discover;
pub mod plan;
pub mod report;

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

pub use discover::{check_request, discover};
use plan::short;
pub use plan::{EcsObserved, EcsPlan, EcsStep};

use super::calls::{self, Ctx};
use crate::cloud::{Ecs, Revision, TaskDefinition};
use crate::error::{Error, Result};
use crate::wait::ecs::EcsProbe;
use crate::wait::{self, Outcome as GateOutcome};

/// What to roll the service onto.
#[derive(Debug, Clone)]
pub struct EcsRequest {
    pub cluster: String,
    pub service: String,
    pub container: String,
    /// The image reference (an ECR URI with digest from slipway-build, or any reference).
    pub image: String,
    /// Environment variables to set in the container.
    pub environment: Vec<(String, String)>,
    pub wait_for_idle: bool,
    /// Register the revision and stop.
    pub register_only: bool,
}

/// How an ECS rollout ended, for JSON, GITHUB_OUTPUT and the step summary.
#[derive(Debug, Clone, Serialize)]
pub struct EcsOutcome {
    pub cluster: String,
    pub service: String,
    /// `succeeded`, `registered` (--register-only), `unchanged`, `rolled_back`,
    /// `aborted` (stopped before the service changed), `failed` (the rollback did not
    /// finish), `dry_run`, `planned`.
    pub result: &'static str,
    pub previous_task_definition: String,
    pub new_task_definition: Option<String>,
    pub image: String,
    pub deployment_id: Option<String>,
    pub rolled_back: bool,
    pub duration_seconds: f64,
    pub error: Option<String>,
    pub cleanup: Vec<String>,
    pub exit_code: u8,
}

impl EcsOutcome {
    pub fn new(plan: &EcsPlan, result: &'static str) -> Self {
        EcsOutcome {
            cluster: plan.before.cluster.clone(),
            service: plan.before.service.clone(),
            result,
            previous_task_definition: plan.before.task_definition.clone(),
            new_task_definition: None,
            image: plan
                .revision()
                .map(|r| r.image.clone())
                .unwrap_or(plan.before.image.clone()),
            deployment_id: None,
            rolled_back: false,
            duration_seconds: 0.0,
            error: None,
            cleanup: Vec::new(),
            exit_code: 0,
        }
    }

    /// The outcome of a request that failed before there was a plan.
    pub fn refused(req: &EcsRequest, err: &Error) -> Self {
        EcsOutcome {
            cluster: req.cluster.clone(),
            service: req.service.clone(),
            result: "failed",
            previous_task_definition: String::new(),
            new_task_definition: None,
            image: req.image.clone(),
            deployment_id: None,
            rolled_back: false,
            duration_seconds: 0.0,
            error: Some(err.to_string()),
            cleanup: Vec::new(),
            exit_code: err.exit_code(),
        }
    }
}

/// What the rollout changed so far.
#[derive(Default)]
struct Run {
    registered: Option<TaskDefinition>,
    /// UpdateService was called (it may have taken effect even if the call failed).
    updated: bool,
    deployment: Option<String>,
    cleanup: Vec<String>,
}

fn left_to_do(plan: &EcsPlan, run: &Run) -> Vec<String> {
    if run.updated {
        vec![format!(
            "point service {} back at {} (aws ecs update-service --cluster {} --service {} --task-definition {})",
            plan.before.service,
            short(&plan.before.task_definition),
            plan.before.cluster,
            plan.before.service,
            plan.before.task_definition
        )]
    } else {
        Vec::new()
    }
}

/// Registers the revision. A retry after an answer was lost adopts a revision the lost
/// call registered (newer than discovery's newest, with the same image), so a 5xx after
/// the fact does not register two.
async fn register(ecs: &dyn Ecs, plan: &EcsPlan, revision: &Revision, ctx: &Ctx) -> Result<TaskDefinition> {
    let mut attempts = 0;
    calls::retry("RegisterTaskDefinition", &ctx.cancel, || {
        attempts += 1;
        let again = attempts > 1;
        async move {
            if again {
                if let Some(td) = ecs.task_definition(&plan.before.family).await? {
                    let ours = td.revision > plan.before.latest_revision
                        && td
                            .container(&revision.container)
                            .is_some_and(|c| c.image == revision.image);
                    if ours {
                        return Ok(td);
                    }
                }
            }
            ecs.register_revision(revision).await
        }
    })
    .await
}

/// Waits until `expected` is the service's one stable deployment.
async fn gate(ecs: &Arc<dyn Ecs>, plan: &EcsPlan, expected: &str, timeout: Duration, ctx: &mut Ctx) -> Result<()> {
    let probe = EcsProbe::new(
        ecs.clone(),
        &plan.before.cluster,
        &plan.before.service,
        Some(expected.to_string()),
        ctx.poll,
    );
    let cancel = ctx.cancel.clone();
    let report = wait::gate(vec![Box::new(probe)], timeout, &cancel, &mut ctx.progress).await?;
    let mut cause = report.cause.clone().unwrap_or_default();
    for line in report.probes.iter().flat_map(|p| p.diagnosis.iter()).take(6) {
        ctx.say(&format!("  {line}"));
    }
    if let Some(first) = report
        .probes
        .iter()
        .flat_map(|p| p.diagnosis.iter())
        .find(|l| l.starts_with("stopped task"))
    {
        cause.push_str(&format!(" [{first}]"));
    }
    let what = short(expected);
    match report.outcome {
        GateOutcome::Healthy | GateOutcome::Planned => Ok(()),
        GateOutcome::Failed => Err(Error::failed(format!("{what} did not become stable: {cause}"))),
        GateOutcome::TimedOut => Err(Error::TimedOut(format!("{what} did not become stable: {cause}"))),
        GateOutcome::Interrupted => Err(Error::Interrupted(Some(format!("while waiting for {what}")))),
    }
}

/// Carries out the plan; on failure, timeout or a signal after UpdateService, rolls back.
pub async fn execute(ecs: &Arc<dyn Ecs>, plan: &EcsPlan, ctx: &mut Ctx) -> (EcsOutcome, Result<()>) {
    let start = Instant::now();
    let mut run = Run::default();
    let mut failure = None;
    let b = &plan.before;
    if plan.steps.is_empty() {
        ctx.say(&format!(
            "{}: container {} already runs {}; nothing to do",
            b.service, b.container, b.image
        ));
        let mut outcome = EcsOutcome::new(plan, "unchanged");
        outcome.new_task_definition = Some(b.task_definition.clone());
        return (outcome, Ok(()));
    }
    for (n, step) in plan.steps.iter().enumerate() {
        ctx.pending.set(left_to_do(plan, &run));
        if ctx.cancel.is_cancelled() {
            failure = Some(Error::Interrupted(Some(format!("before step {}", n + 1))));
            break;
        }
        let result = match step {
            EcsStep::RegisterRevision { revision } => {
                ctx.phase(&step.describe(b));
                register(ecs.as_ref(), plan, revision, ctx).await.map(|td| {
                    ctx.say(&format!("registered {}", td.arn));
                    run.registered = Some(td);
                })
            }
            EcsStep::UpdateService { .. } => {
                ctx.phase(&step.describe(b));
                let new = run.registered.as_ref().map(|td| td.arn.clone()).unwrap_or_default();
                run.updated = true;
                ctx.pending.set(left_to_do(plan, &run));
                calls::retry("UpdateService", &ctx.cancel, || {
                    ecs.update_service(&b.cluster, &b.service, &new)
                })
                .await
                .map(|id| {
                    ctx.say(&format!("deployment {id} started"));
                    run.deployment = Some(id);
                })
            }
            EcsStep::WaitStable => {
                ctx.phase(&format!("wait until {} is stable", b.service));
                let new = run.registered.as_ref().map(|td| td.arn.clone()).unwrap_or_default();
                let timeout = ctx.timeout;
                gate(ecs, plan, &new, timeout, ctx).await
            }
        };
        if let Err(e) = result {
            failure = Some(e);
            break;
        }
    }
    let mut outcome = EcsOutcome::new(plan, "succeeded");
    outcome.new_task_definition = run.registered.as_ref().map(|td| td.arn.clone());
    outcome.deployment_id = run.deployment.clone();
    if !run.updated && failure.is_none() {
        outcome.result = "registered";
    }
    let result = match failure {
        None => Ok(()),
        Some(err) => {
            ctx.say(&format!("error: {}", err.render()));
            outcome.error = Some(err.to_string());
            if !run.updated {
                outcome.result = "aborted";
                let end = match &run.registered {
                    Some(td) => format!("the service was not changed; {} stays registered", short(&td.arn)),
                    None => "nothing had been changed".into(),
                };
                Err(super::with_ending(err, &end))
            } else {
                ctx.cancel = CancellationToken::new();
                match roll_back(ecs, plan, ctx, &mut run).await {
                    Ok(()) => {
                        outcome.result = "rolled_back";
                        outcome.rolled_back = true;
                        Err(super::with_ending(
                            err,
                            &format!("rolled back to {}", short(&b.task_definition)),
                        ))
                    }
                    Err(cleanup_err) => {
                        outcome.result = "failed";
                        let message = format!("{err}; then the rollback failed: {cleanup_err}");
                        outcome.error = Some(message.clone());
                        Err(Error::failed_with_help(
                            message,
                            format!("left to do by hand: {}", left_to_do(plan, &run).join("; ")),
                        ))
                    }
                }
            }
        }
    };
    outcome.cleanup = run.cleanup.clone();
    ctx.pending.set(Vec::new());
    ctx.end_phases();
    outcome.duration_seconds = (start.elapsed().as_secs_f64() * 1000.0).round() / 1000.0;
    outcome.exit_code = result.as_ref().err().map(Error::exit_code).unwrap_or(0);
    (outcome, result)
}

/// Points the service back at the previous revision (unless the circuit breaker already
/// did) and waits until that is stable.
async fn roll_back(ecs: &Arc<dyn Ecs>, plan: &EcsPlan, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
    let b = &plan.before;
    ctx.phase(&format!("rolling back {} to {}", b.service, short(&b.task_definition)));
    let service = calls::retry("DescribeServices", &ctx.cancel, || {
        ecs.describe_service(&b.cluster, &b.service)
    })
    .await?
    .ok_or_else(|| Error::failed(format!("ECS service {} disappeared", b.service)))?;
    let done = |ctx: &Ctx, run: &mut Run, text: String| {
        ctx.say(&format!("cleanup: {text}"));
        run.cleanup.push(text);
    };
    if service.task_definition == b.task_definition {
        done(
            ctx,
            run,
            format!(
                "the service is already back on {} (circuit breaker)",
                short(&b.task_definition)
            ),
        );
    } else {
        let id = calls::retry("UpdateService", &ctx.cancel, || {
            ecs.update_service(&b.cluster, &b.service, &b.task_definition)
        })
        .await?;
        done(
            ctx,
            run,
            format!(
                "service pointed back at {} (deployment {id})",
                short(&b.task_definition)
            ),
        );
    }
    let timeout = ctx.timeout;
    gate(ecs, plan, &b.task_definition, timeout, ctx).await?;
    run.updated = false;
    done(
        ctx,
        run,
        format!("{} is stable on {}", b.service, short(&b.task_definition)),
    );
    Ok(())
}

/// Discovery, then the plan carried out (or only returned with `dry_run`).
pub async fn roll(
    ecs: &Arc<dyn Ecs>,
    req: &EcsRequest,
    ctx: &mut Ctx,
    dry_run: bool,
) -> (Option<EcsPlan>, EcsOutcome, Result<()>) {
    let plan = match discover(ecs.as_ref(), req, ctx).await {
        Ok(plan) => plan,
        Err(e) => return (None, EcsOutcome::refused(req, &e), Err(e)),
    };
    if dry_run {
        let outcome = EcsOutcome::new(&plan, "dry_run");
        return (Some(plan), outcome, Ok(()));
    }
    ctx.say(plan.text().trim_end());
    let (outcome, result) = execute(ecs, &plan, ctx).await;
    (Some(plan), outcome, result)
}

/// The request a plan was made from, to discover again before applying it.
pub fn request_of(plan: &EcsPlan) -> EcsRequest {
    let revision = plan.revision();
    EcsRequest {
        cluster: plan.before.cluster.clone(),
        service: plan.before.service.clone(),
        container: plan.before.container.clone(),
        image: revision.map(|r| r.image.clone()).unwrap_or(plan.before.image.clone()),
        environment: revision.map(|r| r.environment.clone()).unwrap_or_default(),
        wait_for_idle: false,
        register_only: !plan.steps.iter().any(|s| matches!(s, EcsStep::UpdateService { .. })),
    }
}

/// `--apply`: discovers again, refuses (bad input, with a diff) when the service drifted
/// from what the plan assumed, and otherwise carries out exactly the plan.
pub async fn apply(ecs: &Arc<dyn Ecs>, plan: &EcsPlan, ctx: &mut Ctx) -> (EcsOutcome, Result<()>) {
    let req = request_of(plan);
    let checked = match discover(ecs.as_ref(), &req, ctx).await {
        Ok(fresh) => super::planfile::check_ecs(plan, &fresh),
        Err(e) => Err(e),
    };
    if let Err(e) = checked {
        return (EcsOutcome::refused(&req, &e), Err(e));
    }
    ctx.say(plan.text().trim_end());
    execute(ecs, plan, ctx).await
}
