//! slipway-build's command line: its flags, the ECR adapter, the build or promotion,
//! outputs and the report.

use std::path::PathBuf;

use crate::cli::{self, Output};
use crate::context::JobArgs;
use crate::github::Runner;
use crate::image::regions::Region;
use crate::image::{self, Request};
use crate::signal::Interrupt;
use crate::Result;

/// slipway-build's flags.
#[derive(clap::Args)]
pub struct Args {
    /// The build context directory.
    #[arg(default_value = ".")]
    pub context: PathBuf,
    /// The Dockerfile (default: Dockerfile in the context; a path is relative to the current directory).
    #[arg(long, short = 'f', value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// A build arg, KEY=VALUE (repeatable).
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_args: Vec<String>,
    /// The Dockerfile stage to build.
    #[arg(long)]
    pub target: Option<String>,
    /// The platform to build for, e.g. linux/amd64.
    #[arg(long)]
    pub platform: Option<String>,
    /// An extra tag (repeatable).
    #[arg(long = "tag", short = 't', value_name = "TAG")]
    pub tags: Vec<String>,
    /// The ECR repository; default: the environment's ecr.repository.
    #[arg(long, env = "SLIPWAY_REPOSITORY")]
    pub repository: Option<String>,
    /// The registry host (HOST[:PORT], or http://HOST:PORT for a plain-HTTP one) instead of
    /// the one ECR names; its v2 API is then used to look up and re-tag manifests.
    #[arg(long, env = "SLIPWAY_REGISTRY", value_name = "HOST")]
    pub registry: Option<String>,
    /// Create the repository when it does not exist.
    #[arg(long)]
    pub create_repository: bool,
    /// Build even when an image for this commit exists.
    #[arg(long)]
    pub rebuild: bool,
    /// Decide the tags, the repository and whether to build or promote; build and push nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Give up after this long (exit 3): the engine's build or push is abandoned and a
    /// repository this run created is deleted again while empty.
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION")]
    pub timeout: Option<crate::config::Duration>,
    /// An environment in several regions: how long to wait for ECR's replication to bring
    /// the image into a region its replication rules cover (exit 3 after that).
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION", default_value = "30m")]
    pub replication_timeout: crate::config::Duration,
    #[command(flatten)]
    pub job: JobArgs,
}

/// Runs slipway-build: build or promote, then outputs, summary and report.
pub async fn run(args: Args, runner: &Runner) -> Result<()> {
    let interrupt = Interrupt::listen(args.timeout.map(|d| d.std()));
    let waves = args.job.waves()?;
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
    let outcome = match waves {
        // Several regions: build once in the first region of the first wave, then the
        // same digest everywhere else.
        Some(waves) => {
            let mut regions = Vec::new();
            for name in waves.waves.into_iter().flatten() {
                let mut one = args.job.clone();
                one.region = Some(name);
                let job = one.resolve()?;
                let session = JobArgs::connect(&job, runner).await?;
                regions.push(Region {
                    job,
                    ecr: Box::new(crate::aws::ecr(&session.config)),
                    account: session.account,
                });
            }
            let others = regions.split_off(1);
            let home = regions
                .pop()
                .expect("an environment with several regions has a first one");
            let timeout = args.replication_timeout.std();
            image::regions::run(&request, &home, &others, runner, &interrupt, timeout).await?
        }
        None => {
            let job = args.job.resolve()?;
            let session = JobArgs::connect(&job, runner).await?;
            let ecr = crate::aws::ecr(&session.config);
            image::run(&request, &job, runner, &ecr, &interrupt).await?
        }
    };
    runner.set_outputs(&outcome.outputs())?;
    runner.add_summary(&outcome.markdown())?;
    match args.output {
        Output::Text => eprint!("{}", outcome.text()),
        Output::Json => cli::print_json(&outcome)?,
    }
    Ok(())
}
