//! slipway-roll's command line: its flags, the choice of target (Auto Scaling group or
//! ECS service), AWS or the simulator, plan files, outputs and the report.

use std::path::PathBuf;
use std::sync::Arc;

use super::ecs::{self as ecs_roll, EcsRequest};
use super::planfile::{self, Planned};
use super::simulate::{self, SimFlags};
use super::{report, Ctx, Ports, Request};
use crate::cli::{self, Output};
use crate::cloud::Ecs;
use crate::config::{Duration, Strategy};
use crate::context::{Job, JobArgs};
use crate::github::Runner;
use crate::roll;
use crate::signal::{self, Pending};
use crate::sim::{EcsFaults, EcsSettings, Sim, SimEcs};
use crate::wait::job::url_probes;
use crate::wait::Progress;
use crate::{aws, Error, Result};
use tokio_util::sync::CancellationToken;

/// slipway-roll's flags.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,
    /// What to roll when the environment has both an asg and an ecs section.
    #[arg(long, value_enum)]
    pub target: Option<TargetArg>,
    /// ECS: the image to roll onto (slipway-build prints it: an ECR URI with digest).
    #[arg(long, env = "SLIPWAY_IMAGE", value_name = "IMAGE")]
    pub image: Option<String>,
    /// ECS: an environment variable to set in the container (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// ECS: register the task definition revision and stop.
    #[arg(long)]
    pub register_only: bool,
    /// Write the plan to this file and change nothing (apply it later with --apply).
    #[arg(long, value_name = "PATH", conflicts_with = "apply")]
    pub plan_out: Option<PathBuf>,
    /// Carry out exactly the plan in this file (from --plan-out); refuse if the cloud changed.
    #[arg(long, value_name = "PATH", conflicts_with = "dry_run")]
    pub apply: Option<PathBuf>,
    /// The Auto Scaling group; default: the environment's asg.name.
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
    /// surge or refresh; default: the environment's asg.strategy.
    #[arg(long, value_enum)]
    pub strategy: Option<StrategyArg>,
    /// The launch template (name or lt- id); default: the one the group uses.
    #[arg(long, value_name = "NAME|ID")]
    pub launch_template: Option<String>,
    /// The version to roll onto: a number, $Latest or $Default (pinned when planning).
    #[arg(
        long,
        env = "SLIPWAY_LAUNCH_TEMPLATE_VERSION",
        default_value = "$Latest",
        value_name = "VERSION"
    )]
    pub launch_template_version: String,
    /// Wait for a refresh or scaling activity in progress to end instead of refusing.
    #[arg(long)]
    pub wait_for_idle: bool,
    /// How long each wait may take; default: the environment's health.timeout.
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// Time between polls while waiting (each wait ends on average half of it after
    /// the event it waits for).
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    pub poll_interval: Duration,
    /// Discover and print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Rehearse against the simulated cloud (virtual time, no AWS account).
    #[arg(long)]
    pub simulate: bool,
    /// --simulate: instances in the group (tasks of the service for ECS).
    #[arg(long, default_value_t = 4, value_name = "N", requires = "simulate")]
    pub sim_fleet: i32,
    /// --simulate: time an instance takes to boot.
    #[arg(long, default_value = "60s", value_name = "DURATION", requires = "simulate")]
    pub sim_boot: Duration,
    /// --simulate: the group's health check grace period.
    #[arg(long, default_value = "120s", value_name = "DURATION", requires = "simulate")]
    pub sim_grace: Duration,
    /// --simulate: the target groups' deregistration delay.
    #[arg(long, default_value = "30s", value_name = "DURATION", requires = "simulate")]
    pub sim_drain: Duration,
    /// --simulate: the new version's instances fail their health checks (ECS: the new
    /// image's tasks crash).
    #[arg(long, requires = "simulate")]
    pub sim_fail_new_version: bool,
    /// --simulate: share of API calls throttled (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE", requires = "simulate")]
    pub sim_throttle: f64,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    Asg,
    Ecs,
}

fn parse_env(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    Surge,
    Refresh,
}

/// Which kind of fleet this environment rolls.
fn target(args: &Args, job: &Job) -> Result<TargetArg> {
    let (asg, ecs) = (
        job.settings.asg.is_some() || args.group.is_some(),
        job.settings.ecs.is_some(),
    );
    match (args.target, asg, ecs) {
        (Some(TargetArg::Ecs), _, false) => Err(Error::input(
            format!("environment {:?} has no ecs section", job.environment),
            "add ecs.cluster, ecs.service and ecs.container to the environment in slipway.yml",
        )),
        (Some(t), _, _) => Ok(t),
        (None, true, true) => Err(Error::input(
            format!("environment {:?} has both an asg and an ecs section", job.environment),
            "pass --target asg or --target ecs",
        )),
        (None, false, true) => Ok(TargetArg::Ecs),
        (None, true, false) => Ok(TargetArg::Asg),
        (None, false, false) => Err(Error::input(
            format!("environment {:?} has no asg section and no ecs section", job.environment),
            "add asg.name (or ecs.cluster, ecs.service and ecs.container) to the environment in slipway.yml, or pass --group NAME",
        )),
    }
}

/// The plan file named by --apply, checked against this job.
fn applied(args: &Args, job: &Job, target: &str) -> Result<Option<Planned>> {
    args.apply
        .as_ref()
        .map(|path| planfile::read(path, &job.app, &job.environment, target))
        .transpose()
}

/// Outputs, summary, report and JSON for either kind of roll.
struct Rendered {
    planned: bool,
    ok: bool,
    outputs: Vec<(&'static str, String)>,
    markdown: String,
    text: String,
    plan_text: Option<String>,
    json: serde_json::Value,
}

/// Runs slipway-roll: the target's discovery, plan, roll (or plan file), outputs and report.
pub async fn run(args: Args, runner: &Runner) -> Result<()> {
    let job = args.job.resolve()?;
    let target = target(&args, &job)?;
    let cancel = CancellationToken::new();
    let pending = Pending::default();
    signal::install(cancel.clone(), pending.clone());
    let mut ctx = Ctx::new(cancel, pending, Progress::stderr());
    ctx.actions = runner.actions;
    ctx.poll = args.poll_interval.std();
    ctx.timeout = args.timeout.unwrap_or(job.settings.health.timeout).std();
    if args.simulate {
        // Virtual time: a rehearsal of a 10-minute roll takes milliseconds.
        tokio::time::pause();
    }
    let (rendered, result) = match target {
        TargetArg::Asg => run_asg(&args, &job, runner, &mut ctx).await?,
        TargetArg::Ecs => run_ecs(&args, &job, runner, &mut ctx).await?,
    };
    if rendered.planned || rendered.ok {
        runner.set_outputs(&rendered.outputs)?;
        runner.add_summary(&rendered.markdown)?;
    }
    // The report goes to stderr in both modes; JSON adds the document on stdout.
    if args.dry_run || args.plan_out.is_some() {
        if let Some(text) = &rendered.plan_text {
            eprint!("{text}");
        }
    } else if rendered.planned {
        eprint!("{}", rendered.text);
    }
    if args.output == Output::Json {
        let mut value = rendered.json;
        value["simulated"] = args.simulate.into();
        cli::print_json(&value)?;
    }
    result
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::failed(e.to_string()))
}

async fn run_asg(args: &Args, job: &Job, runner: &Runner, ctx: &mut Ctx) -> Result<(Rendered, Result<()>)> {
    let asg = job.settings.asg.clone();
    let group = args
        .group
        .clone()
        .or(asg.as_ref().map(|a| a.name.clone()))
        .ok_or_else(|| {
            Error::input(
                format!("environment {:?} has no asg section", job.environment),
                "add asg.name to the environment in slipway.yml, or pass --group NAME",
            )
        })?;
    let strategy = match args.strategy {
        Some(StrategyArg::Surge) => Strategy::Surge,
        Some(StrategyArg::Refresh) => Strategy::Refresh,
        None => asg.as_ref().map(|a| a.strategy).unwrap_or_default(),
    };
    let mut req = Request::new(&group, strategy);
    req.launch_template = args
        .launch_template
        .clone()
        .or(asg.as_ref().and_then(|a| a.launch_template.clone()));
    req.version = args.launch_template_version.clone();
    req.wait_for_idle = args.wait_for_idle;
    if let Some(a) = &asg {
        req.min_healthy_percentage = a.min_healthy_percentage.into();
        req.max_healthy_percentage = a.max_healthy_percentage.into();
        req.instance_warmup = a.instance_warmup.map(Duration::std);
        req.allow_raise_max = a.allow_raise_max;
    }
    let stored = match applied(args, job, "asg")? {
        Some(Planned::Asg(plan)) => Some(plan),
        _ => None,
    };
    let dry_run = args.dry_run || args.plan_out.is_some();

    let sim;
    let adapters;
    let ports = if args.simulate {
        let flags = SimFlags {
            fleet: args.sim_fleet,
            boot: args.sim_boot.std(),
            grace: args.sim_grace.std(),
            drain: args.sim_drain.std(),
            fail_new_version: args.sim_fail_new_version,
            throttle: args.sim_throttle,
            ..SimFlags::default()
        };
        if !job.settings.health.urls.is_empty() {
            eprintln!("simulation: the health URLs are not probed (they name real hosts)");
        }
        let (settings, faults) = simulate::settings(&job.settings, &flags);
        eprintln!(
            "simulating {} ({} instance(s) on version 1, rolling to version 2; virtual time)",
            settings.group, settings.fleet
        );
        sim = Sim::new(settings, faults);
        Ports {
            asg: &sim,
            elb: &sim,
            templates: &sim,
        }
    } else {
        // The health URLs must show the new version before the old instances go.
        ctx.probes = url_probes(&job.settings.health, &job.version, &job.sha)?;
        let session = JobArgs::connect(job, runner).await?;
        adapters = (
            aws::asg::AsgAdapter::new(&session.config),
            aws::elb::ElbAdapter::new(&session.config),
            aws::ec2::Ec2Client::new(&session.config),
        );
        Ports {
            asg: &adapters.0,
            elb: &adapters.1,
            templates: &adapters.2,
        }
    };
    let (plan, mut outcome, result) = match &stored {
        Some(plan) => {
            let (outcome, result) = roll::apply(&ports, plan, ctx).await;
            let known = result.is_ok() || outcome.result != "failed";
            (known.then(|| plan.clone()), outcome, result)
        }
        None => roll::roll(&ports, &req, ctx, dry_run).await,
    };
    if let (Some(path), Some(plan)) = (&args.plan_out, &plan) {
        planfile::write(path, &job.app, &job.environment, &Planned::Asg(plan.clone()))?;
        outcome.result = "planned";
        eprintln!("plan written to {}", path.display());
    }
    let mut json = to_json(&outcome)?;
    if let Some(plan) = &plan {
        json["plan"] = to_json(plan)?;
    }
    Ok((
        Rendered {
            planned: plan.is_some(),
            ok: result.is_ok(),
            outputs: report::outputs(&outcome),
            markdown: report::markdown(&outcome),
            text: report::text(&outcome),
            plan_text: plan.as_ref().map(|p| p.text()),
            json,
        },
        result,
    ))
}

async fn run_ecs(args: &Args, job: &Job, runner: &Runner, ctx: &mut Ctx) -> Result<(Rendered, Result<()>)> {
    let ecs_config = job.settings.ecs.clone().ok_or_else(|| {
        Error::input(
            format!("environment {:?} has no ecs section", job.environment),
            "add ecs.cluster, ecs.service and ecs.container to the environment in slipway.yml",
        )
    })?;
    let stored = match applied(args, job, "ecs")? {
        Some(Planned::Ecs(plan)) => Some(plan),
        _ => None,
    };
    let image = match (&args.image, &stored) {
        (Some(image), _) => image.clone(),
        (None, Some(plan)) => ecs_roll::request_of(plan).image,
        (None, None) => {
            return Err(Error::input(
                "an ECS roll needs the image to roll onto",
                "pass --image (slipway-build prints it as its `image` output) or set SLIPWAY_IMAGE",
            ))
        }
    };
    let req = EcsRequest {
        cluster: ecs_config.cluster.clone(),
        service: ecs_config.service.clone(),
        container: ecs_config.container.clone(),
        image,
        environment: args.env.clone(),
        wait_for_idle: args.wait_for_idle,
        register_only: args.register_only,
    };
    ecs_roll::check_request(&req)?;
    let dry_run = args.dry_run || args.plan_out.is_some();
    let ecs: Arc<dyn Ecs> = if args.simulate {
        let settings = EcsSettings {
            cluster: req.cluster.clone(),
            service: req.service.clone(),
            container: req.container.clone(),
            family: req.service.clone(),
            desired: args.sim_fleet.max(1),
            ..EcsSettings::default()
        };
        let faults = EcsFaults {
            throttle: args.sim_throttle,
            bad_images: if args.sim_fail_new_version {
                [req.image.clone()].into()
            } else {
                Default::default()
            },
            seed: 1,
        };
        eprintln!(
            "simulating ECS service {} in {} ({} task(s) on {}:1; virtual time)",
            req.service, req.cluster, settings.desired, settings.family
        );
        Arc::new(SimEcs::new(settings, faults))
    } else {
        let session = JobArgs::connect(job, runner).await?;
        Arc::new(aws::ecs::EcsAdapter::new(&session.config))
    };
    let (plan, mut outcome, result) = match &stored {
        Some(plan) => {
            let (outcome, result) = ecs_roll::apply(&ecs, plan, ctx).await;
            let known = result.is_ok() || outcome.result != "failed" || !outcome.previous_task_definition.is_empty();
            (known.then(|| plan.clone()), outcome, result)
        }
        None => ecs_roll::roll(&ecs, &req, ctx, dry_run).await,
    };
    if let (Some(path), Some(plan)) = (&args.plan_out, &plan) {
        planfile::write(path, &job.app, &job.environment, &Planned::Ecs(plan.clone()))?;
        outcome.result = "planned";
        eprintln!("plan written to {}", path.display());
    }
    let mut json = to_json(&outcome)?;
    if let Some(plan) = &plan {
        json["plan"] = to_json(plan)?;
    }
    Ok((
        Rendered {
            planned: plan.is_some(),
            ok: result.is_ok(),
            outputs: ecs_roll::report::outputs(&outcome),
            markdown: ecs_roll::report::markdown(&outcome),
            text: ecs_roll::report::text(&outcome),
            plan_text: plan.as_ref().map(|p| p.text()),
            json,
        },
        result,
    ))
}
