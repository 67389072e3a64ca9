//! `--simulate`: the simulated cloud built from slipway.yml (the group, its strategy and
//! target groups) and a few flags for what the config does not say (fleet size, boot
//! time, grace, a failing new version, alarms going off), so a rollout can be rehearsed
//! with no account.

use std::time::Duration;

use crate::cloud::{AlarmState, Controller, ServiceLoadBalancer};
use crate::config::Environment;
use crate::roll::codedeploy::{CodeDeployRequest, DEFAULT_CONFIG};
use crate::roll::ecs::EcsRequest;
use crate::sim::{CdSettings, EcsFaults, EcsSettings, Faults, Settings, SimAlarms};

/// What `--simulate` is told beyond slipway.yml.
#[derive(Debug, Clone)]
pub struct SimFlags {
    pub fleet: i32,
    pub boot: Duration,
    pub grace: Duration,
    pub drain: Duration,
    /// The new version's instances fail their health checks.
    pub fail_new_version: bool,
    /// Share of calls throttled.
    pub throttle: f64,
    pub seed: u64,
    /// ECS: the service's deployment controller is CODE_DEPLOY (also when the
    /// environment has ecs.codedeploy).
    pub codedeploy: bool,
}

impl Default for SimFlags {
    fn default() -> Self {
        SimFlags {
            fleet: 4,
            boot: Duration::from_secs(60),
            grace: Duration::from_secs(120),
            drain: Duration::from_secs(30),
            fail_new_version: false,
            throttle: 0.0,
            seed: 1,
            codedeploy: false,
        }
    }
}

/// The simulator's settings and faults for an environment: group `asg.name` on version
/// 1 of `asg.launch_template`, version 2 to roll onto, the environment's target groups.
pub fn settings(env: &Environment, flags: &SimFlags) -> (Settings, Faults) {
    let defaults = Settings::default();
    let asg = env.asg.as_ref();
    let target_groups: Vec<String> = if env.health.target_groups.is_empty() {
        defaults.target_groups.clone()
    } else {
        env.health
            .target_groups
            .iter()
            .map(|arn| arn.split('/').nth(1).unwrap_or(arn).to_string())
            .collect()
    };
    let fleet = flags.fleet.max(0);
    let settings = Settings {
        fleet,
        min: (fleet / 2).max(if fleet > 0 { 1 } else { 0 }),
        max: fleet * 2,
        version: 1,
        versions: 2,
        boot: flags.boot,
        grace: flags.grace,
        target_groups,
        deregistration_delay: flags.drain,
        group: asg.map(|a| a.name.clone()).unwrap_or_else(|| defaults.group.clone()),
        template: asg
            .and_then(|a| a.launch_template.clone())
            .unwrap_or_else(|| defaults.template.clone()),
        ..defaults
    };
    let faults = Faults {
        throttle: flags.throttle,
        bad_versions: if flags.fail_new_version {
            [2].into()
        } else {
            Default::default()
        },
        seed: flags.seed,
        ..Faults::default()
    };
    (settings, faults)
}

/// The roll's alarms in the simulator: created OK, all going into ALARM at `alarm_after`
/// (virtual time since the start), when given.
pub fn alarms(sim: &SimAlarms, names: &[String], alarm_after: Option<Duration>) {
    for name in names {
        sim.put(name, AlarmState::Ok);
    }
    if let Some(after) = alarm_after {
        sim.set_all_after(after, AlarmState::Alarm);
    }
}

/// The simulated ECS service for an ECS request: `flags.fleet` tasks on revision 1 of a
/// family named after the service. Deployed through CodeDeploy when `flags.codedeploy`
/// or the environment has ecs.codedeploy: the container behind a load balancer on port
/// 80, the application and group slipway.yml names (or the console's names), the
/// config it names (or all at once), and a group that waits for READY when
/// health.test_urls asks for a test-traffic gate. A failing new version crashes; with a
/// test gate it is healthy but answers HTTP 500, so the gate is what catches it.
pub fn ecs(env: &Environment, req: &EcsRequest, flags: &SimFlags) -> (EcsSettings, EcsFaults) {
    let cd = env.ecs.as_ref().and_then(|e| e.codedeploy.as_ref());
    let codedeploy = flags.codedeploy || cd.is_some();
    let gate = codedeploy && !env.health.test_urls.is_empty();
    let mut settings = EcsSettings {
        cluster: req.cluster.clone(),
        service: req.service.clone(),
        container: req.container.clone(),
        family: req.service.clone(),
        desired: flags.fleet,
        ..EcsSettings::default()
    };
    if req.deployment.is_some() && !codedeploy {
        // A native strategy needs the blue/green load balancer setup: the rehearsal has it.
        let tg = |name: &str| crate::sim::Settings::target_group_arn(&format!("{}-{name}", req.service));
        let rule = |name: &str| {
            format!("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/0123456789abcdef/{name}")
        };
        settings.load_balancers = vec![ServiceLoadBalancer {
            target_group: Some(tg("blue")),
            container: Some(req.container.clone()),
            port: Some(8080),
            alternate_target_group: Some(tg("green")),
            production_listener_rule: Some(rule("production")),
            test_listener_rule: Some(rule("test")),
            role: Some("arn:aws:iam::123456789012:role/ecs-infrastructure".into()),
        }];
    }
    if codedeploy {
        let (application, group) = CodeDeployRequest::default_names(&req.cluster, &req.service);
        settings.controller = Controller::CodeDeploy;
        settings.load_balancers = vec![ServiceLoadBalancer {
            target_group: Some(crate::sim::Settings::target_group_arn(&format!("{}-blue", req.service))),
            container: Some(req.container.clone()),
            port: Some(80),
            ..ServiceLoadBalancer::default()
        }];
        settings.codedeploy = CdSettings {
            application: cd.and_then(|c| c.application.clone()).unwrap_or(application),
            group: cd.and_then(|c| c.deployment_group.clone()).unwrap_or(group),
            config: cd.and_then(|c| c.config.clone()).unwrap_or(DEFAULT_CONFIG.into()),
            waits_for_ready: gate,
            ..CdSettings::default()
        };
    }
    let failing: std::collections::BTreeSet<String> = if flags.fail_new_version {
        [req.image.clone()].into()
    } else {
        Default::default()
    };
    let faults = EcsFaults {
        throttle: flags.throttle,
        seed: flags.seed,
        ..if gate {
            EcsFaults {
                erroring_images: failing,
                ..EcsFaults::default()
            }
        } else {
            EcsFaults {
                bad_images: failing,
                ..EcsFaults::default()
            }
        }
    };
    (settings, faults)
}

/// The simulated cloud of an Auto Scaling blue/green environment: `asg.groups[0]` live
/// with `flags.fleet` instances on version 1, `asg.groups[1]` empty, each with its own
/// target group, behind the environment's listener (or rule) at 100/0.
pub fn pair(env: &Environment, flags: &SimFlags, req: &crate::roll::asg::bluegreen::BgRequest) -> crate::sim::SimPair {
    let (settings, faults) = settings(env, flags);
    let live = Settings {
        group: req.groups[0].clone(),
        ..settings
    };
    crate::sim::SimPair::with_listener(&req.listener, live, &req.groups[1], faults, None)
}
