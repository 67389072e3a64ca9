//! Rolling a CodeDeploy deployment group of EC2 instances or Auto Scaling groups onto a
//! bundle: zip the application directory (refusing one without appspec.yml), upload it
//! to S3 keyed by commit unless the same bundle is stored already, create a deployment of
//! that revision, follow it per instance and lifecycle event, and on failure, timeout,
//! an alarm or a signal stop it with CodeDeploy's rollback (or, when the group's auto
//! rollback is off, redeploy the last successful revision) and wait until that finished.
//! The following and stopping is shared with the ECS CodeDeploy target (`codedeploy::watch`).

pub mod bundle;
mod discover;
pub mod plan;
pub mod simulate;

use std::path::PathBuf;
use std::sync::Arc;

pub use plan::{ServerPlan, ServerStep};

use super::calls::{self, Ctx};
use super::codedeploy::watch::{self, Seen};
use super::outcome::{Details, ServerDetails, Stop, Target, Verdict};
use super::{Cleaned, Rollout};
use crate::cloud::{
    CdRevision, CdStatus, CloudError, CodeDeploy, ErrorKind, NewDeployment, ObjectStore, Ports, S3Revision,
};
use crate::config::ServerDeploy;
use crate::error::{Error, Result};

/// What to deploy.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    /// `codedeploy:` of the environment.
    pub settings: ServerDeploy,
    /// The bundle directory, resolved against slipway.yml's directory.
    pub bundle_dir: PathBuf,
    /// The application name (part of the key).
    pub app: String,
    /// The full commit the bundle is keyed by.
    pub commit: String,
    pub wait_for_idle: bool,
    /// Deploy this stored revision (`s3://bucket/key`, an earlier deployment's) instead of
    /// the commit's bundle: how `waves_on_failure: rollback_all` takes a region back.
    pub redeploy: Option<String>,
}

/// What the rollout changed so far.
#[derive(Debug, Default)]
pub struct Run {
    /// The ETag of the bundle this run uploaded.
    uploaded: Option<String>,
    /// CreateDeployment was called (it may have taken effect even if the call failed).
    created: bool,
    deployment: Option<String>,
    /// The deployment that rolled it back.
    rollback: Option<String>,
    seen: Seen,
    cleanup: Vec<String>,
}

/// A CodeDeploy-to-EC2 rollout: the ports it talks to and the request.
pub struct ServerRollout {
    pub cd: Arc<dyn CodeDeploy>,
    pub store: Arc<dyn ObjectStore>,
    pub req: ServerRequest,
}

impl ServerRollout {
    pub fn new(ports: &Ports, req: ServerRequest) -> Self {
        ServerRollout {
            cd: ports.codedeploy.clone(),
            store: ports.objects.clone(),
            req,
        }
    }

    fn revision(&self, plan: &ServerPlan, run: &Run) -> S3Revision {
        S3Revision {
            bucket: plan.bundle.bucket.clone(),
            key: plan.bundle.key.clone(),
            etag: run.uploaded.clone().or(plan.bundle.stored_etag.clone()),
        }
    }

    /// Creates a deployment of `revision`; refuses (as busy) when another one started first.
    async fn create(&self, plan: &ServerPlan, revision: S3Revision, what: &str, ctx: &Ctx) -> Result<String> {
        let g = &plan.group;
        let new = NewDeployment {
            application: g.application.clone(),
            group: g.name.clone(),
            config: Some(g.config.clone()),
            revision: CdRevision::S3(revision),
            description: format!("slipway: {what}"),
            alarms: super::watch::for_aws(&ctx.alarms),
        };
        let cd = self.cd.as_ref();
        calls::retry_raw("CreateDeployment", &ctx.cancel, || cd.create_deployment(&new))
            .await
            .map_err(|e| match e {
                calls::Raw::Cloud(c) if c.code.as_deref() == Some("DeploymentLimitExceededException") => Error::input(
                    format!(
                        "CodeDeploy deployment group {}/{} is busy: another deployment started first ({})",
                        g.application, g.name, c.message
                    ),
                    "pass --wait-for-idle to wait for it, or let one workflow deploy at a time (a concurrency group)",
                ),
                calls::Raw::Cloud(c) => c.into(),
                calls::Raw::Wait(e) => e,
            })
    }

    /// Waits until deployment `id` ended; its status.
    async fn ended(&self, id: &str, what: &str, run: &mut Run, ctx: &mut Ctx) -> Result<CdStatus> {
        watch::ended(self.cd.as_ref(), id, what, &mut run.seen, ctx, |_| true).await
    }

    /// Deploys the last successful revision again and waits for it (auto rollback off,
    /// or a deployment that succeeded before a bake or an alarm failed the roll).
    async fn redeploy(&self, plan: &ServerPlan, run: &mut Run, ctx: &mut Ctx) -> Result<Cleaned> {
        let Some(previous) = plan.group.previous.as_ref().and_then(|p| p.revision.clone()) else {
            return Err(Error::failed(format!(
                "{}/{} has no earlier successful S3 revision to redeploy; its instances may run {}",
                plan.group.application,
                plan.group.name,
                plan.bundle.url()
            )));
        };
        let url = format!("s3://{}/{}", previous.bucket, previous.key);
        let created = self
            .create(plan, previous.clone(), &format!("redeploy {url} (rollback)"), ctx)
            .await;
        let id = match created {
            Ok(id) => {
                self.log(
                    ctx,
                    run,
                    format!("redeploying the last successful revision {url}: deployment {id}"),
                );
                id
            }
            // A deployment started meanwhile: CodeDeploy's own rollback, when it deploys that revision.
            Err(e) if Stop::of(&e) == Stop::BadInput => {
                let other = self.deployment(plan, &Run::default(), ctx).await?.ok_or(e)?;
                let d = calls::retry("GetDeployment", &ctx.cancel, || self.cd.get_deployment(&other)).await?;
                let same = matches!(&d.revision, Some(CdRevision::S3(r)) if r.bucket == previous.bucket && r.key == previous.key);
                if !same {
                    return Err(Error::failed(format!(
                        "deployment {other} started meanwhile and does not deploy {url}; it was not waited for"
                    )));
                }
                self.log(
                    ctx,
                    run,
                    format!("CodeDeploy is redeploying {url} itself: deployment {other}"),
                );
                other
            }
            Err(e) => return Err(e),
        };
        run.rollback = Some(id.clone());
        let mut seen = Seen::default();
        std::mem::swap(&mut seen, &mut run.seen);
        let status = self.ended(&id, "the previous revision redeployed", run, ctx).await;
        std::mem::swap(&mut seen, &mut run.seen);
        let status = status?;
        if status != CdStatus::Succeeded {
            return Err(Error::failed(format!("the redeploy of {url} ({id}) ended {status}")));
        }
        self.log(ctx, run, format!("every instance serves {url} again"));
        Ok(Cleaned::RolledBack)
    }

    fn log(&self, ctx: &Ctx, run: &mut Run, text: String) {
        ctx.say(&format!("cleanup: {text}"));
        run.cleanup.push(text);
    }

    /// The deployment a run created: its id, or (when the answer was lost) the group's active one.
    async fn deployment(&self, plan: &ServerPlan, run: &Run, ctx: &Ctx) -> Result<Option<String>> {
        let g = &plan.group;
        watch::created(
            self.cd.as_ref(),
            run.deployment.as_deref(),
            &g.application,
            &g.name,
            ctx,
        )
        .await
    }
}

fn left_to_do(plan: &ServerPlan, run: &Run) -> Vec<String> {
    if !run.created {
        return Vec::new();
    }
    let id = run
        .deployment
        .clone()
        .unwrap_or_else(|| "<the active deployment>".into());
    let back = plan.previous_url().unwrap_or_else(|| "the previous revision".into());
    vec![format!(
        "stop CodeDeploy deployment {id} with rollback so {back} serves again (aws deploy stop-deployment \
         --deployment-id {id} --auto-rollback-enabled)"
    )]
}

impl Rollout for ServerRollout {
    type Plan = ServerPlan;
    type Run = Run;
    const TARGET: Target = Target::Codedeploy;

    fn name(&self) -> String {
        format!(
            "{}/{}",
            self.req.settings.application, self.req.settings.deployment_group
        )
    }

    async fn busy(&self, ctx: &Ctx) -> Result<Option<String>> {
        let s = &self.req.settings;
        let (app, group) = (&s.application, &s.deployment_group);
        let active = calls::retry("ListDeployments", &ctx.cancel, || {
            self.cd.active_deployments(app, group)
        })
        .await;
        match active {
            Ok(ids) if ids.is_empty() => Ok(None),
            Ok(ids) => Ok(Some(format!("CodeDeploy deployment {} is in progress", ids.join(", ")))),
            // A missing group is reported by discovery, naming both names.
            Err(e) if e.cause::<CloudError>().is_some_and(|c| c.kind == ErrorKind::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn wait_for_idle(&self) -> bool {
        self.req.wait_for_idle
    }

    async fn discover(&self, ctx: &mut Ctx) -> Result<ServerPlan> {
        let (plan, _) = discover::discover(self.cd.as_ref(), self.store.as_ref(), &self.req, ctx).await?;
        Ok(plan)
    }

    async fn rediscover(&self, _plan: &ServerPlan, ctx: &mut Ctx) -> Result<ServerPlan> {
        self.discover(ctx).await
    }

    fn drift(&self, planned: &ServerPlan, fresh: &ServerPlan) -> Result<()> {
        plan::drift(planned, fresh)
    }

    fn plan_text(&self, plan: &ServerPlan) -> String {
        plan.text()
    }

    fn steps(&self, plan: &ServerPlan) -> usize {
        plan.steps.len()
    }

    fn up_to_date(&self, plan: &ServerPlan) -> String {
        plan.up_to_date()
    }

    async fn step(&self, plan: &ServerPlan, n: usize, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
        let step = plan.steps[n];
        ctx.phase(&plan.describe(step));
        match step {
            ServerStep::UploadBundle => {
                // Built again: exactly the bytes the plan saw, or the plan is stale.
                let built = bundle::build(&self.req.bundle_dir)?;
                if built.sha256 != plan.bundle.sha256 {
                    return Err(Error::input(
                        format!(
                            "the bundle directory changed since the plan: sha256 {} -> {}",
                            plan.bundle.sha256, built.sha256
                        ),
                        "make a new plan with --plan-out and apply that one",
                    ));
                }
                let b = &plan.bundle;
                let store = self.store.as_ref();
                let sha = built.sha256.clone();
                let etag = calls::retry_within("PutObject", calls::UPLOAD_FOR, &ctx.cancel, || {
                    store.put(&b.bucket, &b.key, built.bytes.clone(), &sha)
                })
                .await?;
                ctx.say(&format!("uploaded {} (ETag {etag})", b.url()));
                run.uploaded = Some(etag);
                Ok(())
            }
            ServerStep::CreateDeployment => {
                let revision = self.revision(plan, run);
                // Marked first: a 5xx may have created it anyway.
                run.created = true;
                ctx.pending.set(left_to_do(plan, run));
                let result = self
                    .create(plan, revision, &format!("deploy {}", plan.bundle.url()), ctx)
                    .await;
                run.created = !result
                    .as_ref()
                    .is_err_and(|e| calls::not_applied(e) || Stop::of(e) == Stop::BadInput);
                let id = result?;
                ctx.say(&format!("CodeDeploy deployment {id} created"));
                run.deployment = Some(id);
                ctx.pending.set(left_to_do(plan, run));
                Ok(())
            }
            ServerStep::WaitSucceeded => {
                let id = run.deployment.clone().unwrap_or_default();
                let result = watch::follow(
                    self.cd.as_ref(),
                    &id,
                    "deployment succeeded",
                    true,
                    &mut run.seen,
                    ctx,
                    |d, _| d.status == CdStatus::Succeeded,
                )
                .await;
                result.map_err(|e| watch::explain(e, &run.seen))
            }
        }
    }

    fn left_to_do(&self, plan: &ServerPlan, run: &Run) -> Vec<String> {
        left_to_do(plan, run)
    }

    async fn cleanup(&self, plan: &ServerPlan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
        if !run.created {
            return Ok(Cleaned::Nothing);
        }
        let Some(id) = self.deployment(plan, run, ctx).await? else {
            run.created = false;
            return Ok(Cleaned::Nothing);
        };
        run.deployment = Some(id.clone());
        ctx.phase(&format!(
            "rolling back {} to {}",
            self.name(),
            plan.previous_url().unwrap_or_else(|| "the previous revision".into())
        ));
        let cd = self.cd.as_ref();
        let (d, target) = watch::look(cd, &id, ctx).await?;
        watch::note(&mut run.seen, &d, target.as_ref());
        if !d.status.ended() {
            let line = watch::stop(cd, &id, plan.group.auto_rollback, ctx).await?;
            self.log(ctx, run, line);
        }
        let status = self.ended(&id, "the deployment ended", run, ctx).await?;
        run.created = false;
        let d = calls::retry("GetDeployment", &ctx.cancel, || cd.get_deployment(&id)).await?;
        if status == CdStatus::Succeeded {
            // It succeeded, and then a bake, an alarm or a signal stopped the roll.
            self.log(
                ctx,
                run,
                format!("deployment {id} had succeeded; the roll is undone by a redeploy"),
            );
            return self.redeploy(plan, run, ctx).await;
        }
        let Some(rollback) = d.rollback_deployment.clone() else {
            self.log(
                ctx,
                run,
                format!("deployment {id} ended {status} and names no rollback by CodeDeploy"),
            );
            return self.redeploy(plan, run, ctx).await;
        };
        self.log(
            ctx,
            run,
            format!("deployment {id} ended {status}; CodeDeploy rolls back with {rollback}"),
        );
        run.rollback = Some(rollback.clone());
        let mut seen = Seen::default();
        std::mem::swap(&mut seen, &mut run.seen);
        let ended = self.ended(&rollback, "CodeDeploy's rollback finished", run, ctx).await;
        std::mem::swap(&mut seen, &mut run.seen);
        match ended? {
            CdStatus::Succeeded => {
                run.seen.rolled_back = true;
                let back = plan.previous_url().unwrap_or_else(|| "the previous revision".into());
                self.log(
                    ctx,
                    run,
                    format!("rollback {rollback} succeeded: every instance serves {back} again"),
                );
                Ok(Cleaned::RolledBack)
            }
            other => Err(Error::failed(format!("CodeDeploy's rollback {rollback} ended {other}"))),
        }
    }

    fn ending(&self, plan: &ServerPlan, _run: &Run, cleaned: Cleaned) -> String {
        match cleaned {
            Cleaned::RolledBack => format!(
                "rolled back to {}",
                plan.previous_url().unwrap_or_else(|| "the previous revision".into())
            ),
            Cleaned::Finished => format!("{} serves", plan.bundle.url()),
            Cleaned::Nothing => "nothing had been deployed".into(),
        }
    }

    fn cleanup_log(&self, run: &Run) -> Vec<String> {
        run.cleanup.clone()
    }

    fn details(&self, plan: Option<&ServerPlan>, run: Option<&Run>, verdict: Verdict) -> Details {
        let s = &self.req.settings;
        let seen = run.map(|r| r.seen.clone()).unwrap_or_default();
        let failed = verdict != Verdict::Succeeded;
        let pick = |v: Option<String>| if failed { v } else { None };
        let bundle = plan.map(|p| p.bundle.url()).unwrap_or_else(|| {
            format!(
                "s3://{}/{}",
                s.bucket,
                bundle::key(&s.prefix, &self.req.app, &self.req.commit)
            )
        });
        Details::Server(ServerDetails {
            application: s.application.clone(),
            deployment_group: s.deployment_group.clone(),
            config: plan.map(|p| p.group.config.clone()).unwrap_or(s.config.clone()),
            bundle,
            bundle_uploaded: run.is_some_and(|r| r.uploaded.is_some()),
            previous_bundle: plan.and_then(ServerPlan::previous_url),
            deployment_id: run.and_then(|r| r.deployment.clone()),
            rollback_deployment_id: run.and_then(|r| r.rollback.clone()),
            instances_succeeded: seen.instances.0,
            instances_failed: seen.instances.1,
            failing_instance: pick(seen.failing_instance),
            failing_event: pick(seen.failing_stage),
            error_code: pick(seen.error_code),
            log_tail: pick(seen.log_tail),
        })
    }
}
