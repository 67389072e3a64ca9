//! How a job is stopped, one way for every binary: SIGINT, SIGTERM or its `--timeout`
//! deadline. The first stop lets the job clean up (a child process such as Packer gets
//! the signal in its process group and is waited for); a later signal does not skip the
//! cleanup, it says what is left to do.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};

/// A received signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal(pub i32);

impl Signal {
    pub fn name(self) -> &'static str {
        match self.0 {
            libc::SIGINT => "SIGINT",
            libc::SIGTERM => "SIGTERM",
            _ => "signal",
        }
    }

    /// Sends the signal to a process group (the child's pid when it leads its group).
    pub fn send_to_group(self, pid: u32) {
        // SAFETY: kill(2) with a negative pid signals that process group; no memory is involved.
        unsafe {
            libc::kill(-(pid as i32), self.0);
        }
    }
}

/// Why a job was told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGINT or SIGTERM.
    Signal(Signal),
    /// The `--timeout` deadline passed.
    Deadline(Duration),
}

impl Stop {
    /// The signal a child process gets: the one received, or SIGINT (the graceful one) at
    /// the deadline.
    pub fn signal(self) -> Signal {
        match self {
            Stop::Signal(s) => s,
            Stop::Deadline(_) => Signal(libc::SIGINT),
        }
    }

    /// `SIGINT received`, `--timeout 30m passed`.
    pub fn describe(self) -> String {
        match self {
            Stop::Signal(s) => format!("{} received", s.name()),
            Stop::Deadline(d) => format!("--timeout {} passed", crate::wait::human(d)),
        }
    }

    /// The job's error after its cleanup: exit 130 for a signal, 3 for the deadline.
    pub fn error(self, what: &str) -> Error {
        match self {
            Stop::Signal(_) => Error::interrupted(Some(what.to_string())),
            Stop::Deadline(_) => Error::timed_out(format!("timed out ({}): {what}", self.describe())),
        }
    }
}

/// What a job still has to undo, shown when a second signal arrives.
#[derive(Debug, Clone, Default)]
pub struct Pending {
    steps: Arc<Mutex<Vec<String>>>,
}

impl Pending {
    /// Sets the list of cleanup steps still to do (empty when none).
    pub fn set(&self, steps: Vec<String>) {
        *self.steps.lock().unwrap_or_else(|e| e.into_inner()) = steps;
    }
    /// Adds one step (jobs doing several things at once, e.g. copies to several regions).
    pub fn push(&self, step: String) {
        self.steps.lock().unwrap_or_else(|e| e.into_inner()).push(step);
    }
    /// Removes a step `push` added, once it is done.
    pub fn remove(&self, step: &str) {
        self.steps
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|s| s != step);
    }
    pub fn get(&self) -> Vec<String> {
        self.steps.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// A job's stop: the first signal or the deadline, whichever comes first.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
    stop: Arc<Mutex<Option<Stop>>>,
    pending: Pending,
}

impl Interrupt {
    /// Never fires (tests, libraries).
    pub fn none() -> Self {
        Interrupt::default()
    }

    /// Listens for SIGINT and SIGTERM from now on, and stops at `deadline` from now when
    /// one is given (needs a tokio runtime).
    pub fn listen(deadline: Option<Duration>) -> Self {
        let interrupt = Interrupt::default();
        watch(interrupt.clone());
        if let Some(after) = deadline {
            let timer = interrupt.clone();
            let at = tokio::time::Instant::now() + after;
            tokio::spawn(async move {
                // The one clock (wait/); a signal first ends this timer.
                if crate::wait::sleep_until(at, &timer.token.clone()).await && timer.fire(Stop::Deadline(after)) {
                    eprintln!(
                        "timed out after {}: stopping and cleaning up",
                        crate::wait::human(after)
                    );
                }
            });
        }
        interrupt
    }

    /// Cancelled once the job is told to stop.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }

    /// What is left to clean up, for the message a second signal prints.
    pub fn pending(&self) -> &Pending {
        &self.pending
    }

    /// The stop, once there is one.
    pub fn received(&self) -> Option<Stop> {
        *self.stop.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for the stop.
    pub async fn wait(&self) -> Stop {
        self.token.cancelled().await;
        self.received().unwrap_or(Stop::Signal(Signal(libc::SIGTERM)))
    }

    /// Runs `work` until it ends or the job is told to stop, whichever comes first: AWS
    /// calls that hang give way to a signal or the deadline (`work` is dropped, and with
    /// it the call in flight). Not for work that must clean up itself when stopped (a
    /// child process, a copy that deregisters what it made): they take the interrupt.
    pub async fn race<T>(&self, what: &str, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            biased;
            stop = self.wait() => Err(stop.error(&format!("{what}: the call in flight was abandoned ({})", stop.describe()))),
            done = work => done,
        }
    }

    /// The stop's error when there is one; call between steps.
    pub fn check(&self) -> Result<()> {
        match self.received() {
            Some(stop) => Err(stop.error(&format!("stopped before the next step ({})", stop.describe()))),
            None => Ok(()),
        }
    }

    /// Records the first stop; false when there already was one.
    fn fire(&self, stop: Stop) -> bool {
        let mut slot = self.stop.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_some() {
            return false;
        }
        *slot = Some(stop);
        drop(slot);
        self.token.cancel();
        true
    }
}

/// Cancels `token` on the first SIGINT or SIGTERM; on later ones prints what cleanup is left.
pub fn install(token: CancellationToken, pending: Pending) {
    let interrupt = Interrupt {
        token,
        stop: Arc::default(),
        pending,
    };
    watch(interrupt);
}

fn watch(interrupt: Interrupt) {
    tokio::spawn(async move {
        let mut signals = Signals::new();
        while let Some(number) = signals.next().await {
            if interrupt.fire(Stop::Signal(Signal(number))) {
                eprintln!("interrupted: stopping and cleaning up (a second signal will not skip the cleanup)");
                continue;
            }
            let steps = interrupt.pending.get();
            if steps.is_empty() {
                eprintln!("interrupted again: cleanup is finishing");
            } else {
                eprintln!("interrupted again: still cleaning up; left to do:");
                for step in steps {
                    eprintln!("  - {step}");
                }
                eprintln!("killing slipway now would leave these undone");
            }
        }
    });
}

#[cfg(unix)]
struct Signals {
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

#[cfg(unix)]
impl Signals {
    fn new() -> Self {
        use tokio::signal::unix::{signal, SignalKind};
        let streams = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
            (Ok(int), Ok(term)) => Some((int, term)),
            _ => None,
        };
        Signals { streams }
    }

    async fn next(&mut self) -> Option<i32> {
        match &mut self.streams {
            Some((int, term)) => tokio::select! {
                v = int.recv() => v.map(|_| libc::SIGINT),
                v = term.recv() => v.map(|_| libc::SIGTERM),
            },
            None => None,
        }
    }
}

#[cfg(not(unix))]
struct Signals;

#[cfg(not(unix))]
impl Signals {
    fn new() -> Self {
        Signals
    }
    async fn next(&mut self) -> Option<i32> {
        tokio::signal::ctrl_c().await.ok().map(|_| 2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_deadline_stops_the_job_with_exit_3_and_only_once() {
        let interrupt = Interrupt::listen(Some(Duration::from_secs(30)));
        assert!(interrupt.check().is_ok());
        let stop = interrupt.wait().await;
        assert_eq!(stop, Stop::Deadline(Duration::from_secs(30)));
        assert_eq!(stop.signal(), Signal(libc::SIGINT));
        let err = interrupt.check().unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(err.to_string().contains("--timeout 30.0s passed"), "{err}");
        // A signal after the deadline does not replace it.
        assert!(!interrupt.fire(Stop::Signal(Signal(libc::SIGTERM))));
        assert_eq!(interrupt.received(), Some(stop));
    }

    #[test]
    fn pending_steps_of_concurrent_work_come_and_go_one_by_one() {
        let pending = Pending::default();
        pending.push("deregister ami-1 in us-west-2".into());
        pending.push("deregister ami-2 in eu-west-1".into());
        pending.remove("deregister ami-1 in us-west-2");
        assert_eq!(pending.get(), vec!["deregister ami-2 in eu-west-1".to_string()]);
    }

    #[test]
    fn a_signal_is_exit_130() {
        let stop = Stop::Signal(Signal(libc::SIGTERM));
        assert_eq!(stop.error("x").exit_code(), 130);
        assert_eq!(stop.describe(), "SIGTERM received");
    }
}
