//! `codedeploy:` on an environment: a CodeDeploy deployment to EC2 instances or Auto
//! Scaling groups (compute platform Server), with its bundle built from a directory and
//! kept in S3 by commit.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The deployment config CodeDeploy uses for EC2 when slipway.yml names none.
pub const DEFAULT_SERVER_CONFIG: &str = "CodeDeployDefault.OneAtATime";

/// The key prefix bundles are stored under when slipway.yml names none.
pub const DEFAULT_BUNDLE_PREFIX: &str = "slipway";

/// A CodeDeploy deployment group of EC2 instances or Auto Scaling groups, and where its
/// bundles go.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServerDeploy {
    /// The CodeDeploy application (compute platform Server).
    pub application: String,
    /// The deployment group: its EC2 instances or Auto Scaling groups receive the bundle.
    pub deployment_group: String,
    /// The deployment config, e.g. `CodeDeployDefault.HalfAtATime`.
    #[serde(default = "default_config")]
    pub config: String,
    /// The application directory zipped into the bundle (relative to slipway.yml); it must
    /// hold an `appspec.yml` at its top.
    pub bundle: String,
    /// The S3 bucket bundles are uploaded to (in the environment's region).
    pub bucket: String,
    /// The key prefix: a bundle is stored as `{prefix}/{app}/{commit}.zip`.
    #[serde(default = "default_prefix")]
    pub prefix: String,
}

fn default_config() -> String {
    DEFAULT_SERVER_CONFIG.into()
}

fn default_prefix() -> String {
    DEFAULT_BUNDLE_PREFIX.into()
}
