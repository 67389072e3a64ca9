//! ECS discovery: read-only calls that read the service, its task definition and the
//! family's newest revision, check the request against them, and build the plan.

use tokio_util::sync::CancellationToken;

use super::plan::{short, strategy_name, EcsObserved, EcsPlan, EcsStep, PlannedRevision, SeenDeployment};
use super::EcsRequest;
use crate::cloud::{Controller, DeploymentSettings, DeploymentStatus, Ecs, EcsService, NativeStrategy, Revision};
use crate::error::{Error, Result};
use crate::image::reference::ImageRef;
use crate::roll::asg::plan::FORMAT;
use crate::roll::calls::{self, Ctx};
use crate::roll::WaitUntil;

/// Checks what can be checked without a call: the image reference and the variables.
pub fn check_request(req: &EcsRequest) -> Result<()> {
    ImageRef::parse(&req.image)?;
    for (key, _) in &req.environment {
        let ok = !key.is_empty()
            && !key.starts_with(|c: char| c.is_ascii_digit())
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            return Err(Error::input(
                format!("--env {key:?}: not an environment variable name"),
                "use --env NAME=VALUE with a name of letters, digits and _",
            ));
        }
    }
    Ok(())
}

pub async fn describe(ecs: &dyn Ecs, req: &EcsRequest, cancel: &CancellationToken) -> Result<EcsService> {
    calls::retry("DescribeServices", cancel, || {
        ecs.describe_service(&req.cluster, &req.service)
    })
    .await?
    .ok_or_else(|| {
        Error::input(
            format!(
                "no ECS service {:?} in cluster {:?} (or no such cluster) in this account and region",
                req.service, req.cluster
            ),
            "check ecs.cluster and ecs.service in slipway.yml and the environment's region",
        )
    })
}

/// Another deployment in progress, named; None when the primary is the only one.
pub(super) fn busy(s: &EcsService) -> Option<String> {
    let others: Vec<String> = s
        .deployments
        .iter()
        .filter(|d| d.status != DeploymentStatus::Primary)
        .map(|d| format!("{} ({} {})", d.id, short(&d.task_definition), d.status))
        .collect();
    if others.is_empty() {
        return None;
    }
    let primary = s
        .deployments
        .iter()
        .find(|d| d.status == DeploymentStatus::Primary)
        .map(|d| {
            format!(
                "deployment {} of {} is {}",
                d.id,
                short(&d.task_definition),
                d.rollout_state.as_ref().map(|r| r.as_str()).unwrap_or("in progress")
            )
        })
        .unwrap_or_else(|| "a deployment is in progress".into());
    Some(format!("{primary}, still replacing {}", others.join(", ")))
}

/// Refuses (bad input, naming both) a native strategy the service's deployment
/// controller or load balancer setup cannot do.
pub(super) fn check_strategy(service: &EcsService, deployment: Option<&DeploymentSettings>) -> Result<()> {
    let Some(d) = deployment.filter(|d| d.strategy != NativeStrategy::Rolling) else {
        return Ok(());
    };
    let name = strategy_name(Some(d));
    let refuse = |why: String, help: &str| {
        Err(Error::input(
            format!("ecs.strategy {name} cannot deploy service {}: {why}", service.name),
            help,
        ))
    };
    match &service.controller {
        Controller::Ecs => {}
        Controller::CodeDeploy => {
            return refuse(
                "its deployment controller is CODE_DEPLOY (a CodeDeploy service deploys through ecs.codedeploy)".into(),
                "deploy it with ecs.codedeploy (CodeDeploy blue/green), or recreate the service with the ECS deployment controller",
            )
        }
        other => {
            return refuse(
                format!("its deployment controller is {other}, not ECS"),
                "use ecs.strategy rolling's own controller: recreate the service with the ECS deployment controller",
            )
        }
    }
    let Some(lb) = service
        .load_balancers
        .iter()
        .find(|lb| lb.alternate_target_group.is_some())
    else {
        return refuse(
            "it has no load balancer entry with an alternate target group".into(),
            "give the service's load balancer an advancedConfiguration (alternate target group, production listener rule, role), or use ecs.strategy rolling",
        );
    };
    if lb.production_listener_rule.is_none() {
        return refuse(
            "its load balancer entry has no production listener rule".into(),
            "set advancedConfiguration.productionListenerRule on the service's load balancer",
        );
    }
    if lb.role.is_none() {
        return refuse(
            "its load balancer entry has no role for ECS to change the listener rules".into(),
            "set advancedConfiguration.roleArn on the service's load balancer",
        );
    }
    if d.pause_after_test_traffic && lb.test_listener_rule.is_none() {
        return refuse(
            "health.test_urls are set but its load balancer entry has no test listener rule".into(),
            "set advancedConfiguration.testListenerRule on the service's load balancer, or remove health.test_urls",
        );
    }
    Ok(())
}

/// What discovery reads of a service, shared by every ECS target: the service, what the
/// plan assumes of it, and the revision the request asks for (None when the container
/// already runs that image and environment).
pub struct Observed {
    pub service: EcsService,
    pub before: EcsObserved,
    pub revision: Option<Revision>,
}

/// Reads the service, its task definition and the family's newest revision, and checks
/// the request against them. Read-only.
pub async fn observe(ecs: &dyn Ecs, req: &EcsRequest, ctx: &mut Ctx) -> Result<Observed> {
    if req.resume.is_none() {
        check_request(req)?;
    }
    let service = describe(ecs, req, &ctx.cancel).await?;
    let current = calls::retry("DescribeTaskDefinition", &ctx.cancel, || {
        ecs.task_definition(&service.task_definition)
    })
    .await?
    .ok_or_else(|| {
        Error::failed(format!(
            "the service's task definition {} does not exist",
            service.task_definition
        ))
    })?;
    let Some(container) = current.container(&req.container) else {
        let names: Vec<&str> = current.containers.iter().map(|c| c.name.as_str()).collect();
        return Err(Error::input(
            format!(
                "task definition {} has no container {:?} (it has {})",
                short(&current.arn),
                req.container,
                names.join(", ")
            ),
            "set ecs.container in slipway.yml to one of those",
        ));
    };
    let latest = calls::retry("DescribeTaskDefinition", &ctx.cancel, || {
        ecs.task_definition(&current.family)
    })
    .await?
    .map(|td| td.revision)
    .unwrap_or(current.revision);
    let mut environment = req.environment.clone();
    environment.sort();
    environment.dedup_by(|a, b| a.0 == b.0);
    let mut before = EcsObserved {
        cluster: req.cluster.clone(),
        service: req.service.clone(),
        service_arn: service.arn.clone(),
        task_definition: current.arn.clone(),
        family: current.family.clone(),
        revision: current.revision,
        latest_revision: latest,
        desired: service.desired,
        deployments: service
            .deployments
            .iter()
            .map(|d| SeenDeployment {
                id: d.id.clone(),
                task_definition: d.task_definition.clone(),
                status: d.status.clone(),
                rollout_state: d.rollout_state.clone(),
            })
            .collect(),
        container: container.name.clone(),
        image: container.image.clone(),
        circuit_breaker_rollback: service.circuit_breaker_rollback,
        controller: service.controller.clone(),
        alternate_target_group: service
            .load_balancers
            .iter()
            .find_map(|lb| lb.alternate_target_group.clone()),
    };
    if req.resume.is_some() {
        // Resuming a deployment: the revision a rollback returns to is the older one
        // still standing by, not the one the service now points at.
        if let Some(old) = service
            .deployments
            .iter()
            .find(|d| d.status != DeploymentStatus::Primary)
        {
            before.task_definition = old.task_definition.clone();
        }
    }
    let unchanged = req.resume.is_some()
        || container.image == req.image
            && environment
                .iter()
                .all(|(k, v)| container.environment.iter().any(|(ck, cv)| ck == k && cv == v));
    let revision = (!unchanged).then(|| Revision {
        from: current.arn.clone(),
        container: req.container.clone(),
        image: req.image.clone(),
        environment,
    });
    Ok(Observed {
        service,
        before,
        revision,
    })
}

/// Reads the service, checks the request against it and builds the plan. Read-only.
/// (The driver has already refused a busy service, or waited until it was idle.)
pub async fn discover(ecs: &dyn Ecs, req: &EcsRequest, ctx: &mut Ctx) -> Result<EcsPlan> {
    let Observed {
        service,
        before,
        revision,
    } = observe(ecs, req, ctx).await?;
    if let Some(arn) = &req.resume {
        let steps = resumed(ecs, req, arn, ctx).await?;
        return Ok(EcsPlan {
            format: FORMAT,
            kind: "ecs".into(),
            before,
            steps,
        });
    }
    check_strategy(&service, req.deployment.as_ref())?;
    let native = req.deployment.clone().filter(|d| d.strategy != NativeStrategy::Rolling);
    let mut steps = Vec::new();
    if let Some(revision) = revision {
        steps.push(EcsStep::RegisterRevision {
            revision: PlannedRevision::of(&revision),
        });
        if !req.register_only {
            let follow = match &native {
                Some(d) => EcsStep::FollowDeployment {
                    test_urls: if d.pause_after_test_traffic { req.test_urls } else { 0 },
                    until: req.wait_until,
                },
                None => EcsStep::WaitStable,
            };
            steps.push(EcsStep::UpdateService {
                expect: before.task_definition.clone(),
                deployment: native,
            });
            steps.push(follow);
            // After a traffic_shifted return the old revision still stands by: the
            // resumed roll deregisters old revisions once the deployment succeeded.
            if let Some(keep) = req.keep_revisions.filter(|_| req.wait_until.is_completed()) {
                steps.push(EcsStep::KeepRevisions { keep });
            }
        }
    }
    Ok(EcsPlan {
        format: FORMAT,
        kind: "ecs".into(),
        before,
        steps,
    })
}

/// The cluster and service a service deployment ARN names
/// (`arn:aws:ecs:REGION:ACCOUNT:service-deployment/CLUSTER/SERVICE/ID`).
pub fn deployment_service(arn: &str) -> Option<(&str, &str)> {
    let path = arn.strip_prefix("arn:")?.splitn(5, ':').nth(4)?;
    let mut parts = path.strip_prefix("service-deployment/")?.split('/');
    let (cluster, service, id) = (parts.next()?, parts.next()?, parts.next()?);
    let ok = [cluster, service, id].iter().all(|p| !p.is_empty()) && parts.next().is_none();
    ok.then_some((cluster, service))
}

/// `--resume`: the steps that take over a service deployment a roll left running
/// (`--wait-until traffic-shifted`) and follow it to its end.
async fn resumed(ecs: &dyn Ecs, req: &EcsRequest, arn: &str, ctx: &mut Ctx) -> Result<Vec<EcsStep>> {
    let last = |s: &str| s.rsplit('/').next().unwrap_or(s).to_string();
    let matches = deployment_service(arn)
        .is_some_and(|(cluster, svc)| cluster == last(&req.cluster) && svc == last(&req.service));
    if !matches {
        return Err(Error::input(
            format!(
                "--resume {arn:?} is not a service deployment of ECS service {} in cluster {}",
                req.service, req.cluster
            ),
            "pass the `ecs-deployment-id` output of the roll that returned at traffic_shifted (an \
             arn:aws:ecs:...:service-deployment/CLUSTER/SERVICE/ID of this environment's service)",
        ));
    }
    let found = calls::retry("DescribeServiceDeployments", &ctx.cancel, || {
        ecs.service_deployment(arn)
    })
    .await?;
    if found.is_none() {
        return Err(Error::input(
            format!("no service deployment {arn} in this account and region"),
            "pass the `ecs-deployment-id` output of the roll that returned at traffic_shifted, in its region",
        ));
    }
    let mut steps = vec![
        EcsStep::Attach {
            deployment: arn.to_string(),
        },
        EcsStep::FollowDeployment {
            test_urls: req.test_urls,
            until: WaitUntil::Completed,
        },
    ];
    if let Some(keep) = req.keep_revisions {
        steps.push(EcsStep::KeepRevisions { keep });
    }
    Ok(steps)
}
