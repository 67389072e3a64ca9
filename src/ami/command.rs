//! slipway-bake's command line: its flags, the job's credentials handed to Packer, the
//! bake, outputs and the report. On an environment in several regions without
//! `--region`, Packer bakes in the home region (the first of the first wave) and every
//! other region gets the AMI, each with its own settings and credentials.

use std::path::PathBuf;

use super::{report, Clouds, Destination, Interrupt, Packer};
use crate::ami;
use crate::cli::{self, Output};
use crate::cloud::Ec2;
use crate::context::JobArgs;
use crate::github::Runner;
use crate::secret::Secret;
use crate::{Error, Result};
use aws_sdk_ec2::config::ProvideCredentials;

/// slipway-bake's flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,
    /// The Packer template: a .pkr.hcl or .pkr.json file, or a directory of them
    /// (relative to --working-directory).
    #[arg(long, short, env = "SLIPWAY_TEMPLATE", value_name = "PATH")]
    pub template: PathBuf,
    /// Where Packer runs.
    #[arg(long, env = "SLIPWAY_WORKING_DIRECTORY", value_name = "DIR", default_value = ".")]
    pub working_directory: PathBuf,
    /// A Packer variable, NAME=VALUE (repeatable); the template must declare it.
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// A Packer variables file (repeatable).
    #[arg(long = "var-file", value_name = "FILE")]
    pub var_files: Vec<PathBuf>,
    /// Source AMI filter: passed as the variable `source_ami_name` (e.g. `debian-12-amd64-*`).
    #[arg(long, value_name = "PATTERN")]
    pub source_ami_name: Option<String>,
    /// Source AMI filter: an owner account or alias, passed in the list variable
    /// `source_ami_owners` (repeatable).
    #[arg(long = "source-ami-owner", value_name = "OWNER")]
    pub source_ami_owners: Vec<String>,
    /// Build only this Packer build (e.g. `amazon-ebs.web`); its AMI goes into the launch
    /// template. Needed when several builds make AMIs in the environment's region.
    #[arg(long, value_name = "NAME")]
    pub build: Option<String>,
    /// The launch template (name or lt- id); default: the environment's asg.launch_template
    /// (each region's own on an environment in several regions; this name in all of them).
    #[arg(long, env = "SLIPWAY_LAUNCH_TEMPLATE", value_name = "NAME|ID")]
    pub launch_template: Option<String>,
    /// Copy this launch template version instead of the default one (in every region).
    #[arg(long, value_name = "N")]
    pub source_version: Option<i64>,
    /// Make the new launch template version the default (in every region).
    #[arg(long)]
    pub set_default: bool,
    /// Bake a new AMI even when one of this commit exists.
    #[arg(long)]
    pub rebake: bool,
    /// Validate the template and show what would be built and changed; build nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The Packer program.
    #[arg(long, env = "SLIPWAY_PACKER", value_name = "PATH", default_value = "packer")]
    pub packer: PathBuf,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Give up after this long (exit 3): Packer is stopped as by Ctrl-C, so it deletes what
    /// it created, and no launch template version is made.
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION")]
    pub timeout: Option<crate::config::Duration>,
}

fn pairs(items: &[String], flag: &str) -> Result<Vec<(String, String)>> {
    items
        .iter()
        .map(|pair| {
            pair.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .ok_or_else(|| {
                    Error::input(
                        format!("{flag} {pair:?} has no `=`"),
                        format!("write it as {flag} NAME=VALUE"),
                    )
                })
        })
        .collect()
}

/// The job's credentials as Packer's environment (Packer cannot do GitHub OIDC or SSO
/// itself). They are the ones the account guard checked; when they cannot be handed
/// over the bake stops: Packer's own credential chain could act as another account.
async fn packer_credentials(config: &aws_config::SdkConfig, runner: &Runner) -> Result<Vec<(String, Secret)>> {
    const HELP: &str = "check the credentials (`aws sts get-caller-identity`, `aws sso login`, or the \
        environment's role), then run slipway-bake again";
    let provider = config
        .credentials_provider()
        .ok_or_else(|| Error::failed_with_help("the job has no AWS credentials to hand to Packer", HELP))?;
    let creds = provider.provide_credentials().await.map_err(|e| {
        Error::failed_with_help(
            format!(
                "cannot hand the job's AWS credentials to Packer ({}); refusing to let Packer use \
                 credentials of its own, which the account guard did not check",
                chain(&e)
            ),
            HELP,
        )
    })?;
    runner.mask(creds.secret_access_key());
    let mut out = vec![
        ("AWS_ACCESS_KEY_ID".to_string(), Secret::new(creds.access_key_id())),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            Secret::new(creds.secret_access_key()),
        ),
    ];
    if let Some(token) = creds.session_token() {
        runner.mask(token);
        out.push(("AWS_SESSION_TOKEN".to_string(), Secret::new(token)));
    }
    Ok(out)
}

/// The job's AWS region.
fn job_region(job: &crate::context::Job) -> Result<String> {
    job.settings.aws.region.clone().ok_or_else(|| {
        Error::input(
            format!("environment {:?} has no aws.region", job.environment),
            "add aws.region to the environment in slipway.yml",
        )
    })
}

/// --launch-template, else the job's (region's) asg.launch_template.
fn template_of(args: &Args, job: &crate::context::Job) -> Option<String> {
    args.launch_template
        .clone()
        .or_else(|| job.settings.asg.as_ref().and_then(|a| a.launch_template.clone()))
}

/// The other regions of the environment, each with its own settings and credentials.
/// A region whose role is in another account than `home_account` gets the home AMI shared.
async fn destinations(
    args: &Args,
    regions: &[String],
    home_account: Option<&str>,
    runner: &Runner,
) -> Result<Vec<Destination>> {
    let mut out = Vec::new();
    for region in regions {
        let mut one = args.job.clone();
        one.region = Some(region.clone());
        let job = one.resolve()?;
        let session = JobArgs::connect(&job, runner)
            .await
            .map_err(|e| e.with_prefix(&format!("region {region}")))?;
        let account = job
            .settings
            .aws
            .role_arn
            .as_deref()
            .and_then(crate::config::role_account);
        out.push(Destination {
            share_with: account.filter(|a| Some(*a) != home_account).map(str::to_string),
            region: job_region(&job)?,
            ec2: Box::new(crate::aws::ec2(&session.config, None)),
            launch_template: template_of(args, &job),
        });
    }
    Ok(out)
}

/// Every message in an error's source chain.
fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        parts.push(e.to_string());
        current = e.source();
    }
    parts.join(": ")
}

/// Runs slipway-bake: credentials for Packer, the bake, outputs and the report.
pub async fn run(mut args: Args, runner: &Runner) -> Result<()> {
    let interrupt = Interrupt::listen(args.timeout.map(|d| d.std()));
    // Several regions and no --region: bake in the home region, copy to the others.
    let others: Vec<String> = match args.job.waves()? {
        Some(waves) => {
            let mut all = waves.waves.into_iter().flatten();
            args.job.region = all.next();
            all.collect()
        }
        None => Vec::new(),
    };
    let job = args.job.resolve()?;
    let region = job_region(&job)?;
    let launch_template = template_of(&args, &job);

    let mut vars = Vec::new();
    if let Some(name) = &args.source_ami_name {
        vars.push(("source_ami_name".to_string(), name.clone()));
    }
    if !args.source_ami_owners.is_empty() {
        let list = serde_json::to_string(&args.source_ami_owners).unwrap_or_default();
        vars.push(("source_ami_owners".to_string(), list));
    }
    vars.extend(pairs(&args.vars, "--var")?);

    let session = JobArgs::connect(&job, runner).await?;
    let env = vec![
        ("PKR_VAR_commit".to_string(), job.sha.clone()),
        ("PKR_VAR_version".to_string(), job.version.clone()),
        ("PKR_VAR_environment".to_string(), job.environment.clone()),
        ("PKR_VAR_app".to_string(), job.app.clone()),
        ("PKR_VAR_region".to_string(), region.clone()),
        ("AWS_REGION".to_string(), region.clone()),
        ("AWS_DEFAULT_REGION".to_string(), region.clone()),
    ];
    let credentials = packer_credentials(&session.config, runner).await?;
    let home_account = job
        .settings
        .aws
        .role_arn
        .as_deref()
        .and_then(crate::config::role_account);
    let destinations = destinations(&args, &others, home_account, runner).await?;
    let request = ami::Request {
        app: job.app.clone(),
        environment: job.environment.clone(),
        version: job.version.clone(),
        commit: job.sha.clone(),
        region,
        run_url: runner.run_url(),
        packer: Packer {
            program: args.packer,
            working_directory: args.working_directory,
            template: args.template,
            vars,
            var_files: args.var_files,
            only: args.build.iter().cloned().collect(),
            env,
            credentials,
            actions: runner.actions,
        },
        launch_template,
        source_version: args.source_version,
        set_default: args.set_default,
        build: args.build,
        rebake: args.rebake,
        dry_run: args.dry_run,
    };
    let ec2 = crate::aws::ec2(&session.config, None);
    let config = session.config.clone();
    let in_region = move |region: &str| -> Box<dyn Ec2> { Box::new(crate::aws::ec2(&config, Some(region))) };
    let clouds = Clouds {
        ec2: &ec2,
        in_region: &in_region,
        destinations: &destinations,
    };
    let outcome = ami::bake(&request, &clouds, &interrupt).await?;

    let outputs = report::outputs(&outcome);
    let outputs: Vec<(&str, String)> = outputs.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    runner.set_outputs(&outputs)?;
    runner.add_summary(&report::markdown(&outcome))?;
    match args.output {
        Output::Text => eprint!("{}", report::text(&outcome)),
        Output::Json => cli::print_json(&outcome)?,
    }
    Ok(())
}
