//! Following an ECS native (blue/green, canary, linear) service deployment: its stages
//! and production traffic, the test-traffic gate at the PAUSE hook (CONTINUE when the
//! test URLs pass, ROLLBACK naming the probe otherwise), and the cleanup:
//! StopServiceDeployment ROLLBACK, then ROLLBACK_SUCCESSFUL with the old revision
//! serving. Also `keep_revisions`: deregistering old revisions after a success.

use std::sync::{Arc, Mutex};

use tokio::time::Instant;

use super::plan::{short, EcsObserved, EcsPlan};
use super::Run;
use crate::cloud::{Ecs, HookAction, LifecycleStage, ServiceDeployment, ServiceDeploymentStatus as Status};
use crate::error::{Error, Result};
use crate::roll::calls::{self, Ctx};
use crate::roll::{Cleaned, WaitUntil};
use crate::wait::{self, Check, Outcome as GateOutcome, Pacing};

/// Where a followed deployment stands.
enum Seen {
    Succeeded,
    /// `--wait-until traffic-shifted`: all production traffic is on the new revision.
    Shifted,
    /// Paused at a hook: its id.
    Paused(String),
    /// Rolled back or stopped (by ECS, an alarm, or a ROLLBACK answer).
    Ended(ServiceDeployment),
}

fn percent(p: Option<f64>) -> String {
    p.map(|p| format!("{p}%")).unwrap_or_else(|| "-".into())
}

/// The deployment's stage and traffic in a few words.
pub fn progress(d: &ServiceDeployment) -> String {
    format!(
        "{} {}, production traffic {} (test {})",
        d.status,
        d.stage.as_ref().map(|s| s.as_str()).unwrap_or("-"),
        percent(d.production_percent),
        percent(d.test_percent)
    )
}

async fn describe(ecs: &dyn Ecs, arn: &str, ctx: &Ctx) -> Result<ServiceDeployment> {
    calls::retry("DescribeServiceDeployments", &ctx.cancel, || {
        ecs.service_deployment(arn)
    })
    .await?
    .ok_or_else(|| Error::failed(format!("service deployment {arn} disappeared")))
}

/// After UpdateService: the new service deployment (one other than `before`).
pub(super) async fn started(ecs: &dyn Ecs, plan: &EcsPlan, before: Option<&str>, ctx: &mut Ctx) -> Result<String> {
    let b = &plan.before;
    let pacing = ctx.pacing();
    let cancel = ctx.cancel.clone();
    wait::until(
        "the service deployment",
        &pacing,
        &cancel,
        &mut ctx.progress,
        || async {
            let current = calls::retry("DescribeServices", &cancel, || {
                ecs.current_service_deployment(&b.cluster, &b.service)
            })
            .await?;
            Ok(match current {
                Some(arn) if Some(arn.as_str()) != before => Check::Done(arn),
                _ => Check::Pending("no new service deployment yet".into()),
            })
        },
    )
    .await
}

/// Polls the deployment until it succeeds, pauses at a hook or ends otherwise; records
/// the stage and the traffic reached.
async fn watch(
    ecs: &dyn Ecs,
    arn: &str,
    until: WaitUntil,
    deadline: Instant,
    ctx: &mut Ctx,
    run: &mut Run,
) -> Result<Seen> {
    let pacing = Pacing::new(ctx.poll, deadline.saturating_duration_since(Instant::now()));
    let cancel = ctx.cancel.clone();
    let answered = run.answered_hooks.clone();
    // The stage and most production traffic seen while it ran.
    let noted: Mutex<Run> = Mutex::new(Run {
        stage: run.stage.clone(),
        traffic: run.traffic,
        ..Run::default()
    });
    let what = format!("service deployment {}", arn.rsplit('/').next().unwrap_or(arn));
    let traffic = ctx.traffic();
    let result = wait::until(&what, &pacing, &cancel, &mut ctx.progress, || async {
        let d = calls::retry("DescribeServiceDeployments", &cancel, || ecs.service_deployment(arn))
            .await?
            .ok_or_else(|| Error::failed(format!("service deployment {arn} disappeared")))?;
        note(&mut noted.lock().unwrap_or_else(|e| e.into_inner()), &d);
        if let Some(p) = d.production_percent {
            traffic.percent(p);
        }
        Ok(match &d.status {
            Status::Successful => Check::Done(Seen::Succeeded),
            Status::Pending | Status::InProgress => match d.awaiting() {
                Some(hook) if answered.contains(&hook.id) => Check::Pending(format!(
                    "{}; hook {} answered, ECS has yet to act on it",
                    progress(&d),
                    hook.id
                )),
                Some(hook) => Check::Done(Seen::Paused(hook.id.clone())),
                None if until == WaitUntil::TrafficShifted && shifted(&d) => Check::Done(Seen::Shifted),
                None => Check::Pending(progress(&d)),
            },
            Status::StopRequested
            | Status::Stopped
            | Status::RollbackRequested
            | Status::RollbackInProgress
            | Status::RollbackSuccessful
            | Status::RollbackFailed => Check::Done(Seen::Ended(d)),
            Status::Unknown(_) => Check::Pending(progress(&d)),
        })
    })
    .await;
    let noted = noted.into_inner().unwrap_or_else(|e| e.into_inner());
    (run.stage, run.traffic) = (noted.stage, noted.traffic);
    if result.is_err() {
        run.failing_stage = run.stage.clone();
    }
    result
}

/// All production traffic is on the new revision: decided on the lifecycle stage, since
/// requestedProductionTrafficWeight "represents a snapshot of the traffic distribution and
/// may not reflect real-time changes during active deployments"
/// (ecs 2014-11-13 model, ServiceRevisionSummary). The stages after the production
/// shift are POST_PRODUCTION_TRAFFIC_SHIFT, BAKE_TIME and CLEAN_UP.
fn shifted(d: &ServiceDeployment) -> bool {
    matches!(
        d.stage,
        Some(LifecycleStage::PostProductionTrafficShift | LifecycleStage::BakeTime | LifecycleStage::CleanUp)
    )
}

/// Records the stage and the most production traffic the new revision had.
fn note(run: &mut Run, d: &ServiceDeployment) {
    if d.status == Status::InProgress || d.status == Status::Successful {
        run.stage = d.stage.as_ref().map(|s| s.to_string());
        if let Some(p) = d.production_percent {
            run.traffic = Some(run.traffic.unwrap_or(0.0).max(p));
        }
    }
}

/// Follows the service deployment to SUCCESSFUL; at the PAUSE hook, runs the test-traffic gate.
pub(super) async fn follow(
    ecs: &Arc<dyn Ecs>,
    plan: &EcsPlan,
    until: WaitUntil,
    ctx: &mut Ctx,
    run: &mut Run,
) -> Result<()> {
    let arn = run
        .service_deployment
        .clone()
        .ok_or_else(|| Error::failed("UpdateService started no service deployment"))?;
    let deadline = Instant::now() + ctx.timeout;
    loop {
        match watch(ecs.as_ref(), &arn, until, deadline, ctx, run).await? {
            Seen::Shifted => {
                run.shifted_only = true;
                ctx.say(&format!(
                    "production traffic is on the new revision; ECS finishes the deployment (bake, alarms, \
                     rollback). Follow it with: slipway-roll --resume {arn}"
                ));
                return Ok(());
            }
            Seen::Succeeded => {
                run.finished = true;
                let d = describe(ecs.as_ref(), &arn, ctx).await?;
                note(run, &d);
                ctx.say(&format!("service deployment succeeded: {}", progress(&d)));
                return Ok(());
            }
            Seen::Paused(hook) => test_gate(ecs.as_ref(), plan, &arn, &hook, deadline, ctx, run).await?,
            Seen::Ended(d) => {
                run.failing_stage = d.stage.as_ref().map(|s| s.to_string());
                let why = d
                    .rollback_reason
                    .clone()
                    .or(d.status_reason.clone())
                    .unwrap_or_else(|| "no reason given".into());
                return Err(Error::failed(format!(
                    "ECS stopped the deployment at {} ({}): {why}",
                    run.failing_stage.as_deref().unwrap_or("-"),
                    d.status
                )));
            }
        }
    }
}

/// The test-traffic gate: the new revision takes only test traffic; the test URLs are
/// probed; the hook is answered CONTINUE, or ROLLBACK naming the probe and what it saw.
#[allow(clippy::too_many_arguments)]
async fn test_gate(
    ecs: &dyn Ecs,
    plan: &EcsPlan,
    arn: &str,
    hook: &str,
    deadline: Instant,
    ctx: &mut Ctx,
    run: &mut Run,
) -> Result<()> {
    // The probes of health.test_urls (or the simulator's test listener), for the one gate.
    let probes = std::mem::take(&mut ctx.test_probes);
    run.answered_hooks.push(hook.to_string());
    let answer = |action: HookAction, cancel| async move {
        calls::retry("ContinueServiceDeployment", cancel, || {
            ecs.continue_service_deployment(arn, hook, action)
        })
        .await
    };
    if probes.is_empty() {
        ctx.say("no test URLs to probe: CONTINUE");
        return answer(HookAction::Continue, &ctx.cancel.clone()).await;
    }
    ctx.phase(&format!(
        "test-traffic gate: {} test URL(s) while {} takes only test traffic",
        probes.len(),
        plan.revision().map(|r| r.image.as_str()).unwrap_or("the new revision")
    ));
    let cancel = ctx.cancel.clone();
    let remaining = deadline.saturating_duration_since(Instant::now());
    let report = wait::gate(probes, remaining, &cancel, &mut ctx.progress).await?;
    let failing = report.probes.iter().find(|p| p.state != wait::ProbeState::Healthy);
    let seen = failing
        .map(|p| format!("{} {} saw {}", p.kind, p.name, p.detail))
        .unwrap_or_default();
    match report.outcome {
        GateOutcome::Healthy | GateOutcome::Planned => {
            ctx.say("test traffic healthy: CONTINUE");
            answer(HookAction::Continue, &cancel).await
        }
        GateOutcome::Failed => {
            run.failing_stage = Some("POST_TEST_TRAFFIC_SHIFT".into());
            ctx.say(&format!("test traffic failing ({seen}): ROLLBACK"));
            answer(HookAction::Rollback, &cancel).await?;
            run.answered_rollback = true;
            Err(Error::failed(format!(
                "test-traffic gate: {seen}; production traffic never moved"
            )))
        }
        GateOutcome::TimedOut => {
            run.failing_stage = Some("POST_TEST_TRAFFIC_SHIFT".into());
            Err(Error::timed_out(format!("test-traffic gate: {seen}")))
        }
        GateOutcome::Interrupted => {
            run.failing_stage = Some("POST_TEST_TRAFFIC_SHIFT".into());
            Err(Error::interrupted(Some("during the test-traffic gate".into())))
        }
    }
}

/// The cleanup: StopServiceDeployment ROLLBACK (unless it already rolls back), then
/// wait until it ends, and check which revision serves.
pub(super) async fn roll_back(ecs: &Arc<dyn Ecs>, plan: &EcsPlan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
    let b = &plan.before;
    let arn = run.service_deployment.clone().unwrap_or_default();
    ctx.phase(&format!("rolling back {} to {}", b.service, short(&b.task_definition)));
    let d = describe(ecs.as_ref(), &arn, ctx).await?;
    if matches!(d.status, Status::Pending | Status::InProgress) {
        match calls::retry("StopServiceDeployment", &ctx.cancel, || {
            ecs.stop_service_deployment(&arn)
        })
        .await
        {
            Ok(()) => push(ctx, run, "StopServiceDeployment ROLLBACK requested".into()),
            // Too late to stop (CLEAN_UP): it finishes.
            Err(e) => ctx.say(&format!("cleanup: could not stop the deployment: {e}")),
        }
    } else if run.answered_rollback {
        push(
            ctx,
            run,
            format!("the test-traffic gate answered ROLLBACK ({})", d.status),
        );
    } else {
        push(ctx, run, format!("ECS is already rolling back ({})", d.status));
    }
    let deadline = Instant::now() + ctx.timeout;
    let pacing = Pacing::new(ctx.poll, deadline.saturating_duration_since(Instant::now()));
    let cancel = ctx.cancel.clone();
    let ended = wait::until("the rollback", &pacing, &cancel, &mut ctx.progress, || async {
        let d = calls::retry("DescribeServiceDeployments", &cancel, || ecs.service_deployment(&arn))
            .await?
            .ok_or_else(|| Error::failed(format!("service deployment {arn} disappeared")))?;
        Ok(match &d.status {
            Status::RollbackSuccessful | Status::Stopped | Status::Successful => Check::Done(d),
            Status::RollbackFailed => Check::Failed(format!(
                "ROLLBACK_FAILED: {}",
                d.status_reason.clone().unwrap_or_default()
            )),
            _ => Check::Pending(progress(&d)),
        })
    })
    .await?;
    let service = calls::retry("DescribeServices", &ctx.cancel, || {
        ecs.describe_service(&b.cluster, &b.service)
    })
    .await?
    .ok_or_else(|| Error::failed(format!("ECS service {} disappeared", b.service)))?;
    if ended.status == Status::Successful {
        run.finished = true;
        push(
            ctx,
            run,
            format!("too late to roll back: {} serves", short(&service.task_definition)),
        );
        return Ok(Cleaned::Finished);
    }
    if service.task_definition != b.task_definition {
        return Err(Error::failed(format!(
            "the deployment ended {} but the service runs {}, not {}",
            ended.status,
            short(&service.task_definition),
            short(&b.task_definition)
        )));
    }
    run.updated = false;
    push(
        ctx,
        run,
        format!("{} ({}): {} serves", ended.status, b.service, short(&b.task_definition)),
    );
    Ok(Cleaned::RolledBack)
}

fn push(ctx: &Ctx, run: &mut Run, text: String) {
    ctx.say(&format!("cleanup: {text}"));
    run.cleanup.push(text);
}

/// `keep_revisions`: deregisters the family's older ACTIVE revisions, keeping the newest
/// `keep` and any revision the service's deployments use. A failure here only warns:
/// the roll has succeeded.
pub(crate) async fn keep_revisions(ecs: &dyn Ecs, b: &EcsObserved, keep: u32, ctx: &mut Ctx) -> Result<Vec<String>> {
    let active = calls::retry("ListTaskDefinitions", &ctx.cancel, || {
        ecs.task_definitions(&b.family, true)
    })
    .await?;
    let service = calls::retry("DescribeServices", &ctx.cancel, || {
        ecs.describe_service(&b.cluster, &b.service)
    })
    .await?;
    let in_use: Vec<String> = service
        .iter()
        .flat_map(|s| {
            std::iter::once(s.task_definition.clone()).chain(s.deployments.iter().map(|d| d.task_definition.clone()))
        })
        .collect();
    let older = active.len().saturating_sub(keep as usize);
    let mut gone = Vec::new();
    for arn in active.iter().take(older).filter(|a| !in_use.contains(a)) {
        calls::retry("DeregisterTaskDefinition", &ctx.cancel, || {
            ecs.deregister_task_definition(arn)
        })
        .await?;
        ctx.say(&format!("deregistered {}", short(arn)));
        gone.push(arn.clone());
    }
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(stage: LifecycleStage, percent: f64) -> ServiceDeployment {
        ServiceDeployment {
            arn: "sd".into(),
            status: Status::InProgress,
            status_reason: None,
            stage: Some(stage),
            target_revision: None,
            production_percent: Some(percent),
            test_percent: None,
            hooks: Vec::new(),
            rollback_reason: None,
        }
    }

    /// The stage says the shift is done, not the traffic snapshot (which may run ahead
    /// of, or lag, the real shift).
    #[test]
    fn traffic_shifted_is_decided_on_the_lifecycle_stage() {
        assert!(
            !shifted(&at(LifecycleStage::ProductionTrafficShift, 100.0)),
            "a snapshot ahead"
        );
        assert!(
            shifted(&at(LifecycleStage::PostProductionTrafficShift, 90.0)),
            "a snapshot behind"
        );
        assert!(shifted(&at(LifecycleStage::BakeTime, 100.0)));
        assert!(shifted(&at(LifecycleStage::CleanUp, 100.0)));
        assert!(!shifted(&at(LifecycleStage::PostTestTrafficShift, 0.0)));
    }
}
