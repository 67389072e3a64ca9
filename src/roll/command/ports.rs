//! slipway-roll's ports: the AWS adapters from the job's session (with the health
//! URLs that gate the roll), or the simulated cloud built from slipway.yml and the
//! --sim-* flags.

use super::*;

/// What --simulate is told by the --sim-* flags.
pub(super) fn sim_flags(args: &Args) -> SimFlags {
    SimFlags {
        fleet: args.sim_fleet,
        boot: args.sim_boot.std(),
        grace: args.sim_grace.std(),
        drain: args.sim_drain.std(),
        fail_new_version: args.sim_fail_new_version,
        throttle: args.sim_throttle,
        codedeploy: args.sim_controller == Some(SimController::Codedeploy),
        ..SimFlags::default()
    }
}

/// The ports: the simulated cloud built from slipway.yml and the --sim-* flags, or the
/// AWS adapters from the job's session (and then the health URLs gate the roll).
pub(super) async fn ports(
    args: &Args,
    job: &Job,
    runner: &Runner,
    ctx: &mut Ctx,
    asg: Option<&Request>,
    ecs: Option<&EcsRequest>,
) -> Result<Ports> {
    if !args.simulate {
        // The health URLs must show the new version before the old fleet goes (ASG), and
        // stay healthy through the bake (every target).
        let health = &job.settings.health;
        if asg.is_some() || !ctx.bake.is_zero() {
            ctx.probes = url_probes(&health.urls, health.interval.std(), &job.version, &job.sha)?;
        }
        if ecs.is_some() {
            // The test-traffic gate (CodeDeploy and ECS native blue/green, canary, linear).
            ctx.test_probes = url_probes(&health.test_urls, health.interval.std(), &job.version, &job.sha)?;
        }
        let session = JobArgs::connect(job, runner).await?;
        let ports = aws::ports(&session.config);
        ctx.alarm_port = Some(ports.alarms.clone());
        return Ok(ports);
    }
    let flags = sim_flags(args);
    if asg.is_some() && !job.settings.health.urls.is_empty() {
        eprintln!("simulation: the health URLs are not probed (they name real hosts)");
    }
    let (Cloud { sim, ecs: service, .. }, _) = region_cloud(args, job, || new_cloud(job, &flags, ecs));
    simulate::alarms(&sim.alarms(), &ctx.alarms, args.sim_alarm_after.map(Duration::std));
    sim.alarms().throttle(args.sim_throttle, 1);
    if ecs.is_some() && !job.settings.health.test_urls.is_empty() {
        eprintln!("simulation: health.test_urls are not probed (they name real hosts); the simulated test listener is");
        ctx.test_probes = vec![Box::new(TestListener {
            sim: service.clone(),
            interval: job.settings.health.interval.std(),
        })];
    }
    let ports = sim::ports(&sim, &service);
    ctx.alarm_port = Some(ports.alarms.clone());
    Ok(ports)
}

/// The ports of a CodeDeploy-to-EC2 roll: AWS's (the health URLs then gate the bake), or
/// the simulated group and bucket.
pub(super) async fn server_ports(
    args: &Args,
    job: &Job,
    runner: &Runner,
    ctx: &mut Ctx,
    req: &ServerRequest,
) -> Result<Ports> {
    if !args.simulate {
        let health = &job.settings.health;
        if !ctx.bake.is_zero() {
            ctx.probes = url_probes(&health.urls, health.interval.std(), &job.version, &job.sha)?;
        }
        let session = JobArgs::connect(job, runner).await?;
        let ports = aws::ports(&session.config);
        ctx.alarm_port = Some(ports.alarms.clone());
        return Ok(ports);
    }
    let fail_event = match (&args.sim_fail_event, args.sim_fail_new_version) {
        (Some(e), _) => Some(server_sim::event("--sim-fail-event", e)?),
        (None, true) => Some("ValidateService".to_string()),
        (None, false) => None,
    };
    let flags = ServerSimFlags {
        instances: args.sim_fleet as usize,
        fail_event,
        hang_event: args
            .sim_hang_event
            .as_deref()
            .map(|e| server_sim::event("--sim-hang-event", e))
            .transpose()?,
        no_auto_rollback: args.sim_no_auto_rollback,
        busy: args.sim_busy.map(Duration::std),
        throttle: args.sim_throttle,
        seed: 1,
    };
    let (settings, faults) = server_sim::settings(&req.settings, &req.app, &flags);
    let make = || {
        eprintln!(
            "simulating CodeDeploy {}/{} ({} instance(s) serving {}, {}; virtual time)",
            settings.application,
            settings.group,
            settings.instances,
            settings.previous.as_ref().map(|p| p.key.as_str()).unwrap_or("nothing"),
            settings.config
        );
        Cloud {
            sim: Sim::new(sim::Settings::default(), sim::Faults::default()),
            ecs: SimEcs::new(EcsSettings::default(), EcsFaults::default()),
            server: Some(sim::SimServer::new(settings, faults)),
        }
    };
    let (cloud, _) = region_cloud(args, job, make);
    let (sim, server) = (cloud.sim, cloud.server.expect("a CodeDeploy cloud"));
    simulate::alarms(&sim.alarms(), &ctx.alarms, args.sim_alarm_after.map(Duration::std));
    sim.alarms().throttle(args.sim_throttle, 1);
    let ports = sim::server_ports(&sim, &server);
    ctx.alarm_port = Some(ports.alarms.clone());
    Ok(ports)
}

/// A region's simulated cloud: its group (and alarms), and its ECS service or CodeDeploy
/// deployment group.
#[derive(Clone)]
struct Cloud {
    sim: Sim,
    ecs: SimEcs,
    server: Option<sim::SimServer>,
}

/// The simulated clouds of a roll of several regions, by (roll, region): a region rolled
/// again (`rollback_all` undoing its finished roll) finds the state its first roll left.
static CLOUDS: std::sync::Mutex<Vec<((u64, String), Cloud)>> = std::sync::Mutex::new(Vec::new());

/// The region's simulated cloud: the one an earlier roll of it left (in a roll of several
/// regions; then true), else the one `make` makes (kept for a later roll).
fn region_cloud(args: &Args, job: &Job, make: impl FnOnce() -> Cloud) -> (Cloud, bool) {
    let region = job.settings.aws.region.clone().unwrap_or_default();
    let Some(run) = args.wave_run else {
        return (make(), false);
    };
    let key = (run, region.clone());
    if let Some((_, kept)) = CLOUDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .find(|(k, _)| *k == key)
    {
        eprintln!("simulating {region} as its earlier roll left it (virtual time)");
        return (kept.clone(), true);
    }
    let made = make();
    CLOUDS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .push((key, made.clone()));
    (made, false)
}

/// A new simulated cloud for the environment: its group, or its ECS service.
fn new_cloud(job: &Job, flags: &SimFlags, ecs: Option<&EcsRequest>) -> Cloud {
    let (settings, faults) = simulate::settings(&job.settings, flags);
    let mut ecs_settings = EcsSettings::default();
    let mut ecs_faults = EcsFaults::default();
    if let Some(req) = ecs {
        (ecs_settings, ecs_faults) = simulate::ecs(&job.settings, req, flags);
        let how = if ecs_settings.controller == Controller::CodeDeploy {
            let c = &ecs_settings.codedeploy;
            format!(
                ", deployed by CodeDeploy {}/{} with {}",
                c.application, c.group, c.config
            )
        } else {
            String::new()
        };
        eprintln!(
            "simulating ECS service {} in {} ({} task(s) on {}:1{how}; virtual time)",
            req.service, req.cluster, ecs_settings.desired, ecs_settings.family
        );
    } else {
        eprintln!(
            "simulating {} ({} instance(s) on version 1, rolling to version 2; virtual time)",
            settings.group, settings.fleet
        );
    }
    Cloud {
        sim: Sim::new(settings, faults),
        ecs: SimEcs::new(ecs_settings, ecs_faults),
        server: None,
    }
}

/// A simulated region's API calls in a roll of several regions: how many, and the most in
/// any one (virtual) minute.
pub(super) fn simulated_calls(run: Option<u64>, region: &str) -> Option<(usize, usize)> {
    let key = (run?, region.to_string());
    let clouds = CLOUDS.lock().unwrap_or_else(|e| e.into_inner());
    let (_, cloud) = clouds.iter().find(|(k, _)| *k == key)?;
    let server = cloud.server.as_ref().map(|s| s.calls()).unwrap_or_default();
    let at: Vec<f64> = [cloud.sim.calls(), cloud.ecs.calls(), server]
        .iter()
        .flatten()
        .map(|c| c.at)
        .collect();
    let mut minutes = std::collections::BTreeMap::new();
    for t in &at {
        *minutes.entry((t / 60.0).floor() as u64).or_insert(0usize) += 1;
    }
    Some((at.len(), minutes.values().copied().max().unwrap_or(0)))
}
