//! The simulated CodeDeploy behind the `CodeDeploy` port, for a CODE_DEPLOY-controlled
//! service of the ECS simulator (same tasks, same clock): a deployment starts a
//! replacement (green) task set beside the original (blue), plays the lifecycle events
//! (Install waits for the green tasks to be healthy), waits for READY when the group says
//! so, shifts production traffic per its deployment config, keeps blue through the
//! termination wait, then removes it. A failure (green tasks exiting), the READY wait
//! running out or StopDeployment with rollback ends the deployment (Failed or Stopped)
//! and rolls back through a new deployment, as AWS does ("CodeDeploy rolls back
//! deployments by redeploying a previously deployed revision ... as a new deployment",
//! rollbackInfo.rollbackDeploymentId; AWS documentation "Redeploy and roll back a
//! deployment with CodeDeploy"): production traffic goes back to blue when it starts
//! (the listener's rules are changed back), the deployment stays InProgress (the group is
//! busy) while the green task set is removed, then Succeeded. How long that takes is
//! invented (`rollback_time`); AWS states no figure. The original deployment's target
//! keeps the traffic it had when it ended. Faults: the reroute comes only at the end
//! (`late_reroute`), or the rollback fails and leaves green serving (`failing_rollback`).
//! Production traffic on a task set with no healthy task is recorded for the invariants.

use std::time::Duration;

use tokio::time::Instant;

use super::ecs::State;
pub use super::ecs::TestListener;
use crate::cloud::{CdStatus, Diagnostics, Shift};

/// The lifecycle events of an ECS deployment, in order.
pub const EVENTS: [&str; 8] = [
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// The simulated application and deployment group.
#[derive(Debug, Clone)]
pub struct CdSettings {
    pub application: String,
    pub group: String,
    /// The group's deployment config.
    pub config: String,
    /// deploymentReadyOption STOP_DEPLOYMENT: wait for ContinueDeployment before shifting.
    pub waits_for_ready: bool,
    /// How long it waits for that before it stops.
    pub ready_wait: Duration,
    /// How long blue is kept after all production traffic shifted.
    pub termination_wait: Duration,
    pub auto_rollback: bool,
    /// How long a rollback deployment takes to put traffic back on blue (invented).
    pub rollback_time: Duration,
    /// Fault: rollback deployments fail and leave the new revision serving.
    pub failing_rollback: bool,
    /// Fault: a rollback deployment puts traffic back on blue only when it ends.
    pub late_reroute: bool,
}

impl Default for CdSettings {
    fn default() -> Self {
        CdSettings {
            application: "AppECS-web-cluster-web".into(),
            group: "DgpECS-web-cluster-web".into(),
            config: "CodeDeployDefault.ECSAllAtOnce".into(),
            waits_for_ready: false,
            ready_wait: Duration::from_secs(600),
            termination_wait: Duration::from_secs(300),
            auto_rollback: true,
            rollback_time: Duration::from_secs(30),
            failing_rollback: false,
            late_reroute: false,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Phase {
    Install,
    /// Waiting for ContinueDeployment until then.
    Ready(Instant),
    /// Shifting production traffic: the next step (index into the shift's steps) and when.
    Shifting(usize, Instant),
    /// The termination wait, until then.
    Bake(Instant),
    /// A rollback deployment putting traffic back on blue, until then.
    RollingBack(Instant),
    Over,
}

pub(super) struct Dep {
    pub(super) id: String,
    pub(super) status: CdStatus,
    pub(super) config: String,
    /// The ECS deployment id of the green task set.
    pub(super) green: String,
    pub(super) phase: Phase,
    /// Status of each of `EVENTS`.
    pub(super) events: Vec<(&'static str, Option<Diagnostics>)>,
    pub(super) weight: f64,
    pub(super) error: Option<(String, String)>,
    pub(super) rollback: Option<String>,
    pub(super) continued: bool,
}

/// CodeDeploy's state beside the ECS service's.
#[derive(Default)]
pub struct Cd {
    pub(super) deployments: Vec<Dep>,
    pub(super) next: u64,
    /// Every instant production traffic went to a task set with no healthy task.
    pub(super) unhealthy_traffic: Vec<String>,
    /// The highest production traffic percent green reached in the last deployment.
    pub(super) peak: f64,
}

impl Cd {
    pub(super) fn next_event(&self) -> Option<Instant> {
        self.deployments
            .iter()
            .filter_map(|d| match d.phase {
                Phase::Ready(t) | Phase::Shifting(_, t) | Phase::Bake(t) | Phase::RollingBack(t) => Some(t),
                Phase::Install | Phase::Over => None,
            })
            .min()
    }

    /// The green traffic percent of the deployment under way (0 when none).
    pub(super) fn traffic(&self) -> f64 {
        self.deployments
            .iter()
            .find(|d| d.phase != Phase::Over)
            .map_or(0.0, |d| d.weight)
    }
}

fn set_event(d: &mut Dep, name: &str, status: &'static str, diagnostics: Option<Diagnostics>) {
    if let Some(e) = d.events.iter_mut().zip(EVENTS).find(|(_, n)| *n == name) {
        *e.0 = (status, diagnostics);
    }
}

pub(super) fn healthy_in(s: &State, deployment: &str, at: Instant) -> i32 {
    s.tasks
        .iter()
        .filter(|t| t.deployment == deployment && s.healthy(t, at))
        .count() as i32
}

/// Ends the deployment: traffic back to blue, green's tasks stopped.
pub(super) fn roll_back(
    s: &mut State,
    i: usize,
    at: Instant,
    status: CdStatus,
    error: (String, String),
    rollback: bool,
) {
    if rollback {
        s.cd.next += 1;
        let id = format!("d-RB{:07}", s.cd.next);
        let original = &s.cd.deployments[i];
        let cd = &s.s.codedeploy;
        let keeps_traffic = cd.late_reroute || cd.failing_rollback;
        let rollback = Dep {
            id: id.clone(),
            status: CdStatus::InProgress,
            config: original.config.clone(),
            green: original.green.clone(),
            phase: Phase::RollingBack(at + s.s.codedeploy.rollback_time),
            events: EVENTS.iter().map(|_| ("Pending", None)).collect(),
            weight: if keeps_traffic { original.weight } else { 0.0 },
            error: None,
            rollback: None,
            continued: false,
        };
        s.cd.deployments[i].rollback = Some(id.clone());
        s.cd.deployments.push(rollback);
        s.event(at, format!("CodeDeploy rolls back with deployment {id} ({})", error.1));
    }
    // The original deployment ends where it stood: its target keeps the traffic it had.
    let d = &mut s.cd.deployments[i];
    d.status = status;
    d.error = Some(error);
    d.phase = Phase::Over;
    for e in d.events.iter_mut().filter(|e| e.0 == "Pending" || e.0 == "InProgress") {
        e.0 = "Skipped";
    }
}

/// A rollback deployment's end: traffic back on blue and green removed, or (the
/// `failing_rollback` fault) Failed with the new revision still serving.
fn rolled_back(s: &mut State, i: usize, at: Instant) {
    let green = s.cd.deployments[i].green.clone();
    if s.s.codedeploy.failing_rollback {
        let d = &mut s.cd.deployments[i];
        d.status = CdStatus::Failed;
        d.phase = Phase::Over;
        d.error = Some((
            "ECS_UPDATE_ERROR".into(),
            "the rollback could not reroute traffic".into(),
        ));
        return;
    }
    for t in s.tasks.iter_mut().filter(|t| t.deployment == green) {
        t.crash = false;
        t.late = false;
        t.stop_at = Some(at);
    }
    s.deployments.retain(|d| d.id != green);
    let d = &mut s.cd.deployments[i];
    d.weight = 0.0;
    d.status = CdStatus::Succeeded;
    d.phase = Phase::Over;
    for e in d.events.iter_mut() {
        e.0 = "Succeeded";
    }
    let id = d.id.clone();
    s.event(
        at,
        format!("CodeDeploy rollback {id}: traffic back on the original task set"),
    );
}

/// Fails the deployment at lifecycle event `event` because green tasks exited.
fn fail(s: &mut State, i: usize, at: Instant, event: &str) {
    let reason = s
        .stopped
        .first()
        .and_then(|t| t.stopped_reason.clone())
        .unwrap_or_else(|| "tasks stopped".into());
    let message = format!("the replacement task set's tasks stopped: {reason}");
    let diagnostics = Diagnostics {
        error_code: Some("UnknownError".into()),
        message: Some(message.clone()),
        log_tail: Some(format!("exit code 1: {reason}")),
    };
    let d = &mut s.cd.deployments[i];
    if EVENTS.contains(&event) {
        set_event(d, event, "Failed", Some(diagnostics));
    }
    let rollback = s.s.codedeploy.auto_rollback;
    roll_back(
        s,
        i,
        at,
        CdStatus::Failed,
        ("ECS_UPDATE_ERROR".into(), message),
        rollback,
    );
}

/// Starts shifting production traffic.
fn shift(s: &mut State, i: usize, at: Instant) {
    let d = &mut s.cd.deployments[i];
    set_event(d, "BeforeAllowTraffic", "Succeeded", None);
    set_event(d, "AllowTraffic", "InProgress", None);
    d.status = CdStatus::InProgress;
    d.phase = Phase::Shifting(0, at);
}

/// What CodeDeploy does at `at` (called from the ECS simulator's step).
pub(super) fn step(s: &mut State, at: Instant) {
    // Blue (the primary) keeps its count; a green task set under way keeps its count too.
    let primary = s.deployments[0].id.clone();
    let live = s.tasks.iter().filter(|t| t.deployment == primary).count() as i32;
    for _ in live..s.s.desired {
        s.launch(0, at);
    }
    let Some(i) = s.cd.deployments.iter().position(|d| d.phase != Phase::Over) else {
        return;
    };
    let green = s.cd.deployments[i].green.clone();
    if let Some(g) = s.deployments.iter().position(|d| d.id == green) {
        let live = s.tasks.iter().filter(|t| t.deployment == green).count() as i32;
        for _ in live..s.s.desired {
            s.launch(g, at);
        }
    }
    let failed = s.deployments.iter().find(|d| d.id == green).map_or(0, |d| d.failed);
    let settings = s.s.codedeploy.clone();
    let phase = s.cd.deployments[i].phase;
    match phase {
        Phase::Install if failed > 0 => fail(s, i, at, "Install"),
        Phase::Install => {
            if healthy_in(s, &green, at) >= s.s.desired {
                let d = &mut s.cd.deployments[i];
                for e in ["Install", "AfterInstall", "AllowTestTraffic", "AfterAllowTestTraffic"] {
                    set_event(d, e, "Succeeded", None);
                }
                if settings.waits_for_ready {
                    d.status = CdStatus::Ready;
                    d.phase = Phase::Ready(at + settings.ready_wait);
                } else {
                    shift(s, i, at);
                }
            }
        }
        Phase::Ready(_) if failed > 0 => fail(s, i, at, "AfterAllowTestTraffic"),
        Phase::Ready(_) if s.cd.deployments[i].continued => shift(s, i, at),
        Phase::Ready(until) if at >= until => {
            let error = (
                "TIMEOUT".to_string(),
                "the deployment was not continued within the deployment group's wait time".to_string(),
            );
            roll_back(s, i, at, CdStatus::Stopped, error, true);
        }
        Phase::Shifting(_, _) if failed > 0 => fail(s, i, at, "AllowTraffic"),
        Phase::Shifting(n, when) if at >= when => {
            let d = &mut s.cd.deployments[i];
            let steps = Shift::of(&d.config).steps();
            d.weight = steps[n].1;
            s.cd.peak = s.cd.peak.max(d.weight);
            match steps.get(n + 1) {
                Some((minutes, _)) => d.phase = Phase::Shifting(n + 1, at + Duration::from_secs(*minutes as u64 * 60)),
                None => {
                    set_event(d, "AllowTraffic", "Succeeded", None);
                    set_event(d, "AfterAllowTraffic", "Succeeded", None);
                    d.phase = Phase::Bake(at + settings.termination_wait);
                }
            }
        }
        Phase::RollingBack(until) if at >= until => rolled_back(s, i, at),
        Phase::Bake(_) if failed > 0 => fail(s, i, at, "TerminationWait"),
        Phase::Bake(until) if at >= until => {
            // Green becomes the service's primary; blue's tasks drain and go.
            let drain = at + s.s.drain;
            for t in s.tasks.iter_mut().filter(|t| t.deployment != green) {
                t.stop_at = Some(t.stop_at.map_or(drain, |s| s.min(drain)));
            }
            s.deployments.retain(|d| d.id == green);
            s.deployments[0].primary = true;
            s.deployments[0].rollout = "COMPLETED";
            s.stable = s.deployments[0].task_definition.clone();
            let d = &mut s.cd.deployments[i];
            d.status = CdStatus::Succeeded;
            d.phase = Phase::Over;
            d.weight = 0.0;
            s.event(at, "has reached a steady state.".into());
        }
        Phase::Ready(_) | Phase::Shifting(_, _) | Phase::Bake(_) | Phase::RollingBack(_) | Phase::Over => {}
    }
    watch(s, at);
}

/// Records production traffic on a task set with no healthy task.
fn watch(s: &mut State, at: Instant) {
    let weight = s.cd.traffic();
    let blue = s.deployments[0].id.clone();
    let green =
        s.cd.deployments
            .iter()
            .find(|d| d.phase != Phase::Over)
            .map(|d| d.green.clone());
    let secs = (at - s.start).as_secs_f64();
    if weight < 100.0 && healthy_in(s, &blue, at) == 0 {
        s.cd.unhealthy_traffic.push(format!(
            "{secs:.0}s: {:.0}% on blue with no healthy task",
            100.0 - weight
        ));
    }
    if let Some(green) = green {
        if weight > 0.0 && healthy_in(s, &green, at) == 0 {
            s.cd.unhealthy_traffic
                .push(format!("{secs:.0}s: {weight:.0}% on green with no healthy task"));
        }
    }
}

#[cfg(test)]
#[path = "codedeploy_tests.rs"]
mod tests;
