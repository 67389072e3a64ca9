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
    // A directory without appspec.yml is refused before any call.
    let built = match &req.redeploy {
        None => Some(bundle::build(&req.bundle_dir)?),
        Some(_) => None,
    };
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
    let (bundle, built) = match (built, &req.redeploy) {
        (Some(built), _) => commit_bundle(store, req, built, ctx).await?,
        (None, url) => stored_revision(store, url.as_deref().unwrap_or_default(), ctx).await?,
    };
    let stored_etag = bundle.stored_etag.clone();
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

/// The commit's bundle, built from the directory, and whether the same bytes are stored.
async fn commit_bundle(
    store: &dyn ObjectStore,
    req: &ServerRequest,
    built: Bundle,
    ctx: &Ctx,
) -> Result<(BundleSeen, Bundle)> {
    let s = &req.settings;
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
    let seen = BundleSeen {
        bucket: s.bucket.clone(),
        key,
        sha256: built.sha256.clone(),
        size: built.bytes.len(),
        files: built.files,
        stored_etag,
    };
    Ok((seen, built))
}

/// An earlier deployment's stored revision (`s3://bucket/key`), deployed as it is.
async fn stored_revision(store: &dyn ObjectStore, url: &str, ctx: &Ctx) -> Result<(BundleSeen, Bundle)> {
    let (bucket, key) = url
        .strip_prefix("s3://")
        .and_then(|l| l.split_once('/'))
        .ok_or_else(|| Error::failed(format!("{url} is not an s3://bucket/key revision")))?;
    let stored = calls::retry("HeadObject", &ctx.cancel, || store.head(bucket, key))
        .await?
        .ok_or_else(|| Error::failed(format!("the earlier revision {url} is no longer stored")))?;
    let sha256 = stored.sha256.unwrap_or_default();
    let seen = BundleSeen {
        bucket: bucket.to_string(),
        key: key.to_string(),
        sha256: sha256.clone(),
        size: 0,
        files: 0,
        stored_etag: stored.etag,
    };
    Ok((
        seen,
        Bundle {
            bytes: Vec::new(),
            sha256,
            files: 0,
        },
    ))
}
