//! slipway-wait: wait until load-balancer targets, Auto Scaling instances, ECS deployments
//! and HTTP endpoints are healthy, fail fast when they will not be, and say exactly why.

use std::process::ExitCode;

use clap::Parser;
use slipway::cli;
use slipway::github::Runner;
use slipway::wait::command::{self, Args};

/// Waits until everything named is healthy: every probe must pass.
///
/// Probes come from flags, from an environment's `health` section in slipway.yml
/// (`--environment prod`: its URLs and target groups, its Auto Scaling group and its ECS
/// service), or both. Exit codes: 0 healthy, 1 failed, 2 bad input, 3 timed out,
/// 130 interrupted.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

#[tokio::main]
async fn main() -> ExitCode {
    cli::init_logging();
    let Cli { args } = Cli::parse();
    let runner = Runner::from_env();
    match command::run_tracked(args, &runner).await {
        Ok(report) => ExitCode::from(report.outcome.exit_code()),
        Err(err) => cli::fail("slipway-wait", &err, &runner),
    }
}
