//! slipway-roll's requests: each target's, from the flags and slipway.yml.

use super::*;

/// The Auto Scaling request from flags and slipway.yml.
pub(super) fn asg_request(args: &Args, job: &Job) -> Result<Request> {
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
        req.canary = a.canary.filter(|_| strategy == Strategy::Surge).map(|c| {
            let bake = a.canary_bake.map(Duration::std).unwrap_or(DEFAULT_CANARY_BAKE);
            (i32::try_from(c).unwrap_or(i32::MAX), bake)
        });
    }
    Ok(req)
}

/// The ECS request from flags, slipway.yml and (for --apply) the plan's image.
pub(super) fn ecs_request(args: &Args, job: &Job, ctx: &Ctx) -> Result<EcsRequest> {
    let ecs = job.settings.ecs.clone().ok_or_else(|| {
        Error::input(
            format!("environment {:?} has no ecs section", job.environment),
            "add ecs.cluster, ecs.service and ecs.container to the environment in slipway.yml",
        )
    })?;
    let image = match (&args.image, &args.apply) {
        // --resume follows a deployment: the image is the one it deploys.
        _ if args.resume.is_some() => String::new(),
        (Some(image), _) => image.clone(),
        // --apply: the plan's image wins; a placeholder until the plan is read.
        (None, Some(_)) => String::new(),
        (None, None) => {
            return Err(Error::input(
                "an ECS roll needs the image to roll onto",
                "pass --image (slipway-build prints it as its `image-uri` output) or set SLIPWAY_IMAGE",
            ))
        }
    };
    let test_urls = job.settings.health.test_urls.len();
    let native_bake = ctx.bake.as_secs().div_ceil(60);
    if ecs.strategy != EcsStrategy::Rolling && native_bake > crate::config::MAX_ECS_BAKE_MINUTES {
        return Err(Error::input(
            format!(
                "--bake {} is longer than ECS's bakeTimeInMinutes takes ({} minutes)",
                crate::config::Duration(ctx.bake),
                crate::config::MAX_ECS_BAKE_MINUTES
            ),
            "use 0 to 24h for an ECS blue_green, canary or linear deployment",
        ));
    }
    // The PAUSE hook outlives the test gate (one wait) by a few minutes, within ECS's range.
    let pause_timeout = ctx.timeout + std::time::Duration::from_secs(5 * 60);
    if test_urls > 0 && pause_timeout.as_secs().div_ceil(60) > crate::cloud::ecs::MAX_HOOK_MINUTES {
        return Err(Error::input(
            format!(
                "--timeout {} makes a test gate longer than an ECS lifecycle hook may wait ({} minutes)",
                crate::config::Duration(ctx.timeout),
                crate::cloud::ecs::MAX_HOOK_MINUTES
            ),
            "use a --timeout (or health.timeout) under 14 days for an ECS deployment with health.test_urls",
        ));
    }
    let native = |strategy| DeploymentSettings {
        strategy,
        // ECS bakes with blue still standing by, and rolls back itself on the alarms, even
        // if this runner dies (it counts whole minutes: the adapter rounds up).
        bake: ctx.bake,
        canary: ecs.canary.as_ref().map(|c| (c.percent, c.bake.std())),
        linear: ecs.linear.as_ref().map(|l| (l.step_percent, l.step_bake.std())),
        alarms: ctx.alarms.clone(),
        pause_after_test_traffic: test_urls > 0,
        pause_timeout,
    };
    let deployment = match ecs.strategy {
        EcsStrategy::Rolling => None,
        EcsStrategy::BlueGreen => Some(native(NativeStrategy::BlueGreen)),
        EcsStrategy::Canary => Some(native(NativeStrategy::Canary)),
        EcsStrategy::Linear => Some(native(NativeStrategy::Linear)),
    };
    let req = EcsRequest {
        cluster: ecs.cluster.clone(),
        service: ecs.service.clone(),
        container: ecs.container.clone(),
        image,
        environment: args.env.clone(),
        wait_for_idle: args.wait_for_idle,
        register_only: args.register_only,
        test_urls: if deployment.is_some() { test_urls } else { 0 },
        deployment,
        keep_revisions: ecs.keep_revisions,
        wait_until: args.wait_until,
        resume: args.resume.clone(),
    };
    if args.apply.is_none() && args.resume.is_none() {
        crate::roll::ecs::check_request(&req)?;
    }
    Ok(req)
}

/// Whether the service is deployed through CodeDeploy: its deployment controller is
/// CODE_DEPLOY, or the environment has ecs.codedeploy (discovery then checks the
/// controller). A service that cannot be read is left to the rolling target's discovery.
pub(super) async fn through_codedeploy(job: &Job, ports: &Ports, req: &EcsRequest, ctx: &Ctx) -> Result<bool> {
    let ecs = job.settings.ecs.as_ref();
    if ecs.is_some_and(|e| e.codedeploy.is_some()) {
        return Ok(true);
    }
    if req.cluster.is_empty() || req.service.is_empty() {
        return Ok(false);
    }
    let service = crate::roll::calls::retry("DescribeServices", &ctx.cancel, || {
        ports.ecs.describe_service(&req.cluster, &req.service)
    })
    .await?;
    Ok(service.is_some_and(|s| s.controller == Controller::CodeDeploy))
}

/// The CodeDeploy request: the ECS request with ecs.codedeploy (or the console's
/// names); refuses an ecs.strategy, since CodeDeploy's config decides how traffic moves.
pub(super) fn codedeploy_request(job: &Job, ecs: EcsRequest) -> Result<CodeDeployRequest> {
    let settings = job.settings.ecs.as_ref();
    let strategy = settings.map(|e| e.strategy).unwrap_or_default();
    if strategy != EcsStrategy::Rolling {
        return Err(Error::input(
            format!(
                "ecs.strategy {} cannot roll ECS service {}: its deployment controller is CODE_DEPLOY, so \
                 CodeDeploy decides how traffic moves",
                strategy.as_str(),
                ecs.service
            ),
            "remove ecs.strategy and set ecs.codedeploy.config (e.g. CodeDeployDefault.ECSCanary10Percent5Minutes)",
        ));
    }
    let cd = settings.and_then(|e| e.codedeploy.clone()).unwrap_or_default();
    let (application, group) = CodeDeployRequest::default_names(&ecs.cluster, &ecs.service);
    Ok(CodeDeployRequest {
        application: cd.application.unwrap_or(application),
        group: cd.deployment_group.unwrap_or(group),
        config: cd.config,
        hooks: cd
            .hooks
            .list()
            .into_iter()
            .map(|(hook, f)| (hook.to_string(), f.to_string()))
            .collect(),
        test_gate: !job.settings.health.test_urls.is_empty(),
        ecs,
    })
}

/// The CodeDeploy-to-EC2 request: `codedeploy:` with the bundle directory resolved
/// against slipway.yml's directory, keyed by the job's commit.
pub(super) fn server_request(args: &Args, job: &Job) -> Result<ServerRequest> {
    let settings = job.settings.codedeploy.clone().ok_or_else(|| {
        Error::input(
            format!("environment {:?} has no codedeploy section", job.environment),
            "add codedeploy.application, deployment_group, bundle and bucket to the environment in slipway.yml",
        )
    })?;
    let base = job.config.path.parent().unwrap_or(std::path::Path::new("."));
    Ok(ServerRequest {
        bundle_dir: base.join(&settings.bundle),
        settings,
        app: job.app.clone(),
        commit: job.sha.clone(),
        wait_for_idle: args.wait_for_idle,
        redeploy: args.redeploy.clone(),
    })
}
