//! The simulated cloud: one Auto Scaling group, its target groups, its launch template
//! and the account's CloudWatch alarms behind the same ports as AWS (`AutoScaling`,
//! `LoadBalancing`, `LaunchTemplates`, `Alarms`), on tokio's clock so tests run on paused (virtual) time.
//!
//! Nothing runs in the background: every call first advances the model to the current
//! instant, event by event (boots, health checks, draining, refresh steps), so a run is
//! deterministic for a given seed. Faults are injected per call (throttling, 5xx) and per
//! instance (a version whose instances fail health checks, launches that never boot).
//! Every call is logged; mutating ones are what tests assert on.

pub mod alarms;
pub mod bluegreen;
pub mod codedeploy;
mod codedeploy_ports;
pub mod ecs;
mod model;
mod ports;
mod refresh;
pub mod server_deploy;
mod server_ports;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;
use tokio::time::Instant;

use crate::cloud::{CloudError, CloudResult, ErrorKind};
pub use alarms::SimAlarms;
pub use bluegreen::SimPair;
pub use codedeploy::CdSettings;
pub use ecs::{EcsFaults, EcsSettings, EcsSnapshot, SimEcs, TestListener};
use model::State;
pub use model::{Capacity, Snapshot};
pub use server_deploy::{ServerFaults, ServerSettings, SERVER_EVENTS};
pub use server_ports::{ServerSnapshot, SimServer};

/// The physics of the simulated fleet.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Instances in service at the start, all on `version`.
    pub fleet: i32,
    pub min: i32,
    pub max: i32,
    /// The launch template version the fleet runs.
    pub version: i64,
    /// Versions the template has (1..=versions).
    pub versions: i64,
    /// From launch to InService.
    pub boot: Duration,
    /// The group's health check grace period (the group marks an instance Unhealthy
    /// only after it, when its health check type is ELB).
    pub grace: Duration,
    /// Target groups (names); none means EC2 health checks only.
    pub target_groups: Vec<String>,
    pub check_interval: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub deregistration_delay: Duration,
    /// From the end of draining to the instance being gone.
    pub shutdown: Duration,
    pub group: String,
    pub template: String,
    /// Added to instance ids, so two simulated groups side by side never share one.
    pub id_offset: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            fleet: 4,
            min: 2,
            max: 8,
            version: 1,
            versions: 2,
            boot: Duration::from_secs(60),
            grace: Duration::from_secs(120),
            target_groups: vec!["web".into()],
            check_interval: Duration::from_secs(10),
            healthy_threshold: 3,
            unhealthy_threshold: 2,
            deregistration_delay: Duration::from_secs(30),
            shutdown: Duration::from_secs(10),
            group: "web-asg".into(),
            template: "web".into(),
            id_offset: 0,
        }
    }
}

impl Settings {
    /// The least time a surge can take in this model: boot, the healthy checks, draining
    /// and shutdown, each of which has to happen once, one after the other.
    pub fn surge_minimum(&self) -> Duration {
        self.boot + self.check_interval * self.healthy_threshold + self.deregistration_delay + self.shutdown
    }

    /// The ARN of a target group by name.
    pub fn target_group_arn(name: &str) -> String {
        format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/{name}/0000000000000000")
    }
}

/// Faults to inject.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Share of calls answered with a throttling error (nothing done).
    pub throttle: f64,
    /// Share of calls answered with a 500 (nothing done).
    pub server_error: f64,
    /// Instances launched from these versions fail their health checks.
    pub bad_versions: BTreeSet<i64>,
    /// When set, those instances first pass their checks and serve this long, then fail
    /// them (a version that breaks under traffic).
    pub late_failure: Option<Duration>,
    /// These launches (1-based, counted from the start) never leave Pending.
    pub stuck_launches: BTreeSet<u32>,
    pub seed: u64,
}

/// One call the simulator received.
#[derive(Debug, Clone, Serialize)]
pub struct Call {
    /// Virtual seconds since the simulator started.
    pub at: f64,
    pub operation: &'static str,
    pub detail: String,
    pub mutating: bool,
    /// The error code when the call failed (injected or refused).
    pub error: Option<String>,
}

impl Call {
    /// The record of one call and how it ended.
    pub fn of<T>(at: f64, operation: &'static str, detail: String, mutating: bool, result: &CloudResult<T>) -> Call {
        Call {
            at,
            operation,
            detail,
            mutating,
            error: result
                .as_ref()
                .err()
                .map(|e| e.code.clone().unwrap_or_else(|| e.message.clone())),
        }
    }
}

/// Healthy capacity at one virtual instant (sampled at every event and every call, so
/// every change is seen).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Sample {
    pub at: f64,
    /// InService, Healthy and healthy in every target group.
    pub healthy: i32,
    /// Instances the group holds (any state).
    pub instances: i32,
}

/// The ports of a simulated cloud: the group, its target groups and launch template
/// from `sim`, the ECS service from `ecs`.
pub fn ports(sim: &Sim, ecs: &SimEcs) -> crate::cloud::Ports {
    crate::cloud::Ports {
        asg: Arc::new(sim.clone()),
        elb: Arc::new(sim.clone()),
        ecs: Arc::new(ecs.clone()),
        templates: Arc::new(sim.clone()),
        alarms: Arc::new(sim.alarms()),
        codedeploy: Arc::new(ecs.clone()),
        objects: Arc::new(SimServer::new(ServerSettings::default(), ServerFaults::default())),
    }
}

/// The ports of a simulated CodeDeploy deployment to EC2: `server` for CodeDeploy and
/// the bundle bucket, the rest (alarms) from `sim`.
pub fn server_ports(sim: &Sim, server: &SimServer) -> crate::cloud::Ports {
    let mut ports = ports(sim, &SimEcs::new(EcsSettings::default(), EcsFaults::default()));
    ports.codedeploy = Arc::new(server.clone());
    ports.objects = Arc::new(server.clone());
    ports
}

/// The simulated cloud. Cloning shares the same state.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Mutex<Inner>>,
    /// The account's CloudWatch alarms (see `alarms()`).
    alarms: SimAlarms,
}

struct Inner {
    state: State,
    faults: Faults,
    rng: StdRng,
    log: Vec<Call>,
    samples: Vec<Sample>,
    start: Instant,
}

impl Sim {
    /// This group's ports, with a default ECS service beside it.
    pub fn ports(&self) -> crate::cloud::Ports {
        ports(self, &SimEcs::new(EcsSettings::default(), EcsFaults::default()))
    }

    pub fn new(settings: Settings, faults: Faults) -> Self {
        let start = Instant::now();
        let rng = StdRng::seed_from_u64(faults.seed);
        let state = State::new(settings, start, faults.clone());
        let mut inner = Inner {
            state,
            faults,
            rng,
            log: Vec::new(),
            samples: Vec::new(),
            start,
        };
        inner.sample(start);
        Sim {
            inner: Arc::new(Mutex::new(inner)),
            alarms: SimAlarms::new(),
        }
    }

    /// The simulated account's CloudWatch alarms (shared with every clone and the ports).
    pub fn alarms(&self) -> SimAlarms {
        self.alarms.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().log.clone()
    }

    /// The mutating calls that were carried out (not those refused or failed).
    pub fn mutations(&self) -> Vec<Call> {
        self.lock()
            .log
            .iter()
            .filter(|c| c.mutating && c.error.is_none())
            .cloned()
            .collect()
    }

    /// Healthy capacity over time.
    pub fn samples(&self) -> Vec<Sample> {
        self.lock().samples.clone()
    }

    /// The state now (advancing the model, logging nothing).
    pub fn snapshot(&self) -> Snapshot {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.advance(now);
        inner.state.snapshot(now)
    }

    /// Changes the faults from now on (e.g. throttle only after the roll started).
    pub fn set_faults(&self, faults: Faults) {
        let mut inner = self.lock();
        inner.state.faults = faults.clone();
        inner.faults = faults;
    }

    /// Sets the desired capacity behind the roll's back, as a scaling policy would.
    pub fn scale_to(&self, desired: i32) {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.advance(now);
        inner.state.desired = desired;
        inner.state.max = inner.state.max.max(desired);
        inner.state.step(now);
        inner.sample(now);
    }

    /// Runs one port call: advance, inject faults, do it, sample, log.
    fn call<T>(
        &self,
        operation: &'static str,
        detail: String,
        mutating: bool,
        f: impl FnOnce(&mut State, Instant) -> CloudResult<T>,
    ) -> CloudResult<T> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.advance(now);
        let roll: f64 = inner.rng.random();
        let result = if roll < inner.faults.throttle {
            Err(CloudError::new(
                ErrorKind::Throttled,
                operation,
                Some("Throttling"),
                "Rate exceeded",
            ))
        } else if roll < inner.faults.throttle + inner.faults.server_error {
            Err(CloudError::new(
                ErrorKind::Other,
                operation,
                Some("InternalFailure"),
                "HTTP 500: simulated server error",
            ))
        } else {
            let r = f(&mut inner.state, now);
            if mutating && r.is_ok() {
                inner.state.step(now);
            }
            r
        };
        inner.sample(now);
        let at = (now - inner.start).as_secs_f64();
        inner.log.push(Call::of(at, operation, detail, mutating, &result));
        result
    }
}

impl Inner {
    /// Plays every event up to `now`, sampling healthy capacity after each.
    fn advance(&mut self, now: Instant) {
        while let Some(at) = self.state.next_event(now) {
            self.state.step(at);
            self.sample(at);
        }
        self.state.step(now);
        self.state.clock = now;
    }

    fn sample(&mut self, at: Instant) {
        let (healthy, instances) = self.state.healthy_count(at);
        let sample = Sample {
            at: (at - self.start).as_secs_f64(),
            healthy,
            instances,
        };
        match self.samples.last_mut() {
            Some(last) if last.healthy == healthy && last.instances == instances => {}
            _ => self.samples.push(sample),
        }
    }
}

#[cfg(test)]
mod tests;
