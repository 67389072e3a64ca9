//! What every binary shares: the output format flag, logging, and turning a result
//! into a message, an annotation and an exit code.

use std::io::IsTerminal;
use std::process::ExitCode;

use crate::error::Error;
use crate::github::{commands, Runner};

/// `--output`: human text on stderr, or JSON on stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Output {
    /// A readable report on stderr.
    #[default]
    Text,
    /// One JSON document on stdout (progress and messages still go to stderr).
    Json,
}

/// Starts logging to stderr. `SLIPWAY_LOG` sets the filter, e.g. `SLIPWAY_LOG=debug` or
/// `SLIPWAY_LOG=aws_smithy_runtime=trace`; without it only slipway's own warnings show
/// (the AWS SDK's log lines are for debugging, and its errors reach the user as slipway's
/// messages). NO_COLOR is honoured.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SLIPWAY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("slipway=warn"));
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(color)
        .with_target(false)
        .try_init();
}

/// Prints the error (and in Actions an `::error::` annotation with its file and line)
/// and returns the exit code for it.
pub fn fail(program: &str, err: &Error, runner: &Runner) -> ExitCode {
    eprintln!("{program}: error: {}", err.render());
    if runner.actions {
        let mut message = err.to_string();
        if let Some(help) = err.help() {
            message.push_str(&format!("\nhelp: {help}"));
        }
        let location = err.location().map(|l| runner.in_workspace(l));
        eprintln!(
            "{}",
            commands::annotation(commands::Level::Error, &message, Some(program), location.as_ref())
        );
    }
    ExitCode::from(err.exit_code())
}

/// Writes a JSON document to stdout.
pub fn print_json<T: serde::Serialize>(value: &T) -> Result<(), Error> {
    use std::io::Write;
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::failed(format!("cannot serialise the result as JSON: {e}")))?;
    // A closed stdout (piped into `head`) is not a failure of the job.
    match writeln!(std::io::stdout().lock(), "{text}") {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error::failed(format!("cannot write the JSON result: {e}")))
        }
        _ => Ok(()),
    }
}
