//! slipway-bake: bake an AMI with Packer and put it into a launch template version.

use std::process::ExitCode;

use clap::Parser;
use slipway::ami::command::{self, Args};
use slipway::cli;
use slipway::github::Runner;

/// Bakes an AMI with Packer for the environment and puts it into its launch template.
///
/// Runs `packer validate`, then `packer build` with the variables commit, version,
/// environment, app and region (as PKR_VAR_*, used when the template declares them),
/// tags the AMI with the commit, version and workflow run, and creates a launch template
/// version from the default one with only the image changed. A rerun for a commit that
/// already has an AMI bakes nothing and reuses it.
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
        Err(err) => cli::fail("slipway-bake", &err, &runner),
    }
}
