//! `--simulate`: the simulated cloud built from slipway.yml (the group, its strategy and
//! target groups) and a few flags for what the config does not say (fleet size, boot
//! time, grace, a failing new version, alarms going off), so a rollout can be rehearsed
//! with no account.

use std::time::Duration;

use crate::cloud::AlarmState;
use crate::config::Environment;
use crate::sim::{Faults, Settings, SimAlarms};

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
