//! slipway-build: build a container image and push it to ECR, or promote the one already
//! built for this commit.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use slipway::aws::ecr::AwsEcr;
use slipway::cli::{self, Output};
use slipway::context::JobArgs;
use slipway::github::Runner;
use slipway::image::{self, Request};
use slipway::signal::Interrupt;
use slipway::Result;

/// Builds the image for this commit through the engine at DOCKER_HOST and pushes it to the
/// environment's ECR repository, tagged sha-<short>, the version, the environment and any
/// --tag. When the repository already holds an image for this commit, it is promoted
/// instead: the new tags are added to its manifest, and nothing is built or pushed again.
///
/// Outputs (GITHUB_OUTPUT): image-uri (repo@sha256:...), digest, tags, action
/// (built|promoted), dry-run.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Args {
    /// The build context directory.
    #[arg(default_value = ".")]
    context: PathBuf,
    /// The Dockerfile (default: Dockerfile in the context; a path is relative to the current directory).
    #[arg(long, short = 'f', value_name = "PATH")]
    file: Option<PathBuf>,
    /// A build arg, KEY=VALUE (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    build_args: Vec<String>,
    /// The Dockerfile stage to build.
    #[arg(long)]
    target: Option<String>,
    /// The platform to build for, e.g. linux/amd64.
    #[arg(long)]
    platform: Option<String>,
    /// An extra tag (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    tags: Vec<String>,
    /// The ECR repository; default: the environment's ecr.repository.
    #[arg(long, env = "SLIPWAY_REPOSITORY")]
    repository: Option<String>,
    /// The registry host (HOST[:PORT], or http://HOST:PORT for a plain-HTTP one) instead of
    /// the one ECR names; its v2 API is then used to look up and re-tag manifests.
    #[arg(long, env = "SLIPWAY_REGISTRY", value_name = "HOST")]
    registry: Option<String>,
    /// Create the repository when it does not exist.
    #[arg(long)]
    create_repository: bool,
    /// Build even when an image for this commit exists.
    #[arg(long)]
    rebuild: bool,
    /// Decide the tags, the repository and whether to build or promote; build and push nothing.
    #[arg(long)]
    dry_run: bool,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Give up after this long (exit 3): the engine's build or push is abandoned and a
    /// repository this run created is deleted again while empty.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<slipway::config::Duration>,
    #[command(flatten)]
    job: JobArgs,
}

#[tokio::main]
async fn main() -> ExitCode {
    cli::init_logging();
    let args = Args::parse();
    let runner = Runner::from_env();
    match run(args, &runner).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => cli::fail("slipway-build", &err, &runner),
    }
}

async fn run(args: Args, runner: &Runner) -> Result<()> {
    let interrupt = Interrupt::listen(args.timeout.map(|d| d.std()));
    let job = args.job.resolve()?;
    let request = Request {
        context: args.context,
        dockerfile: args.file,
        build_args: args.build_args,
        target: args.target,
        platform: args.platform,
        tags: args.tags,
        repository: args.repository,
        registry: args.registry,
        create_repository: args.create_repository,
        rebuild: args.rebuild,
        dry_run: args.dry_run,
    };
    let session = JobArgs::connect(&job, runner).await?;
    let ecr = AwsEcr::new(&session.config);
    let outcome = image::run(&request, &job, runner, &ecr, &interrupt).await?;
    runner.set_outputs(&outcome.outputs())?;
    runner.add_summary(&outcome.markdown())?;
    match args.output {
        Output::Text => eprint!("{}", outcome.text()),
        Output::Json => cli::print_json(&outcome)?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn flags_are_consistent() {
        use clap::CommandFactory;
        super::Args::command().debug_assert();
    }
}
