//! Rolling an ECS service onto a new image: register a revision of its task definition
//! with the new image (and environment overrides) for one container, UpdateService, gate
//! on the ECS probe (a circuit-breaker rollback is a failure), and on failure, timeout or
//! a signal point the service back at the previous revision and wait until it is stable.
//! The driver in `roll` runs it; this module is discovery, the steps and the rollback.

pub mod discover;
mod native;
pub mod plan;

use std::sync::Arc;
use std::time::Duration;

pub use discover::{check_request, discover};
pub use native::progress;
use plan::short;
pub use plan::{environment_digest, strategy_name, traffic_steps, EcsObserved, EcsPlan, EcsStep, PlannedRevision};

use super::calls::{self, Ctx};
use super::outcome::{Details, EcsDetails, Target, Verdict};
use super::{Cleaned, Rollout, WaitUntil};
use crate::cloud::{DeploymentSettings, Ecs, Ports, Revision, ServiceUpdate, TaskDefinition};
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
    /// A native strategy's settings (None: rolling, as the service is set up).
    pub deployment: Option<DeploymentSettings>,
    /// How many `health.test_urls` the test-traffic gate probes.
    pub test_urls: usize,
    /// After a success, deregister older revisions of the family, keeping this many.
    pub keep_revisions: Option<u32>,
    /// A native strategy: return once production traffic shifted, or at the end.
    pub wait_until: WaitUntil,
    /// `--resume`: the service deployment (ARN) to follow to its end instead of rolling.
    pub resume: Option<String>,
}

/// What the rollout changed so far.
#[derive(Debug, Default)]
pub struct Run {
    registered: Option<TaskDefinition>,
    /// UpdateService was called (it may have taken effect even if the call failed).
    updated: bool,
    deployment: Option<String>,
    cleanup: Vec<String>,
    /// The native service deployment, and the service's one before UpdateService.
    service_deployment: Option<String>,
    previous_service_deployment: Option<String>,
    /// Its last lifecycle stage, and the stage that failed.
    stage: Option<String>,
    failing_stage: Option<String>,
    /// The most production traffic the new revision had, percent.
    traffic: Option<f64>,
    /// The native deployment succeeded.
    finished: bool,
    /// `--wait-until traffic-shifted`: the roll returned with the deployment still running.
    shifted_only: bool,
    /// The test-traffic gate answered its hook ROLLBACK.
    answered_rollback: bool,
    /// The hooks already answered: never answered again, even while ECS still shows
    /// one AWAITING_ACTION.
    answered_hooks: Vec<String>,
}

fn left_to_do(plan: &EcsPlan, run: &Run) -> Vec<String> {
    if let (true, false, Some(arn)) = (run.updated, run.finished, &run.service_deployment) {
        return vec![format!(
            "roll service {} back (aws ecs stop-service-deployment --service-deployment-arn {arn} --stop-type ROLLBACK)",
            plan.before.service
        )];
    }
    if run.updated && !run.finished {
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
/// the fact does not register two. Shared by every ECS target.
pub async fn register(ecs: &dyn Ecs, before: &EcsObserved, revision: &Revision, ctx: &Ctx) -> Result<TaskDefinition> {
    let mut attempts = 0;
    calls::retry("RegisterTaskDefinition", &ctx.cancel, || {
        attempts += 1;
        let again = attempts > 1;
        async move {
            if again {
                if let Some(td) = ecs.task_definition(&before.family).await? {
                    let ours = td.revision > before.latest_revision
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

/// The revision to register: the plan's, with this run's environment values (the
/// plan holds only their digest, checked before any change). Shared by every ECS target.
pub fn planned_revision(environment: &[(String, String)], planned: &PlannedRevision) -> Result<Revision> {
    let mut environment = environment.to_vec();
    environment.sort();
    environment.dedup_by(|a, b| a.0 == b.0);
    if environment_digest(&environment) != planned.environment_digest {
        return Err(Error::input(
            format!(
                "the environment values given do not match the plan's (it sets {})",
                if planned.environment.is_empty() {
                    "no variables".to_string()
                } else {
                    planned.environment.join(", ")
                }
            ),
            "pass --apply the same --env NAME=VALUE flags the plan was made with",
        ));
    }
    Ok(Revision {
        from: planned.from.clone(),
        container: planned.container.clone(),
        image: planned.image.clone(),
        environment,
    })
}

/// `keep_revisions` after a success, for every ECS target: deregisters old revisions;
/// a failure only warns, since the roll has succeeded.
pub(crate) async fn keep_revisions(ecs: &dyn Ecs, before: &EcsObserved, keep: u32, ctx: &mut Ctx) {
    match native::keep_revisions(ecs, before, keep, ctx).await {
        Ok(gone) if gone.is_empty() => ctx.say("no revision to deregister"),
        Ok(_) => {}
        Err(e) => ctx.say(&format!("warning: keep_revisions: {e}")),
    }
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
        GateOutcome::TimedOut => Err(Error::timed_out(format!("{what} did not become stable: {cause}"))),
        GateOutcome::Interrupted => Err(Error::interrupted(Some(format!("while waiting for {what}")))),
    }
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
        let update = ServiceUpdate::to(&b.task_definition);
        let id = calls::retry("UpdateService", &ctx.cancel, || {
            ecs.update_service(&b.cluster, &b.service, &update)
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

impl EcsRequest {
    /// The request a plan was made from, to discover again before applying it. The
    /// environment values are not in the plan: they come from this run's `--env`.
    pub fn of(plan: &EcsPlan, environment: &[(String, String)]) -> EcsRequest {
        let revision = plan.revision();
        EcsRequest {
            cluster: plan.before.cluster.clone(),
            service: plan.before.service.clone(),
            container: plan.before.container.clone(),
            image: revision.map(|r| r.image.clone()).unwrap_or(plan.before.image.clone()),
            environment: environment.to_vec(),
            wait_for_idle: false,
            register_only: !plan.steps.iter().any(|s| matches!(s, EcsStep::UpdateService { .. })),
            deployment: plan.deployment().cloned(),
            test_urls: plan
                .steps
                .iter()
                .find_map(|s| match s {
                    EcsStep::FollowDeployment { test_urls, .. } => Some(*test_urls),
                    _ => None,
                })
                .unwrap_or(0),
            keep_revisions: plan.steps.iter().find_map(|s| match s {
                EcsStep::KeepRevisions { keep } => Some(*keep),
                _ => None,
            }),
            wait_until: plan
                .steps
                .iter()
                .find_map(|s| match s {
                    EcsStep::FollowDeployment { until, .. } => Some(*until),
                    _ => None,
                })
                .unwrap_or_default(),
            resume: plan.steps.iter().find_map(|s| match s {
                EcsStep::Attach { deployment } => Some(deployment.clone()),
                _ => None,
            }),
        }
    }
}

/// An ECS service rollout: the ports it talks to and the request.
pub struct EcsRollout {
    pub ecs: Arc<dyn Ecs>,
    pub req: EcsRequest,
}

impl EcsRollout {
    pub fn new(ports: &Ports, req: EcsRequest) -> Self {
        EcsRollout {
            ecs: ports.ecs.clone(),
            req,
        }
    }

    fn revision(&self, planned: &PlannedRevision) -> Result<Revision> {
        planned_revision(&self.req.environment, planned)
    }
}

impl Rollout for EcsRollout {
    type Plan = EcsPlan;
    type Run = Run;
    const TARGET: Target = Target::Ecs;

    fn name(&self) -> String {
        self.req.service.clone()
    }

    async fn busy(&self, ctx: &Ctx) -> Result<Option<String>> {
        if self.req.resume.is_some() {
            // The deployment in progress is the one to follow.
            return Ok(None);
        }
        check_request(&self.req)?;
        let service = discover::describe(self.ecs.as_ref(), &self.req, &ctx.cancel).await?;
        Ok(discover::busy(&service))
    }

    fn wait_for_idle(&self) -> bool {
        self.req.wait_for_idle
    }

    async fn discover(&self, ctx: &mut Ctx) -> Result<EcsPlan> {
        discover(self.ecs.as_ref(), &self.req, ctx).await
    }

    async fn rediscover(&self, plan: &EcsPlan, ctx: &mut Ctx) -> Result<EcsPlan> {
        if let Some(planned) = plan.revision() {
            self.revision(planned)?;
        }
        let mut req = EcsRequest::of(plan, &self.req.environment);
        // This run's strategy, so a changed ecs.strategy shows as drift.
        req.deployment = self.req.deployment.clone();
        req.test_urls = self.req.test_urls;
        discover(self.ecs.as_ref(), &req, ctx).await
    }

    fn drift(&self, planned: &EcsPlan, fresh: &EcsPlan) -> Result<()> {
        plan::drift(planned, fresh)
    }

    fn plan_text(&self, plan: &EcsPlan) -> String {
        plan.text()
    }

    fn steps(&self, plan: &EcsPlan) -> usize {
        plan.steps.len()
    }

    fn up_to_date(&self, plan: &EcsPlan) -> String {
        plan.before.up_to_date()
    }

    async fn step(&self, plan: &EcsPlan, n: usize, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
        let b = &plan.before;
        let step = &plan.steps[n];
        match step {
            EcsStep::RegisterRevision { revision } => {
                ctx.phase(&step.describe(b));
                let revision = self.revision(revision)?;
                let td = register(self.ecs.as_ref(), &plan.before, &revision, ctx).await?;
                ctx.say(&format!("registered {}", td.arn));
                run.registered = Some(td);
                Ok(())
            }
            EcsStep::UpdateService { deployment, .. } => {
                ctx.phase(&step.describe(b));
                let update = ServiceUpdate {
                    task_definition: run.registered.as_ref().map(|td| td.arn.clone()).unwrap_or_default(),
                    deployment: deployment.clone(),
                };
                let before = match deployment {
                    Some(_) => {
                        calls::retry("DescribeServices", &ctx.cancel, || {
                            self.ecs.current_service_deployment(&b.cluster, &b.service)
                        })
                        .await?
                    }
                    None => None,
                };
                run.previous_service_deployment = before.clone();
                // Marked first: a 5xx may have changed it anyway.
                run.updated = true;
                ctx.pending.set(left_to_do(plan, run));
                let result = calls::retry("UpdateService", &ctx.cancel, || {
                    self.ecs.update_service(&b.cluster, &b.service, &update)
                })
                .await;
                // Refused outright (denied, invalid): the service was not changed.
                run.updated = !result.as_ref().is_err_and(calls::not_applied);
                let id = result?;
                ctx.say(&format!("deployment {id} started"));
                run.deployment = Some(id);
                if deployment.is_some() {
                    let arn = native::started(self.ecs.as_ref(), plan, before.as_deref(), ctx).await?;
                    ctx.say(&format!("service deployment {arn}"));
                    run.service_deployment = Some(arn);
                    ctx.pending.set(left_to_do(plan, run));
                }
                Ok(())
            }
            EcsStep::FollowDeployment { until, .. } => {
                ctx.phase(&step.describe(b));
                native::follow(&self.ecs, plan, *until, ctx, run).await
            }
            EcsStep::Attach { deployment } => {
                ctx.phase(&step.describe(b));
                run.service_deployment = Some(deployment.clone());
                run.updated = true;
                ctx.pending.set(left_to_do(plan, run));
                Ok(())
            }
            EcsStep::KeepRevisions { keep } => {
                ctx.phase(&step.describe(b));
                keep_revisions(self.ecs.as_ref(), b, *keep, ctx).await;
                Ok(())
            }
            EcsStep::WaitStable => {
                ctx.phase(&format!("wait until {} is stable", b.service));
                let new = run.registered.as_ref().map(|td| td.arn.clone()).unwrap_or_default();
                let timeout = ctx.timeout;
                gate(&self.ecs, plan, &new, timeout, ctx).await
            }
        }
    }

    fn left_to_do(&self, plan: &EcsPlan, run: &Run) -> Vec<String> {
        left_to_do(plan, run)
    }

    async fn cleanup(&self, plan: &EcsPlan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
        if !run.updated {
            return Ok(Cleaned::Nothing);
        }
        if run.service_deployment.is_none() && plan.deployment().is_some() {
            // Stopped between UpdateService and seeing its service deployment: look for it.
            let b = &plan.before;
            let current = calls::retry("DescribeServices", &ctx.cancel, || {
                self.ecs.current_service_deployment(&b.cluster, &b.service)
            })
            .await?;
            if current != run.previous_service_deployment {
                run.service_deployment = current;
            }
        }
        if run.service_deployment.is_some() {
            return native::roll_back(&self.ecs, plan, ctx, run).await;
        }
        roll_back(&self.ecs, plan, ctx, run).await?;
        Ok(Cleaned::RolledBack)
    }

    fn ending(&self, plan: &EcsPlan, run: &Run, cleaned: Cleaned) -> String {
        match cleaned {
            Cleaned::RolledBack => format!("rolled back to {}", short(&plan.before.task_definition)),
            Cleaned::Finished => format!("{} serves", plan.revision().map(|r| r.image.as_str()).unwrap_or("-")),
            Cleaned::Nothing => match &run.registered {
                Some(td) => format!("the service was not changed; {} stays registered", short(&td.arn)),
                None => "nothing had been changed".into(),
            },
        }
    }

    fn cleanup_log(&self, run: &Run) -> Vec<String> {
        run.cleanup.clone()
    }

    /// A native strategy bakes within its deployment (BAKE_TIME, blue standing by).
    fn platform_bakes(&self, plan: &EcsPlan) -> bool {
        plan.steps
            .iter()
            .any(|s| matches!(s, EcsStep::UpdateService { deployment: Some(d), .. } if !d.bake.is_zero()))
    }

    fn completed(&self, _plan: &EcsPlan, run: &Run) -> Verdict {
        if run.updated && run.shifted_only {
            Verdict::TrafficShifted
        } else if run.updated {
            Verdict::Succeeded
        } else {
            Verdict::Registered
        }
    }

    fn details(&self, plan: Option<&EcsPlan>, run: Option<&Run>, _verdict: Verdict) -> Details {
        let Some(plan) = plan else {
            return Details::Ecs(EcsDetails {
                cluster: self.req.cluster.clone(),
                service: self.req.service.clone(),
                previous_task_definition: String::new(),
                new_task_definition: None,
                previous_image: String::new(),
                image: self.req.image.clone(),
                deployment_id: None,
                strategy: strategy_name(self.req.deployment.as_ref()),
                traffic_percent: None,
                failing_stage: None,
                rollback_deployment_id: None,
            });
        };
        let b = &plan.before;
        let registered = run.and_then(|r| r.registered.as_ref()).map(|td| td.arn.clone());
        Details::Ecs(EcsDetails {
            cluster: b.cluster.clone(),
            service: b.service.clone(),
            previous_task_definition: b.task_definition.clone(),
            previous_image: b.image.clone(),
            new_task_definition: if plan.steps.is_empty() {
                Some(b.task_definition.clone())
            } else {
                registered
            },
            image: plan.revision().map(|r| r.image.clone()).unwrap_or(b.image.clone()),
            deployment_id: run.and_then(|r| r.service_deployment.clone().or(r.deployment.clone())),
            strategy: strategy_name(plan.deployment()),
            traffic_percent: run.and_then(|r| r.traffic),
            failing_stage: run.and_then(|r| r.failing_stage.clone()),
            rollback_deployment_id: None,
        })
    }
}
