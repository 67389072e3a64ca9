//! CodeDeploy discovery: read-only calls that read the service (its controller and load
//! balancer entry), its task definition (shared with `roll::ecs`) and the deployment
//! group, check the request against them, and build the plan.

use super::plan::{CdPlan, CdStep, GroupSeen};
use super::{CodeDeployRequest, DEFAULT_CONFIG};
use crate::cloud::{CodeDeploy, Controller, Ecs, Shift};
use crate::error::{Error, Result};
use crate::roll::asg::plan::FORMAT;
use crate::roll::calls::{self, Ctx};
use crate::roll::ecs::discover::{observe, Observed};
use crate::roll::ecs::plan::PlannedRevision;

/// Reads the service, its task definition and the deployment group, and builds the plan.
pub async fn discover(ecs: &dyn Ecs, cd: &dyn CodeDeploy, req: &CodeDeployRequest, ctx: &mut Ctx) -> Result<CdPlan> {
    // --resume: the deployment must exist and be this group's, before anything else.
    if let Some(id) = &req.ecs.resume {
        check_id(id)?;
        // A deployment that does not exist is refused before anything (NotFound: bad input),
        // and so is one of another application or group.
        let d = calls::retry("GetDeployment", &ctx.cancel, || cd.get_deployment(id)).await?;
        if let Some((app, group)) = d.group.filter(|(a, g)| *a != req.application || *g != req.group) {
            return Err(Error::input(
                format!(
                    "--resume {id}: that deployment belongs to {app}/{group}, not to {}/{} of ECS service {}",
                    req.application, req.group, req.ecs.service
                ),
                "pass the `ecs-deployment-id` output of this environment's roll",
            ));
        }
    }
    let Observed {
        service,
        before,
        revision,
    } = observe(ecs, &req.ecs, ctx).await?;
    if service.controller != Controller::CodeDeploy {
        return Err(Error::input(
            format!(
                "ECS service {} has deployment controller {}, not CODE_DEPLOY",
                before.service, service.controller
            ),
            "remove ecs.codedeploy from slipway.yml to roll it with ECS itself",
        ));
    }
    let Some(port) = service
        .load_balancers
        .iter()
        .find(|lb| lb.container.as_deref() == Some(before.container.as_str()))
        .and_then(|lb| lb.port)
    else {
        let entries: Vec<String> = service
            .load_balancers
            .iter()
            .map(|lb| format!("{}:{}", lb.container.as_deref().unwrap_or("-"), lb.port.unwrap_or(0)))
            .collect();
        return Err(Error::input(
            format!(
                "ecs.container {:?} is not in the load balancer entries of service {} (it has {})",
                before.container,
                before.service,
                if entries.is_empty() {
                    "none".into()
                } else {
                    entries.join(", ")
                }
            ),
            "set ecs.container to the container CodeDeploy routes traffic to",
        ));
    };
    let group = calls::retry("GetDeploymentGroup", &ctx.cancel, || {
        cd.deployment_group(&req.application, &req.group)
    })
    .await?;
    let Some(group) = group else {
        let (app, dg) = CodeDeployRequest::default_names(&before.cluster, &before.service);
        return Err(Error::input(
            format!(
                "no CodeDeploy application {:?} with deployment group {:?} in this account and region \
                 (the ECS console names them {app} and {dg}, slipway's defaults)",
                req.application, req.group
            ),
            "set ecs.codedeploy.application and ecs.codedeploy.deployment_group in slipway.yml to the \
             service's CodeDeploy application and deployment group",
        ));
    };
    if req.test_gate && !group.waits_for_ready {
        return Err(Error::input(
            format!(
                "health.test_urls needs deployment group {} to wait before shifting production traffic \
                 (deploymentReadyOption STOP_DEPLOYMENT), and it reroutes at once",
                group.name
            ),
            "set the group's deploymentReadyOption to STOP_DEPLOYMENT with a wait time (console: \
             \"specify when to reroute traffic\"), or remove health.test_urls",
        ));
    }
    let config = req
        .config
        .clone()
        .or(group.config.clone())
        .unwrap_or_else(|| DEFAULT_CONFIG.to_string());
    let mut steps = Vec::new();
    if let Some(id) = &req.ecs.resume {
        steps.push(CdStep::Attach { id: id.clone() });
        steps.push(CdStep::WaitTrafficShifted);
        steps.push(CdStep::WaitSucceeded);
    } else if let Some(revision) = revision {
        steps.push(CdStep::RegisterRevision {
            revision: PlannedRevision::of(&revision),
        });
        if !req.ecs.register_only {
            steps.push(CdStep::CreateDeployment);
            if req.test_gate {
                steps.push(CdStep::TestGate);
            } else if group.waits_for_ready {
                // "STOP_DEPLOYMENT: Do not register new instances with a load balancer
                // unless traffic rerouting is started using ContinueDeployment. If traffic
                // rerouting is not started before the end of the specified wait period, the
                // deployment status is changed to Stopped." (codedeploy 2014-10-06 model,
                // DeploymentReadyOption.actionOnTimeout)
                steps.push(CdStep::Continue);
            }
            steps.push(CdStep::WaitTrafficShifted);
            if req.ecs.wait_until.is_completed() {
                steps.push(CdStep::WaitSucceeded);
            }
        }
    }
    // The bake runs in the group's termination wait, while the original task set stands
    // by; past its end CodeDeploy deletes that task set ("the number of minutes before
    // deleting the original (blue) task set", codedeploy 2014-10-06 model,
    // BlueInstanceTerminationOption.terminationWaitTimeInMinutes), and a late alarm
    // could no longer roll back.
    let termination_wait = std::time::Duration::from_secs(group.termination_wait_minutes.max(0) as u64 * 60);
    if steps.contains(&CdStep::WaitSucceeded) && ctx.bake > termination_wait {
        return Err(Error::input(
            format!(
                "the bake ({}) is longer than deployment group {}'s termination wait ({}m): the original task \
                 set would be deleted before the bake ends, and a late alarm could not roll back",
                crate::config::Duration(ctx.bake),
                group.name,
                group.termination_wait_minutes
            ),
            "raise the group's terminationWaitTimeInMinutes (at most 2880) or shorten health.bake / --bake",
        ));
    }
    if let Some(keep) = req.ecs.keep_revisions {
        if steps.contains(&CdStep::WaitSucceeded) {
            steps.push(CdStep::KeepRevisions { keep });
        }
    }
    Ok(CdPlan {
        format: FORMAT,
        kind: "codedeploy".into(),
        before,
        controller: service.controller,
        group: GroupSeen {
            application: group.application,
            name: group.name,
            shift: Shift::of(&config),
            config,
            waits_for_ready: group.waits_for_ready,
            ready_wait_minutes: group.ready_wait_minutes,
            termination_wait_minutes: group.termination_wait_minutes,
        },
        container_port: port,
        hooks: req.hooks.clone(),
        steps,
    })
}

/// A CodeDeploy deployment id: `d-` and nine letters or digits.
fn check_id(id: &str) -> Result<()> {
    let ok = id
        .strip_prefix("d-")
        .is_some_and(|rest| rest.len() == 9 && rest.chars().all(|c| c.is_ascii_alphanumeric()));
    if ok {
        return Ok(());
    }
    Err(Error::input(
        format!("--resume {id:?} is not a CodeDeploy deployment id"),
        "pass the `ecs-deployment-id` output of the roll that returned at traffic_shifted (d- and nine letters or digits)",
    ))
}
