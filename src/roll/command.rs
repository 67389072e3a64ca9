//! slipway-roll's command line: its flags, the choice of target (Auto Scaling group,
//! ECS service or CodeDeploy deployment group), plan files, notifications, outputs and
//! the report; each target's request is built in `requests`, the ports (AWS or the
//! simulator) in `ports`.

use std::path::PathBuf;

use super::asg::{AsgRollout, Request};
use super::codedeploy::{CodeDeployRequest, CodeDeployRollout};
use super::codedeploy_ec2::simulate::{self as server_sim, ServerSimFlags};
use super::codedeploy_ec2::{ServerRequest, ServerRollout};
use super::ecs::{EcsRequest, EcsRollout};
use super::simulate::{self, SimFlags};
use super::{planfile, report, Ctx, Mode, Rollout, WaitUntil};
use crate::cli::{self, Output};
use crate::cloud::Controller;
use crate::cloud::Ports;
use crate::cloud::{DeploymentSettings, NativeStrategy};
use crate::config::{Duration, EcsStrategy, Strategy, DEFAULT_CANARY_BAKE, MAX_ALARM_NAME, MAX_BAKE};
use crate::context::{Job, JobArgs};
use crate::github::Runner;
use crate::notify::{About, Event, Notifier};
use crate::signal::{self, Pending};
use crate::sim::TestListener;
use crate::sim::{self, EcsFaults, EcsSettings, Sim, SimEcs};
use crate::wait::job::url_probes;
use crate::wait::Progress;
use crate::{aws, Error, Result};
use tokio_util::sync::CancellationToken;

mod ports;
mod requests;
mod waves;

pub use waves::roll as roll_waves;

use ports::{ports, server_ports, sim_flags};
use requests::{asg_request, codedeploy_request, ecs_request, server_request, through_codedeploy};

/// slipway-roll's flags.
#[derive(Clone, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub job: JobArgs,
    /// What to roll when the environment has more than one of an asg, an ecs and a
    /// codedeploy section.
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
    /// An environment in several regions: each region's launch template version, as
    /// slipway-bake's `launch-template-versions` output writes it (a JSON object, region to
    /// version); a region's entry replaces --launch-template-version there.
    #[arg(long, env = "SLIPWAY_LAUNCH_TEMPLATE_VERSIONS", value_name = "JSON", value_parser = parse_per_region)]
    pub launch_template_versions: Option<PerRegion>,
    /// ECS, an environment in several regions: each region's image, as slipway-build's
    /// `images` output writes it (a JSON object, region to image); a region's entry
    /// replaces --image there.
    #[arg(long, env = "SLIPWAY_IMAGES", value_name = "JSON", value_parser = parse_per_region)]
    pub images: Option<PerRegion>,
    /// Wait for a refresh or scaling activity in progress to end instead of refusing.
    #[arg(long)]
    pub wait_for_idle: bool,
    /// How long each wait may take; default: the environment's health.timeout.
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION")]
    pub timeout: Option<Duration>,
    /// How long the cleanup after a failed, timed-out or interrupted roll may wait for
    /// the fleet to settle on the previous version; default: three times --timeout, at
    /// least an hour (giving up early leaves the fleet half-done).
    #[arg(value_parser = crate::config::duration::positive_flag, long, value_name = "DURATION")]
    pub cleanup_timeout: Option<Duration>,
    /// Time between polls while waiting (each wait ends on average half of it after
    /// the event it waits for).
    #[arg(value_parser = crate::config::duration::positive_flag, long, default_value = "2s", value_name = "DURATION")]
    pub poll_interval: Duration,
    /// A CloudWatch alarm to watch from the first change until the end of the bake, beside
    /// the environment's health.alarms (repeatable); one in ALARM fails the roll, which
    /// rolls back.
    #[arg(long = "alarm", value_name = "NAME")]
    pub alarms: Vec<String>,
    /// Keep watching the alarms and health URLs this long once the new version takes all
    /// traffic (a failure then still rolls back); default: the environment's health.bake.
    #[arg(value_parser = crate::config::duration::flag, long, value_name = "DURATION")]
    pub bake: Option<Duration>,
    /// ECS blue_green, canary, linear and CodeDeploy: return once production traffic is on
    /// the new revision (result traffic_shifted, exit 0, the deployment id in
    /// `ecs-deployment-id`) while ECS or CodeDeploy bakes, watches the alarms and rolls back
    /// by itself; or follow the deployment to its end (completed).
    #[arg(long, value_enum, default_value_t, value_name = "POINT")]
    pub wait_until: WaitUntil,
    /// ECS: take over a deployment a roll left running (`--wait-until traffic-shifted`):
    /// the `ecs-deployment-id` it printed (a service deployment ARN or a CodeDeploy id).
    /// Followed to its end with the environment's alarms, bake and timeout; a failure,
    /// timeout, alarm or signal rolls it back, as in the roll itself.
    #[arg(long, value_name = "DEPLOYMENT_ID", conflicts_with_all = ["plan_out", "apply", "register_only"])]
    pub resume: Option<String>,
    /// Discover and print the plan; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Text report on stderr, or JSON on stdout.
    #[arg(long, value_enum, default_value_t)]
    pub output: Output,
    /// Rehearse against the simulated cloud (virtual time, no AWS account).
    #[arg(long)]
    pub simulate: bool,
    /// --simulate: instances in the group (tasks of the service for ECS), 1 to 10000.
    #[arg(long, default_value_t = 4, value_name = "N", requires = "simulate",
          value_parser = clap::value_parser!(i32).range(1..=10_000))]
    pub sim_fleet: i32,
    /// --simulate: time an instance takes to boot.
    #[arg(value_parser = crate::config::duration::flag, long, default_value = "60s", value_name = "DURATION", requires = "simulate")]
    pub sim_boot: Duration,
    /// --simulate: the group's health check grace period.
    #[arg(value_parser = crate::config::duration::flag, long, default_value = "120s", value_name = "DURATION", requires = "simulate")]
    pub sim_grace: Duration,
    /// --simulate: the target groups' deregistration delay.
    #[arg(value_parser = crate::config::duration::flag, long, default_value = "30s", value_name = "DURATION", requires = "simulate")]
    pub sim_drain: Duration,
    /// --simulate: the new version's instances fail their health checks (ECS: the new
    /// image's tasks crash; CodeDeploy with health.test_urls: they answer HTTP 500 on test
    /// traffic).
    #[arg(long, requires = "simulate")]
    pub sim_fail_new_version: bool,
    /// --simulate: every alarm goes into ALARM at this virtual time (they start OK).
    #[arg(value_parser = crate::config::duration::flag, long, value_name = "DURATION", requires = "simulate")]
    pub sim_alarm_after: Option<Duration>,
    /// --simulate: who deploys the ECS service (codedeploy: CodeDeploy blue/green, as
    /// when the environment has ecs.codedeploy).
    #[arg(long, value_enum, requires = "simulate", value_name = "CONTROLLER")]
    pub sim_controller: Option<SimController>,
    /// --simulate (codedeploy): the new revision fails this lifecycle event on every
    /// instance (ApplicationStop ... ValidateService; --sim-fail-new-version: ValidateService).
    #[arg(long, value_name = "EVENT", requires = "simulate")]
    pub sim_fail_event: Option<String>,
    /// --simulate (codedeploy): this lifecycle event of the new revision never ends.
    #[arg(long, value_name = "EVENT", requires = "simulate")]
    pub sim_hang_event: Option<String>,
    /// --simulate (codedeploy): the deployment group's auto rollback is off (slipway then
    /// redeploys the last successful revision).
    #[arg(long, requires = "simulate")]
    pub sim_no_auto_rollback: bool,
    /// --simulate (codedeploy): another deployment of the group is in progress this long.
    #[arg(value_parser = crate::config::duration::flag, long, value_name = "DURATION", requires = "simulate")]
    pub sim_busy: Option<Duration>,
    /// --simulate: share of API calls throttled (0 to 0.95).
    #[arg(long, default_value_t = 0.0, value_name = "RATE", requires = "simulate", value_parser = parse_rate)]
    pub sim_throttle: f64,
    /// --simulate, an environment in several regions: one region's own dynamics and faults
    /// over the --sim-* flags, as REGION:SETTING[,SETTING...] with fail-new-version,
    /// alarm-after=DURATION, boot=DURATION, grace=DURATION, drain=DURATION, fleet=N and
    /// throttle=RATE (repeatable), e.g. `eu-west-1:fail-new-version`.
    #[arg(long = "sim-region", value_name = "REGION:SETTINGS", requires = "simulate", value_parser = parse_sim_region)]
    pub sim_regions: Vec<(String, String)>,
    /// This roll undoes a finished one (`waves_on_failure: rollback_all`): no alarm gate.
    #[arg(skip)]
    pub undoing: bool,
    /// This roll is one region of the roll of several regions with this number (their
    /// simulated clouds are kept for the run).
    #[arg(skip)]
    pub wave_run: Option<u64>,
    /// This roll's wave and the number of waves, in a roll of several regions.
    #[arg(skip)]
    pub wave: Option<(usize, usize)>,
    /// CodeDeploy to EC2: deploy this stored revision (s3://bucket/key) instead of the
    /// commit's bundle (`waves_on_failure: rollback_all` undoing a region).
    #[arg(skip)]
    pub redeploy: Option<String>,
}

/// A value per region (JSON object: region to string or number).
pub type PerRegion = std::collections::BTreeMap<String, String>;

fn parse_per_region(text: &str) -> std::result::Result<PerRegion, String> {
    let bad = || format!("{text:?} is not a JSON object of regions to values, e.g. {{\"us-east-1\": 7}}");
    let value: serde_json::Value = serde_json::from_str(text).map_err(|_| bad())?;
    let map = value.as_object().ok_or_else(bad)?;
    map.iter()
        .map(|(region, v)| match v {
            serde_json::Value::String(s) => Ok((region.clone(), s.clone())),
            serde_json::Value::Number(n) => Ok((region.clone(), n.to_string())),
            _ => Err(bad()),
        })
        .collect()
}

/// This region's entry of a per-region flag, refused when it has none.
fn in_region(map: &PerRegion, flag: &str, region: &str) -> Result<String> {
    map.get(region).cloned().ok_or_else(|| {
        Error::input(
            format!(
                "{flag} has no entry for {region} (it has {})",
                map.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
            format!("pass {flag} the output that covers every region of the environment"),
        )
    })
}

/// For an environment in several regions, the image in this region's own repository when
/// `image` is the one slipway-build pushed to the home region's (the same digest; None
/// when the image is anything else, or this is the home region).
fn regional_image(job: &Job, image: &str) -> Result<Option<String>> {
    let env = job.config.environment(&job.environment)?;
    let (Some(home), Some((_, digest))) = (env.region_names().first().cloned(), image.split_once('@')) else {
        return Ok(None);
    };
    if env.regions.len() < 2 || job.settings.aws.region.as_deref() == Some(home.as_str()) {
        return Ok(None);
    }
    let Ok(home_settings) = env.in_region(&home) else {
        return Ok(None);
    };
    match crate::image::reference::image_in_region(&home_settings, digest) {
        Ok(pushed) if pushed == image => crate::image::reference::image_in_region(&job.settings, digest).map(Some),
        _ => Ok(None),
    }
}

fn parse_sim_region(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once(':') {
        Some((r, s)) if !r.trim().is_empty() && !s.trim().is_empty() => {
            Ok((r.trim().to_string(), s.trim().to_string()))
        }
        _ => Err(format!(
            "{text:?} is not REGION:SETTING[,SETTING...] (e.g. eu-west-1:fail-new-version)"
        )),
    }
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum SimController {
    Ecs,
    Codedeploy,
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TargetArg {
    Asg,
    Ecs,
    // A CodeDeploy deployment group of EC2 instances (the environment's `codedeploy:`).
    Codedeploy,
}

fn parse_env(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

fn parse_rate(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=0.95).contains(&r) => Ok(r),
        _ => Err(format!("{text:?} is not a share between 0 and 0.95")),
    }
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum StrategyArg {
    Surge,
    Refresh,
}

/// Which kind of fleet this environment rolls.
fn target(args: &Args, job: &Job) -> Result<TargetArg> {
    let codedeploy = job.settings.codedeploy.is_some();
    match args.target {
        Some(TargetArg::Codedeploy) if !codedeploy => {
            return Err(Error::input(
                format!("environment {:?} has no codedeploy section", job.environment),
                "add codedeploy.application, deployment_group, bundle and bucket to the environment in slipway.yml",
            ))
        }
        Some(TargetArg::Codedeploy) => return Ok(TargetArg::Codedeploy),
        None if codedeploy && job.settings.asg.is_none() && job.settings.ecs.is_none() && args.group.is_none() => {
            return Ok(TargetArg::Codedeploy)
        }
        None if codedeploy => {
            return Err(Error::input(
                format!(
                    "environment {:?} has a codedeploy section beside an asg or ecs section",
                    job.environment
                ),
                "pass --target codedeploy, --target asg or --target ecs",
            ))
        }
        _ => {}
    }
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

/// Runs slipway-roll: the target's discovery, plan, roll (or plan file), outputs and
/// report; for an environment in several regions given no `--region`, every region wave
/// after wave (`waves`).
pub async fn run(args: Args, runner: &Runner) -> Result<()> {
    if let Some(waves) = args.job.waves()? {
        return waves::run(args, waves, runner).await;
    }
    run_single(args, runner).await
}

/// One region's roll from the command line: its own signal handler and clock.
async fn run_single(args: Args, runner: &Runner) -> Result<()> {
    if args.simulate {
        // Virtual time: a rehearsal of a 10-minute roll takes milliseconds.
        tokio::time::pause();
    }
    let cancel = CancellationToken::new();
    let pending = Pending::default();
    signal::install(cancel.clone(), pending.clone());
    run_one(args, runner, cancel, pending, &mut None).await
}

/// One region's roll, stopped by `cancel` (the signal handler's); how it ended goes into
/// `ended` once the roll had a target (not for input refused before that).
async fn run_one(
    args: Args,
    runner: &Runner,
    cancel: CancellationToken,
    pending: Pending,
    ended: &mut Option<super::outcome::Outcome>,
) -> Result<()> {
    let mut args = args;
    let job = args.job.resolve()?;
    let region = job.settings.aws.region.clone().unwrap_or_default();
    // This region's own simulated dynamics (a roll of several regions checked the names).
    for (named, settings) in args.sim_regions.clone() {
        match named == region {
            true => waves::sim_region(&mut args, &named, &settings)?,
            false if args.wave_run.is_some() => {}
            false => {
                return Err(Error::input(
                    format!("--sim-region names {named}, and this roll is in {region}"),
                    format!("name {region}, or roll every region (no --region)"),
                ))
            }
        }
    }
    if let Some(map) = &args.launch_template_versions {
        args.launch_template_version = in_region(map, "--launch-template-versions", &region)?;
    }
    if let Some(map) = &args.images {
        args.image = Some(in_region(map, "--images", &region)?);
    } else if let (Some(image), false) = (&args.image, args.undoing) {
        if let Some(own) = regional_image(&job, image)? {
            eprintln!("{region} rolls its own copy of the image (slipway-build put it there): {own}");
            args.image = Some(own);
        }
    }
    let target = target(&args, &job)?;
    flags_fit(&args, target)?;
    let mut ctx = Ctx::new(cancel, pending, Progress::stderr());
    ctx.actions = runner.actions;
    ctx.poll = args.poll_interval.std();
    ctx.timeout = args.timeout.unwrap_or(job.settings.health.timeout).std();
    ctx.cleanup_timeout = args.cleanup_timeout.map(Duration::std);
    watch_settings(&args, &job, &mut ctx)?;
    if let Some(path) = &args.apply {
        // The plan's alarms and bake are applied exactly, like its steps (the plan itself
        // is read again, typed, by `drive`).
        let kind = match target {
            TargetArg::Asg => super::Target::Asg,
            TargetArg::Ecs => super::Target::Ecs,
            TargetArg::Codedeploy => super::Target::Codedeploy,
        };
        let (_, watch) = planfile::read_watched::<serde_json::Value>(path, &job.app, &job.environment, kind)?;
        ctx.alarms = watch.alarms.iter().map(|a| a.name.clone()).collect();
        ctx.alarms_missing_data = watch.alarms_missing_data;
        ctx.bake = watch.bake.std();
    }
    if target != TargetArg::Ecs && (args.resume.is_some() || args.wait_until == WaitUntil::TrafficShifted) {
        return Err(Error::input(
            format!(
                "{} cannot roll {}: no deployment of it finishes by itself after its traffic moved",
                if args.resume.is_some() {
                    "--resume"
                } else {
                    "--wait-until traffic-shifted"
                },
                match target {
                    TargetArg::Codedeploy => "a CodeDeploy deployment to EC2 instances",
                    _ => "an Auto Scaling group",
                }
            ),
            "use them with an ECS service deployed by ecs.strategy blue_green, canary or linear, or by CodeDeploy",
        ));
    }
    match target {
        TargetArg::Asg if super::asg::bluegreen::cli::wanted(&args, &job) => {
            let req = super::asg::bluegreen::cli::request(&args, &job)?;
            let ports = if args.simulate {
                let pair = simulate::pair(&job.settings, &sim_flags(&args), &req);
                eprintln!(
                    "simulating blue/green {} (live, {} instance(s) on version 1) and {} behind {} (virtual time)",
                    req.groups[0], args.sim_fleet, req.groups[1], req.listener
                );
                simulate::alarms(&pair.alarms(), &ctx.alarms, args.sim_alarm_after.map(Duration::std));
                let ports = pair.ports();
                ctx.alarm_port = Some(ports.alarms.clone());
                ports
            } else {
                let group = Request::new(&req.groups[0], Strategy::BlueGreen);
                ports(&args, &job, runner, &mut ctx, Some(&group), None).await?
            };
            drive(
                &super::asg::bluegreen::BlueGreenRollout::new(ports, req),
                &args,
                &job,
                runner,
                &mut ctx,
                ended,
            )
            .await
        }
        TargetArg::Asg => {
            let mut req = asg_request(&args, &job)?;
            // A refresh watches the alarms and bakes itself too, so a rollback happens
            // even if this runner dies (at most AWS's ten).
            req.alarms = super::watch::for_aws(&ctx.alarms);
            if req.strategy == crate::config::Strategy::Refresh {
                if let Some(note) = super::watch::for_aws_note(&ctx.alarms, "an instance refresh") {
                    ctx.say(&note);
                }
            }
            req.bake = Some(ctx.bake);
            let ports = ports(&args, &job, runner, &mut ctx, Some(&req), None).await?;
            drive(&AsgRollout::new(ports, req), &args, &job, runner, &mut ctx, ended).await
        }
        TargetArg::Ecs => {
            let req = ecs_request(&args, &job, &ctx)?;
            let ports = ports(&args, &job, runner, &mut ctx, None, Some(&req)).await?;
            if through_codedeploy(&job, &ports, &req, &ctx).await? {
                let req = codedeploy_request(&job, req)?;
                if let Some(note) = super::watch::for_aws_note(&ctx.alarms, "a CodeDeploy deployment") {
                    ctx.say(&note);
                }
                return drive(
                    &CodeDeployRollout::new(&ports, req),
                    &args,
                    &job,
                    runner,
                    &mut ctx,
                    ended,
                )
                .await;
            }
            if req.deployment.is_none() && (req.resume.is_some() || !req.wait_until.is_completed()) {
                return Err(Error::input(
                    format!(
                        "{} needs a deployment ECS finishes by itself, and ECS service {} rolls with ecs.strategy rolling",
                        if req.resume.is_some() { "--resume" } else { "--wait-until traffic-shifted" },
                        req.service
                    ),
                    "set ecs.strategy to blue_green, canary or linear (or deploy the service through CodeDeploy)",
                ));
            }
            drive(&EcsRollout::new(&ports, req), &args, &job, runner, &mut ctx, ended).await
        }
        TargetArg::Codedeploy => {
            let req = server_request(&args, &job)?;
            if let Some(note) = super::watch::for_aws_note(&ctx.alarms, "a CodeDeploy deployment") {
                ctx.say(&note);
            }
            let ports = server_ports(&args, &job, runner, &mut ctx, &req).await?;
            drive(&ServerRollout::new(&ports, req), &args, &job, runner, &mut ctx, ended).await
        }
    }
}

/// A flag of another target is refused, never ignored: `--image` on an Auto Scaling
/// group would otherwise roll the group onto its launch template and leave the image unused.
fn flags_fit(args: &Args, target: TargetArg) -> Result<()> {
    let ecs_only = [
        ("--image", args.image.is_some()),
        ("--env", !args.env.is_empty()),
        ("--register-only", args.register_only),
    ];
    let asg_only = [
        ("--group", args.group.is_some()),
        ("--strategy", args.strategy.is_some()),
        ("--launch-template", args.launch_template.is_some()),
        ("--launch-template-version", args.launch_template_version != "$Latest"),
    ];
    let (what, foreign): (&str, Vec<&str>) = match target {
        TargetArg::Asg => (
            "an Auto Scaling group",
            ecs_only.iter().filter(|f| f.1).map(|f| f.0).collect(),
        ),
        TargetArg::Ecs => ("an ECS service", asg_only.iter().filter(|f| f.1).map(|f| f.0).collect()),
        TargetArg::Codedeploy => (
            "a CodeDeploy deployment to EC2 instances",
            ecs_only.iter().chain(&asg_only).filter(|f| f.1).map(|f| f.0).collect(),
        ),
    };
    match foreign.as_slice() {
        [] => Ok(()),
        flags => Err(Error::input(
            format!(
                "{} does not apply here: this environment rolls {what}",
                flags.join(", ")
            ),
            "remove it, or pick the target it is for with --target (or --environment)",
        )),
    }
}

/// The alarms (health.alarms and --alarm, each once) and the bake (--bake or health.bake).
fn watch_settings(args: &Args, job: &Job, ctx: &mut Ctx) -> Result<()> {
    let health = &job.settings.health;
    for name in &args.alarms {
        if name.trim().is_empty() || name.chars().count() > MAX_ALARM_NAME {
            return Err(Error::input(
                format!("--alarm {name:?} is not an alarm name"),
                format!("CloudWatch alarm names have 1 to {MAX_ALARM_NAME} characters"),
            ));
        }
    }
    ctx.alarms = match args.undoing {
        // Undoing a finished roll is not gated: the region goes back whatever its alarms say.
        true => Vec::new(),
        false => super::watch::dedup(health.alarms.iter().chain(&args.alarms).cloned()),
    };
    ctx.alarms_missing_data = health.alarms_missing_data;
    let bake = args.bake.unwrap_or(health.bake);
    if bake.std() > MAX_BAKE {
        return Err(Error::input(
            format!("--bake {bake} is longer than 48h"),
            "use 0 (no bake) to 48h, the longest bake an instance refresh accepts",
        ));
    }
    ctx.bake = bake.std();
    Ok(())
}

fn to_json<T: serde::Serialize>(v: &T) -> Result<serde_json::Value> {
    serde_json::to_value(v).map_err(|e| Error::failed(e.to_string()))
}

/// The one driver, for any target: plan file or roll, then outputs, summary and report.
async fn drive<T: Rollout>(
    t: &T,
    args: &Args,
    job: &Job,
    runner: &Runner,
    ctx: &mut Ctx,
    ended: &mut Option<super::outcome::Outcome>,
) -> Result<()> {
    let stored: Option<(T::Plan, super::watch::Watch)> = args
        .apply
        .as_ref()
        .map(|path| planfile::read_watched(path, &job.app, &job.environment, T::TARGET))
        .transpose()?;
    let mode = match (args.dry_run, &args.plan_out) {
        (_, Some(_)) => Mode::PlanOut,
        (true, None) => Mode::DryRun,
        (false, None) => Mode::Roll,
    };
    // A deploy (not a dry run or a plan) is announced where slipway.yml says.
    let notifier = match (mode, job.settings.notify.as_ref().or(job.config.config.notify.as_ref())) {
        (Mode::Roll, Some(notify)) => Notifier::start(notify, about(t, args, job, runner), runner),
        _ => None,
    };
    ctx.notify = notifier.as_ref().map(Notifier::sender);
    let finished = match &stored {
        Some((plan, _)) => super::apply(t, plan, ctx).await,
        None => super::roll(t, mode, ctx).await,
    };
    ctx.notify = None;
    let (outcome, result) = (&finished.outcome, finished.result);
    if let Some(n) = notifier {
        n.finish(Event::Finished {
            result: outcome.result.as_str().to_string(),
            ok: outcome.exit_code == 0,
            summary: report::verdict(outcome),
            error: outcome.error.clone(),
        });
    }
    if let (Some(path), Some(plan)) = (&args.plan_out, &finished.plan) {
        planfile::write_watched(path, &job.app, &job.environment, T::TARGET, plan, &finished.watch)?;
        eprintln!("plan written to {}", path.display());
    }
    // A region of a roll of several: the roll's own outputs describe them all (`waves`).
    if args.wave_run.is_none() {
        runner.set_outputs(&report::outputs(outcome))?;
    }
    runner.add_summary(&report::markdown(outcome))?;
    // The report goes to stderr in both modes; JSON adds the document on stdout.
    match (&finished.plan, mode) {
        (Some(plan), Mode::DryRun | Mode::PlanOut) => {
            eprint!("{}{}", t.plan_text(plan), finished.watch.text());
            if let Some(alarm) = super::watch::refusing(&finished.watch) {
                eprintln!("  the roll would be refused now: {}", alarm.describe());
            }
        }
        (_, Mode::DryRun | Mode::PlanOut) => {}
        (_, Mode::Roll) => eprint!("{}", report::text(outcome)),
    }
    if args.output == Output::Json {
        let mut value = to_json(outcome)?;
        if let Some(plan) = &finished.plan {
            value["plan"] = to_json(plan)?;
        }
        if !finished.watch.is_empty() {
            value["watch"] = to_json(&finished.watch)?;
        }
        value["simulated"] = args.simulate.into();
        cli::print_json(&value)?;
    }
    *ended = Some(finished.outcome);
    result
}

/// What the notifications say the deploy is.
fn about<T: Rollout>(t: &T, args: &Args, job: &Job, runner: &Runner) -> About {
    let target = match T::TARGET {
        super::Target::Asg => format!("Auto Scaling group {}", t.name()),
        super::Target::Ecs => format!("ECS service {}", t.name()),
        super::Target::Codedeploy => format!("CodeDeploy group {}", t.name()),
    };
    About {
        app: job.app.clone(),
        environment: job.environment.clone(),
        version: job.version.clone(),
        target,
        region: job.settings.aws.region.clone(),
        wave: args.wave.map(|(n, of)| format!("wave {n} of {of}")),
        run_url: runner.run_url(),
        url: job.settings.url.clone(),
    }
}
