//! CodeDeploy-to-EC2 discovery: builds the bundle (refusing a directory without
//! appspec.yml), then read-only calls: the deployment group, its last successful
//! deployment's revision, and a HEAD of the commit's key to see whether the same bundle
//! is stored already. The plan follows.

use super::bundle::{self, Bundle};
use super::plan::{BundleSeen, Previous, ServerGroup, ServerPlan, ServerStep, KIND};
use super::ServerRequest;
use crate::cloud::{CdRevision, CodeDeploy, ObjectStore};
use crate::error::{Error, Result};
use crate::roll::asg::plan::FORMAT;
use crate::roll::calls::{self, Ctx};

/// Reads the group and the stored bundle, and builds the plan.
pub async fn discover(
    cd: &dyn CodeDeploy,
    store: &dyn ObjectStore,
    req: &ServerRequest,
    ctx: &mut Ctx,
) -> Result<(ServerPlan, Bundle)> {
    let built = bundle::build(&req.bundle_dir)?;
    let s = &req.settings;
    let group = calls::retry("GetDeploymentGroup", &ctx.cancel, || {
        cd.deployment_group(&s.application, &s.deployment_group)
    })
    .await?;
    let Some(group) = group else {
        return Err(Error::input(
            format!(
                "CodeDeploy deployment group {:?} of application {:?} does not exist",
                s.deployment_group, s.application
            ),
            "check codedeploy.application and codedeploy.deployment_group in slipway.yml (aws deploy list-deployment-groups --application-name APP)",
        ));
    };
    if !group.ecs_services.is_empty() {
        return Err(Error::input(
            format!(
                "CodeDeploy deployment group {:?} deploys ECS services, not EC2 instances",
                s.deployment_group
            ),
            "move its settings to ecs.codedeploy, or name an EC2/On-premises deployment group",
        ));
    }
    let previous = match &group.last_successful {
        Some(id) => {
            let d = calls::retry("GetDeployment", &ctx.cancel, || cd.get_deployment(id)).await?;
            let revision = match d.revision {
                Some(CdRevision::S3(r)) => Some(r),
                Some(CdRevision::AppSpec(_)) | None => None,
            };
            Some(Previous {
                deployment: id.clone(),
                revision,
            })
        }
        None => None,
    };
    let key = bundle::key(&s.prefix, &req.app, &req.commit);
    let stored = calls::retry("HeadObject", &ctx.cancel, || store.head(&s.bucket, &key)).await?;
    let stored_etag = match stored {
        None => None,
        Some(o) if o.sha256.as_deref() == Some(built.sha256.as_str()) => o.etag,
        Some(o) => {
            return Err(Error::input(
                format!(
                    "s3://{}/{key} holds another bundle for commit {} (sha256 {}, this one is {})",
                    s.bucket,
                    req.commit,
                    o.sha256.as_deref().unwrap_or("not recorded"),
                    built.sha256
                ),
                "a commit's bundle is never replaced (a past deployment may name it): build the bundle from the committed files only, or delete the object if it is not in use",
            ))
        }
    };
    let bundle = BundleSeen {
        bucket: s.bucket.clone(),
        key,
        sha256: built.sha256.clone(),
        size: built.bytes.len(),
        files: built.files,
        stored_etag: stored_etag.clone(),
    };
    let running_it = previous.as_ref().and_then(|p| p.revision.as_ref()).is_some_and(|r| {
        r.bucket == bundle.bucket && r.key == bundle.key && stored_etag.is_some() && r.etag == stored_etag
    });
    let steps = if running_it {
        Vec::new()
    } else if stored_etag.is_some() {
        vec![ServerStep::CreateDeployment, ServerStep::WaitSucceeded]
    } else {
        vec![
            ServerStep::UploadBundle,
            ServerStep::CreateDeployment,
            ServerStep::WaitSucceeded,
        ]
    };
    let plan = ServerPlan {
        format: FORMAT,
        kind: KIND.into(),
        group: ServerGroup {
            application: group.application,
            name: group.name,
            config: s.config.clone(),
            auto_rollback: group.auto_rollback,
            auto_scaling_groups: group.auto_scaling_groups,
            previous,
        },
        bundle,
        steps,
    };
    Ok((plan, built))
}
