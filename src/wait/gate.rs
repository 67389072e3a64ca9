//! The health gate: any number of probes polled together, each at its own interval,
//! until all are healthy, one fails, the deadline passes or the job is cancelled.
//!
//! A probe is checked until it is healthy, or watched: a watch (an alarm, or every probe
//! of a bake) keeps being polled until the gate ends, counts as healthy while its last
//! looks were, and fails on `WATCH_MISSES` unhealthy looks in a row. A gate can also be
//! held open (`Span::hold`) so that its watches are kept for a bake time.

use std::time::Duration;

use async_trait::async_trait;
use serde::Serialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::{jittered, sleep_until, Check};
use super::progress::Progress;
use crate::error::Result;

/// One thing that can be healthy: an HTTP endpoint, a target group, a group, a service.
#[async_trait]
pub trait Probe: Send {
    /// `http`, `target-group`, `asg`, `ecs`.
    fn kind(&self) -> &'static str;
    /// What is probed, e.g. the URL or the group's name.
    fn name(&self) -> String;
    /// Time between polls of this probe.
    fn interval(&self) -> Duration;
    /// One look. `Done(detail)` when healthy, `Pending(why)` while not yet, `Failed(why)`
    /// when it will not get healthy. An `Err` (bad input, such as a resource that does
    /// not exist) ends the whole gate at once.
    async fn poll(&mut self) -> Result<Check<String>>;
    /// Extra facts for the report when the gate fails or times out (events, stopped tasks).
    async fn diagnose(&mut self) -> Vec<String> {
        Vec::new()
    }
    /// A watch: polled until the gate ends, not only until it is healthy once (alarms).
    fn watch(&self) -> bool {
        false
    }
}

/// How often a held gate updates its progress (the time left) when nothing is due.
const HOLD_TICK: Duration = Duration::from_secs(15);

/// A watched probe that was healthy fails after this many unhealthy looks in a row.
pub const WATCH_MISSES: u32 = 3;

/// How long a gate runs.
#[derive(Debug, Clone, Copy)]
pub struct Span {
    /// Give up (timed out) after this long.
    pub timeout: Duration,
    /// Do not end healthy before this long: the watches are kept until then (a bake).
    pub hold: Duration,
    /// Treat every probe as a watch.
    pub watch_all: bool,
}

impl Span {
    /// Until all are healthy, or `timeout`.
    pub fn until(timeout: Duration) -> Self {
        Span {
            timeout,
            hold: Duration::ZERO,
            watch_all: false,
        }
    }

    /// A bake: every probe watched for `time`, which must pass with none failing.
    pub fn bake(time: Duration) -> Self {
        Span {
            timeout: time,
            hold: time,
            watch_all: true,
        }
    }
}

/// Where a probe ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProbeState {
    Healthy,
    Waiting,
    Failed,
}

/// One probe in the final report.
#[derive(Debug, Clone, Serialize)]
pub struct ProbeReport {
    pub kind: &'static str,
    pub name: String,
    pub state: ProbeState,
    /// The last detail: what healthy looked like, or why not.
    pub detail: String,
    /// Seconds from the start of the gate until the probe was healthy.
    #[serde(serialize_with = "secs")]
    pub time_to_healthy: Option<Duration>,
    pub polls: u32,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diagnosis: Vec<String>,
}

fn secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&((d.as_secs_f64() * 1000.0).round() / 1000.0)),
        None => s.serialize_none(),
    }
}

/// How the gate ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Healthy,
    /// `--dry-run`: the probes were listed, none was polled (never the result of `gate`).
    Planned,
    Failed,
    TimedOut,
    Interrupted,
}

impl Outcome {
    /// 0 healthy, 1 failed, 3 timed out, 130 interrupted.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Healthy | Outcome::Planned => 0,
            Outcome::Failed => 1,
            Outcome::TimedOut => 3,
            Outcome::Interrupted => 130,
        }
    }
}

/// The gate's report.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub outcome: Outcome,
    #[serde(serialize_with = "secs_plain")]
    pub elapsed: Duration,
    /// The reason in one line, when not healthy.
    pub cause: Option<String>,
    pub probes: Vec<ProbeReport>,
}

fn secs_plain<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

struct Slot<'a> {
    probe: &'a mut Box<dyn Probe>,
    report: ProbeReport,
    next: Instant,
    watched: bool,
    /// Unhealthy looks in a row.
    misses: u32,
}

impl Slot<'_> {
    /// Polled this round: still waiting, or watched until the gate ends.
    fn polled(&self) -> bool {
        match self.report.state {
            ProbeState::Waiting => true,
            ProbeState::Healthy => self.watched,
            ProbeState::Failed => false,
        }
    }
}

/// Runs the probes until all are healthy (each stays healthy once it was), one fails,
/// `timeout` passes or `cancel` fires. Errors from a probe's poll end the gate at once.
pub async fn gate(
    mut probes: Vec<Box<dyn Probe>>,
    timeout: Duration,
    cancel: &CancellationToken,
    progress: &mut Progress,
) -> Result<GateReport> {
    gate_on(&mut probes, Span::until(timeout), cancel, progress).await
}

/// The gate over borrowed probes (they can be polled again later, e.g. in a bake).
pub async fn gate_on(
    probes: &mut [Box<dyn Probe>],
    span: Span,
    cancel: &CancellationToken,
    progress: &mut Progress,
) -> Result<GateReport> {
    let start = Instant::now();
    let timeout = span.timeout;
    let deadline = start + timeout;
    let held = start + span.hold.min(timeout);
    let mut slots: Vec<Slot> = probes
        .iter_mut()
        .map(|probe| Slot {
            watched: span.watch_all || probe.watch(),
            misses: 0,
            report: ProbeReport {
                kind: probe.kind(),
                name: probe.name(),
                state: ProbeState::Waiting,
                detail: "not polled yet".into(),
                time_to_healthy: None,
                polls: 0,
                diagnosis: Vec::new(),
            },
            probe,
            next: start,
        })
        .collect();
    let outcome = loop {
        let now = Instant::now();
        let final_round = now >= deadline;
        let due: Vec<&mut Slot> = slots
            .iter_mut()
            .filter(|s| s.polled() && (final_round || s.next <= now))
            .collect();
        // A look that does not answer (a call that hangs) gives way: to the cancellation
        // at once, and to the deadline (or one interval, for the look made at it) as a
        // pending look that says so.
        let polls = futures_util::future::join_all(due.into_iter().map(|slot| async move {
            let asked = Instant::now();
            let ends = deadline.max(asked + slot.probe.interval());
            let result = match tokio::time::timeout_at(ends, slot.probe.poll()).await {
                Ok(result) => result,
                Err(_) => Ok(Check::Pending(format!(
                    "its last look has not answered after {}",
                    super::human(asked.elapsed())
                ))),
            };
            (slot, result)
        }));
        let results = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            results = polls => Some(results),
        };
        let Some(results) = results else {
            break Outcome::Interrupted;
        };
        for (slot, result) in results {
            slot.report.polls += 1;
            slot.next = Instant::now() + jittered(slot.probe.interval(), 0.1);
            match result? {
                Check::Done(detail) => {
                    if slot.report.state != ProbeState::Healthy {
                        slot.report.time_to_healthy = Some(start.elapsed());
                    }
                    slot.report.state = ProbeState::Healthy;
                    slot.report.detail = detail;
                    slot.misses = 0;
                }
                Check::Pending(why) if slot.watched && slot.report.state == ProbeState::Healthy => {
                    // A watch that was healthy tolerates a few unhealthy looks.
                    slot.misses += 1;
                    if slot.misses >= WATCH_MISSES {
                        slot.report.state = ProbeState::Failed;
                        slot.report.detail = format!("unhealthy on {} looks in a row: {why}", slot.misses);
                    } else {
                        slot.report.detail = why;
                    }
                }
                Check::Pending(why) => slot.report.detail = why,
                Check::Failed(why) => {
                    slot.report.state = ProbeState::Failed;
                    slot.report.detail = why;
                }
            }
        }
        if slots.iter().any(|s| s.report.state == ProbeState::Failed) {
            break Outcome::Failed;
        }
        let now = Instant::now();
        if slots.iter().all(|s| s.report.state == ProbeState::Healthy) && (now >= held || final_round) {
            break Outcome::Healthy;
        }
        if final_round {
            break Outcome::TimedOut;
        }
        let mut line = summary(&slots);
        if now < held {
            line = format!("{} left; {line}", super::human(held - now));
        }
        progress.update(start.elapsed(), &line);
        let all_healthy = slots.iter().all(|s| s.report.state == ProbeState::Healthy);
        // While held, wake now and then to show the time left even with nothing to poll.
        let tick = (now < held).then(|| now + HOLD_TICK);
        let wake = slots
            .iter()
            .filter(|s| s.polled())
            .map(|s| s.next)
            .chain(all_healthy.then_some(held))
            .chain(tick)
            .min()
            .unwrap_or(deadline)
            .min(deadline);
        if !sleep_until(wake, cancel).await {
            break Outcome::Interrupted;
        }
    };
    if matches!(outcome, Outcome::Failed | Outcome::TimedOut) {
        for slot in slots.iter_mut().filter(|s| s.report.state != ProbeState::Healthy) {
            slot.report.diagnosis = slot.probe.diagnose().await;
        }
    }
    let cause = cause(outcome, &slots, timeout);
    let word = match outcome {
        Outcome::Healthy => "healthy",
        Outcome::Planned => "planned",
        Outcome::Failed => "failed",
        Outcome::TimedOut => "timed out",
        Outcome::Interrupted => "interrupted",
    };
    let healthy = slots.iter().filter(|s| s.report.state == ProbeState::Healthy).count();
    progress.finish(&format!(
        "gate {word} after {} ({healthy}/{} healthy)",
        super::human(start.elapsed()),
        slots.len()
    ));
    Ok(GateReport {
        outcome,
        elapsed: start.elapsed(),
        cause,
        probes: slots.into_iter().map(|s| s.report).collect(),
    })
}

fn label(r: &ProbeReport) -> String {
    format!("{} {}", r.kind, r.name)
}

/// `2/3 healthy; waiting: http https://x (HTTP 503)`.
fn summary(slots: &[Slot]) -> String {
    if slots.is_empty() {
        return "nothing to probe".into();
    }
    let healthy = slots.iter().filter(|s| s.report.state == ProbeState::Healthy).count();
    let waiting: Vec<String> = slots
        .iter()
        .filter(|s| s.report.state == ProbeState::Waiting)
        .map(|s| format!("{} ({})", label(&s.report), s.report.detail))
        .collect();
    if waiting.is_empty() {
        return format!("{healthy}/{} healthy", slots.len());
    }
    format!("{healthy}/{} healthy; waiting: {}", slots.len(), waiting.join("; "))
}

fn cause(outcome: Outcome, slots: &[Slot], timeout: Duration) -> Option<String> {
    match outcome {
        Outcome::Healthy | Outcome::Planned => None,
        Outcome::Failed => slots
            .iter()
            .find(|s| s.report.state == ProbeState::Failed)
            .map(|s| format!("{} failed: {}", label(&s.report), s.report.detail)),
        Outcome::TimedOut => {
            let waiting: Vec<String> = slots
                .iter()
                .filter(|s| s.report.state == ProbeState::Waiting)
                .map(|s| format!("{}: {}", label(&s.report), s.report.detail))
                .collect();
            Some(format!(
                "timed out after {}; not healthy: {}",
                super::human(timeout),
                waiting.join("; ")
            ))
        }
        Outcome::Interrupted => Some("interrupted".into()),
    }
}
