//! Rolling a CODE_DEPLOY-controlled ECS service through CodeDeploy blue/green: register a
//! revision (shared with `roll::ecs`), create a deployment whose AppSpec names it and the
//! service's container and port, optionally probe the new revision on test traffic and
//! continue, follow the production traffic shift and the termination wait, and on
//! failure, timeout or a signal stop the deployment with rollback and wait until the
//! original task set serves again. The driver in `roll` runs it.

mod discover;
pub mod plan;
pub(crate) mod watch;

use std::sync::Arc;

pub use plan::{app_spec, CdPlan, CdStep, GroupSeen};
use watch::Seen;

use super::calls::{self, Ctx};
use super::ecs::plan::short;
use super::ecs::{keep_revisions, planned_revision, register, EcsRequest};
use super::outcome::{Details, EcsDetails, Target, Verdict};
use super::{Cleaned, Rollout, WaitUntil};
use crate::cloud::{
    CdRevision, CdStatus, CloudError, CodeDeploy, Ecs, ErrorKind, NewDeployment, Ports, TaskDefinition,
};
use crate::error::{Error, Result};
use crate::wait::{self, Outcome as GateOutcome};

/// The config CodeDeploy uses when neither slipway.yml nor the group names one.
pub const DEFAULT_CONFIG: &str = "CodeDeployDefault.ECSAllAtOnce";

/// What to deploy through CodeDeploy.
#[derive(Debug, Clone)]
pub struct CodeDeployRequest {
    /// The service, container, image and environment (as for a rolling ECS roll).
    pub ecs: EcsRequest,
    pub application: String,
    pub group: String,
    /// A deployment config overriding the group's.
    pub config: Option<String>,
    /// (AppSpec hook, Lambda function), in lifecycle order.
    pub hooks: Vec<(String, String)>,
    /// Probe health.test_urls on test traffic before production traffic moves.
    pub test_gate: bool,
}

impl CodeDeployRequest {
    /// The application and group names the ECS console gives a service's blue/green setup.
    pub fn default_names(cluster: &str, service: &str) -> (String, String) {
        (
            format!("AppECS-{cluster}-{service}"),
            format!("DgpECS-{cluster}-{service}"),
        )
    }
}

/// What the rollout changed so far.
#[derive(Debug, Default)]
pub struct Run {
    registered: Option<TaskDefinition>,
    /// CreateDeployment was called (it may have taken effect even if the call failed).
    created: bool,
    deployment: Option<String>,
    /// The deployment CodeDeploy rolls this one back with (rollbackInfo).
    rollback: Option<String>,
    seen: Seen,
    cleanup: Vec<String>,
}

/// A CodeDeploy rollout: the ports it talks to and the request.
pub struct CodeDeployRollout {
    pub ecs: Arc<dyn Ecs>,
    pub cd: Arc<dyn CodeDeploy>,
    pub req: CodeDeployRequest,
}

impl CodeDeployRollout {
    pub fn new(ports: &Ports, req: CodeDeployRequest) -> Self {
        CodeDeployRollout {
            ecs: ports.ecs.clone(),
            cd: ports.codedeploy.clone(),
            req,
        }
    }

    async fn discover_for(&self, req: &CodeDeployRequest, ctx: &mut Ctx) -> Result<CdPlan> {
        discover::discover(self.ecs.as_ref(), self.cd.as_ref(), req, ctx).await
    }

    /// Waits until the replacement is ready (the group waits for a reroute), probes test
    /// traffic when `probe`, then ContinueDeployment. The probes get at most the group's
    /// `wait` less a margin to answer: past it CodeDeploy stops the deployment itself.
    async fn test_gate(
        &self,
        id: &str,
        probe: bool,
        wait: std::time::Duration,
        run: &mut Run,
        ctx: &mut Ctx,
    ) -> Result<()> {
        ctx.phase(if probe {
            "wait until the new revision takes test traffic"
        } else {
            "wait until the replacement is ready for the reroute"
        });
        let cd = self.cd.as_ref();
        watch::follow(cd, id, "the replacement ready", true, &mut run.seen, ctx, |d, _| {
            d.status == CdStatus::Ready
        })
        .await
        .map_err(|e| watch::explain(e, &run.seen))?;
        let outlasted = || {
            Error::failed_with_help(
                format!(
                    "the test traffic gate outlasted the group's wait ({}): CodeDeploy stops a deployment not \
                     continued by then",
                    crate::wait::human(wait)
                ),
                "raise the deployment group's wait time (\"specify when to reroute traffic\") or make health.test_urls \
                 healthy sooner",
            )
        };
        if probe {
            ctx.phase("probe health.test_urls on test traffic");
            let probes = std::mem::take(&mut ctx.test_probes);
            if probes.is_empty() {
                return Err(Error::failed("the test-traffic gate has no probes (health.test_urls)"));
            }
            // A group whose wait time was not given (0) does not bound the gate.
            let bound = match wait.is_zero() {
                true => ctx.timeout,
                false => wait.saturating_sub(CONTINUE_MARGIN),
            };
            let limit = ctx.timeout.min(bound);
            let cancel = ctx.cancel.clone();
            let report = wait::gate(probes, limit, &cancel, &mut ctx.progress).await?;
            if report.outcome == GateOutcome::TimedOut && limit < ctx.timeout {
                run.seen.failing_stage = Some("AfterAllowTestTraffic (test traffic gate)".into());
                return Err(outlasted());
            }
            self.judge_gate(report, run)?;
        }
        match calls::retry_raw("ContinueDeployment", &ctx.cancel, || cd.continue_deployment(id)).await {
            Ok(()) => {}
            // The group's wait ended first: CodeDeploy stopped it (or is stopping it).
            Err(calls::Raw::Cloud(e)) if e.kind == crate::cloud::ErrorKind::Invalid => return Err(outlasted()),
            Err(calls::Raw::Cloud(e)) => return Err(e.into()),
            Err(calls::Raw::Wait(e)) => return Err(e),
        }
        ctx.say(&if probe {
            format!("test traffic healthy; deployment {id} continued")
        } else {
            format!("replacement ready; deployment {id} continued")
        });
        Ok(())
    }

    /// The test traffic gate's verdict.
    fn judge_gate(&self, report: crate::wait::GateReport, run: &mut Run) -> Result<()> {
        let failed: Vec<String> = report
            .probes
            .iter()
            .filter(|p| p.state != crate::wait::ProbeState::Healthy)
            .map(|p| format!("{} {}: {}", p.kind, p.name, p.detail))
            .collect();
        let what = format!("test traffic gate: {}", failed.join("; "));
        match report.outcome {
            GateOutcome::Healthy | GateOutcome::Planned => {}
            GateOutcome::Failed => {
                run.seen.failing_stage = Some("AfterAllowTestTraffic (test traffic gate)".into());
                return Err(Error::failed(what));
            }
            GateOutcome::TimedOut => {
                run.seen.failing_stage = Some("AfterAllowTestTraffic (test traffic gate)".into());
                return Err(Error::timed_out(what));
            }
            GateOutcome::Interrupted => return Err(Error::interrupted(Some("while probing test traffic".into()))),
        }
        Ok(())
    }
}

/// How long before the group's wait ends the test gate stops, to continue in time.
const CONTINUE_MARGIN: std::time::Duration = std::time::Duration::from_secs(30);

fn left_to_do(plan: &CdPlan, run: &Run) -> Vec<String> {
    if !run.created {
        return Vec::new();
    }
    let id = run
        .deployment
        .clone()
        .unwrap_or_else(|| "<the active deployment>".into());
    vec![format!(
        "stop CodeDeploy deployment {id} with rollback so {} serves again (aws deploy stop-deployment \
         --deployment-id {id} --auto-rollback-enabled)",
        short(&plan.before.task_definition)
    )]
}

impl Rollout for CodeDeployRollout {
    type Plan = CdPlan;
    type Run = Run;
    const TARGET: Target = Target::Ecs;

    fn name(&self) -> String {
        self.req.ecs.service.clone()
    }

    async fn busy(&self, ctx: &Ctx) -> Result<Option<String>> {
        if self.req.ecs.resume.is_some() {
            // The deployment in progress is the one to follow.
            return Ok(None);
        }
        let (app, group) = (&self.req.application, &self.req.group);
        let active = calls::retry("ListDeployments", &ctx.cancel, || {
            self.cd.active_deployments(app, group)
        })
        .await;
        match active {
            Ok(ids) if ids.is_empty() => Ok(None),
            Ok(ids) => Ok(Some(format!(
                "CodeDeploy deployment {} of {app}/{group} is in progress",
                ids.join(", ")
            ))),
            // A missing group is reported by discovery, naming both names.
            Err(e) if e.cause::<CloudError>().is_some_and(|c| c.kind == ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn wait_for_idle(&self) -> bool {
        self.req.ecs.wait_for_idle
    }

    async fn discover(&self, ctx: &mut Ctx) -> Result<CdPlan> {
        self.discover_for(&self.req, ctx).await
    }

    async fn rediscover(&self, plan: &CdPlan, ctx: &mut Ctx) -> Result<CdPlan> {
        if let Some(planned) = plan.revision() {
            planned_revision(&self.req.ecs.environment, planned)?;
        }
        let mut req = self.req.clone();
        req.ecs = EcsRequest {
            cluster: plan.before.cluster.clone(),
            service: plan.before.service.clone(),
            container: plan.before.container.clone(),
            image: plan
                .revision()
                .map(|r| r.image.clone())
                .unwrap_or(plan.before.image.clone()),
            environment: self.req.ecs.environment.clone(),
            wait_for_idle: false,
            register_only: !plan.steps.contains(&CdStep::CreateDeployment),
            deployment: None,
            test_urls: 0,
            keep_revisions: plan.steps.iter().find_map(|s| match s {
                CdStep::KeepRevisions { keep } => Some(*keep),
                _ => None,
            }),
            wait_until: if plan.steps.contains(&CdStep::WaitSucceeded) {
                WaitUntil::Completed
            } else {
                WaitUntil::TrafficShifted
            },
            resume: plan.steps.iter().find_map(|s| match s {
                CdStep::Attach { id } => Some(id.clone()),
                _ => None,
            }),
        };
        req.application = plan.group.application.clone();
        req.group = plan.group.name.clone();
        req.test_gate = plan.steps.contains(&CdStep::TestGate);
        self.discover_for(&req, ctx).await
    }

    fn drift(&self, planned: &CdPlan, fresh: &CdPlan) -> Result<()> {
        plan::drift(planned, fresh)
    }

    fn plan_text(&self, plan: &CdPlan) -> String {
        plan.text()
    }

    fn steps(&self, plan: &CdPlan) -> usize {
        plan.steps.len()
    }

    /// The bake runs once production traffic shifted, in the termination wait: the
    /// original task set still stands by, so a failed bake stops the deployment with
    /// rollback instead of meeting a deployment that already succeeded.
    fn bake_point(&self, plan: &CdPlan) -> usize {
        plan.steps
            .iter()
            .position(|s| *s == CdStep::WaitSucceeded)
            .unwrap_or(plan.steps.len())
    }

    fn up_to_date(&self, plan: &CdPlan) -> String {
        plan.before.up_to_date()
    }

    async fn step(&self, plan: &CdPlan, n: usize, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
        let step = &plan.steps[n];
        let cd = self.cd.as_ref();
        match step {
            CdStep::RegisterRevision { revision } => {
                ctx.phase(&plan.describe(step));
                let revision = planned_revision(&self.req.ecs.environment, revision)?;
                let td = register(self.ecs.as_ref(), &plan.before, &revision, ctx).await?;
                ctx.say(&format!("registered {}", td.arn));
                run.registered = Some(td);
                Ok(())
            }
            CdStep::CreateDeployment => {
                ctx.phase(&plan.describe(step));
                let arn = run.registered.as_ref().map(|td| td.arn.clone()).unwrap_or_default();
                let new = NewDeployment {
                    application: plan.group.application.clone(),
                    group: plan.group.name.clone(),
                    config: Some(plan.group.config.clone()),
                    revision: CdRevision::AppSpec(app_spec(
                        &arn,
                        &plan.before.container,
                        plan.container_port,
                        &plan.hooks,
                    )),
                    description: format!("slipway: {} onto {}", plan.before.service, short(&arn)),
                    alarms: super::watch::for_aws(&ctx.alarms),
                };
                // Marked first: a 5xx may have created it anyway.
                run.created = true;
                ctx.pending.set(left_to_do(plan, run));
                let result = calls::retry("CreateDeployment", &ctx.cancel, || cd.create_deployment(&new)).await;
                run.created = !result.as_ref().is_err_and(calls::not_applied);
                let id = result?;
                ctx.say(&format!("CodeDeploy deployment {id} created"));
                run.deployment = Some(id);
                ctx.pending.set(left_to_do(plan, run));
                Ok(())
            }
            CdStep::TestGate | CdStep::Continue => {
                let id = run.deployment.clone().unwrap_or_default();
                let wait = std::time::Duration::from_secs(plan.group.ready_wait_minutes.max(0) as u64 * 60);
                self.test_gate(&id, *step == CdStep::TestGate, wait, run, ctx).await
            }
            CdStep::WaitTrafficShifted => {
                ctx.phase(&plan.describe(step));
                let id = run.deployment.clone().unwrap_or_default();
                watch::follow(
                    cd,
                    &id,
                    "production traffic shifted",
                    true,
                    &mut run.seen,
                    ctx,
                    |d, t| d.status == CdStatus::Succeeded || t.is_some_and(|t| t.green_traffic() >= 100.0),
                )
                .await
                .map_err(|e| watch::explain(e, &run.seen))?;
                run.seen.traffic = Some(100.0);
                if !plan.steps.contains(&CdStep::WaitSucceeded) {
                    ctx.say(&format!(
                        "production traffic is on the new revision; CodeDeploy finishes the deployment \
                         (termination wait, alarms, rollback). Follow it with: slipway-roll --resume {id}"
                    ));
                }
                Ok(())
            }
            CdStep::Attach { id } => {
                ctx.phase(&plan.describe(step));
                run.created = true;
                run.deployment = Some(id.clone());
                ctx.pending.set(left_to_do(plan, run));
                Ok(())
            }
            CdStep::KeepRevisions { keep } => {
                ctx.phase(&plan.describe(step));
                keep_revisions(self.ecs.as_ref(), &plan.before, *keep, ctx).await;
                Ok(())
            }
            CdStep::WaitSucceeded => {
                ctx.phase(&plan.describe(step));
                let id = run.deployment.clone().unwrap_or_default();
                if run.seen.failing_stage.is_none() {
                    run.seen.failing_stage = Some("termination wait".into());
                }
                let result = watch::follow(cd, &id, "deployment succeeded", true, &mut run.seen, ctx, |d, _| {
                    d.status == CdStatus::Succeeded
                })
                .await;
                if result.is_ok() {
                    run.seen.failing_stage = None;
                }
                result.map_err(|e| watch::explain(e, &run.seen))
            }
        }
    }

    fn left_to_do(&self, plan: &CdPlan, run: &Run) -> Vec<String> {
        left_to_do(plan, run)
    }

    async fn cleanup(&self, plan: &CdPlan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
        if !run.created {
            return Ok(Cleaned::Nothing);
        }
        let cd = self.cd.as_ref();
        let g = &plan.group;
        let Some(id) = watch::created(cd, run.deployment.as_deref(), &g.application, &g.name, ctx).await? else {
            run.created = false;
            return Ok(Cleaned::Nothing);
        };
        run.deployment = Some(id.clone());
        ctx.phase(&format!(
            "rolling back {} to {}",
            plan.before.service,
            short(&plan.before.task_definition)
        ));
        let log = |ctx: &Ctx, run: &mut Run, text: String| {
            ctx.say(&format!("cleanup: {text}"));
            run.cleanup.push(text);
        };
        let (d, target) = watch::look(cd, &id, ctx).await?;
        watch::note(&mut run.seen, &d, target.as_ref());
        if d.status == CdStatus::Succeeded {
            run.created = false;
            log(
                ctx,
                run,
                format!("deployment {id} had already succeeded; the new revision serves"),
            );
            return Ok(Cleaned::Finished);
        }
        if !d.status.ended() {
            let line = watch::stop(cd, &id, true, ctx).await?;
            log(ctx, run, line);
        }
        let status = watch::ended(cd, &id, "the deployment ended", &mut run.seen, ctx, |_| true).await?;
        run.created = false;
        if status == CdStatus::Succeeded {
            log(
                ctx,
                run,
                format!("deployment {id} succeeded before it could be stopped; the new revision serves"),
            );
            return Ok(Cleaned::Finished);
        }
        // CodeDeploy rolls back through a new deployment (rollbackInfo.rollbackDeploymentId;
        // AWS documentation "Redeploy and roll back a deployment with CodeDeploy"): the
        // original ends Failed or Stopped where it stood, and only the rollback's end says
        // the original task set serves again.
        let d = calls::retry("GetDeployment", &ctx.cancel, || cd.get_deployment(&id)).await?;
        let Some(rollback) = d.rollback_deployment.clone() else {
            return Err(Error::failed(format!(
                "deployment {id} ended {status} and CodeDeploy names no rollback: the new revision may still \
                 take production traffic"
            )));
        };
        log(
            ctx,
            run,
            format!("deployment {id} ended {status}; CodeDeploy rolls back with {rollback}"),
        );
        run.rollback = Some(rollback.clone());
        let mut seen = Seen::default();
        let ended = watch::ended(cd, &rollback, "CodeDeploy's rollback finished", &mut seen, ctx, |_| {
            true
        })
        .await?;
        if ended != CdStatus::Succeeded {
            return Err(Error::failed(format!(
                "CodeDeploy's rollback {rollback} ended {ended}{}: the new revision may still take production traffic",
                seen.failure.map(|f| format!(" ({f})")).unwrap_or_default()
            )));
        }
        // Confirmed from ECS, not only from CodeDeploy: the service runs the revision it ran
        // before this roll (known when this roll registered the new one; a resumed
        // deployment's previous revision is CodeDeploy's word alone).
        let b = &plan.before;
        let service = calls::retry("DescribeServices", &ctx.cancel, || {
            self.ecs.describe_service(&b.cluster, &b.service)
        })
        .await?;
        let serving = service.map(|s| s.task_definition).unwrap_or_default();
        if run.registered.is_some() && serving != b.task_definition {
            return Err(Error::failed(format!(
                "CodeDeploy's rollback {rollback} succeeded, but ECS service {} runs {}, not {}",
                b.service,
                short(&serving),
                short(&b.task_definition)
            )));
        }
        run.seen.rolled_back = true;
        log(
            ctx,
            run,
            format!(
                "rollback {rollback} succeeded: the original task set ({}) serves all production traffic",
                short(&b.task_definition)
            ),
        );
        Ok(Cleaned::RolledBack)
    }

    fn ending(&self, plan: &CdPlan, run: &Run, cleaned: Cleaned) -> String {
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

    fn completed(&self, plan: &CdPlan, _run: &Run) -> Verdict {
        if !plan.steps.contains(&CdStep::WaitSucceeded) && plan.steps.contains(&CdStep::WaitTrafficShifted) {
            Verdict::TrafficShifted
        } else if plan.steps.contains(&CdStep::CreateDeployment) || plan.steps.contains(&CdStep::WaitSucceeded) {
            Verdict::Succeeded
        } else {
            Verdict::Registered
        }
    }

    fn details(&self, plan: Option<&CdPlan>, run: Option<&Run>, verdict: Verdict) -> Details {
        let req = &self.req.ecs;
        let seen = run.map(|r| r.seen.clone()).unwrap_or_default();
        let Some(plan) = plan else {
            return Details::Ecs(EcsDetails {
                cluster: req.cluster.clone(),
                service: req.service.clone(),
                previous_task_definition: String::new(),
                new_task_definition: None,
                previous_image: String::new(),
                image: req.image.clone(),
                deployment_id: None,
                strategy: "codedeploy".into(),
                traffic_percent: None,
                failing_stage: None,
                rollback_deployment_id: None,
            });
        };
        let b = &plan.before;
        Details::Ecs(EcsDetails {
            cluster: b.cluster.clone(),
            service: b.service.clone(),
            previous_task_definition: b.task_definition.clone(),
            previous_image: b.image.clone(),
            new_task_definition: if plan.steps.is_empty() {
                Some(b.task_definition.clone())
            } else {
                run.and_then(|r| r.registered.as_ref()).map(|td| td.arn.clone())
            },
            image: plan.revision().map(|r| r.image.clone()).unwrap_or(b.image.clone()),
            deployment_id: run.and_then(|r| r.deployment.clone()),
            strategy: "codedeploy".into(),
            traffic_percent: seen.traffic,
            failing_stage: if verdict == Verdict::Succeeded {
                None
            } else {
                seen.failing_stage
            },
            rollback_deployment_id: run.and_then(|r| r.rollback.clone()),
        })
    }
}
