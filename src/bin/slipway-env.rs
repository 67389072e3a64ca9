//! slipway-env: which environment does this GitHub event deploy to, and with what settings.

use std::process::ExitCode;

use clap::Parser;
use slipway::cli;
use slipway::env::command::{self, Args};
use slipway::github::Runner;

/// Maps the GitHub event to an environment and prints that environment's settings.
///
/// Inside GitHub Actions the event comes from the runner (GITHUB_EVENT_NAME, GITHUB_REF,
/// GITHUB_SHA, GITHUB_EVENT_PATH) and the result goes to GITHUB_OUTPUT (environment,
/// deploy, reason, version, role-arn, region) and the step summary. On a terminal pass the event
/// with flags, e.g. `--event push --ref refs/tags/v1.2.0`.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    cli::init_logging();
    let Cli { args } = Cli::parse();
    let runner = Runner::from_env();
    match command::run(args, &runner).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => cli::fail("slipway-env", &err, &runner),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
