//! slipway-env: which environment does this GitHub event deploy to, and with what settings.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use slipway::cli::{self, Output};
use slipway::context::{self, EventArgs};
use slipway::github::{deployments, Runner};
use slipway::{aws, config, iam, report, Error, Result};

/// Maps the GitHub event to an environment and prints that environment's settings.
///
/// Inside GitHub Actions the event comes from the runner (GITHUB_EVENT_NAME, GITHUB_REF,
/// GITHUB_SHA, GITHUB_EVENT_PATH) and the result goes to GITHUB_OUTPUT (environment,
/// deploy, reason, version, role-arn, region) and the step summary. On a terminal pass the event
/// with flags, e.g. `--event push --ref refs/tags/v1.2.0`.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Args {
    #[command(subcommand)]
    command: Option<Command>,
    /// The config file.
    #[arg(long, short, env = "SLIPWAY_CONFIG", default_value = config::DEFAULT_PATH, global = true)]
    config: PathBuf,
    #[command(flatten)]
    event: EventArgs,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Also get AWS credentials for the environment (GitHub OIDC in Actions, the
    /// standard chain elsewhere) and check the account is allowed.
    #[arg(long)]
    check_credentials: bool,
    /// Record a GitHub deployment for the environment and mark it in progress (in Actions,
    /// with a token); its id goes to the `deployment-id` output for slipway-wait to close.
    #[arg(long)]
    deployment: bool,
    /// The token for --deployment (needs `permissions: deployments: write`).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    github_token: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Print the JSON schema of slipway.yml.
    Schema,
    /// Print the least-privilege IAM policy and the OIDC trust policy of an environment's role.
    IamPolicy {
        /// The environment (default: what the event maps to).
        #[arg(long, short)]
        environment: Option<String>,
        /// The repository (owner/name) the trust policy admits.
        #[arg(long, env = "GITHUB_REPOSITORY", value_name = "OWNER/NAME")]
        repository: Option<String>,
        #[command(flatten)]
        event: Box<EventArgs>,
    },
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    cli::init_logging();
    let args = Args::parse();
    let runner = Runner::from_env();
    match run(args, &runner).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => cli::fail("slipway-env", &err, &runner),
    }
}

async fn run(args: Args, runner: &Runner) -> Result<()> {
    match args.command {
        Some(Command::Schema) => {
            print!("{}", config::schema_json());
            return Ok(());
        }
        Some(Command::IamPolicy {
            environment,
            repository,
            event,
        }) => {
            let loaded = context::load_config(&args.config)?;
            let name = match environment {
                Some(name) => name,
                None => context::resolve(&loaded, event.to_event()?)?
                    .resolution
                    .environment
                    .ok_or_else(|| {
                        Error::input(
                            "this event deploys to no environment, so there is no role to describe",
                            "pass --environment NAME",
                        )
                    })?,
            };
            let policies = iam::policies(&loaded, &name, repository.as_deref())?;
            cli::print_json(&policies)?;
            return Ok(());
        }
        None => {}
    }
    let loaded = context::load_config(&args.config)?;
    let event = args.event.to_event()?;
    let deploy = context::resolve(&loaded, event)?;
    let mut account = None;
    if args.check_credentials {
        let (name, env) = match (&deploy.resolution.environment, &deploy.settings) {
            (Some(name), Some(env)) => (name, env),
            _ => {
                return Err(Error::input(
                    "--check-credentials needs an event that deploys; this one does not",
                    "pass an event that maps to an environment, e.g. --event workflow_dispatch",
                ))
            }
        };
        let target = aws::Target::from_config(&deploy.app, name, env);
        let session = aws::connect(&target, runner).await?;
        eprintln!("credentials: {} in account {}", session.arn, session.account);
        account = Some(session.account);
    }
    let r = &deploy.resolution;
    let aws_settings = deploy.settings.as_ref().map(|s| &s.aws);
    let mut outputs = vec![
        ("environment", r.environment.clone().unwrap_or_default()),
        ("deploy", r.deploy.to_string()),
        ("reason", r.reason.clone()),
        ("version", r.version.clone()),
        (
            "role-arn",
            aws_settings.and_then(|a| a.role_arn.clone()).unwrap_or_default(),
        ),
        (
            "region",
            aws_settings.and_then(|a| a.region.clone()).unwrap_or_default(),
        ),
    ];
    if let Some(account) = &account {
        outputs.push(("account", account.clone()));
    }
    if args.deployment {
        if let (Some(name), Some(env)) = (&r.environment, &deploy.settings) {
            let target = deployments::Target {
                environment: name.clone(),
                git_ref: deploy.event.sha.clone(),
                environment_url: env.url.clone(),
                description: format!("{} {}", deploy.app, r.version),
                production: iam::is_production(name),
            };
            let tracker = deployments::Tracker::start(runner, args.github_token.as_deref(), target).await;
            if let Some(id) = tracker.id() {
                eprintln!("GitHub deployment {id} for {name}: in progress");
                outputs.push(("deployment-id", id.to_string()));
            }
        }
    }
    runner.set_outputs(&outputs)?;
    runner.add_summary(&report::deploy_markdown(&deploy))?;
    match args.output {
        Output::Text => eprint!("{}", report::deploy_text(&deploy)),
        Output::Json => {
            let mut value = serde_json::to_value(&deploy).map_err(|e| Error::failed(e.to_string()))?;
            if let Some(account) = account {
                value["account"] = account.into();
            }
            cli::print_json(&value)?;
        }
    }
    Ok(())
}
