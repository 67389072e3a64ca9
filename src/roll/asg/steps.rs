//! The steps of a plan, one function each; every wait goes through the polling engine.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::plan::{Plan, Step};
use super::Run;
use crate::cloud::{CloudError, ErrorKind, Group, Health, Lifecycle, Ports, RefreshStatus, TargetState};
use crate::error::{Error, Result};
use crate::roll::calls::{self, not_applied, Ctx, Raw};
use crate::roll::watch;
use crate::wait::target_group::TargetGroupProbe;
use crate::wait::{self, Check, Outcome as GateOutcome};

pub(super) async fn run(ports: &Ports, plan: &Plan, step: &Step, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
    let group = plan.before.group.as_str();
    match step {
        Step::SetLaunchTemplate { template } => {
            ctx.phase(&step.describe());
            // Marked first: a 5xx may have changed it anyway.
            run.lt_changed = true;
            let result = calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
                ports.asg.set_launch_template(group, template)
            })
            .await;
            // Refused outright (denied, invalid): nothing to set back.
            run.lt_changed = !result.as_ref().is_err_and(not_applied);
            result
        }
        Step::SetCapacity { min, max, desired, .. } => {
            ctx.phase(&step.describe());
            let before = run.capacity_changed;
            run.capacity_changed = true;
            let result = calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
                ports.asg.update_size(group, *min, *max, *desired)
            })
            .await;
            if result.as_ref().is_err_and(not_applied) {
                // Refused outright: only what earlier steps changed is left to undo.
                run.capacity_changed = before;
            }
            result
        }
        Step::WaitNewHealthy { count, target_groups } => {
            ctx.phase(&step.describe());
            run.new_instances = wait_new_healthy(ports, plan, *count, target_groups, ctx).await?;
            ctx.say(&format!("new instances healthy: {}", run.new_instances.join(", ")));
            Ok(())
        }
        Step::CheckProbes => probes(ctx).await,
        Step::CanaryBake {
            count,
            bake,
            target_groups,
        } => {
            // Every target of the group's target groups stays healthy: the old instances
            // and the canary (at least `count` healthy).
            let grace = Duration::from_secs(0);
            let watched: Vec<Box<dyn wait::Probe>> = target_groups
                .iter()
                .map(|arn| {
                    Box::new(TargetGroupProbe::new(
                        ports.elb.clone(),
                        arn,
                        *count as usize,
                        grace,
                        ctx.poll,
                    )) as Box<dyn wait::Probe>
                })
                .collect();
            let what = format!("canary bake ({count} instance(s))");
            // The health URLs and the canary's target health, for the canary's bake.
            let mut probes = std::mem::take(&mut ctx.probes);
            let kept = probes.len();
            probes.extend(watched);
            let (mut probes, result) = watch::bake_on(ctx, Duration::from_secs(*bake), &what, probes).await;
            probes.truncate(kept);
            ctx.probes = probes;
            result
        }
        Step::Deregister {
            target_groups,
            instances,
        } => {
            ctx.phase(&step.describe());
            run.committed = true;
            for arn in target_groups {
                let health = calls::retry("DescribeTargetHealth", &ctx.cancel, || ports.elb.target_health(arn)).await?;
                let targets: Vec<(String, Option<i32>)> = health
                    .iter()
                    .filter(|t| instances.contains(&t.id))
                    .map(|t| (t.id.clone(), t.port))
                    .collect();
                if !targets.is_empty() {
                    calls::retry("DeregisterTargets", &ctx.cancel, || ports.elb.deregister(arn, &targets)).await?;
                }
            }
            Ok(())
        }
        Step::WaitDrained {
            target_groups,
            instances,
            ..
        } => {
            ctx.phase(&step.describe());
            wait_drained(ports, target_groups, instances, ctx).await
        }
        Step::Terminate { instances, decrement } => {
            ctx.phase(&step.describe());
            run.committed = true;
            for id in instances {
                terminate(ports, id, *decrement, &ctx.cancel).await?;
            }
            Ok(())
        }
        Step::WaitGone { instances } => {
            ctx.phase(&step.describe());
            wait_gone(ports, group, instances, ctx).await
        }
        Step::StartRefresh { spec } => {
            ctx.phase(&step.describe());
            run.refresh_started = true;
            let id = start_refresh(ports, group, spec, ctx).await?;
            ctx.say(&format!("instance refresh {id} started"));
            run.refresh_id = Some(id);
            Ok(())
        }
        Step::WaitRefresh => {
            ctx.phase("follow the instance refresh");
            let id = run.refresh_id.clone().unwrap_or_default();
            wait_refresh(ports, group, &id, ctx, false).await?;
            run.new_instances = describe(ports, group, ctx)
                .await?
                .instances
                .into_iter()
                .map(|i| i.id)
                .collect();
            Ok(())
        }
    }
}

/// StartInstanceRefresh. A retried call that finds a refresh in progress adopts it when
/// it is the one this call started (same target version), which a 5xx can hide.
async fn start_refresh(ports: &Ports, group: &str, spec: &crate::cloud::RefreshSpec, ctx: &Ctx) -> Result<String> {
    let mut attempts = 0;
    let result = calls::retry_raw("StartInstanceRefresh", &ctx.cancel, || {
        attempts += 1;
        ports.asg.start_refresh(group, spec)
    })
    .await;
    match result {
        Ok(id) => Ok(id),
        Err(Raw::Cloud(e)) if e.code.as_deref() == Some("InstanceRefreshInProgress") && attempts > 1 => {
            let refreshes = calls::retry("DescribeInstanceRefreshes", &ctx.cancel, || {
                ports.asg.describe_refreshes(group, None)
            })
            .await?;
            refreshes
                .into_iter()
                .find(|r| r.in_progress())
                .map(|r| r.id)
                .ok_or_else(|| e.into())
        }
        Err(Raw::Cloud(e)) => Err(e.into()),
        Err(Raw::Wait(e)) => Err(e),
    }
}

pub(super) async fn describe(ports: &Ports, group: &str, ctx: &Ctx) -> Result<Group> {
    calls::retry("DescribeAutoScalingGroups", &ctx.cancel, || {
        ports.asg.describe_group(group)
    })
    .await?
    .ok_or_else(|| Error::failed(format!("Auto Scaling group {group} disappeared during the roll")))
}

/// Terminates one instance; one already gone or terminating counts as done.
pub(super) async fn terminate(
    ports: &Ports,
    id: &str,
    decrement: bool,
    cancel: &tokio_util::sync::CancellationToken,
) -> Result<()> {
    match calls::retry_raw("TerminateInstanceInAutoScalingGroup", cancel, || {
        ports.asg.terminate_instance(id, decrement)
    })
    .await
    {
        Ok(()) => Ok(()),
        Err(Raw::Cloud(e)) if e.kind == ErrorKind::NotFound => Ok(()),
        Err(Raw::Cloud(e)) => Err(e.into()),
        Err(Raw::Wait(e)) => Err(e),
    }
}

/// A poll's cloud error, judged as every wait judges it: retried on the next poll when
/// transient, the end at once otherwise (denied is not pending).
fn transient<T>(e: CloudError) -> Result<Check<T>> {
    Ok(wait::cloud::after_error(&e))
}

async fn wait_new_healthy(
    ports: &Ports,
    plan: &Plan,
    count: i32,
    target_groups: &[String],
    ctx: &mut Ctx,
) -> Result<Vec<String>> {
    let old: BTreeSet<String> = plan.before.instance_ids().into_iter().collect();
    let group = plan.before.group.as_str();
    let names: BTreeMap<&str, &str> = plan
        .before
        .target_groups
        .iter()
        .map(|t| (t.arn.as_str(), t.name.as_str()))
        .collect();
    let pacing = ctx.pacing();
    let cancel = ctx.cancel.clone();
    let what = format!("waiting for {count} new instance(s)");
    wait::until(&what, &pacing, &cancel, &mut ctx.progress, || async {
        let g = match ports.asg.describe_group(group).await {
            Ok(Some(g)) => g,
            Ok(None) => {
                return Err(Error::failed(format!(
                    "Auto Scaling group {group} disappeared during the roll"
                )))
            }
            Err(e) => return transient(e),
        };
        let new: Vec<_> = g.instances.iter().filter(|i| !old.contains(&i.id)).collect();
        if let Some(bad) = new
            .iter()
            .find(|i| i.health_status == Health::Unhealthy || i.lifecycle_state.leaving())
        {
            return Ok(Check::Failed(format!(
                "new instance {} (launch template version {}) is {}/{}: it failed its health checks",
                bad.id,
                bad.launch_template_version.as_deref().unwrap_or("?"),
                bad.lifecycle_state,
                bad.health_status
            )));
        }
        let in_service: Vec<&str> = new
            .iter()
            .filter(|i| i.in_service_and_healthy())
            .map(|i| i.id.as_str())
            .collect();
        let mut healthy: BTreeSet<&str> = in_service.iter().copied().collect();
        let mut detail = String::new();
        for arn in target_groups {
            let health = match ports.elb.target_health(arn).await {
                Ok(h) => h,
                Err(e) => return transient(e),
            };
            let states: BTreeMap<&str, &crate::cloud::TargetHealth> =
                health.iter().map(|t| (t.id.as_str(), t)).collect();
            healthy.retain(|id| states.get(id).is_some_and(|t| t.state == TargetState::Healthy));
            if detail.is_empty() {
                if let Some(t) = in_service
                    .iter()
                    .filter_map(|id| states.get(id))
                    .find(|t| t.state != TargetState::Healthy)
                {
                    detail = format!(
                        "; {} is {}{} in {}",
                        t.id,
                        t.state,
                        t.reason.as_deref().map(|r| format!(" ({r})")).unwrap_or_default(),
                        names.get(arn.as_str()).unwrap_or(&arn.as_str())
                    );
                }
            }
        }
        if healthy.len() as i32 >= count {
            return Ok(Check::Done(healthy.iter().map(|s| s.to_string()).collect::<Vec<_>>()));
        }
        if detail.is_empty() {
            if let Some(p) = new.iter().find(|i| i.lifecycle_state != Lifecycle::InService) {
                detail = format!("; {} is {}", p.id, p.lifecycle_state);
            }
        }
        Ok(Check::Pending(format!(
            "{}/{count} new in service, {}/{count} healthy in every target group{detail}",
            in_service.len(),
            healthy.len()
        )))
    })
    .await
}

async fn probes(ctx: &mut Ctx) -> Result<()> {
    if ctx.probes.is_empty() {
        return Ok(());
    }
    ctx.phase("check the health probes");
    let cancel = ctx.cancel.clone();
    // Borrowed, not taken: a bake watches the same probes again.
    let span = wait::Span::until(ctx.timeout);
    let report = wait::gate_on(&mut ctx.probes, span, &cancel, &mut ctx.progress).await?;
    let cause = report.cause.clone().unwrap_or_default();
    match report.outcome {
        GateOutcome::Healthy | GateOutcome::Planned => Ok(()),
        GateOutcome::Failed => Err(Error::failed(format!("health probes failed: {cause}"))),
        GateOutcome::TimedOut => Err(Error::timed_out(format!("health probes: {cause}"))),
        GateOutcome::Interrupted => Err(Error::interrupted(Some("while checking the health probes".into()))),
    }
}

pub(super) async fn wait_drained(
    ports: &Ports,
    target_groups: &[String],
    instances: &[String],
    ctx: &mut Ctx,
) -> Result<()> {
    let pacing = ctx.pacing();
    let cancel = ctx.cancel.clone();
    wait::until("draining", &pacing, &cancel, &mut ctx.progress, || async {
        let mut draining = 0;
        for arn in target_groups {
            match ports.elb.target_health(arn).await {
                Ok(h) => {
                    draining += h
                        .iter()
                        .filter(|t| instances.contains(&t.id) && t.state.draining())
                        .count()
                }
                Err(e) => return transient(e),
            }
        }
        Ok(if draining == 0 {
            Check::Done(())
        } else {
            Check::Pending(format!("{draining} target(s) draining"))
        })
    })
    .await
}

pub(super) async fn wait_gone(ports: &Ports, group: &str, instances: &[String], ctx: &mut Ctx) -> Result<()> {
    let pacing = ctx.pacing();
    let cancel = ctx.cancel.clone();
    wait::until("old instances gone", &pacing, &cancel, &mut ctx.progress, || async {
        let g = match ports.asg.describe_group(group).await {
            Ok(Some(g)) => g,
            Ok(None) => return Ok(Check::Done(())),
            Err(e) => return transient(e),
        };
        let left = g.instances.iter().filter(|i| instances.contains(&i.id)).count();
        Ok(if left == 0 {
            Check::Done(())
        } else {
            Check::Pending(format!("{left} instance(s) still terminating"))
        })
    })
    .await
}

/// Follows a refresh: done on Successful (or, when `rollback`, RollbackSuccessful).
pub(super) async fn wait_refresh(ports: &Ports, group: &str, id: &str, ctx: &mut Ctx, rollback: bool) -> Result<()> {
    let pacing = ctx.pacing();
    let cancel = ctx.cancel.clone();
    let what = if rollback {
        "refresh rollback"
    } else {
        "instance refresh"
    };
    wait::until(what, &pacing, &cancel, &mut ctx.progress, || async {
        let refreshes = match ports.asg.describe_refreshes(group, Some(id)).await {
            Ok(r) => r,
            Err(e) => return transient(e),
        };
        let Some(r) = refreshes.into_iter().find(|r| r.id == id) else {
            return Ok(Check::Failed(format!("instance refresh {id} not found")));
        };
        let progress = format!(
            "{} {}% complete, {} instance(s) to update",
            r.status,
            r.percentage_complete.unwrap_or(0),
            r.instances_to_update.unwrap_or(0)
        );
        let reason = r.status_reason.clone().unwrap_or_default();
        use RefreshStatus as S;
        Ok(match (&r.status, rollback) {
            (S::Successful, _) | (S::RollbackSuccessful, true) => Check::Done(()),
            (S::Pending | S::InProgress | S::Baking, false)
            | (S::RollbackInProgress | S::Pending | S::InProgress, true) => Check::Pending(progress),
            // A status AWS adds later: keep following it, the deadline still applies.
            (S::Unknown(status), _) => Check::Pending(format!("{progress} (status {status})")),
            (
                status @ (S::Failed
                | S::Cancelling
                | S::Cancelled
                | S::RollbackInProgress
                | S::RollbackFailed
                | S::RollbackSuccessful
                | S::Baking),
                _,
            ) => Check::Failed(format!("instance refresh {id} is {status}: {reason}")),
        })
    })
    .await
}
