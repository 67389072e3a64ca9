//! The crate's error type and the exit codes every binary shares.
//!
//! Exit codes: 0 done; 1 the job failed; 2 bad input (config, flags,
//! environment variables); 3 timed out; 130 interrupted (after cleanup).

use std::fmt;
use std::path::PathBuf;

/// Where in a file an error was found, for messages and `::error file=...` annotations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    /// 1-based line.
    pub line: usize,
    /// 1-based column, when known.
    pub column: Option<usize>,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} line {}", self.file.display(), self.line)?;
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        Ok(())
    }
}

/// What caused a failure: the cloud call, I/O or parse error underneath, kept for
/// `source()` chains and for callers that branch on its kind.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Everything a slipway job can fail with. The variant decides the exit code; every
/// variant can carry help (what to do about it).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input: config, flags, environment variables, files. Exit code 2.
    #[error("{message}")]
    Input {
        message: String,
        /// What to do about it.
        help: Option<String>,
        location: Option<Location>,
    },
    /// The job ran and failed (unhealthy, rolled back, an API refused). Exit code 1.
    #[error("{message}")]
    Failed {
        message: String,
        help: Option<String>,
        /// The error underneath (e.g. the refused cloud call), when there is one.
        #[source]
        source: Option<Cause>,
    },
    /// A deadline passed before the job finished. Exit code 3.
    #[error("{message}")]
    TimedOut { message: String, help: Option<String> },
    /// SIGINT or SIGTERM, after cleanup. Exit code 130.
    #[error("interrupted{}", .message.as_deref().map(|s| format!(": {s}")).unwrap_or_default())]
    Interrupted {
        message: Option<String>,
        help: Option<String>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Bad input with a hint saying how to fix it.
    pub fn input(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Input {
            message: message.into(),
            help: Some(help.into()),
            location: None,
        }
    }

    /// The job failed.
    pub fn failed(message: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
            help: None,
            source: None,
        }
    }

    /// The job failed, with a hint saying what to do.
    pub fn failed_with_help(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
            help: Some(help.into()),
            source: None,
        }
    }

    /// The job failed because of `cause`, which stays reachable through `source()`.
    pub fn caused_by(message: impl Into<String>, help: Option<String>, cause: impl Into<Cause>) -> Self {
        Error::Failed {
            message: message.into(),
            help,
            source: Some(cause.into()),
        }
    }

    /// A deadline passed.
    pub fn timed_out(message: impl Into<String>) -> Self {
        Error::TimedOut {
            message: message.into(),
            help: None,
        }
    }

    /// SIGINT or SIGTERM; `during` says what was going on.
    pub fn interrupted(during: Option<String>) -> Self {
        Error::Interrupted {
            message: during,
            help: None,
        }
    }

    /// The same error with this help (replacing any it had).
    pub fn with_help(mut self, text: impl Into<String>) -> Self {
        match &mut self {
            Error::Input { help, .. }
            | Error::Failed { help, .. }
            | Error::TimedOut { help, .. }
            | Error::Interrupted { help, .. } => *help = Some(text.into()),
        }
        self
    }

    /// The same error, its message preceded by `head: ` (which region, which step).
    pub fn with_prefix(self, head: &str) -> Self {
        self.reworded(|m| format!("{head}: {m}"), head)
    }

    /// The same error, its message followed by ` (tail)`: how a cleanup left things.
    pub fn with_suffix(self, tail: &str) -> Self {
        self.reworded(|m| format!("{m} ({tail})"), tail)
    }

    /// The message rewritten by `how` (an interruption without one gets `alone`).
    fn reworded(mut self, how: impl Fn(&str) -> String, alone: &str) -> Self {
        match &mut self {
            Error::Input { message, .. } | Error::Failed { message, .. } | Error::TimedOut { message, .. } => {
                *message = how(message)
            }
            Error::Interrupted { message, .. } => {
                *message = Some(match message.take() {
                    Some(m) => how(&m),
                    None => alone.to_string(),
                })
            }
        }
        self
    }

    /// The error underneath, when it is of type `E` (e.g. `CloudError`).
    pub fn cause<E: std::error::Error + 'static>(&self) -> Option<&E> {
        match self {
            Error::Failed { source: Some(s), .. } => s.downcast_ref::<E>(),
            _ => None,
        }
    }

    /// Attach a file location to an input error (other kinds are returned as they are).
    pub fn at(mut self, loc: Option<Location>) -> Self {
        if let Error::Input { location, .. } = &mut self {
            if location.is_none() {
                *location = loc;
            }
        }
        self
    }

    /// The process exit code for this error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input { .. } => 2,
            Error::Failed { .. } => 1,
            Error::TimedOut { .. } => 3,
            Error::Interrupted { .. } => 130,
        }
    }

    pub fn help(&self) -> Option<&str> {
        match self {
            Error::Input { help, .. }
            | Error::Failed { help, .. }
            | Error::TimedOut { help, .. }
            | Error::Interrupted { help, .. } => help.as_deref(),
        }
    }

    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Input { location, .. } => location.as_ref(),
            _ => None,
        }
    }

    /// The message with its location and help, as a terminal shows it.
    pub fn render(&self) -> String {
        let mut out = self.to_string();
        if let Some(loc) = self.location() {
            out.push_str(&format!(" ({loc})"));
        }
        if let Some(help) = self.help() {
            out.push_str(&format!("\n  help: {help}"));
        }
        out
    }
}

/// One line from an error and its causes (each cause's `Display`, never `Debug`): the
/// words every SDK error wraps its cause in ("dispatch failure", "io error", "other") are
/// left out, a cause already contained in the text so far is not repeated, and the line
/// is cut at 600 characters.
pub fn aws_message(err: &dyn std::error::Error) -> String {
    const WRAPPERS: [&str; 9] = [
        "dispatch failure",
        "io error",
        "other",
        "user error",
        "timeout",
        "service error",
        "response error",
        "failed to construct request",
        "request has timed out",
    ];
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        let text = e.to_string().split_whitespace().collect::<Vec<_>>().join(" ");
        let known = parts.iter().any(|p| p.contains(&text));
        if !text.is_empty() && !known && !WRAPPERS.contains(&text.as_str()) {
            parts.push(text);
        }
        next = e.source();
    }
    if parts.is_empty() {
        parts.push(err.to_string());
    }
    let line = parts.join(": ");
    if line.chars().count() > 600 {
        format!("{}...", line.chars().take(600).collect::<String>())
    } else {
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The README's table of exit codes (`| code | meaning |`), code to meaning.
    fn documented_codes() -> std::collections::BTreeMap<u8, String> {
        let readme = include_str!("../README.md");
        let table = readme
            .split("| code | meaning |")
            .nth(1)
            .expect("the README has a table of exit codes");
        table
            .lines()
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .filter_map(|l| {
                let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
                Some((cells.first()?.parse().ok()?, cells.get(1)?.to_string()))
            })
            .collect()
    }

    #[test]
    fn every_kind_carries_help_and_a_failure_keeps_its_cause() {
        let timed_out = Error::timed_out("the group did not settle").with_help("raise --timeout");
        assert_eq!(timed_out.exit_code(), 3);
        assert_eq!(timed_out.render(), "the group did not settle\n  help: raise --timeout");
        let stopped = Error::interrupted(Some("while draining".into())).with_suffix("rolled back to version 1");
        assert_eq!(
            stopped.to_string(),
            "interrupted: while draining (rolled back to version 1)"
        );
        assert_eq!(stopped.exit_code(), 130);
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let failed = Error::caused_by("cannot read the plan", None, io);
        assert_eq!(failed.exit_code(), 1);
        let source = std::error::Error::source(&failed).expect("the cause is kept");
        assert_eq!(source.to_string(), "no such file");
        assert_eq!(
            failed.cause::<std::io::Error>().map(|e| e.kind()),
            Some(std::io::ErrorKind::NotFound)
        );
        assert!(failed.cause::<std::fmt::Error>().is_none());
    }

    #[test]
    fn exit_codes_follow_the_documented_convention() {
        let documented = documented_codes();
        // Each kind of error exits with the code the README gives its meaning, and every
        // documented failure code belongs to some error (0 is success, no error).
        let cases = [
            (Error::input("x", "y"), "bad input"),
            (Error::failed("x"), "the job failed"),
            (Error::timed_out("x"), "timed out"),
            (Error::interrupted(None), "interrupted"),
        ];
        for (err, meaning) in &cases {
            let code = err.exit_code();
            let doc = documented
                .get(&code)
                .unwrap_or_else(|| panic!("exit code {code} is not documented"));
            assert!(doc.starts_with(meaning), "{err:?} exits {code}, documented as {doc:?}");
        }
        let used: std::collections::BTreeSet<u8> = cases.iter().map(|(e, _)| e.exit_code()).collect();
        let failures: std::collections::BTreeSet<u8> = documented.keys().copied().filter(|c| *c != 0).collect();
        assert_eq!(used, failures, "documented: {documented:?}");
        assert_eq!(documented.get(&0).map(String::as_str), Some("done"));
    }

    #[test]
    fn render_includes_location_and_help() {
        let err = Error::input("environment \"prod\" has no role_arn", "add aws.role_arn").at(Some(Location {
            file: "slipway.yml".into(),
            line: 12,
            column: None,
        }));
        assert_eq!(
            err.render(),
            "environment \"prod\" has no role_arn (slipway.yml line 12)\n  help: add aws.role_arn"
        );
    }
}
