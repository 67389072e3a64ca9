//! ECS discovery: read-only calls that read the service, its task definition and the
//! family's newest revision, check the request against them, and build the plan.

use tokio_util::sync::CancellationToken;

use super::plan::{short, EcsObserved, EcsPlan, EcsStep, PlannedRevision, SeenDeployment};
use super::EcsRequest;
use crate::cloud::{DeploymentStatus, Ecs, EcsService, Revision};
use crate::error::{Error, Result};
use crate::image::reference::ImageRef;
use crate::roll::asg::plan::FORMAT;
use crate::roll::calls::{self, Ctx};

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
    check_request(req)?;
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
    let before = EcsObserved {
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
    };
    let unchanged = container.image == req.image
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
    let Observed { before, revision, .. } = observe(ecs, req, ctx).await?;
    let mut steps = Vec::new();
    if let Some(revision) = revision {
        steps.push(EcsStep::RegisterRevision {
            revision: PlannedRevision::of(&revision),
        });
        if !req.register_only {
            steps.push(EcsStep::UpdateService {
                expect: before.task_definition.clone(),
            });
            steps.push(EcsStep::WaitStable);
        }
    }
    Ok(EcsPlan {
        format: FORMAT,
        kind: "ecs".into(),
        before,
        steps,
    })
}
