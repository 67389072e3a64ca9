//! slipway-roll: roll an Auto Scaling group onto a new launch template version, or an ECS
//! service onto a new image.

use std::process::ExitCode;

use clap::Parser;
use slipway::cli;
use slipway::github::Runner;
use slipway::roll::command::{self, Args};

/// Rolls the environment's Auto Scaling group onto a launch template version with zero
/// downtime: `surge` doubles the group, waits until the new half is healthy in every
/// target group, then drains and terminates the old half; `refresh` runs an instance
/// refresh with auto rollback. A failure, timeout or SIGINT/SIGTERM restores what was
/// changed before exiting (1 failed and rolled back, 3 timed out, 130 interrupted).
///
/// With an ECS service (the environment's `ecs` section), it registers a revision of the
/// service's task definition with `--image` for the configured container, updates the
/// service and waits until the new revision is stable; a failed deployment (the circuit
/// breaker included) or a timeout points the service back at the previous revision.
///
/// `--plan-out plan.json` writes the plan and changes nothing; `--apply plan.json`
/// carries out exactly that plan, refusing (exit 2, with a diff) when the cloud changed.
///
/// `--simulate` rehearses the roll against a simulated cloud built from slipway.yml, on
/// virtual time, with no AWS account.
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
        Err(err) => cli::fail("slipway-roll", &err, &runner),
    }
}
