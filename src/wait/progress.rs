//! Progress on stderr while waiting: a spinner line rewritten in place on a terminal;
//! elsewhere (CI logs) a line whenever the state changes, and a heartbeat line at least
//! every 15 seconds so a quiet log never looks hung.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use tokio::time::Instant;

use super::engine::human;

const HEARTBEAT: Duration = Duration::from_secs(15);
const SPINNER: [char; 10] = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Hidden,
    Terminal,
    Lines,
}

/// Where progress goes, and what was shown last.
#[derive(Debug)]
pub struct Progress {
    mode: Mode,
    last_text: String,
    last_print: Option<Instant>,
    frame: usize,
    /// Lines printed (for tests and the benchmark).
    pub printed: usize,
}

impl Progress {
    /// Progress on stderr: a spinner on a terminal, change-and-heartbeat lines otherwise.
    pub fn stderr() -> Self {
        let mode = if std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none() {
            Mode::Terminal
        } else {
            Mode::Lines
        };
        Self::with_mode(mode)
    }

    /// Change-and-heartbeat lines on stderr, even on a terminal.
    pub fn lines() -> Self {
        Self::with_mode(Mode::Lines)
    }

    /// No output at all.
    pub fn hidden() -> Self {
        Self::with_mode(Mode::Hidden)
    }

    fn with_mode(mode: Mode) -> Self {
        Progress {
            mode,
            last_text: String::new(),
            last_print: None,
            frame: 0,
            printed: 0,
        }
    }

    /// Reports the state after a poll.
    pub fn update(&mut self, elapsed: Duration, text: &str) {
        let now = Instant::now();
        match self.mode {
            Mode::Hidden => {}
            Mode::Terminal => {
                self.frame = (self.frame + 1) % SPINNER.len();
                let mut line = format!("{} [{:>6}] {text}", SPINNER[self.frame], human(elapsed));
                if line.chars().count() > 150 {
                    line = line.chars().take(149).collect::<String>() + "…";
                }
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[2K{line}");
                let _ = err.flush();
                self.printed += 1;
            }
            Mode::Lines => {
                let changed = text != self.last_text;
                let quiet_too_long = self.last_print.is_none_or(|t| now.duration_since(t) >= HEARTBEAT);
                if changed || quiet_too_long {
                    eprintln!("[{:>6}] {text}", human(elapsed));
                    self.last_print = Some(now);
                    self.printed += 1;
                }
            }
        }
        self.last_text = text.to_string();
    }

    /// Ends the progress display with a final line.
    pub fn finish(&mut self, text: &str) {
        match self.mode {
            Mode::Hidden => {}
            Mode::Terminal => {
                eprintln!("\r\x1b[2K{text}");
            }
            Mode::Lines => eprintln!("{text}"),
        }
        self.last_text.clear();
        self.last_print = None;
    }
}
