//! slipway-env's command line: its flags, the event resolved against slipway.yml, optional
//! credential check and GitHub deployment, outputs, step summary and report; and the
//! `schema` and `iam-policy` subcommands.

use std::path::PathBuf;

use crate::cli::{self, Output};
use crate::context::{self, EventArgs};
use crate::github::{deployments, Runner};
use crate::{aws, config, iam, report, Error, Result};

/// slipway-env's flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The config file.
    #[arg(long, short, env = "SLIPWAY_CONFIG", default_value = config::DEFAULT_PATH, global = true)]
    pub config: PathBuf,
    #[command(flatten)]
    pub event: EventArgs,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Also get AWS credentials for the environment (GitHub OIDC in Actions, the
    /// standard chain elsewhere) and check the account is allowed.
    #[arg(long)]
    pub check_credentials: bool,
    /// Record a GitHub deployment for the environment and mark it in progress (in Actions,
    /// with a token); its id goes to the `deployment-id` output for slipway-wait to close.
    #[arg(long)]
    pub deployment: bool,
    /// The token for --deployment (needs `permissions: deployments: write`).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub github_token: Option<crate::secret::Secret>,
}

/// slipway-env's subcommands.
#[derive(clap::Subcommand)]
pub enum Command {
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
        /// The region, when the environment lists several (each may have its own role).
        #[arg(long, value_name = "REGION")]
        region: Option<String>,
        #[command(flatten)]
        event: Box<EventArgs>,
    },
}

/// Runs slipway-env: a subcommand, or the event mapped to its environment, with outputs,
/// step summary and report.
pub async fn run(args: Args, runner: &Runner) -> Result<()> {
    match args.command {
        Some(Command::Schema) => {
            print!("{}", config::schema_json());
            return Ok(());
        }
        Some(Command::IamPolicy {
            environment,
            repository,
            region,
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
            let policies = iam::regional_policies(&loaded, &name, region.as_deref(), repository.as_deref())?;
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
    if let Some(env) = &deploy.settings {
        outputs.push(("waves", waves_matrix(env)));
        let count = if env.regions.is_empty() { 1 } else { env.waves().len() };
        outputs.push(("wave-count", count.to_string()));
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
            let tracker =
                deployments::Tracker::start(runner, args.github_token.as_ref().map(|t| t.expose()), target).await;
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

/// The `waves` output: one JSON array per wave of `{region, wave}` entries, in order, for
/// a workflow's matrix (`fromJSON(needs.env.outputs.waves)[0]` for the first wave).
/// An environment with one region is one wave of it.
pub fn waves_matrix(env: &crate::config::Environment) -> String {
    let waves: Vec<Vec<serde_json::Value>> = match env.regions.is_empty() {
        true => vec![env
            .aws
            .region
            .iter()
            .map(|r| serde_json::json!({"region": r, "wave": 1}))
            .collect()],
        false => env
            .waves()
            .iter()
            .enumerate()
            .map(|(n, regions)| {
                regions
                    .iter()
                    .map(|r| serde_json::json!({"region": r, "wave": n + 1}))
                    .collect()
            })
            .collect(),
    };
    serde_json::Value::from(waves).to_string()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    #[tokio::test]
    async fn the_library_resolves_the_event_and_writes_the_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let output = dir.path().join("output");
        let example = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/slipway.yml");
        let Cli { args } = Cli::try_parse_from([
            "slipway-env",
            "--config",
            example,
            "--event",
            "push",
            "--ref",
            "refs/tags/v1.2.0",
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
        ])
        .unwrap();
        let output_path = output.display().to_string();
        let runner = Runner::from_vars(|name| (name == "GITHUB_OUTPUT").then(|| output_path.clone()));
        run(args, &runner).await.unwrap();
        let written = crate::github::files::parse_outputs(&std::fs::read_to_string(&output).unwrap());
        let written: std::collections::BTreeMap<_, _> = written.into_iter().collect();
        assert_eq!(written["environment"], "prod");
        assert_eq!(written["version"], "v1.2.0");
        assert_eq!(
            written["role-arn"],
            "arn:aws:iam::333333333333:role/slipway-deploy-prod"
        );
    }
}
