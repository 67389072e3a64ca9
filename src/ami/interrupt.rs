//! SIGINT and SIGTERM as a value a job can wait on: the first one is recorded, and
//! whoever runs a child process forwards it there.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

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

/// Whether SIGINT or SIGTERM arrived, and which.
#[derive(Debug, Clone, Default)]
pub struct Interrupt {
    token: CancellationToken,
    signal: Arc<AtomicI32>,
}

impl Interrupt {
    /// Never fires (tests, libraries).
    pub fn none() -> Self {
        Interrupt::default()
    }

    /// Listens for SIGINT and SIGTERM from now on (needs a tokio runtime).
    pub fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        let interrupt = Interrupt::default();
        let mut int = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        let (token, slot) = (interrupt.token.clone(), interrupt.signal.clone());
        tokio::spawn(async move {
            let number = tokio::select! {
                _ = int.recv() => libc::SIGINT,
                _ = term.recv() => libc::SIGTERM,
            };
            slot.store(number, Ordering::SeqCst);
            token.cancel();
        });
        Ok(interrupt)
    }

    /// The signal, once one arrived.
    pub fn received(&self) -> Option<Signal> {
        self.token
            .is_cancelled()
            .then(|| Signal(self.signal.load(Ordering::SeqCst)))
    }

    /// Waits for a signal.
    pub async fn wait(&self) -> Signal {
        self.token.cancelled().await;
        Signal(self.signal.load(Ordering::SeqCst))
    }

    /// An `Interrupted` error when a signal arrived; call between steps.
    pub fn check(&self) -> crate::Result<()> {
        match self.received() {
            Some(s) => Err(crate::Error::Interrupted(Some(format!("{} received", s.name())))),
            None => Ok(()),
        }
    }
}
