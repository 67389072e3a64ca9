//! The simulated CodeDeploy for EC2 (compute platform Server) and the S3 bucket its
//! bundles live in, on tokio's clock: a deployment plays the lifecycle events
//! (ApplicationStop ... ValidateService) on its instances batch by batch as the
//! deployment config says (one at a time, half at a time, all at once), fails when an
//! event fails on an instance (a fault), and is rolled back by CodeDeploy itself (a new
//! deployment of the last good revision) when the group says so or StopDeployment asks
//! for it. Each instance records the revision it serves, for the invariants.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;

use crate::cloud::{CdStatus, Diagnostics, S3Revision};

/// The lifecycle events of an EC2 deployment, in order.
pub const SERVER_EVENTS: [&str; 7] = [
    "ApplicationStop",
    "DownloadBundle",
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "ApplicationStart",
    "ValidateService",
];

/// The simulated application, deployment group, instances and bucket.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub application: String,
    pub group: String,
    /// The group's deployment config.
    pub config: String,
    pub auto_rollback: bool,
    /// The Auto Scaling group the deployment group deploys to.
    pub auto_scaling_group: String,
    pub instances: usize,
    /// How long each lifecycle event takes on an instance.
    pub event_time: Duration,
    /// The bucket bundles go to (any other bucket does not exist).
    pub bucket: String,
    /// The revision the instances serve at the start (the last successful deployment's).
    pub previous: Option<S3Revision>,
    /// Another deployment of the group is in progress at the start, for this long.
    pub busy_for: Option<Duration>,
    /// GetDeployment names CodeDeploy's rollback of a failed deployment only this long
    /// after it started (AWS's reads lag its writes).
    pub rollback_info_lag: Duration,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            application: "web".into(),
            group: "web-prod".into(),
            config: "CodeDeployDefault.OneAtATime".into(),
            auto_rollback: true,
            auto_scaling_group: "web-asg".into(),
            instances: 4,
            event_time: Duration::from_secs(10),
            bucket: "web-bundles".into(),
            previous: Some(S3Revision {
                bucket: "web-bundles".into(),
                key: "slipway/web/0000000.zip".into(),
                etag: Some("previous-etag".into()),
            }),
            busy_for: None,
            rollback_info_lag: Duration::ZERO,
        }
    }
}

/// Faults of revisions other than the previous one (rollbacks and redeploys of the
/// previous revision always succeed).
#[derive(Debug, Clone, Default)]
pub struct ServerFaults {
    /// This lifecycle event fails on every instance.
    pub fail_event: Option<String>,
    /// This lifecycle event never ends (a hook script that hangs).
    pub hang_event: Option<String>,
    /// Share of calls answered with a throttling error.
    pub throttle: f64,
    pub seed: u64,
}

/// One instance of a deployment.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) id: String,
    /// Pending, InProgress, Succeeded, Failed or Skipped.
    pub(super) status: &'static str,
    pub(super) start: Option<Instant>,
    /// Status and diagnostics of each of `SERVER_EVENTS`.
    pub(super) events: Vec<(&'static str, Option<Diagnostics>)>,
}

pub(super) struct Dep {
    pub(super) id: String,
    pub(super) status: CdStatus,
    pub(super) config: String,
    pub(super) revision: S3Revision,
    /// Whether the faults apply (a revision other than the previous one, not a rollback).
    pub(super) faulty: bool,
    pub(super) targets: Vec<Target>,
    /// When the next batch may start.
    pub(super) cursor: Instant,
    pub(super) error: Option<(String, String)>,
    pub(super) rollback: Option<String>,
    /// When the rollback started.
    pub(super) rollback_at: Option<Instant>,
    /// Ends by itself at this instant (the other workflow's deployment of `busy_for`).
    pub(super) external_end: Option<Instant>,
}

/// A stored object: its ETag and the sha256 in its metadata.
#[derive(Debug, Clone)]
pub(super) struct Object {
    pub(super) etag: String,
    pub(super) sha256: String,
    pub(super) size: i64,
}

pub(super) struct ServerState {
    pub(super) s: ServerSettings,
    pub(super) faults: ServerFaults,
    pub(super) deployments: Vec<Dep>,
    pub(super) next: u64,
    pub(super) last_successful: Option<String>,
    pub(super) objects: BTreeMap<(String, String), Object>,
    /// The revision key each instance serves.
    pub(super) serving: Vec<String>,
    pub(super) start: Instant,
}

fn instance_id(n: usize) -> String {
    format!("i-{:017x}", 0x5e0000 + n)
}

fn batch_size(config: &str, n: usize) -> usize {
    match config.rsplit('.').next().unwrap_or(config) {
        "AllAtOnce" => n,
        "HalfAtATime" => n.div_ceil(2),
        _ => 1,
    }
}

impl ServerState {
    pub(super) fn new(s: ServerSettings, faults: ServerFaults, start: Instant) -> Self {
        let prev_key = s.previous.as_ref().map(|p| p.key.clone()).unwrap_or_default();
        let mut state = ServerState {
            serving: vec![prev_key; s.instances],
            faults,
            deployments: Vec::new(),
            next: 0,
            last_successful: None,
            objects: BTreeMap::new(),
            start,
            s,
        };
        if let Some(prev) = state.s.previous.clone() {
            state.objects.insert(
                (prev.bucket.clone(), prev.key.clone()),
                Object {
                    etag: prev.etag.clone().unwrap_or_default(),
                    sha256: String::new(),
                    size: 1,
                },
            );
            let id = state.create(prev, false, start);
            let d = state.deployments.last_mut().expect("just created");
            d.status = CdStatus::Succeeded;
            for t in &mut d.targets {
                t.status = "Succeeded";
                t.events = vec![("Succeeded", None); SERVER_EVENTS.len()];
            }
            state.last_successful = Some(id);
        }
        if let Some(busy) = state.s.busy_for {
            let revision = state.s.previous.clone().unwrap_or(S3Revision {
                bucket: state.s.bucket.clone(),
                key: "other".into(),
                etag: None,
            });
            state.create(revision, false, start);
            let d = state.deployments.last_mut().expect("just created");
            d.external_end = Some(start + busy);
        }
        state
    }

    /// Creates a deployment of `revision` on every instance; returns its id.
    pub(super) fn create(&mut self, revision: S3Revision, faulty: bool, at: Instant) -> String {
        self.next += 1;
        let id = format!("d-SRV{:06}", self.next);
        let targets = (0..self.s.instances)
            .map(|n| Target {
                id: instance_id(n),
                status: "Pending",
                start: None,
                events: vec![("Pending", None); SERVER_EVENTS.len()],
            })
            .collect();
        self.deployments.push(Dep {
            id: id.clone(),
            status: CdStatus::InProgress,
            config: self.s.config.clone(),
            revision,
            faulty,
            targets,
            cursor: at,
            error: None,
            rollback: None,
            rollback_at: None,
            external_end: None,
        });
        id
    }

    /// Whether a deployment of the group is under way.
    pub(super) fn active(&self) -> Vec<String> {
        self.deployments
            .iter()
            .filter(|d| !d.status.ended())
            .map(|d| d.id.clone())
            .collect()
    }

    /// Plays every deployment up to `now` (a rollback created on the way is played too).
    pub(super) fn advance(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.deployments.len() {
            self.play(i, now);
            i += 1;
        }
    }

    /// CodeDeploy rolls `i` back: a new deployment of the previous revision, from `at`.
    pub(super) fn roll_back(&mut self, i: usize, at: Instant) {
        let Some(prev) = self.s.previous.clone() else {
            return;
        };
        let id = self.create(prev, false, at);
        self.deployments[i].rollback = Some(id);
        self.deployments[i].rollback_at = Some(at);
    }

    fn play(&mut self, i: usize, now: Instant) {
        let step = self.s.event_time;
        let (fail, hang) = (self.faults.fail_event.clone(), self.faults.hang_event.clone());
        loop {
            let d = &mut self.deployments[i];
            if d.status.ended() {
                return;
            }
            if let Some(end) = d.external_end {
                if end <= now {
                    d.status = CdStatus::Succeeded;
                }
                return;
            }
            let running: Vec<usize> = (0..d.targets.len())
                .filter(|&n| d.targets[n].status == "InProgress")
                .collect();
            if running.is_empty() {
                let pending: Vec<usize> = (0..d.targets.len())
                    .filter(|&n| d.targets[n].status == "Pending")
                    .collect();
                if pending.is_empty() {
                    d.status = CdStatus::Succeeded;
                    let id = d.id.clone();
                    self.last_successful = Some(id);
                    return;
                }
                if d.cursor > now {
                    return;
                }
                let size = batch_size(&d.config, d.targets.len());
                for &n in pending.iter().take(size) {
                    d.targets[n].status = "InProgress";
                    d.targets[n].start = Some(d.cursor);
                }
                continue;
            }
            let mut failed_at = None;
            let mut batch_end = d.cursor;
            let mut all_done = true;
            let dep_faulty = d.faulty;
            for &n in &running {
                let t = &mut d.targets[n];
                let start = t.start.unwrap_or(d.cursor);
                for (k, name) in SERVER_EVENTS.iter().enumerate() {
                    let end = start + step * (k as u32 + 1);
                    let faulty = |f: &Option<String>| dep_faulty && f.as_deref() == Some(*name);
                    if faulty(&hang) {
                        t.events[k] = ("InProgress", None);
                        all_done = false;
                        break;
                    }
                    if end > now {
                        t.events[k] = ("InProgress", None);
                        all_done = false;
                        break;
                    }
                    if faulty(&fail) {
                        t.events[k] = ("Failed", Some(diagnostics(name)));
                        t.status = "Failed";
                        failed_at = Some(failed_at.map_or(end, |a: Instant| a.min(end)));
                        break;
                    }
                    t.events[k] = ("Succeeded", None);
                    if k + 1 == SERVER_EVENTS.len() {
                        t.status = "Succeeded";
                        batch_end = batch_end.max(end);
                        self.serving[n] = d.revision.key.clone();
                    }
                }
                // An instance that started ApplicationStop no longer serves the old revision cleanly.
                if t.status != "Succeeded" && t.events[0].0 != "Pending" {
                    self.serving[n] = format!("partial:{}", d.revision.key);
                }
            }
            if let Some(at) = failed_at {
                for t in &mut d.targets {
                    if t.status == "Pending" || t.status == "InProgress" {
                        t.status = "Skipped";
                        for e in &mut t.events {
                            if e.0 == "Pending" || e.0 == "InProgress" {
                                *e = ("Skipped", None);
                            }
                        }
                    }
                }
                d.status = CdStatus::Failed;
                d.error = Some((
                    "HEALTH_CONSTRAINTS".into(),
                    "The overall deployment failed because too many individual instances failed deployment".into(),
                ));
                if self.s.auto_rollback {
                    self.roll_back(i, at);
                }
                return;
            }
            if !all_done {
                return;
            }
            d.cursor = batch_end;
        }
    }
}

/// What the CodeDeploy agent reports for a failing hook script.
fn diagnostics(event: &str) -> Diagnostics {
    Diagnostics {
        error_code: Some("ScriptFailed".into()),
        message: Some(format!(
            "Script at specified location: scripts/{event}.sh run as user root failed with exit code 1"
        )),
        log_tail: Some(format!("[stderr] {event}: simulated failure\n[stderr] exit 1")),
    }
}
