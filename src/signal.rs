//! SIGINT/SIGTERM: the first signal cancels the job so it can clean up; a second one
//! does not skip the cleanup silently, it says what is left to do.

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

/// What a job still has to undo, shown when a second signal arrives.
#[derive(Clone, Default)]
pub struct Pending {
    steps: Arc<Mutex<Vec<String>>>,
}

impl Pending {
    /// Sets the list of cleanup steps still to do (empty when none).
    pub fn set(&self, steps: Vec<String>) {
        *self.steps.lock().unwrap_or_else(|e| e.into_inner()) = steps;
    }
    pub fn get(&self) -> Vec<String> {
        self.steps.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Cancels `token` on the first SIGINT or SIGTERM; on later ones prints what cleanup is left.
pub fn install(token: CancellationToken, pending: Pending) {
    tokio::spawn(async move {
        let mut signals = Signals::new();
        let mut count = 0;
        while signals.next().await {
            count += 1;
            if count == 1 {
                eprintln!("interrupted: stopping and cleaning up (a second signal will not skip the cleanup)");
                token.cancel();
                continue;
            }
            let steps = pending.get();
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

    async fn next(&mut self) -> bool {
        match &mut self.streams {
            Some((int, term)) => tokio::select! {
                v = int.recv() => v.is_some(),
                v = term.recv() => v.is_some(),
            },
            None => false,
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
    async fn next(&mut self) -> bool {
        tokio::signal::ctrl_c().await.is_ok()
    }
}
