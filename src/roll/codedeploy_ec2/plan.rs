//! A CodeDeploy-to-EC2 rollout's plan: the deployment group and the bundle as discovery
//! saw them (the commit's key, its sha256, whether it is stored already, the revision
//! of the last successful deployment), then the ordered steps (upload the bundle unless
//! stored, create the deployment, wait until it succeeded), and the drift check.

use serde::{Deserialize, Serialize};

use crate::cloud::S3Revision;
use crate::error::{Error, Result};

/// The bundle of the commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BundleSeen {
    pub bucket: String,
    pub key: String,
    /// sha256 of the zip, hex (stored in the object's metadata).
    pub sha256: String,
    pub size: usize,
    pub files: usize,
    /// The ETag of the object already stored for the commit with this sha256.
    pub stored_etag: Option<String>,
}

impl BundleSeen {
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.key)
    }
}

/// The last successful deployment: what a redeploy rolls back to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Previous {
    pub deployment: String,
    /// Its bundle (None when it was not an S3 revision).
    pub revision: Option<S3Revision>,
}

/// The deployment group as discovery saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerGroup {
    pub application: String,
    pub name: String,
    /// The deployment config the deployment uses.
    pub config: String,
    /// The group rolls back by itself (and StopDeployment asks for a rollback).
    pub auto_rollback: bool,
    pub auto_scaling_groups: Vec<String>,
    pub previous: Option<Previous>,
}

/// One step, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServerStep {
    /// PutObject of the bundle (skipped when the commit's bundle is stored already).
    UploadBundle,
    /// CreateDeployment of the S3 revision.
    CreateDeployment,
    /// Follow the deployment per instance and lifecycle event until it succeeded.
    WaitSucceeded,
}

/// A CodeDeploy-to-EC2 rollout's plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerPlan {
    pub format: u32,
    pub kind: String,
    pub group: ServerGroup,
    pub bundle: BundleSeen,
    pub steps: Vec<ServerStep>,
}

/// The plan kind in plan files.
pub const KIND: &str = "codedeploy_ec2";

impl ServerPlan {
    pub fn describe(&self, step: ServerStep) -> String {
        let (g, b) = (&self.group, &self.bundle);
        match step {
            ServerStep::UploadBundle => format!(
                "upload the bundle ({} file(s), {} bytes, sha256 {}) to {}",
                b.files,
                b.size,
                &b.sha256[..b.sha256.len().min(12)],
                b.url()
            ),
            ServerStep::CreateDeployment => format!(
                "create a CodeDeploy deployment of {} in {}/{} with {}",
                b.url(),
                g.application,
                g.name,
                g.config
            ),
            ServerStep::WaitSucceeded => {
                let undo = if g.auto_rollback {
                    "stopped with CodeDeploy's rollback on failure".to_string()
                } else {
                    match self.previous_url() {
                        Some(url) => format!("on failure stopped and {url} redeployed (auto rollback is off)"),
                        None => "on failure stopped (auto rollback is off and nothing succeeded before)".into(),
                    }
                };
                format!("wait until every instance ran every lifecycle event ({undo})")
            }
        }
    }

    /// The last successful deployment's bundle, as a URL.
    pub fn previous_url(&self) -> Option<String> {
        let r = self.group.previous.as_ref()?.revision.as_ref()?;
        Some(format!("s3://{}/{}", r.bucket, r.key))
    }

    pub fn text(&self) -> String {
        let g = &self.group;
        let mut out = format!(
            "plan: CodeDeploy {}/{} (EC2{}), last success {}\n",
            g.application,
            g.name,
            if g.auto_scaling_groups.is_empty() {
                String::new()
            } else {
                format!(", Auto Scaling groups {}", g.auto_scaling_groups.join(", "))
            },
            self.previous_url().unwrap_or_else(|| "none".into())
        );
        if self.bundle.stored_etag.is_some() && !self.steps.contains(&ServerStep::UploadBundle) {
            out.push_str(&format!(
                "  bundle {} is stored already (same sha256); not uploaded again\n",
                self.bundle.url()
            ));
        }
        for (n, step) in self.steps.iter().enumerate() {
            out.push_str(&format!("  {}. {}\n", n + 1, self.describe(*step)));
        }
        out
    }

    /// Why there is nothing to do.
    pub fn up_to_date(&self) -> String {
        format!(
            "{}/{} already runs {} (its last successful deployment); nothing to do",
            self.group.application,
            self.group.name,
            self.bundle.url()
        )
    }
}

/// Refuses (bad input) a plan whose group or bundle changed since it was made. That the
/// bundle got stored meanwhile (a rerun uploaded it) is no drift.
pub fn drift(planned: &ServerPlan, fresh: &ServerPlan) -> Result<()> {
    let mut reasons = Vec::new();
    let (p, f) = (&planned.group, &fresh.group);
    if p.config != f.config {
        reasons.push(format!("deployment config {} -> {}", p.config, f.config));
    }
    if p.auto_rollback != f.auto_rollback {
        reasons.push(format!("auto rollback {} -> {}", p.auto_rollback, f.auto_rollback));
    }
    if p.previous != f.previous {
        let id = |x: &Option<Previous>| {
            x.as_ref()
                .map(|p| p.deployment.clone())
                .unwrap_or_else(|| "none".into())
        };
        reasons.push(format!(
            "last successful deployment {} -> {}",
            id(&p.previous),
            id(&f.previous)
        ));
    }
    let (pb, fb) = (&planned.bundle, &fresh.bundle);
    if pb.key != fb.key || pb.bucket != fb.bucket {
        reasons.push(format!("bundle {} -> {}", pb.url(), fb.url()));
    }
    if pb.sha256 != fb.sha256 {
        reasons.push(format!("bundle sha256 {} -> {}", pb.sha256, fb.sha256));
    }
    if reasons.is_empty() {
        return Ok(());
    }
    Err(Error::input(
        format!(
            "the deployment group or bundle changed since the plan was made: {}",
            reasons.join("; ")
        ),
        "make a new plan with --plan-out and apply that one",
    ))
}
