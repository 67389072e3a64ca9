//! slipway-roll's blue/green request: from the environment's asg section (strategy
//! blue_green), with --launch-template, --launch-template-version and --wait-for-idle.

use super::BgRequest;
use crate::config::Strategy;
use crate::context::Job;
use crate::error::{Error, Result};
use crate::roll::command::Args;

/// Whether this roll is a blue/green one: the environment says so and no --strategy or
/// --group asks for a one-group roll.
pub fn wanted(args: &Args, job: &Job) -> bool {
    let configured = job
        .settings
        .asg
        .as_ref()
        .is_some_and(|a| a.strategy == Strategy::BlueGreen);
    configured && args.strategy.is_none() && args.group.is_none()
}

pub fn request(args: &Args, job: &Job) -> Result<BgRequest> {
    let asg = job.settings.asg.clone().ok_or_else(|| {
        Error::input(
            format!("environment {:?} has no asg section", job.environment),
            "add asg.groups and asg.listener to the environment in slipway.yml",
        )
    })?;
    let [a, b] = asg.groups.clone().try_into().map_err(|groups: Vec<String>| {
        Error::input(
            format!("asg.groups {groups:?} is not two groups"),
            "list exactly two groups, e.g. `groups: [web-a, web-b]`",
        )
    })?;
    let listener = asg.listener.clone().or(asg.listener_rule.clone()).ok_or_else(|| {
        Error::input(
            "blue_green needs asg.listener or asg.listener_rule",
            "give the ARN of the listener (or rule) whose forward action weighs both groups' target groups",
        )
    })?;
    Ok(BgRequest {
        groups: [a, b],
        listener,
        launch_template: args.launch_template.clone().or(asg.launch_template.clone()),
        version: args.launch_template_version.clone(),
        steps: asg.steps.clone(),
        step_bake: asg.step_bake.std(),
        keep_old: asg.keep_old.map(|d| d.std()),
        wait_for_idle: args.wait_for_idle,
    })
}
