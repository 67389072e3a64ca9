//! Simulated CloudWatch alarms: named alarms whose state a test (or `--sim-alarm-after`)
//! sets, now or at a virtual instant, behind the `Alarms` port. Every DescribeAlarms call
//! is counted with its virtual time, so a test can measure how often the roll looks; a
//! share of calls can be throttled.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_cloudwatch::primitives::{DateTime, DateTimeFormat};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::cloud::{Alarm, AlarmState, Alarms, CloudError, CloudResult, ErrorKind};

/// The wall-clock time the simulator's virtual clock starts at (2026-01-01T00:00:00Z).
const EPOCH: i64 = 1_767_225_600;

/// The simulated alarms. Cloning shares them.
#[derive(Clone)]
pub struct SimAlarms {
    inner: Arc<Mutex<Inner>>,
}

struct Entry {
    state: AlarmState,
    reason: String,
    updated: Instant,
}

struct Inner {
    start: Instant,
    alarms: BTreeMap<String, Entry>,
    /// Every alarm goes into this state at this instant.
    scheduled: Vec<(Instant, AlarmState)>,
    /// Virtual seconds of each DescribeAlarms call.
    calls: Vec<f64>,
    /// Share of calls answered with a throttling error.
    throttle: f64,
    rng: StdRng,
}

impl Default for SimAlarms {
    fn default() -> Self {
        SimAlarms::new()
    }
}

impl SimAlarms {
    pub fn new() -> Self {
        SimAlarms {
            inner: Arc::new(Mutex::new(Inner {
                start: Instant::now(),
                alarms: BTreeMap::new(),
                scheduled: Vec::new(),
                calls: Vec::new(),
                throttle: 0.0,
                rng: StdRng::seed_from_u64(1),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Creates (or resets) an alarm in `state`, now.
    pub fn put(&self, name: &str, state: AlarmState) {
        self.set(name, state, "created by the simulator");
    }

    /// Sets an alarm's state now, as SetAlarmState does (creating it when missing).
    pub fn set(&self, name: &str, state: AlarmState, reason: &str) {
        let mut inner = self.lock();
        inner.alarms.insert(
            name.to_string(),
            Entry {
                state,
                reason: reason.to_string(),
                updated: Instant::now(),
            },
        );
    }

    /// Every alarm goes into `state` once `after` has passed since the simulator started.
    pub fn set_all_after(&self, after: Duration, state: AlarmState) {
        let mut inner = self.lock();
        let at = inner.start + after;
        inner.scheduled.push((at, state));
    }

    /// From now on, answer `share` of the calls with a throttling error.
    pub fn throttle(&self, share: f64, seed: u64) {
        let mut inner = self.lock();
        inner.throttle = share;
        inner.rng = StdRng::seed_from_u64(seed);
    }

    /// The virtual instant (seconds since the start) of every DescribeAlarms call.
    pub fn calls(&self) -> Vec<f64> {
        self.lock().calls.clone()
    }

    /// Virtual seconds since the start, for comparing with `calls`.
    pub fn seconds(&self, at: Instant) -> f64 {
        (at - self.lock().start).as_secs_f64()
    }
}

/// A virtual instant as CloudWatch writes a timestamp.
fn timestamp(start: Instant, at: Instant) -> Option<String> {
    let secs = EPOCH + (at - start).as_secs() as i64;
    DateTime::from_secs(secs).fmt(DateTimeFormat::DateTime).ok()
}

impl Inner {
    /// Applies the scheduled changes that are due.
    fn advance(&mut self, now: Instant) {
        let due: Vec<(Instant, AlarmState)> = self.scheduled.iter().filter(|(at, _)| *at <= now).cloned().collect();
        self.scheduled.retain(|(at, _)| *at > now);
        for (at, state) in due {
            for entry in self.alarms.values_mut() {
                entry.state = state.clone();
                entry.reason = format!("set to {state} by --sim-alarm-after");
                entry.updated = at;
            }
        }
    }
}

#[async_trait]
impl Alarms for SimAlarms {
    async fn describe(&self, names: &[String]) -> CloudResult<Vec<Alarm>> {
        let mut inner = self.lock();
        let now = Instant::now();
        inner.advance(now);
        let at = (now - inner.start).as_secs_f64();
        inner.calls.push(at);
        let roll: f64 = inner.rng.random();
        if roll < inner.throttle {
            return Err(CloudError::new(
                ErrorKind::Throttled,
                "DescribeAlarms",
                Some("Throttling"),
                "Rate exceeded",
            ));
        }
        let start = inner.start;
        Ok(names
            .iter()
            .filter_map(|name| {
                inner.alarms.get(name).map(|e| Alarm {
                    name: name.clone(),
                    state: e.state.clone(),
                    reason: e.reason.clone(),
                    updated: timestamp(start, e.updated),
                    composite: false,
                })
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn alarms_flip_at_their_virtual_time_and_missing_names_are_absent() {
        let alarms = SimAlarms::new();
        alarms.put("web-5xx", AlarmState::Ok);
        alarms.set_all_after(Duration::from_secs(90), AlarmState::Alarm);
        let names = vec!["web-5xx".to_string(), "nope".to_string()];
        let seen = alarms.describe(&names).await.unwrap();
        assert_eq!(seen.len(), 1, "a missing name is absent");
        assert_eq!(seen[0].state, AlarmState::Ok);
        tokio::time::sleep(Duration::from_secs(100)).await;
        let seen = alarms.describe(&names).await.unwrap();
        assert_eq!(seen[0].state, AlarmState::Alarm);
        assert_eq!(seen[0].updated.as_deref(), Some("2026-01-01T00:01:30Z"));
        assert_eq!(alarms.calls(), vec![0.0, 100.0]);
    }
}
