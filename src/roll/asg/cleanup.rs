//! Cleanup after a failed, timed-out or interrupted roll: restore what it changed.
//!
//! Surge, before the old instances started leaving: restore the launch template
//! version, terminate the new instances, restore min/max/desired and wait until only
//! the original instances remain. After that point the new instances are the ones
//! serving, so the cleanup finishes removing the old ones and restores max instead.
//! Refresh: roll the refresh back (or, once it has ended, refresh back to the previous
//! version) and wait until that is done.

use std::collections::BTreeSet;

use super::plan::Plan;
use super::steps::{describe, terminate, wait_gone, wait_refresh};
use super::Run;
use crate::cloud::{Ports, RefreshSpec, RefreshStatus};
use crate::config::Strategy;
use crate::error::{Error, Result};
use crate::roll::calls::{self, Ctx, Raw};
use crate::roll::Cleaned;
use crate::wait::{self, Check};

/// The cleanup steps still to do, for a second signal and for the error's help.
pub fn left_to_do(plan: &Plan, run: &Run) -> Vec<String> {
    let b = &plan.before;
    let cap = format!(
        "restore min {}, max {}, desired {} on {}",
        b.capacity.min, b.capacity.max, b.capacity.desired, b.group
    );
    let mut steps = Vec::new();
    match plan.strategy {
        Strategy::Surge if run.committed => {
            steps.push(format!("terminate the old instances {}", b.instance_ids().join(", ")));
            steps.push(cap);
        }
        Strategy::Surge => {
            if run.lt_changed {
                steps.push(format!(
                    "set {}'s launch template back to version {}",
                    b.group, b.version
                ));
            }
            if run.capacity_changed {
                steps.push(format!("terminate the new instances of {}", b.group));
                steps.push(cap);
            }
        }
        Strategy::BlueGreen => {}
        Strategy::Refresh => {
            if run.refresh_started {
                steps.push(format!(
                    "roll back the instance refresh {} of {} (aws autoscaling rollback-instance-refresh)",
                    run.refresh_id.as_deref().unwrap_or(""),
                    b.group
                ));
            }
        }
    }
    steps
}

/// Runs the cleanup with a context that is no longer cancelled.
pub(super) async fn run(ports: &Ports, plan: &Plan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
    if !run.lt_changed && !run.capacity_changed && !run.refresh_started {
        return Ok(Cleaned::Nothing);
    }
    match plan.strategy {
        Strategy::Surge if run.committed => finish_surge(ports, plan, ctx, run).await,
        Strategy::Surge => undo_surge(ports, plan, ctx, run).await,
        Strategy::Refresh => undo_refresh(ports, plan, ctx, run).await,
        // Blue/green plans are carried out by their own target (roll::bluegreen).
        Strategy::BlueGreen => Ok(Cleaned::Nothing),
    }
}

fn done(ctx: &Ctx, run: &mut Run, text: String) {
    ctx.say(&format!("cleanup: {text}"));
    run.cleanup.push(text);
}

async fn restore_capacity(ports: &Ports, plan: &Plan, ctx: &Ctx, run: &mut Run) -> Result<()> {
    let b = &plan.before;
    let g = describe(ports, &b.group, ctx).await?;
    let c = b.capacity;
    if (g.min, g.max, g.desired) != (c.min, c.max, c.desired) {
        calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
            ports
                .asg
                .update_size(&b.group, Some(c.min), Some(c.max), Some(c.desired))
        })
        .await?;
        done(
            ctx,
            run,
            format!(
                "capacity restored to min {}, max {}, desired {}",
                c.min, c.max, c.desired
            ),
        );
    }
    Ok(())
}

async fn undo_surge(ports: &Ports, plan: &Plan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
    let b = &plan.before;
    ctx.phase(&format!("rolling back {}", b.group));
    if run.lt_changed {
        let pinned = b.pinned();
        calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
            ports.asg.set_launch_template(&b.group, &pinned)
        })
        .await?;
        done(ctx, run, format!("launch template set back to version {}", b.version));
    }
    let old: BTreeSet<String> = b.instance_ids().into_iter().collect();
    let g = describe(ports, &b.group, ctx).await?;
    let mut removed = Vec::new();
    // Decrement desired while it is above min (AWS refuses to go below it); past that
    // the instances are terminated without, and restoring desired settles the count.
    let mut desired = g.desired;
    for i in g
        .instances
        .iter()
        .filter(|i| !old.contains(&i.id) && !i.lifecycle_state.leaving())
    {
        let decrement = desired > g.min;
        terminate(ports, &i.id, decrement, &ctx.cancel).await?;
        if decrement {
            desired -= 1;
        }
        removed.push(i.id.clone());
    }
    if !removed.is_empty() {
        done(ctx, run, format!("terminated the new instances {}", removed.join(", ")));
    }
    restore_capacity(ports, plan, ctx, run).await?;
    let pacing = ctx.pacing();
    let cancel = ctx.cancel.clone();
    let desired = b.capacity.desired as usize;
    wait::until(
        "the original instances alone",
        &pacing,
        &cancel,
        &mut ctx.progress,
        || async {
            let g = match ports.asg.describe_group(&b.group).await {
                Ok(Some(g)) => g,
                Ok(None) => return Err(Error::failed(format!("Auto Scaling group {} disappeared", b.group))),
                Err(e) => return Ok(wait::cloud::after_error(&e)),
            };
            let others = g.instances.iter().filter(|i| !old.contains(&i.id)).count();
            let serving = g.instances.iter().filter(|i| i.in_service_and_healthy()).count();
            Ok(if others == 0 || (g.instances.len() == desired && serving == desired) {
                Check::Done(())
            } else {
                Check::Pending(format!("{others} new instance(s) still terminating"))
            })
        },
    )
    .await?;
    done(ctx, run, format!("{} is back on version {}", b.group, b.version));
    Ok(Cleaned::RolledBack)
}

async fn finish_surge(ports: &Ports, plan: &Plan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
    let b = &plan.before;
    ctx.phase(&format!(
        "finishing {}: the new instances serve, removing the old ones",
        b.group
    ));
    let old = b.instance_ids();
    let g = describe(ports, &b.group, ctx).await?;
    for i in g
        .instances
        .iter()
        .filter(|i| old.contains(&i.id) && !i.lifecycle_state.leaving())
    {
        terminate(ports, &i.id, true, &ctx.cancel).await?;
        done(ctx, run, format!("terminated the old instance {}", i.id));
    }
    restore_capacity(ports, plan, ctx, run).await?;
    wait_gone(ports, &b.group, &old, ctx).await?;
    Ok(Cleaned::Finished)
}

async fn undo_refresh(ports: &Ports, plan: &Plan, ctx: &mut Ctx, run: &mut Run) -> Result<Cleaned> {
    let b = &plan.before;
    ctx.phase(&format!("rolling back {}", b.group));
    let refreshes = calls::retry("DescribeInstanceRefreshes", &ctx.cancel, || {
        ports.asg.describe_refreshes(&b.group, None)
    })
    .await?;
    let ours = match &run.refresh_id {
        Some(id) => refreshes.into_iter().find(|r| &r.id == id),
        // The start call failed in a way that may have started it: the newest one in progress is ours.
        None => refreshes.into_iter().find(|r| r.in_progress()),
    };
    let Some(refresh) = ours else {
        restore_capacity(ports, plan, ctx, run).await?;
        return Ok(Cleaned::Nothing);
    };
    let id = refresh.id.clone();
    let reverse = |ctx: &Ctx, run: &mut Run, why: &str| {
        done(
            ctx,
            run,
            format!(
                "instance refresh {id} is {why}; refreshing back to version {}",
                b.version
            ),
        );
    };
    match &refresh.status {
        RefreshStatus::Pending | RefreshStatus::InProgress | RefreshStatus::Baking
            if !super::discover::reversible(b) =>
        {
            cancel_and_reverse(ports, plan, &id, ctx, run).await?;
        }
        RefreshStatus::Pending | RefreshStatus::InProgress | RefreshStatus::Baking => {
            match calls::retry_raw("RollbackInstanceRefresh", &ctx.cancel, || {
                ports.asg.rollback_refresh(&b.group)
            })
            .await
            {
                Ok(()) => {
                    done(ctx, run, format!("instance refresh {id} rolling back"));
                    wait_rollback_or_reverse(ports, plan, &id, ctx, run).await?;
                }
                Err(Raw::Cloud(e)) if e.code.as_deref() == Some("ActiveInstanceRefreshNotFound") => {
                    wait_rollback_or_reverse(ports, plan, &id, ctx, run).await?;
                }
                // The group moved to $Latest or $Default meanwhile: AWS cannot roll back.
                Err(Raw::Cloud(e)) if e.code.as_deref() == Some("IrreversibleInstanceRefresh") => {
                    cancel_and_reverse(ports, plan, &id, ctx, run).await?;
                }
                Err(Raw::Cloud(e)) => return Err(e.into()),
                Err(Raw::Wait(e)) => return Err(e),
            }
        }
        // An unknown status may still be moving: wait for it to end, then reverse if need be.
        RefreshStatus::RollbackInProgress | RefreshStatus::Cancelling | RefreshStatus::Unknown(_) => {
            wait_rollback_or_reverse(ports, plan, &id, ctx, run).await?
        }
        RefreshStatus::RollbackSuccessful => {}
        status @ (RefreshStatus::Successful
        | RefreshStatus::Failed
        | RefreshStatus::Cancelled
        | RefreshStatus::RollbackFailed) => {
            reverse(ctx, run, status.as_str());
            refresh_back(ports, plan, ctx).await?;
        }
    }
    let g = describe(ports, &b.group, ctx).await?;
    if g.launch_template.as_ref().map(|t| t.version.as_str()) != Some(b.version.to_string().as_str()) {
        let pinned = b.pinned();
        calls::retry("UpdateAutoScalingGroup", &ctx.cancel, || {
            ports.asg.set_launch_template(&b.group, &pinned)
        })
        .await?;
    }
    restore_capacity(ports, plan, ctx, run).await?;
    done(ctx, run, format!("{} is back on version {}", b.group, b.version));
    Ok(Cleaned::RolledBack)
}

/// A refresh AWS cannot roll back (the group on $Latest or $Default): cancelled, waited
/// for until it has stopped, then a refresh back onto the version the group ran.
async fn cancel_and_reverse(ports: &Ports, plan: &Plan, id: &str, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
    let b = &plan.before;
    match calls::retry_raw("CancelInstanceRefresh", &ctx.cancel, || {
        ports.asg.cancel_refresh(&b.group)
    })
    .await
    {
        Ok(()) => done(
            ctx,
            run,
            format!(
                "instance refresh {id} cancelled (AWS cannot roll back a group on {})",
                b.launch_template.version
            ),
        ),
        Err(Raw::Cloud(e)) if e.code.as_deref() == Some("ActiveInstanceRefreshNotFound") => {}
        Err(Raw::Cloud(e)) => return Err(e.into()),
        Err(Raw::Wait(e)) => return Err(e),
    }
    let pacing = ctx.pacing();
    let cancel = ctx.cancel.clone();
    wait::until("the cancelled refresh", &pacing, &cancel, &mut ctx.progress, || async {
        let refreshes = calls::retry("DescribeInstanceRefreshes", &cancel, || {
            ports.asg.describe_refreshes(&b.group, Some(id))
        })
        .await?;
        Ok(match refreshes.iter().find(|r| r.id == id) {
            Some(r) if r.in_progress() || r.status == RefreshStatus::Cancelling => {
                Check::Pending(format!("instance refresh {id} is {}", r.status))
            }
            _ => Check::Done(()),
        })
    })
    .await?;
    done(ctx, run, format!("refreshing back to version {}", b.version));
    refresh_back(ports, plan, ctx).await
}

/// Waits for a rollback; if it ends any other way than RollbackSuccessful, refreshes back.
async fn wait_rollback_or_reverse(ports: &Ports, plan: &Plan, id: &str, ctx: &mut Ctx, run: &mut Run) -> Result<()> {
    match wait_refresh(ports, &plan.before.group, id, ctx, true).await {
        Ok(()) => Ok(()),
        Err(Error::Failed { message, .. }) => {
            done(
                ctx,
                run,
                format!("{message}; refreshing back to version {}", plan.before.version),
            );
            refresh_back(ports, plan, ctx).await
        }
        Err(e) => Err(e),
    }
}

/// A new refresh onto the previous version, followed to the end.
async fn refresh_back(ports: &Ports, plan: &Plan, ctx: &mut Ctx) -> Result<()> {
    let b = &plan.before;
    let (min, max) = plan
        .steps
        .iter()
        .find_map(|s| match s {
            super::Step::StartRefresh { spec } => Some((spec.min_healthy_percentage, spec.max_healthy_percentage)),
            _ => None,
        })
        .unwrap_or((100, 200));
    let spec = RefreshSpec {
        launch_template: b.pinned(),
        min_healthy_percentage: min,
        max_healthy_percentage: max,
        instance_warmup: None,
        skip_matching: true,
        auto_rollback: false,
        alarms: Vec::new(),
        bake_time: None,
    };
    let id = calls::retry("StartInstanceRefresh", &ctx.cancel, || {
        ports.asg.start_refresh(&b.group, &spec)
    })
    .await?;
    wait_refresh(ports, &b.group, &id, ctx, false).await
}
