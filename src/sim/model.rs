//! The simulator's model: instances with timestamps, from which every state (lifecycle,
//! target health, draining) is derived for any instant, and the group's own reactions
//! (replacing unhealthy instances, keeping desired capacity) applied event by event.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;
use tokio::time::Instant;

use super::refresh::Refresh;
use super::{Faults, Settings};
use crate::cloud::LaunchTemplateSpec;

pub(super) struct Inst {
    pub id: String,
    pub version: i64,
    pub launched: Instant,
    pub stuck: bool,
    pub bad: bool,
    /// When termination started.
    pub terminating: Option<Instant>,
    pub gone_at: Option<Instant>,
    /// Marked Unhealthy by the group.
    pub unhealthy: bool,
    /// Deregistration time per target group index.
    pub dereg: BTreeMap<usize, Instant>,
}

pub(super) struct State {
    pub settings: Settings,
    pub faults: Faults,
    pub clock: Instant,
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub lt_version: String,
    /// Template versions and their images.
    pub versions: BTreeMap<i64, String>,
    pub default_version: i64,
    pub instances: Vec<Inst>,
    pub refreshes: Vec<Refresh>,
    /// Instances the group replaced because they failed health checks: (when, version).
    pub replaced: Vec<(Instant, i64)>,
    launches: u32,
    next_id: u64,
}

/// Min, max and desired capacity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Capacity {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
}

/// What the simulated group looks like at one instant.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub capacity: Capacity,
    /// The group's launch template version as set (a number, `$Latest`, `$Default`).
    pub launch_template_version: String,
    /// (id, version, lifecycle state, healthy in every target group)
    pub instances: Vec<(String, i64, String, bool)>,
    pub refresh_status: Option<String>,
}

impl Snapshot {
    /// Whether the group holds exactly `count` instances, all InService, healthy and on `version`.
    pub fn settled_on(&self, version: i64, count: i32) -> bool {
        self.instances.len() == count as usize
            && self
                .instances
                .iter()
                .all(|(_, v, s, h)| *v == version && s == "InService" && *h)
    }
}

impl State {
    pub fn new(settings: Settings, now: Instant, faults: Faults) -> Self {
        let versions = (1..=settings.versions.max(settings.version))
            .map(|v| (v, format!("ami-{:08x}", 0x1000 + v)))
            .collect();
        let mut state = State {
            min: settings.min,
            max: settings.max,
            desired: settings.fleet,
            lt_version: settings.version.to_string(),
            versions,
            default_version: settings.version,
            instances: Vec::new(),
            refreshes: Vec::new(),
            replaced: Vec::new(),
            launches: 0,
            next_id: 0,
            clock: now,
            faults,
            settings,
        };
        // The running fleet has been up for a day.
        let long_ago = now.checked_sub(Duration::from_secs(86_400)).unwrap_or(now);
        for _ in 0..state.settings.fleet {
            let id = state.new_id();
            state.instances.push(Inst {
                id,
                version: state.settings.version,
                launched: long_ago,
                stuck: false,
                bad: false,
                terminating: None,
                gone_at: None,
                unhealthy: false,
                dereg: BTreeMap::new(),
            });
        }
        state
    }

    fn new_id(&mut self) -> String {
        self.next_id += 1;
        format!(
            "i-{:017x}",
            0x5107_0000_0000u64 + self.settings.id_offset + self.next_id
        )
    }

    /// The number a version string stands for.
    pub fn resolve(&self, version: &str) -> Option<i64> {
        match version {
            "$Latest" => self.versions.keys().next_back().copied(),
            "$Default" => Some(self.default_version),
            n => n.parse().ok().filter(|n| self.versions.contains_key(n)),
        }
    }

    pub fn launch(&mut self, version: i64, at: Instant) {
        self.launches += 1;
        let id = self.new_id();
        let stuck = self.faults.stuck_launches.contains(&self.launches);
        let bad = self.faults.bad_versions.contains(&version);
        self.instances.push(Inst {
            id,
            version,
            launched: at,
            stuck,
            bad,
            terminating: None,
            gone_at: None,
            unhealthy: false,
            dereg: BTreeMap::new(),
        });
    }

    pub fn in_service_at(&self, i: &Inst) -> Option<Instant> {
        (!i.stuck).then(|| i.launched + self.settings.boot)
    }

    pub fn lifecycle(&self, i: &Inst, at: Instant) -> &'static str {
        if i.terminating.is_some() {
            "Terminating"
        } else if self.in_service_at(i).is_some_and(|s| s <= at) {
            "InService"
        } else {
            "Pending"
        }
    }

    /// The instance's state in target group `tg` at `at`, None when not registered.
    pub fn target_state(&self, i: &Inst, tg: usize, at: Instant) -> Option<&'static str> {
        let s = &self.settings;
        if let Some(d) = i.dereg.get(&tg) {
            return (at < *d + s.deregistration_delay).then_some("draining");
        }
        let since = at.checked_duration_since(self.in_service_at(i)?)?;
        let late = self.faults.late_failure.unwrap_or_default();
        Some(if i.bad && since >= late + s.check_interval * s.unhealthy_threshold {
            "unhealthy"
        } else if i.bad && late.is_zero() {
            "initial"
        } else if since >= s.check_interval * s.healthy_threshold {
            "healthy"
        } else {
            "initial"
        })
    }

    /// InService, not marked unhealthy, and healthy in every target group.
    pub fn healthy(&self, i: &Inst, at: Instant) -> bool {
        self.lifecycle(i, at) == "InService"
            && !i.unhealthy
            && (0..self.settings.target_groups.len()).all(|tg| self.target_state(i, tg, at) == Some("healthy"))
    }

    /// When the group marks a failing instance Unhealthy: one that never boots fails its
    /// EC2 status checks once the grace period is over; one failing the target group's
    /// checks is marked when both the grace period and the unhealthy threshold have passed.
    fn unhealthy_at(&self, i: &Inst) -> Option<Instant> {
        let s = &self.settings;
        if i.stuck {
            return Some(i.launched + s.boot + s.grace);
        }
        if !i.bad || s.target_groups.is_empty() {
            return None;
        }
        let start = self.in_service_at(i)?;
        let late = self.faults.late_failure.unwrap_or_default();
        Some(start + s.grace.max(late + s.check_interval * s.unhealthy_threshold))
    }

    pub fn healthy_count(&self, at: Instant) -> (i32, i32) {
        let healthy = self.instances.iter().filter(|i| self.healthy(i, at)).count();
        (healthy as i32, self.instances.len() as i32)
    }

    /// Starts terminating an instance: it is deregistered (draining), then shut down.
    pub fn terminate(&mut self, idx: usize, at: Instant) {
        let s = &self.settings;
        let registered = self.in_service_at(&self.instances[idx]).is_some_and(|t| t <= at);
        let (delay, shutdown, tgs) = (s.deregistration_delay, s.shutdown, s.target_groups.len());
        let i = &mut self.instances[idx];
        if i.terminating.is_some() {
            return;
        }
        let mut drained = at;
        if registered {
            for tg in 0..tgs {
                let d = *i.dereg.entry(tg).or_insert(at);
                drained = drained.max(d + delay);
            }
        }
        i.terminating = Some(at);
        i.gone_at = Some(drained + shutdown);
    }

    /// The next instant in (clock, now] at which something changes, if any.
    pub fn next_event(&self, now: Instant) -> Option<Instant> {
        let s = &self.settings;
        let warmup = self.refreshes.first().filter(|r| r.active()).map(|r| r.warmup);
        let mut best: Option<Instant> = None;
        let mut consider = |t: Instant| {
            if t > self.clock && t <= now && best.is_none_or(|b| t < b) {
                best = Some(t);
            }
        };
        for i in &self.instances {
            if let Some(g) = i.gone_at {
                consider(g);
            }
            for d in i.dereg.values() {
                consider(*d + s.deregistration_delay);
            }
            if let Some(start) = self.in_service_at(i) {
                consider(start);
                consider(start + s.check_interval * s.healthy_threshold);
                consider(start + s.check_interval * s.unhealthy_threshold);
                if let Some(late) = self.faults.late_failure {
                    consider(start + late + s.check_interval * s.unhealthy_threshold);
                }
                if let Some(w) = warmup {
                    consider(start + w);
                }
            }
            if let Some(t) = self.unhealthy_at(i) {
                consider(t);
            }
        }
        best
    }

    /// What the group does at `at`: drop finished terminations, replace unhealthy
    /// instances, step a refresh, keep desired capacity.
    pub fn step(&mut self, at: Instant) {
        self.clock = self.clock.max(at);
        self.instances.retain(|i| i.gone_at.is_none_or(|g| g > at));
        for idx in 0..self.instances.len() {
            let i = &self.instances[idx];
            if i.terminating.is_none() && self.unhealthy_at(i).is_some_and(|t| t <= at) {
                let version = i.version;
                self.instances[idx].unhealthy = true;
                self.terminate(idx, at);
                self.replaced.push((at, version));
            }
        }
        if super::refresh::step(self, at) {
            return;
        }
        self.reconcile(at);
    }

    fn reconcile(&mut self, at: Instant) {
        let alive: Vec<usize> = (0..self.instances.len())
            .filter(|&i| self.instances[i].terminating.is_none())
            .collect();
        let current = self.resolve(&self.lt_version).unwrap_or(self.default_version);
        let n = alive.len() as i32;
        if n < self.desired {
            for _ in n..self.desired {
                self.launch(current, at);
            }
        } else if n > self.desired {
            // Scale in: instances on another version first, then unhealthy ones, then the newest.
            let mut order = alive;
            order.sort_by_key(|&i| {
                let inst = &self.instances[i];
                (
                    inst.version == current,
                    self.healthy(inst, at),
                    std::cmp::Reverse(inst.launched),
                )
            });
            for &idx in order.iter().take((n - self.desired) as usize) {
                self.terminate(idx, at);
            }
        }
    }

    pub fn spec(&self) -> LaunchTemplateSpec {
        LaunchTemplateSpec {
            id: Some(template_id(&self.settings.template)),
            name: Some(self.settings.template.clone()),
            version: self.lt_version.clone(),
        }
    }

    pub fn snapshot(&self, at: Instant) -> Snapshot {
        Snapshot {
            capacity: Capacity {
                min: self.min,
                max: self.max,
                desired: self.desired,
            },
            launch_template_version: self.lt_version.clone(),
            instances: self
                .instances
                .iter()
                .map(|i| {
                    (
                        i.id.clone(),
                        i.version,
                        self.lifecycle(i, at).to_string(),
                        self.healthy(i, at),
                    )
                })
                .collect(),
            refresh_status: self.refreshes.first().map(|r| r.status.clone()),
        }
    }
}

pub(super) fn template_id(name: &str) -> String {
    let sum: u64 = name
        .bytes()
        .fold(7u64, |a, b| a.wrapping_mul(31).wrapping_add(b as u64));
    format!("lt-{sum:017x}")
}
