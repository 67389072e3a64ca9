//! The gate's watches and holds on tokio's paused clock: a bake keeps polling until its
//! time is up and tolerates fewer than `WATCH_MISSES` unhealthy looks in a row; that many
//! fail it; a bake with no probes waits out its time and stops on cancellation.

use std::collections::VecDeque;
use std::time::Duration;

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::engine::Check;
use super::gate::{gate_on, Outcome, Probe, ProbeState, Span, WATCH_MISSES};
use super::Progress;
use crate::error::Result;

/// Looks from a script (true: healthy); the last one repeats.
struct Looks(VecDeque<bool>, u32);

#[async_trait]
impl Probe for Looks {
    fn kind(&self) -> &'static str {
        "scripted"
    }
    fn name(&self) -> String {
        "looks".into()
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(10)
    }
    async fn poll(&mut self) -> Result<Check<String>> {
        self.1 += 1;
        let healthy = if self.0.len() > 1 {
            self.0.pop_front().unwrap()
        } else {
            self.0[0]
        };
        Ok(if healthy {
            Check::Done("up".into())
        } else {
            Check::Pending("HTTP 503".into())
        })
    }
}

fn looks(script: &[bool]) -> Box<dyn Probe> {
    Box::new(Looks(script.iter().copied().collect(), 0))
}

#[tokio::test(start_paused = true)]
async fn a_bake_keeps_polling_for_its_time_and_tolerates_a_short_blip() {
    let start = Instant::now();
    let mut probes = vec![looks(&[true, true, false, false, true])];
    let report = gate_on(
        &mut probes,
        Span::bake(Duration::from_secs(60)),
        &CancellationToken::new(),
        &mut Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Healthy, "{report:?}");
    assert_eq!(start.elapsed(), Duration::from_secs(60), "held for the whole bake");
    assert!(report.probes[0].polls >= 6, "polled all along: {report:?}");
}

#[tokio::test(start_paused = true)]
async fn a_watch_unhealthy_on_three_looks_in_a_row_fails_the_bake() {
    let mut probes = vec![looks(&[true, false])];
    let report = gate_on(
        &mut probes,
        Span::bake(Duration::from_secs(600)),
        &CancellationToken::new(),
        &mut Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Failed);
    assert_eq!(report.probes[0].state, ProbeState::Failed);
    assert_eq!(report.probes[0].polls, 1 + WATCH_MISSES);
    assert!(
        report.probes[0].diagnosis.is_empty(),
        "a probe with nothing to diagnose adds no lines: {report:?}"
    );
    assert!(
        report
            .cause
            .unwrap()
            .contains("unhealthy on 3 looks in a row: HTTP 503"),
        "the cause says why"
    );
}

#[tokio::test(start_paused = true)]
async fn a_bake_without_probes_waits_out_its_time_or_stops_on_cancel() {
    let start = Instant::now();
    let report = gate_on(
        &mut [],
        Span::bake(Duration::from_secs(300)),
        &CancellationToken::new(),
        &mut Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Healthy);
    assert_eq!(start.elapsed(), Duration::from_secs(300));

    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(42)).await;
        trigger.cancel();
    });
    let start = Instant::now();
    let report = gate_on(
        &mut [],
        Span::bake(Duration::from_secs(300)),
        &cancel,
        &mut Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted);
    assert_eq!(start.elapsed(), Duration::from_secs(42));
}

/// A probe whose look never answers (a call that hangs).
struct Hangs;

#[async_trait]
impl Probe for Hangs {
    fn kind(&self) -> &'static str {
        "hangs"
    }
    fn name(&self) -> String {
        "hangs".into()
    }
    fn interval(&self) -> Duration {
        Duration::from_secs(5)
    }
    async fn poll(&mut self) -> Result<Check<String>> {
        std::future::pending().await
    }
}

/// Ctrl-C reaches a look in flight: the gate ends at the signal, not after the call.
#[tokio::test(start_paused = true)]
async fn a_look_that_never_answers_gives_way_to_the_cancellation() {
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        trigger.cancel();
    });
    let start = Instant::now();
    let mut probes: Vec<Box<dyn Probe>> = vec![Box::new(Hangs), looks(&[false])];
    let report = gate_on(
        &mut probes,
        Span::until(Duration::from_secs(3600)),
        &cancel,
        &mut Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Interrupted);
    assert_eq!(start.elapsed(), Duration::from_secs(3));
}

/// The deadline reaches it too: a timed-out gate that says the look never answered.
#[tokio::test(start_paused = true)]
async fn a_look_that_never_answers_times_out_at_the_deadline_saying_so() {
    let start = Instant::now();
    let mut probes: Vec<Box<dyn Probe>> = vec![Box::new(Hangs)];
    let report = gate_on(
        &mut probes,
        Span::until(Duration::from_secs(60)),
        &CancellationToken::new(),
        &mut Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::TimedOut);
    assert!(start.elapsed() <= Duration::from_secs(65), "{:?}", start.elapsed());
    assert!(
        report.probes[0].detail.contains("has not answered"),
        "{:?}",
        report.probes[0]
    );
}

/// A probe that is no watch is polled until it is healthy once, then left alone: a
/// later unhealthy look it would give is never taken (a watch, an alarm, keeps polling).
#[tokio::test(start_paused = true)]
async fn a_probe_that_is_no_watch_stays_healthy_once_it_was() {
    let mut probes = vec![looks(&[true, false]), looks(&[false, false, false, false, true])];
    let report = gate_on(
        &mut probes,
        Span::until(Duration::from_secs(600)),
        &CancellationToken::new(),
        &mut Progress::hidden(),
    )
    .await
    .unwrap();
    assert_eq!(report.outcome, Outcome::Healthy, "{report:?}");
    assert_eq!(report.probes[0].polls, 1, "healthy once, then not polled: {report:?}");
    assert_eq!(report.probes[1].polls, 5);
}
