//! What a roll carries while it runs (cancellation, progress, pacing, extra probes,
//! alarms, bake time) and
//! cloud calls retried through the polling engine when throttled or failing with a 5xx.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::cloud::{Alarms, CloudError, CloudResult, ErrorKind};
use crate::config::MissingData;
use crate::error::{Error, Result};
use crate::github::commands;
use crate::signal::Pending;
use crate::wait::{self, Check, Pacing, Probe, Progress};

/// How long a throttled or failing call is retried before the roll gives up on it (a call
/// that does not answer is abandoned then too).
pub const RETRY_FOR: Duration = Duration::from_secs(120);
/// The same for an upload (a CodeDeploy bundle), whose bytes take their time.
pub const UPLOAD_FOR: Duration = Duration::from_secs(30 * 60);

/// The roll's running context.
pub struct Ctx {
    /// Fires on SIGINT/SIGTERM. During cleanup it is replaced by one that never fires.
    pub cancel: CancellationToken,
    /// The cleanup steps left, shown when a second signal arrives.
    pub pending: Pending,
    pub progress: Progress,
    /// Time between polls while waiting.
    pub poll: Duration,
    /// How long each wait may take.
    pub timeout: Duration,
    /// How long the cleanup's waits may take; default: `roll::cleanup_timeout(timeout)`.
    pub cleanup_timeout: Option<Duration>,
    /// Extra health probes (e.g. health URLs showing the new version), run once the
    /// new instances are healthy.
    pub probes: Vec<Box<dyn Probe>>,
    /// CloudWatch alarms watched from the first change until the end of the bake
    /// (health.alarms and --alarm, deduplicated). Targets whose platform can watch
    /// alarms itself pass them on too.
    pub alarms: Vec<String>,
    /// Whether an alarm in INSUFFICIENT_DATA fails the roll.
    pub alarms_missing_data: MissingData,
    /// The alarms port (None: no alarms can be watched; `alarms` must then be empty).
    pub alarm_port: Option<Arc<dyn Alarms>>,
    /// How long the new version is watched (alarms and `probes`) after it takes all
    /// traffic; zero: no bake.
    pub bake: Duration,
    /// Probes of the new version on test traffic (health.test_urls), run before
    /// production traffic moves to it.
    pub test_probes: Vec<Box<dyn Probe>>,
    /// No phase lines on stderr.
    pub quiet: bool,
    /// Inside GitHub Actions: phases are `::group::`s.
    pub actions: bool,
    /// The deploy's notifications: each phase is sent there too.
    pub notify: Option<std::sync::mpsc::Sender<crate::notify::Event>>,
    /// The phase last started, for the traffic reports sent during it.
    phase: String,
    in_group: bool,
}

/// Sends the share of production traffic the new version has to the deploy's
/// notifications, with the phase it happens in, each time it changes.
pub struct TrafficReport {
    notify: Option<std::sync::mpsc::Sender<crate::notify::Event>>,
    phase: String,
    last: std::sync::Mutex<Option<f64>>,
}

impl TrafficReport {
    pub fn percent(&self, percent: f64) {
        let Some(notify) = &self.notify else { return };
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if *last != Some(percent) {
            *last = Some(percent);
            let _ = notify.send(crate::notify::Event::Progress {
                phase: self.phase.clone(),
                traffic_percent: Some(percent),
            });
        }
    }
}

impl Ctx {
    pub fn new(cancel: CancellationToken, pending: Pending, progress: Progress) -> Self {
        Ctx {
            cancel,
            pending,
            progress,
            poll: Duration::from_secs(2),
            timeout: Duration::from_secs(600),
            cleanup_timeout: None,
            probes: Vec::new(),
            alarms: Vec::new(),
            alarms_missing_data: MissingData::default(),
            alarm_port: None,
            bake: Duration::ZERO,
            test_probes: Vec::new(),
            quiet: false,
            actions: false,
            notify: None,
            phase: String::new(),
            in_group: false,
        }
    }

    /// A context that prints nothing (tests, benchmarks).
    pub fn quiet(cancel: CancellationToken) -> Self {
        let mut ctx = Ctx::new(cancel, Pending::default(), Progress::hidden());
        ctx.quiet = true;
        ctx
    }

    /// Reports the new version's share of production traffic during this phase.
    pub fn traffic(&self) -> TrafficReport {
        TrafficReport {
            notify: self.notify.clone(),
            phase: self.phase.clone(),
            last: std::sync::Mutex::new(None),
        }
    }

    /// A line on stderr.
    pub fn say(&self, text: &str) {
        if !self.quiet {
            eprintln!("{text}");
        }
    }

    /// Starts a phase: a `::group::` in Actions, a heading elsewhere.
    pub fn phase(&mut self, title: &str) {
        self.phase = title.to_string();
        if let Some(notify) = &self.notify {
            let _ = notify.send(crate::notify::Event::Progress {
                phase: title.to_string(),
                traffic_percent: None,
            });
        }
        if self.quiet {
            return;
        }
        if self.actions {
            if self.in_group {
                eprintln!("{}", commands::endgroup());
            }
            eprintln!("{}", commands::group(title));
            self.in_group = true;
        } else {
            eprintln!("==> {title}");
        }
    }

    /// Closes the last phase group.
    pub fn end_phases(&mut self) {
        if self.in_group && !self.quiet {
            eprintln!("{}", commands::endgroup());
        }
        self.in_group = false;
    }

    /// The pacing of the roll's waits.
    pub fn pacing(&self) -> Pacing {
        Pacing::new(self.poll, self.timeout)
    }
}

/// Throttling and 5xx are worth another try; anything else is an answer.
pub fn retryable(e: &CloudError) -> bool {
    e.is_transient()
}

/// Calls `f` until it answers, retrying throttling and 5xx once a second (with jitter)
/// for up to two minutes, through the polling engine.
pub async fn retry<T, F, Fut>(what: &str, cancel: &CancellationToken, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = CloudResult<T>>,
{
    retry_within(what, RETRY_FOR, cancel, f).await
}

/// `retry`, giving up after `within` instead of two minutes.
pub async fn retry_within<T, F, Fut>(what: &str, within: Duration, cancel: &CancellationToken, f: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = CloudResult<T>>,
{
    retry_raw_within(what, within, cancel, f).await.map_err(|e| match e {
        Raw::Cloud(e) => e.into(),
        Raw::Wait(e) => e,
    })
}

/// What a retried call ended with: the call's own error, or the wait's (timeout, interrupt).
pub enum Raw {
    Cloud(CloudError),
    Wait(Error),
}

/// Like `retry`, keeping a refused call's CloudError for the caller to branch on.
pub async fn retry_raw<T, F, Fut>(what: &str, cancel: &CancellationToken, f: F) -> std::result::Result<T, Raw>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = CloudResult<T>>,
{
    retry_raw_within(what, RETRY_FOR, cancel, f).await
}

async fn retry_raw_within<T, F, Fut>(
    what: &str,
    within: Duration,
    cancel: &CancellationToken,
    mut f: F,
) -> std::result::Result<T, Raw>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = CloudResult<T>>,
{
    let pacing = Pacing::new(Duration::from_secs(1), within);
    let refused: std::sync::Mutex<Option<CloudError>> = std::sync::Mutex::new(None);
    let slot = &refused;
    let result = wait::until(what, &pacing, cancel, &mut Progress::hidden(), || {
        let fut = f();
        async move {
            match fut.await {
                Ok(v) => Ok(Check::Done(Some(v))),
                Err(e) if retryable(&e) => {
                    tracing::debug!("{what}: {e}; retrying");
                    Ok(Check::Pending(e.to_string()))
                }
                Err(e) => {
                    *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                    Ok(Check::Done(None))
                }
            }
        }
    })
    .await;
    match result {
        Ok(Some(v)) => Ok(v),
        Ok(None) => Err(Raw::Cloud(
            refused
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .expect("a refused call keeps its error"),
        )),
        Err(e) => Err(Raw::Wait(e)),
    }
}

/// Whether a mutation's error proves it was not carried out: AWS refused it outright
/// (denied, invalid, no credentials), so the cleanup has nothing of it to undo. A
/// throttled call, a 5xx or a lost answer may have taken effect and proves nothing.
pub fn not_applied(e: &Error) -> bool {
    e.cause::<CloudError>().is_some_and(|c| match c.kind {
        ErrorKind::Denied | ErrorKind::Invalid | ErrorKind::Credentials => true,
        ErrorKind::NotFound | ErrorKind::Throttled | ErrorKind::Other => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::notify::Event;

    /// A traffic report goes out with the phase it happens in, once per change.
    #[test]
    fn traffic_is_reported_with_its_phase_once_per_change() {
        let (tx, rx) = std::sync::mpsc::channel();
        let mut ctx = Ctx::quiet(CancellationToken::new());
        ctx.notify = Some(tx);
        ctx.phase("follow the canary");
        let traffic = ctx.traffic();
        for p in [0.0, 10.0, 10.0, 100.0] {
            traffic.percent(p);
        }
        drop((traffic, ctx));
        let sent: Vec<(String, Option<f64>)> = rx
            .iter()
            .map(|e| match e {
                Event::Progress { phase, traffic_percent } => (phase, traffic_percent),
                other => panic!("{other:?}"),
            })
            .collect();
        let phase = "follow the canary".to_string();
        assert_eq!(
            sent,
            [
                (phase.clone(), None),
                (phase.clone(), Some(0.0)),
                (phase.clone(), Some(10.0)),
                (phase, Some(100.0))
            ]
        );
    }
}
