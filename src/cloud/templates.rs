//! The launch template port: the few reads a roll needs (does a version exist, which
//! image it launches, which version `$Latest`/`$Default` stand for).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::CloudResult;

/// One version of a launch template.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TemplateVersion {
    pub template_id: String,
    pub template_name: String,
    /// The version number.
    pub number: i64,
    /// The AMI it launches, when it names one.
    pub image_id: Option<String>,
    /// Whether it is the template's default version.
    pub default: bool,
}

#[async_trait]
pub trait LaunchTemplates: Send + Sync {
    /// The version of a template, named by its name or id (`lt-...`). `version` is a
    /// number, `$Latest` or `$Default`. None when the template or the version does not exist.
    async fn template_version(&self, template: &str, version: &str) -> CloudResult<Option<TemplateVersion>>;
}
