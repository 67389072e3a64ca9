//! slipway-roll: roll an Auto Scaling group onto a new launch template version.

use std::process::ExitCode;

use clap::Parser;
use slipway::cli::{self, Output};
use slipway::config::{Duration, Strategy};
use slipway::context::JobArgs;
use slipway::github::Runner;
use slipway::roll::simulate::{self, SimFlags};
use slipway::roll::{self, report, Ctx, Ports, Request};
use slipway::signal::{self, Pending};
use slipway::sim::Sim;
use slipway::wait::job::url_probes;
use slipway::wait::Progress;
use slipway::{aws, Error, Result};
use tokio_util::sync::CancellationToken;

/// Rolls the environment's Auto Scaling group onto a launch template version with zero
/// downtime: `surge` doubles the group, waits until the new half is healthy in every
/// target group, then drains and terminates the old half; `refresh` runs an instance
/// refresh with auto rollback. A failure, timeout or SIGINT/SIGTERM restores what was
/// changed before exiting (1 failed and rolled back, 3 timed out, 130 interrupted).
///
/// `--simulate` rehearses the roll against a simulated cloud built from slipway.yml, on
/// virtual time, with no AWS account.
#[derive(Parser)]
#[command(version, about, long_about)]
struct Args {
    #[command(flatten)]
    job: JobArgs,
    /// The Auto Scaling group; default: the environment's asg.name.
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
    /// surge or refresh; default: the environment's asg.strategy.
    #[arg(long, value_enum)]
    strategy: Option<StrategyArg>,
    /// The launch template (name or lt- id); default: the one the group uses.
    #[arg(long, value_name = "NAME|ID")]
    launch_template: Option<String>,
    /// The version to roll onto: a number, $Latest or $Default (pinned when planning).
    #[arg(
        long,
        env = "SLIPWAY_LAUNCH_TEMPLATE_VERSION",
        default_value = "$Latest",
        value_name = "VERSION"
    )]
    launch_template_version: String,
    /// Wait for a refresh or scaling activity in progress to end instead of refusing.
    #[arg(long)]
    wait_for_idle: bool,
    /// How long each wait may take; default: the environment's health.timeout.
    #[arg(long, value_name = "DURATION")]
    timeout: Option<Duration>,
    /// Time between polls while waiting (each wait ends on average half of it after
    /// the event it waits for).
    #[arg(long, default_value = "2s", value_name = "DURATION")]
    poll_interval: Duration,
    /// Discover and print the plan; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    output: Output,
    /// Rehearse against the simulated cloud (virtual time, no AWS account).
    #[arg(long)]
    simulate: bool,
    /// --simulate: instances in the group.
    #[arg(long, default_value_t = 4, value_name = "N", requires = "simulate")]
    sim_fleet: i32,
    /// --simulate: time an instance takes to boot.
    #[arg(long, default_value = "60s", value_name = "DURATION", requires = "simulate")]
    sim_boot: Duration,
    /// --simulate: the group's health check grace period.
    #[arg(long, default_value = "120s", value_name = "DURATION", requires = "simulate")]
    sim_grace: Duration,
    /// --simulate: the target groups' deregistration delay.
    #[arg(long, default_value = "30s", value_name = "DURATION", requires = "simulate")]
    sim_drain: Duration,
    /// --simulate: the new version's instances fail their health checks.
    #[arg(long, requires = "simulate")]
    sim_fail_new_version: bool,
    /// --simulate: share of API calls throttled (0 to 1).
    #[arg(long, default_value_t = 0.0, value_name = "RATE", requires = "simulate")]
    sim_throttle: f64,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StrategyArg {
    Surge,
    Refresh,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    cli::init_logging();
    let args = Args::parse();
    let runner = Runner::from_env();
    match run(args, &runner).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => cli::fail("slipway-roll", &err, &runner),
    }
}

async fn run(args: Args, runner: &Runner) -> Result<()> {
    let job = args.job.resolve()?;
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
    let cancel = CancellationToken::new();
    let pending = Pending::default();
    signal::install(cancel.clone(), pending.clone());
    let mut ctx = Ctx::new(cancel, pending, Progress::stderr());
    ctx.actions = runner.actions;
    ctx.poll = args.poll_interval.std();
    ctx.timeout = args.timeout.unwrap_or(job.settings.health.timeout).std();

    let (plan, outcome, result) = if args.simulate {
        // Virtual time: a rehearsal of a 10-minute roll takes milliseconds.
        tokio::time::pause();
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
        let sim = Sim::new(settings, faults);
        let ports = Ports {
            asg: &sim,
            elb: &sim,
            templates: &sim,
        };
        roll::roll(&ports, &req, &mut ctx, args.dry_run).await
    } else {
        // The health URLs must show the new version before the old instances go.
        ctx.probes = url_probes(&job.settings.health, &job.version, &job.sha)?;
        let session = JobArgs::connect(&job, runner).await?;
        let (asg, elb, templates) = (
            aws::asg::AsgAdapter::new(&session.config),
            aws::elb::ElbAdapter::new(&session.config),
            aws::ec2::Ec2Client::new(&session.config),
        );
        let ports = Ports {
            asg: &asg,
            elb: &elb,
            templates: &templates,
        };
        roll::roll(&ports, &req, &mut ctx, args.dry_run).await
    };

    if plan.is_some() || result.is_ok() {
        runner.set_outputs(&report::outputs(&outcome))?;
        runner.add_summary(&report::markdown(&outcome))?;
    }
    // The report goes to stderr in both modes; JSON adds the document on stdout.
    if args.dry_run {
        if let Some(plan) = &plan {
            eprint!("{}", plan.text());
        }
    } else if plan.is_some() {
        eprint!("{}", report::text(&outcome));
    }
    match args.output {
        Output::Text => {}
        Output::Json => {
            let mut value = serde_json::to_value(&outcome).map_err(|e| Error::failed(e.to_string()))?;
            value["simulated"] = args.simulate.into();
            if let Some(plan) = &plan {
                value["plan"] = serde_json::to_value(plan).map_err(|e| Error::failed(e.to_string()))?;
            }
            cli::print_json(&value)?;
        }
    }
    result
}
