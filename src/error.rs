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

/// Everything a slipway job can fail with. The variant decides the exit code.
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
    Failed { message: String, help: Option<String> },
    /// A deadline passed before the job finished. Exit code 3.
    #[error("{0}")]
    TimedOut(String),
    /// SIGINT or SIGTERM, after cleanup. Exit code 130.
    #[error("interrupted{}", .0.as_deref().map(|s| format!(": {s}")).unwrap_or_default())]
    Interrupted(Option<String>),
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
        }
    }

    /// The job failed, with a hint saying what to do.
    pub fn failed_with_help(message: impl Into<String>, help: impl Into<String>) -> Self {
        Error::Failed {
            message: message.into(),
            help: Some(help.into()),
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
            Error::TimedOut(_) => 3,
            Error::Interrupted(_) => 130,
        }
    }

    pub fn help(&self) -> Option<&str> {
        match self {
            Error::Input { help, .. } | Error::Failed { help, .. } => help.as_deref(),
            _ => None,
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

/// A one-line description of an AWS SDK error including its service code and message,
/// which `Display` on SDK errors leaves out.
pub fn aws_message<E: std::error::Error>(err: &E) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
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
    fn exit_codes_follow_the_documented_convention() {
        let documented = documented_codes();
        // Each kind of error exits with the code the README gives its meaning, and every
        // documented failure code belongs to some error (0 is success, no error).
        let cases = [
            (Error::input("x", "y"), "bad input"),
            (Error::failed("x"), "the job failed"),
            (Error::TimedOut("x".into()), "timed out"),
            (Error::Interrupted(None), "interrupted"),
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
