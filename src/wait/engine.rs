//! The one polling engine: a deadline, a fixed interval with jitter (never exponential
//! backoff), cancellation, and a progress line per poll. Everything in slipway that
//! waits goes through here; time is tokio's, so tests and the simulator run it on a
//! paused (virtual) clock.

use std::future::Future;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::progress::Progress;
use crate::error::{Error, Result};

/// One look at something that is not ready yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check<T> {
    /// Ready.
    Done(T),
    /// Not yet, and why.
    Pending(String),
    /// It will not get ready: stop now, and why.
    Failed(String),
}

/// How to wait.
#[derive(Debug, Clone)]
pub struct Pacing {
    /// Time between polls.
    pub interval: Duration,
    /// Each interval varies by up to this share either way (0.1 = ±10%), so many
    /// waiters do not poll in lockstep.
    pub jitter: f64,
    /// Give up after this long.
    pub timeout: Duration,
}

impl Pacing {
    pub fn new(interval: Duration, timeout: Duration) -> Self {
        Pacing {
            interval,
            jitter: 0.1,
            timeout,
        }
    }

    /// The interval with jitter applied.
    pub fn next_interval(&self) -> Duration {
        jittered(self.interval, self.jitter)
    }
}

/// `base` varied by up to `jitter` either way.
pub fn jittered(base: Duration, jitter: f64) -> Duration {
    if jitter <= 0.0 || base.is_zero() {
        return base;
    }
    let factor = 1.0 + rand::rng().random_range(-jitter..=jitter);
    base.mul_f64(factor.max(0.0))
}

/// Sleeps until `at`; false when cancelled first.
pub async fn sleep_until(at: Instant, cancel: &CancellationToken) -> bool {
    tokio::select! {
        _ = tokio::time::sleep_until(at) => true,
        _ = cancel.cancelled() => false,
    }
}

/// Polls `check` until it is done, fails, the deadline passes or `cancel` fires.
///
/// Errors: `Failed` for `Check::Failed`, `TimedOut` with the last reason, `Interrupted`
/// on cancellation; errors returned by `check` itself end the wait at once.
pub async fn until<T, F, Fut>(
    what: &str,
    pacing: &Pacing,
    cancel: &CancellationToken,
    progress: &mut Progress,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Check<T>>>,
{
    let start = Instant::now();
    let deadline = start + pacing.timeout;
    let mut last: Option<String> = None;
    loop {
        if cancel.is_cancelled() {
            return Err(Error::interrupted(Some(format!("while waiting for {what}"))));
        }
        // A look that does not answer (a call that hangs) gives way to the cancellation
        // and to the deadline: it is abandoned, never waited for. The last look, made at
        // the deadline, still gets one interval.
        let looked_at = Instant::now();
        let look_ends = deadline.max(looked_at + pacing.interval);
        let looked = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                progress.finish(&format!("{what}: interrupted"));
                return Err(Error::interrupted(Some(format!(
                    "while waiting for {what} (the call in flight was abandoned){}",
                    last.map(|r| format!("; last: {r}")).unwrap_or_default()
                ))));
            }
            looked = check() => looked?,
            _ = tokio::time::sleep_until(look_ends) => {
                progress.finish(&format!("{what}: timed out"));
                return Err(Error::timed_out(format!(
                    "{what}: not done after {}; last: a call made {} ago has not answered{}",
                    human(start.elapsed()),
                    human(looked_at.elapsed()),
                    last.map(|r| format!(" (before it: {r})")).unwrap_or_default()
                )));
            }
        };
        let reason = match looked {
            Check::Done(value) => {
                progress.finish(&format!("{what}: done after {}", human(start.elapsed())));
                return Ok(value);
            }
            Check::Failed(reason) => {
                progress.finish(&format!("{what}: failed after {}", human(start.elapsed())));
                return Err(Error::failed(format!("{what}: {reason}")));
            }
            Check::Pending(reason) => reason,
        };
        last = Some(reason.clone());
        progress.update(start.elapsed(), &format!("{what}: {reason}"));
        let now = Instant::now();
        if now >= deadline {
            progress.finish(&format!("{what}: timed out"));
            return Err(Error::timed_out(format!(
                "{what}: not done after {}; last: {reason}",
                human(pacing.timeout)
            )));
        }
        let wake = (now + pacing.next_interval()).min(deadline);
        if !sleep_until(wake, cancel).await {
            progress.finish(&format!("{what}: interrupted"));
            return Err(Error::interrupted(Some(format!(
                "while waiting for {what}; last: {reason}"
            ))));
        }
    }
}

/// A duration for people: `850ms`, `12.3s`, `4m05s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        let s = d.as_secs();
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn quiet() -> Progress {
        Progress::hidden()
    }

    #[tokio::test(start_paused = true)]
    async fn done_after_n_polls_at_the_fixed_interval() {
        let polls = AtomicU32::new(0);
        let start = Instant::now();
        let pacing = Pacing {
            interval: Duration::from_secs(5),
            jitter: 0.0,
            timeout: Duration::from_secs(600),
        };
        let value = until("thing", &pacing, &CancellationToken::new(), &mut quiet(), || async {
            let n = polls.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(if n == 4 {
                Check::Done(n)
            } else {
                Check::Pending(format!("poll {n}"))
            })
        })
        .await
        .unwrap();
        assert_eq!(value, 4);
        // Three sleeps of exactly one interval each: no backoff.
        assert_eq!(start.elapsed(), Duration::from_secs(15));
    }

    #[tokio::test(start_paused = true)]
    async fn times_out_at_the_deadline_with_the_last_reason() {
        let start = Instant::now();
        let pacing = Pacing {
            interval: Duration::from_secs(7),
            jitter: 0.0,
            timeout: Duration::from_secs(30),
        };
        let err = until("gate", &pacing, &CancellationToken::new(), &mut quiet(), || async {
            Ok(Check::<()>::Pending("HTTP 503".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("last: HTTP 503"), "{err}");
        // The last sleep is cut to the deadline, plus one final poll.
        assert_eq!(start.elapsed(), Duration::from_secs(30));
    }

    #[tokio::test(start_paused = true)]
    async fn fails_fast_and_stops_on_cancel() {
        let pacing = Pacing::new(Duration::from_secs(1), Duration::from_secs(60));
        let err = until("deploy", &pacing, &CancellationToken::new(), &mut quiet(), || async {
            Ok(Check::<()>::Failed("circuit breaker rolled back".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 1);

        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(2500)).await;
            trigger.cancel();
        });
        let start = Instant::now();
        let err = until("deploy", &pacing, &cancel, &mut quiet(), || async {
            Ok(Check::<()>::Pending("x".into()))
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert_eq!(
            start.elapsed(),
            Duration::from_millis(2500),
            "cancellation cuts the sleep short"
        );
    }

    /// A look that never answers (a call that hangs) is abandoned at the cancellation,
    /// not waited for: Ctrl-C and the deadline reach calls in flight.
    #[tokio::test(start_paused = true)]
    async fn a_look_that_never_answers_gives_way_to_the_cancellation() {
        let pacing = Pacing::new(Duration::from_secs(2), Duration::from_secs(3600));
        let cancel = CancellationToken::new();
        let trigger = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(7)).await;
            trigger.cancel();
        });
        let polls = AtomicU32::new(0);
        let start = Instant::now();
        let err = until("the service", &pacing, &cancel, &mut quiet(), || {
            let n = polls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    return Ok(Check::<()>::Pending("2 of 4 running".into()));
                }
                std::future::pending().await
            }
        })
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 130);
        assert_eq!(start.elapsed(), Duration::from_secs(7), "ended at the signal");
        let text = err.to_string();
        assert!(
            text.contains("abandoned") && text.contains("last: 2 of 4 running"),
            "{text}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_look_that_never_answers_ends_at_the_deadline() {
        let pacing = Pacing {
            interval: Duration::from_secs(5),
            jitter: 0.0,
            timeout: Duration::from_secs(60),
        };
        let start = Instant::now();
        let err = until(
            "the group",
            &pacing,
            &CancellationToken::new(),
            &mut quiet(),
            || async { std::future::pending::<Result<Check<()>>>().await },
        )
        .await
        .unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert_eq!(start.elapsed(), Duration::from_secs(60));
        assert!(err.to_string().contains("has not answered"), "{err}");
    }

    /// The look made at the deadline still gets one interval to answer.
    #[tokio::test(start_paused = true)]
    async fn the_last_look_at_the_deadline_gets_one_interval() {
        let pacing = Pacing {
            interval: Duration::from_secs(10),
            jitter: 0.0,
            timeout: Duration::from_secs(10),
        };
        let polls = AtomicU32::new(0);
        let value = until("slow", &pacing, &CancellationToken::new(), &mut quiet(), || {
            let n = polls.fetch_add(1, Ordering::SeqCst);
            async move {
                if n == 0 {
                    return Ok(Check::Pending("not yet".into()));
                }
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(Check::Done(n))
            }
        })
        .await
        .unwrap();
        assert_eq!(value, 1);
    }

    /// Jitter spreads the intervals both ways (many waiters never poll in lockstep), and
    /// none at all when there is no jitter.
    #[test]
    fn jitter_spreads_intervals_both_ways() {
        let base = Duration::from_secs(10);
        let samples: Vec<Duration> = (0..1000).map(|_| jittered(base, 0.1)).collect();
        assert!(samples.iter().any(|d| *d < Duration::from_millis(9500)), "some shorter");
        assert!(samples.iter().any(|d| *d > Duration::from_millis(10500)), "some longer");
        assert_eq!(jittered(base, 0.0), base);
        assert_eq!(jittered(Duration::ZERO, 0.1), Duration::ZERO);
    }

    #[test]
    fn human_durations_change_unit_at_a_second_and_a_minute() {
        let ms = Duration::from_millis;
        assert_eq!(human(ms(500)), "500ms");
        assert_eq!(human(ms(999)), "999ms");
        assert_eq!(human(ms(1000)), "1.0s");
        assert_eq!(human(ms(12_345)), "12.3s");
        assert_eq!(human(ms(59_900)), "59.9s");
        assert_eq!(human(ms(60_000)), "1m00s");
        assert_eq!(human(ms(245_000)), "4m05s");
    }

    #[test]
    fn jitter_stays_within_bounds() {
        for _ in 0..1000 {
            let d = jittered(Duration::from_secs(10), 0.1);
            assert!(d >= Duration::from_secs(9) && d <= Duration::from_secs(11), "{d:?}");
        }
    }
}
