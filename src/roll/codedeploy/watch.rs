//! Following a CodeDeploy deployment through the polling engine, for both compute
//! platforms: its status, lifecycle events and production traffic (ECS) or instances
//! (EC2) on one line per poll, the failing event (and instance) with its diagnostics
//! when it fails, and the waits the steps and the cleanup need.

use std::sync::Mutex;

use crate::cloud::{CdDeployment, CdStatus, CodeDeploy, DeploymentTarget, ErrorKind};
use crate::error::{Error, Result};
use crate::roll::calls::{self, Ctx};
use crate::wait::{self, Check};

/// What the polls saw, for the outcome.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    /// The most production traffic the new revision had, in percent.
    pub traffic: Option<f64>,
    /// The event that failed (or the stage, when no event did).
    pub failing_stage: Option<String>,
    /// The failure in one line: the event's diagnostics or the deployment's error.
    pub failure: Option<String>,
    /// CodeDeploy rolled the deployment back by itself.
    pub rolled_back: bool,
    /// EC2: the instance the failing event ran on, its error code and log tail.
    pub failing_instance: Option<String>,
    pub error_code: Option<String>,
    pub log_tail: Option<String>,
    /// EC2: instances (succeeded, failed) at the last look.
    pub instances: (usize, usize),
}

/// One look at a deployment: its state and its ECS target (None before there is one: a
/// created or queued deployment has none yet, and is not asked for it).
pub async fn look(cd: &dyn CodeDeploy, id: &str, ctx: &Ctx) -> Result<(CdDeployment, Option<DeploymentTarget>)> {
    let d = calls::retry("GetDeployment", &ctx.cancel, || cd.get_deployment(id)).await?;
    if matches!(d.status, CdStatus::Created | CdStatus::Queued) {
        return Ok((d, None));
    }
    let target = calls::retry("BatchGetDeploymentTargets", &ctx.cancel, || cd.deployment_target(id)).await?;
    Ok((d, target))
}

/// The events in one line: done ones by name, the one running marked, e.g.
/// `Install ok, AfterInstall ok, AllowTraffic ...`.
fn events_line(target: &DeploymentTarget) -> String {
    if !target.instances.is_empty() {
        let (ok, failed, pending) = target.instance_counts();
        let current = target
            .instances
            .iter()
            .find(|i| i.status == "InProgress")
            .and_then(|i| {
                let e = i.events.iter().find(|e| e.status == "InProgress")?;
                Some(format!(", {} {} ...", i.id, e.name))
            })
            .unwrap_or_default();
        return format!("instances {ok} succeeded, {failed} failed, {pending} pending{current}");
    }
    let parts: Vec<String> = target
        .events
        .iter()
        .filter(|e| e.status != "Pending")
        .map(|e| match e.status.as_str() {
            "Succeeded" => format!("{} ok", e.name),
            "InProgress" => format!("{} ...", e.name),
            other => format!("{} {other}", e.name),
        })
        .collect();
    parts.last().cloned().unwrap_or_else(|| "no lifecycle event yet".into())
}

/// Records what a look says about traffic and failure.
pub fn note(seen: &mut Seen, d: &CdDeployment, target: Option<&DeploymentTarget>) {
    if let Some(t) = target {
        let green = t.green_traffic();
        if green > 0.0 || seen.traffic.is_none() {
            seen.traffic = Some(seen.traffic.unwrap_or(0.0).max(green));
        }
        if !t.instances.is_empty() {
            let (ok, failed, _) = t.instance_counts();
            seen.instances = (ok, failed);
        }
        if let Some((instance, e)) = t.failed_instance() {
            seen.failing_stage = Some(e.name.clone());
            seen.failing_instance = instance.map(str::to_string);
            let diag = e.diagnostics.clone().unwrap_or_default();
            seen.error_code = diag.error_code.clone();
            seen.log_tail = diag.log_tail.clone().filter(|t| !t.is_empty());
            let on = instance.map(|i| format!(" on {i}")).unwrap_or_default();
            let mut text = format!(
                "lifecycle event {}{on} failed: {} {}",
                e.name,
                diag.error_code.unwrap_or_default(),
                diag.message.unwrap_or_default()
            );
            if let Some(tail) = diag.log_tail.filter(|t| !t.is_empty()) {
                text.push_str(&format!(" (log tail: {})", tail.trim()));
            }
            seen.failure = Some(text);
        }
    }
    if matches!(d.status, CdStatus::Failed | CdStatus::Stopped) {
        if seen.failure.is_none() {
            seen.failure = Some(format!(
                "deployment {} is {}: {} {}",
                d.id,
                d.status,
                d.error_code.clone().unwrap_or_default(),
                d.error_message.clone().unwrap_or_default()
            ));
        }
        seen.rolled_back |= d.rollback_deployment.is_some();
    }
}

/// The line a poll shows.
pub fn line(d: &CdDeployment, target: Option<&DeploymentTarget>) -> String {
    match target {
        Some(t) if !t.instances.is_empty() => format!("{} {}, {}", d.id, d.status, events_line(t)),
        Some(t) => format!(
            "{} {}, {}, production traffic {}%",
            d.id,
            d.status,
            events_line(t),
            t.green_traffic()
        ),
        None => format!("{} {}", d.id, d.status),
    }
}

/// Waits until `done` says so about the deployment. When `strict`, a deployment that
/// failed, was stopped or succeeded first ends the wait as a failure (naming the failing
/// event and its diagnostics); the cleanup's waits are not strict.
pub async fn follow(
    cd: &dyn CodeDeploy,
    id: &str,
    what: &str,
    strict: bool,
    seen: &mut Seen,
    ctx: &mut Ctx,
    done: impl Fn(&CdDeployment, Option<&DeploymentTarget>) -> bool,
) -> Result<()> {
    let shared = Mutex::new(std::mem::take(seen));
    let quiet = Ctx::quiet(ctx.cancel.clone());
    let (pacing, cancel) = (ctx.pacing(), ctx.cancel.clone());
    let traffic = ctx.traffic();
    let (shared_ref, quiet_ref, done_ref, traffic_ref) = (&shared, &quiet, &done, &traffic);
    let result = wait::until(what, &pacing, &cancel, &mut ctx.progress, move || async move {
        let (d, target) = look(cd, id, quiet_ref).await?;
        let mut seen = shared_ref.lock().unwrap_or_else(|p| p.into_inner());
        note(&mut seen, &d, target.as_ref());
        if let Some(t) = &target {
            traffic_ref.percent(t.green_traffic());
        }
        if done_ref(&d, target.as_ref()) {
            return Ok(Check::Done(()));
        }
        if !strict {
            return Ok(Check::Pending(line(&d, target.as_ref())));
        }
        Ok(match d.status {
            CdStatus::Failed | CdStatus::Stopped => Check::Failed(seen.failure.clone().unwrap_or_default()),
            CdStatus::Succeeded => Check::Failed(format!("deployment {} succeeded before {what}", d.id)),
            CdStatus::Created
            | CdStatus::Queued
            | CdStatus::InProgress
            | CdStatus::Baking
            | CdStatus::Ready
            | CdStatus::Unknown(_) => Check::Pending(line(&d, target.as_ref())),
        })
    })
    .await;
    *seen = shared.into_inner().unwrap_or_else(|p| p.into_inner());
    result
}

/// Waits until deployment `id` ended and `settled` says so of its target; its status.
pub async fn ended(
    cd: &dyn CodeDeploy,
    id: &str,
    what: &str,
    seen: &mut Seen,
    ctx: &mut Ctx,
    settled: impl Fn(Option<&DeploymentTarget>) -> bool,
) -> Result<CdStatus> {
    let status = Mutex::new(CdStatus::Unknown(String::new()));
    let status_ref = &status;
    follow(cd, id, what, false, seen, ctx, |d, t| {
        *status_ref.lock().unwrap_or_else(|p| p.into_inner()) = d.status.clone();
        d.status.ended() && settled(t)
    })
    .await?;
    Ok(status.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// StopDeployment (with CodeDeploy's rollback when `rollback`); the line for the cleanup's
/// log. A deployment that ended between a look and the stop is not an error: the wait
/// after it says how it ended.
pub async fn stop(cd: &dyn CodeDeploy, id: &str, rollback: bool, ctx: &Ctx) -> Result<String> {
    match calls::retry_raw("StopDeployment", &ctx.cancel, || cd.stop_deployment(id, rollback)).await {
        Ok(status) => Ok(format!(
            "StopDeployment {id}{}: {status}",
            if rollback { " with rollback" } else { "" }
        )),
        Err(calls::Raw::Cloud(e)) if e.kind == ErrorKind::Invalid => Ok(format!("StopDeployment {id}: {e}")),
        Err(calls::Raw::Cloud(e)) => Err(e.into()),
        Err(calls::Raw::Wait(e)) => Err(e),
    }
}

/// The deployment a run created: `known`, or (when CreateDeployment's answer was lost)
/// the group's active one.
pub async fn created(
    cd: &dyn CodeDeploy,
    known: Option<&str>,
    application: &str,
    group: &str,
    ctx: &Ctx,
) -> Result<Option<String>> {
    if let Some(id) = known {
        return Ok(Some(id.to_string()));
    }
    let active = calls::retry("ListDeployments", &ctx.cancel, || {
        cd.active_deployments(application, group)
    })
    .await?;
    Ok(active.into_iter().next())
}

/// A failed wait, with the deployment's own failure when it had one.
pub fn explain(e: Error, seen: &Seen) -> Error {
    match (crate::roll::Stop::of(&e), &seen.failure) {
        (crate::roll::Stop::Failure, Some(_)) => failed("the CodeDeploy deployment failed", seen),
        _ => e,
    }
}

/// The error a failed wait becomes: a deployment failure stays a failure with its cause.
pub fn failed(what: &str, seen: &Seen) -> Error {
    Error::failed(format!(
        "{what}: {}",
        seen.failure.clone().unwrap_or_else(|| "the deployment failed".into())
    ))
}
