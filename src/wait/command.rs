//! slipway-wait's command line: its flags, turned into a [`Request`], run with
//! credentials, signals, outputs, summary and report.

use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::http::Expect;
use super::job::{compile_regex, markdown, text, Request, UrlSpec};
use super::{GateReport, Outcome, Progress};
use crate::cli::{self, Output};
use crate::config::{self, Duration};
use crate::context::JobArgs;
use crate::github::{commands, deployments, Runner};
use crate::secret::Secret;
use crate::{aws, signal, Error, Result};

/// Waits until everything named is healthy: every probe must pass.
///
/// Probes come from flags, from an environment's `health` section in slipway.yml
/// (`--environment prod`: its URLs and target groups, its Auto Scaling group and its ECS
/// service), or both. Exit codes: 0 healthy, 1 failed, 2 bad input, 3 timed out,
/// 130 interrupted.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// `--environment` (probe what its config names: its `health` section, ASG and ECS
    /// service), `--config`, `--app-version` (what `{version}` stands for; default: the tag
    /// of the ref, else the short commit) and the event flags (`--sha` is what `{sha}`
    /// stands for), as for every job.
    #[command(flatten)]
    pub job: JobArgs,

    /// An HTTP(S) URL that must answer as expected (repeatable).
    #[arg(long = "url", value_name = "URL")]
    pub urls: Vec<String>,
    /// Status codes that count as healthy, for every --url.
    #[arg(long, value_delimiter = ',', default_value = "200", value_name = "CODES")]
    pub status: Vec<u16>,
    /// Text the body of every --url must contain.
    #[arg(long, value_name = "TEXT")]
    pub body_contains: Option<String>,
    /// A regular expression the body of every --url must match.
    #[arg(long, value_name = "REGEX")]
    pub body_regex: Option<String>,
    /// POINTER=VALUE: the JSON body's value at an RFC 6901 pointer, e.g. /commit=abc123.
    #[arg(long, value_name = "POINTER=VALUE")]
    pub json: Option<String>,
    /// A version string the body must contain (proves the new build serves).
    #[arg(long, value_name = "TEXT")]
    pub expect_version: Option<String>,
    /// Successes in a row before a URL counts as healthy.
    #[arg(long, default_value_t = 2)]
    pub consecutive: u32,
    /// Slower answers count as failures.
    #[arg(value_parser = crate::config::duration::flag, long, value_name = "DURATION")]
    pub max_latency: Option<Duration>,
    /// An extra CA certificate (PEM) to trust for HTTPS.
    #[arg(long, value_name = "FILE")]
    pub ca_cert: Option<PathBuf>,

    /// A target group ARN whose registered targets must all be healthy (repeatable).
    #[arg(long = "target-group", value_name = "ARN")]
    pub target_groups: Vec<String>,
    /// Healthy targets each target group needs at least.
    #[arg(long, value_name = "N")]
    pub min_healthy_targets: Option<u32>,
    /// A target unhealthy this long fails the wait at once.
    #[arg(value_parser = crate::config::duration::flag, long, value_name = "DURATION")]
    pub unhealthy_grace: Option<Duration>,
    /// An Auto Scaling group whose instances must all be InService and Healthy.
    #[arg(long, value_name = "NAME")]
    pub asg: Option<String>,
    /// With --asg: the launch template version every instance must run.
    #[arg(long, value_name = "VERSION", requires = "asg")]
    pub launch_template_version: Option<String>,
    /// The ECS cluster of --ecs-service.
    #[arg(long, value_name = "CLUSTER", requires = "ecs_service")]
    pub ecs_cluster: Option<String>,
    /// An ECS service whose deployment must complete (with --ecs-cluster).
    #[arg(long, value_name = "SERVICE", requires = "ecs_cluster")]
    pub ecs_service: Option<String>,
    /// With --ecs-service: the task definition that must end up serving.
    #[arg(long, value_name = "ARN", requires = "ecs_service")]
    pub task_definition: Option<String>,
    /// A CloudWatch alarm that must not go into ALARM (repeatable): watched until the
    /// wait ends, failing it at once; with --environment, its health.alarms too.
    #[arg(long = "alarm", value_name = "NAME")]
    pub alarms: Vec<String>,

    /// Give up after this long (default: the environment's health.timeout, or 10m).
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Time between HTTP polls (default 500ms).
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION")]
    pub interval: Option<Duration>,
    /// Time between AWS polls (default 5s: 12 describe calls a minute per resource).
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION")]
    pub aws_interval: Option<Duration>,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Check the input and list the probes with what each expects; poll nothing, call no API.
    #[arg(long)]
    pub dry_run: bool,

    /// Record the wait's result as a GitHub deployment status of --environment (in Actions,
    /// with a token): in_progress now, then success or failure.
    #[arg(long, requires = "environment")]
    pub deployment: bool,
    /// With --deployment: post to this deployment (the `deployment-id` output of
    /// `slipway-env --deployment`) instead of creating one.
    #[arg(long, env = "SLIPWAY_DEPLOYMENT_ID", value_name = "ID")]
    pub deployment_id: Option<u64>,
    /// The token for --deployment (needs `permissions: deployments: write`).
    #[arg(long, env = "GITHUB_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    pub github_token: Option<Secret>,
}

/// Runs slipway-wait and, with --deployment, records the result as a GitHub deployment
/// status (a failure to reach GitHub only warns).
pub async fn run_tracked(args: Args, runner: &Runner) -> Result<GateReport> {
    // A dry run calls no API: GitHub's included (its outcome `planned` is no verdict).
    let tracked = if args.dry_run { None } else { deployment_target(&args) };
    let tracker = match tracked {
        Some(target) => {
            let token = args.github_token.as_ref().map(Secret::expose);
            Some(match args.deployment_id {
                Some(id) => deployments::Tracker::resume(runner, token, id, target),
                None => deployments::Tracker::start(runner, token, target).await,
            })
        }
        None => None,
    };
    let result = run(args, runner).await;
    if let Some(tracker) = tracker {
        let state = match &result {
            Ok(report) if report.outcome == Outcome::Healthy => deployments::State::Success,
            Ok(_) => deployments::State::Failure,
            Err(_) => deployments::State::Error,
        };
        tracker.finish(runner, state).await;
    }
    result
}

/// What --deployment records: the environment, this commit, and the environment's URL.
fn deployment_target(args: &Args) -> Option<deployments::Target> {
    if !args.deployment {
        return None;
    }
    let name = args.job.environment.clone()?;
    let url = config::load(&args.job.config)
        .ok()
        .and_then(|loaded| loaded.config.environments.get(&name).and_then(|e| e.url.clone()));
    // A bad commit or ref is reported by `request`; the deployment then records the error.
    let sha = args.job.event.given_commit().ok().flatten().unwrap_or_default();
    let git_ref = args.job.event.full_ref().ok().flatten().unwrap_or_default();
    Some(deployments::Target {
        git_ref: if sha.is_empty() { git_ref } else { sha.clone() },
        environment_url: url,
        description: format!("slipway {}", args.job.version(&sha).unwrap_or_default()),
        production: crate::iam::is_production(&name),
        environment: name,
    })
}

fn request(args: &Args) -> Result<(Request, Option<aws::Target>)> {
    let mut req = Request::default();
    let mut target = None;
    let sha = args.job.event.given_commit()?.unwrap_or_default();
    if let Some(name) = &args.job.environment {
        let loaded = config::load(&args.job.config)?;
        let env = &crate::context::settings_in(loaded.environment(name)?, name, args.job.region.as_deref())?;
        let version = args.job.version(&sha)?;
        let placeholders = env
            .health
            .urls
            .iter()
            .any(|u| serde_json::to_string(u).unwrap_or_default().contains("{sha}"));
        if placeholders && sha.is_empty() {
            return Err(Error::input(
                format!("environment {name:?} expects {{sha}} in a health check, but no commit is known"),
                "pass --sha COMMIT (GITHUB_SHA in Actions)",
            ));
        }
        req.add_environment(env, &version, &sha)?;
        target = Some(aws::Target::from_config(&loaded.config.app, name, env));
    }
    let json = match &args.json {
        Some(pair) => {
            let (pointer, value) = pair.split_once('=').ok_or_else(|| {
                Error::input(
                    format!("--json {pair:?} has no `=`"),
                    "write it as POINTER=VALUE, e.g. --json /commit=abc123",
                )
            })?;
            if !pointer.is_empty() && !pointer.starts_with('/') {
                return Err(Error::input(
                    format!("--json pointer {pointer:?} must start with /"),
                    "write an RFC 6901 pointer such as /build/commit",
                ));
            }
            let value = serde_json::from_str(value).unwrap_or_else(|_| serde_json::Value::String(value.into()));
            Some((pointer.to_string(), value))
        }
        None => None,
    };
    let expect = Expect {
        status: args.status.clone(),
        body_contains: args.body_contains.clone(),
        body_regex: args.body_regex.as_deref().map(compile_regex).transpose()?,
        json,
        version: args.expect_version.clone(),
        consecutive: args.consecutive,
        max_latency: args.max_latency.map(|d| d.std()),
    };
    if args.consecutive == 0 {
        return Err(Error::input("--consecutive 0 would never be healthy", "use 1 or more"));
    }
    for url in &args.urls {
        req.urls.push(UrlSpec {
            url: url.clone(),
            expect: expect.clone(),
        });
    }
    req.target_groups.extend(args.target_groups.iter().cloned());
    req.alarms.extend(args.alarms.iter().cloned());
    if let Some(name) = &args.asg {
        req.asg = Some((name.clone(), args.launch_template_version.clone()));
    }
    if let (Some(cluster), Some(service)) = (&args.ecs_cluster, &args.ecs_service) {
        req.ecs = Some((cluster.clone(), service.clone(), args.task_definition.clone()));
    }
    if let Some(n) = args.min_healthy_targets {
        req.min_healthy_targets = n as usize;
    }
    if let Some(d) = args.unhealthy_grace {
        req.unhealthy_grace = d.std();
    }
    if let Some(d) = args.timeout {
        req.timeout = d.std();
    }
    if let Some(d) = args.interval {
        req.http_interval = d.std();
    }
    if let Some(d) = args.aws_interval {
        req.aws_interval = d.std();
    }
    if let Some(path) = &args.ca_cert {
        req.ca_cert = Some(std::fs::read(path).map_err(|e| {
            Error::input(
                format!("cannot read --ca-cert {}: {e}", path.display()),
                "pass a readable PEM file",
            )
        })?);
    }
    Ok((req, target))
}

/// Runs slipway-wait: probes from the flags and the environment, then the gate.
pub async fn run(args: Args, runner: &Runner) -> Result<GateReport> {
    let (req, target) = request(&args)?;
    // Probes are built (and their input checked) before any credentials are fetched.
    req.validate()?;
    if args.dry_run {
        let report = req.plan();
        match args.output {
            Output::Text => eprint!("{}", text(&report)),
            Output::Json => cli::print_json(&report)?,
        }
        return Ok(report);
    }
    let ports = if req.needs_aws() {
        let config = match &target {
            Some(target) => aws::connect(target, runner).await?.config,
            None => {
                let from_env = std::env::var("AWS_REGION").ok();
                let region = args
                    .job
                    .region
                    .as_deref()
                    .or(from_env.as_deref())
                    .filter(|r| !r.is_empty())
                    .ok_or_else(|| {
                        Error::input(
                            "AWS probes need a region",
                            "pass --region (or set AWS_REGION), or --environment to use the environment's",
                        )
                    })?;
                aws::loader(region).load().await
            }
        };
        Some(aws::ports(&config))
    } else {
        None
    };
    let cancel = CancellationToken::new();
    signal::install(cancel.clone(), signal::Pending::default());
    let mut progress = Progress::stderr();
    let report = req.run(ports.as_ref(), &cancel, &mut progress).await?;
    let healthy = report.outcome == Outcome::Healthy;
    runner.set_outputs(&[
        ("healthy", healthy.to_string()),
        (
            "outcome",
            serde_json::to_value(report.outcome)
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .unwrap_or_default(),
        ),
        ("elapsed", format!("{:.1}", report.elapsed.as_secs_f64())),
    ])?;
    runner.add_summary(&markdown(&report))?;
    if let (Some(cause), true) = (&report.cause, runner.actions) {
        eprintln!(
            "{}",
            commands::annotation(commands::Level::Error, cause, Some("slipway-wait"), None)
        );
    }
    match args.output {
        Output::Text => eprint!("{}", text(&report)),
        Output::Json => cli::print_json(&report)?,
    }
    Ok(report)
}
