//! The EC2 port: images found by tag, tags, sharing an image with another account, and
//! launch templates with their numbered versions (what a bake writes and what a roll pins).

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{CloudResult, LaunchTemplates};

/// An AMI owned by the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    pub id: String,
    pub name: Option<String>,
    /// pending, available, failed, ...
    pub state: Option<String>,
    /// ISO 8601, as EC2 reports it.
    pub creation_date: Option<String>,
    pub tags: BTreeMap<String, String>,
}

/// A launch template and its version numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LaunchTemplate {
    pub id: String,
    pub name: String,
    pub default_version: i64,
    pub latest_version: i64,
}

/// A new version: a copy of `source_version` with only the image changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVersion {
    pub template_id: String,
    pub source_version: i64,
    pub image_id: String,
    pub description: Option<String>,
}

/// CopyImage: an AMI of another region copied into this one, with its tags.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyImage {
    pub source_region: String,
    pub source_image_id: String,
    /// The copy's name (unique in the destination region).
    pub name: String,
    pub description: Option<String>,
    /// Tags the copy carries from the start.
    pub tags: Vec<(String, String)>,
}

/// An EBS snapshot behind an image: what sharing it with another account depends on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub id: String,
    pub encrypted: bool,
    /// The KMS key of an encrypted snapshot, as EC2 reports it (an ARN, sometimes an alias).
    pub kms_key_id: Option<String>,
}

/// The bake's EC2 port. A launch template version is read through `LaunchTemplates`,
/// the one read the roll uses too.
#[async_trait]
pub trait Ec2: LaunchTemplates {
    /// The account's own images carrying every one of `tags`, newest first.
    async fn images_by_tags(&self, tags: &[(String, String)]) -> CloudResult<Vec<Image>>;
    /// One image, or None when it does not exist.
    async fn image(&self, id: &str) -> CloudResult<Option<Image>>;
    /// Adds or overwrites tags on resources (images, snapshots, instances, ...).
    async fn create_tags(&self, resource_ids: &[String], tags: &[(String, String)]) -> CloudResult<()>;
    /// CopyImage, called in the destination region; returns the copy's id (it is
    /// `pending` until the copy is done).
    async fn copy_image(&self, copy: &CopyImage) -> CloudResult<String>;
    /// DeregisterImage: an AMI that must not stay (a failed or interrupted copy).
    async fn deregister_image(&self, id: &str) -> CloudResult<()>;
    /// The EBS snapshots behind an image (its block device mappings, then DescribeSnapshots).
    async fn image_snapshots(&self, image_id: &str) -> CloudResult<Vec<Snapshot>>;
    /// The accounts an image's launch permission names (DescribeImageAttribute launchPermission).
    async fn image_shared_with(&self, image_id: &str) -> CloudResult<Vec<String>>;
    /// ModifyImageAttribute: adds `account` to the image's launch permission.
    async fn share_image(&self, image_id: &str, account: &str) -> CloudResult<()>;
    /// The accounts a snapshot's create-volume permission names (DescribeSnapshotAttribute).
    async fn snapshot_shared_with(&self, snapshot_id: &str) -> CloudResult<Vec<String>>;
    /// ModifySnapshotAttribute: adds `account` to the snapshot's create-volume permission.
    async fn share_snapshot(&self, snapshot_id: &str, account: &str) -> CloudResult<()>;
    /// A launch template by name or by id (`lt-...`), or None when it does not exist.
    async fn launch_template(&self, name_or_id: &str) -> CloudResult<Option<LaunchTemplate>>;
    /// CreateLaunchTemplateVersion from a source version with a new image; returns its number.
    async fn create_launch_template_version(&self, version: &NewVersion) -> CloudResult<i64>;
    /// Makes a version the template's default (ModifyLaunchTemplate).
    async fn set_default_version(&self, template_id: &str, number: i64) -> CloudResult<()>;
}
