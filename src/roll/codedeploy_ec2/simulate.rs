//! `--simulate` for a CodeDeploy deployment group of EC2 instances: the simulated group
//! and bucket from slipway.yml's `codedeploy:` and the --sim-* flags (instances, a
//! failing or hanging lifecycle event, auto rollback off, another deployment in progress).

use std::time::Duration;

use super::bundle;
use crate::cloud::S3Revision;
use crate::config::ServerDeploy;
use crate::error::{Error, Result};
use crate::sim::{ServerFaults, ServerSettings, SERVER_EVENTS};

/// What `--simulate` is told beyond slipway.yml.
#[derive(Debug, Clone, Default)]
pub struct ServerSimFlags {
    pub instances: usize,
    /// The new revision's instances fail this lifecycle event.
    pub fail_event: Option<String>,
    /// This lifecycle event of the new revision never ends.
    pub hang_event: Option<String>,
    /// The group's auto rollback is off.
    pub no_auto_rollback: bool,
    /// Another deployment is in progress for this long.
    pub busy: Option<Duration>,
    pub throttle: f64,
    pub seed: u64,
}

/// Refuses an event name that is not an EC2 lifecycle event.
pub fn event(flag: &str, name: &str) -> Result<String> {
    match SERVER_EVENTS.iter().find(|e| e.eq_ignore_ascii_case(name)) {
        Some(e) => Ok(e.to_string()),
        None => Err(Error::input(
            format!("{flag} {name:?} is not a lifecycle event of an EC2 deployment"),
            format!("use one of {}", SERVER_EVENTS.join(", ")),
        )),
    }
}

/// The simulated group: slipway.yml's names, instances serving an earlier bundle of the app.
pub fn settings(cd: &ServerDeploy, app: &str, flags: &ServerSimFlags) -> (ServerSettings, ServerFaults) {
    let settings = ServerSettings {
        application: cd.application.clone(),
        group: cd.deployment_group.clone(),
        config: cd.config.clone(),
        auto_rollback: !flags.no_auto_rollback,
        auto_scaling_group: format!("{}-asg", cd.deployment_group),
        instances: flags.instances.max(1),
        bucket: cd.bucket.clone(),
        previous: Some(S3Revision {
            bucket: cd.bucket.clone(),
            key: bundle::key(&cd.prefix, app, "0000000000000000000000000000000000000000"),
            etag: Some("0123456789abcdef0123456789abcdef".into()),
        }),
        busy_for: flags.busy,
        ..ServerSettings::default()
    };
    let faults = ServerFaults {
        fail_event: flags.fail_event.clone(),
        hang_event: flags.hang_event.clone(),
        throttle: flags.throttle,
        seed: flags.seed,
    };
    (settings, faults)
}
