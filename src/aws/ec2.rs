//! The EC2 adapter: implements the `cloud::Ec2` port (bakes) and the `cloud::LaunchTemplates`
//! port (rolls) with aws-sdk-ec2.

use std::collections::BTreeMap;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_ec2::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::types::{
    Filter, ImageAttributeName, LaunchPermission, LaunchPermissionModifications, OperationType,
    RequestLaunchTemplateData, ResourceType, SnapshotAttributeName, Tag, TagSpecification,
};

use crate::cloud::{
    CloudError, CloudResult, CopyImage, Ec2, ErrorKind, Image, LaunchTemplate, LaunchTemplates, NewVersion, Snapshot,
    TemplateVersion,
};

/// EC2 in one region.
#[derive(Debug, Clone)]
pub struct Ec2Adapter {
    client: aws_sdk_ec2::Client,
}

impl Ec2Adapter {
    /// A client for the config's region.
    pub fn new(config: &SdkConfig) -> Self {
        Ec2Adapter {
            client: aws_sdk_ec2::Client::new(config),
        }
    }

    /// A client for another region with the same credentials and endpoint.
    pub fn in_region(config: &SdkConfig, region: &str) -> Self {
        let conf = aws_sdk_ec2::config::Builder::from(config)
            .region(aws_config::Region::new(region.to_string()))
            .build();
        Ec2Adapter {
            client: aws_sdk_ec2::Client::from_conf(conf),
        }
    }
}

fn error<E>(operation: &str, err: SdkError<E, aws_sdk_ec2::config::http::HttpResponse>) -> CloudError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    let mut e = super::to_cloud("ec2", operation, &err);
    // EC2 calls a malformed id "Malformed" and a missing launch template
    // "InvalidLaunchTemplateName.NotFoundException"; both mean there is no such thing.
    if e.code.as_deref().is_some_and(|c| c.ends_with(".Malformed")) {
        e.kind = ErrorKind::NotFound;
    }
    e
}

fn tags_of(tags: &[Tag]) -> BTreeMap<String, String> {
    tags.iter()
        .filter_map(|t| Some((t.key()?.to_string(), t.value().unwrap_or_default().to_string())))
        .collect()
}

fn image_of(i: &aws_sdk_ec2::types::Image) -> Image {
    Image {
        id: i.image_id().unwrap_or_default().to_string(),
        name: i.name().map(str::to_string),
        state: i.state().map(|s| s.as_str().to_string()),
        creation_date: i.creation_date().map(str::to_string),
        tags: tags_of(i.tags()),
    }
}

#[async_trait]
impl Ec2 for Ec2Adapter {
    async fn images_by_tags(&self, tags: &[(String, String)]) -> CloudResult<Vec<Image>> {
        let mut req = self.client.describe_images().owners("self");
        for (key, value) in tags {
            req = req.filters(Filter::builder().name(format!("tag:{key}")).values(value).build());
        }
        let out = req.send().await.map_err(|e| error("DescribeImages", e))?;
        let mut images: Vec<Image> = out.images().iter().map(image_of).collect();
        // Filters are applied by EC2; checking again keeps a lax implementation honest.
        images.retain(|i| tags.iter().all(|(k, v)| i.tags.get(k) == Some(v)));
        images.sort_by(|a, b| b.creation_date.cmp(&a.creation_date));
        Ok(images)
    }

    async fn image(&self, id: &str) -> CloudResult<Option<Image>> {
        match self.client.describe_images().image_ids(id).send().await {
            Ok(out) => Ok(out.images().first().map(image_of)),
            Err(e) => match error("DescribeImages", e) {
                e if e.kind == ErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn create_tags(&self, resource_ids: &[String], tags: &[(String, String)]) -> CloudResult<()> {
        let mut req = self.client.create_tags().set_resources(Some(resource_ids.to_vec()));
        for (key, value) in tags {
            req = req.tags(Tag::builder().key(key).value(value).build());
        }
        req.send().await.map_err(|e| error("CreateTags", e))?;
        Ok(())
    }

    async fn copy_image(&self, copy: &CopyImage) -> CloudResult<String> {
        let tags = copy
            .tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build())
            .collect::<Vec<_>>();
        let mut req = self
            .client
            .copy_image()
            .source_region(&copy.source_region)
            .source_image_id(&copy.source_image_id)
            .name(&copy.name)
            .set_description(copy.description.clone());
        if !tags.is_empty() {
            req = req.tag_specifications(
                TagSpecification::builder()
                    .resource_type(ResourceType::Image)
                    .set_tags(Some(tags))
                    .build(),
            );
        }
        let out = req.send().await.map_err(|e| error("CopyImage", e))?;
        out.image_id()
            .map(str::to_string)
            .ok_or_else(|| CloudError::new(ErrorKind::Other, "CopyImage", None, "the answer carries no image id"))
    }

    async fn deregister_image(&self, id: &str) -> CloudResult<()> {
        self.client
            .deregister_image()
            .image_id(id)
            .send()
            .await
            .map_err(|e| error("DeregisterImage", e))?;
        Ok(())
    }

    async fn image_snapshots(&self, image_id: &str) -> CloudResult<Vec<Snapshot>> {
        let out = self
            .client
            .describe_images()
            .image_ids(image_id)
            .send()
            .await
            .map_err(|e| error("DescribeImages", e))?;
        let ids: Vec<String> = out
            .images()
            .iter()
            .flat_map(|i| i.block_device_mappings())
            .filter_map(|m| m.ebs().and_then(|e| e.snapshot_id()))
            .map(str::to_string)
            .collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let out = self
            .client
            .describe_snapshots()
            .set_snapshot_ids(Some(ids.clone()))
            .send()
            .await
            .map_err(|e| error("DescribeSnapshots", e))?;
        // In the image's order; a snapshot EC2 does not describe is reported as it is named.
        Ok(ids
            .iter()
            .map(|id| {
                let found = out.snapshots().iter().find(|s| s.snapshot_id() == Some(id));
                Snapshot {
                    id: id.clone(),
                    encrypted: found.and_then(|s| s.encrypted()).unwrap_or(false),
                    kms_key_id: found.and_then(|s| s.kms_key_id()).map(str::to_string),
                }
            })
            .collect())
    }

    async fn image_shared_with(&self, image_id: &str) -> CloudResult<Vec<String>> {
        let out = self
            .client
            .describe_image_attribute()
            .image_id(image_id)
            .attribute(ImageAttributeName::LaunchPermission)
            .send()
            .await
            .map_err(|e| error("DescribeImageAttribute", e))?;
        Ok(out
            .launch_permissions()
            .iter()
            .filter_map(|p| p.user_id().map(str::to_string))
            .collect())
    }

    async fn share_image(&self, image_id: &str, account: &str) -> CloudResult<()> {
        let add = LaunchPermissionModifications::builder()
            .add(LaunchPermission::builder().user_id(account).build())
            .build();
        self.client
            .modify_image_attribute()
            .image_id(image_id)
            .launch_permission(add)
            .send()
            .await
            .map_err(|e| error("ModifyImageAttribute", e))?;
        Ok(())
    }

    async fn snapshot_shared_with(&self, snapshot_id: &str) -> CloudResult<Vec<String>> {
        let out = self
            .client
            .describe_snapshot_attribute()
            .snapshot_id(snapshot_id)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .send()
            .await
            .map_err(|e| error("DescribeSnapshotAttribute", e))?;
        Ok(out
            .create_volume_permissions()
            .iter()
            .filter_map(|p| p.user_id().map(str::to_string))
            .collect())
    }

    async fn share_snapshot(&self, snapshot_id: &str, account: &str) -> CloudResult<()> {
        self.client
            .modify_snapshot_attribute()
            .snapshot_id(snapshot_id)
            .attribute(SnapshotAttributeName::CreateVolumePermission)
            .operation_type(OperationType::Add)
            .user_ids(account)
            .send()
            .await
            .map_err(|e| error("ModifySnapshotAttribute", e))?;
        Ok(())
    }

    async fn launch_template(&self, name_or_id: &str) -> CloudResult<Option<LaunchTemplate>> {
        let req = self.client.describe_launch_templates();
        let req = if name_or_id.starts_with("lt-") {
            req.launch_template_ids(name_or_id)
        } else {
            req.launch_template_names(name_or_id)
        };
        match req.send().await {
            Ok(out) => Ok(out.launch_templates().first().map(|t| LaunchTemplate {
                id: t.launch_template_id().unwrap_or_default().to_string(),
                name: t.launch_template_name().unwrap_or_default().to_string(),
                default_version: t.default_version_number().unwrap_or_default(),
                latest_version: t.latest_version_number().unwrap_or_default(),
            })),
            Err(e) => match error("DescribeLaunchTemplates", e) {
                e if e.kind == ErrorKind::NotFound => Ok(None),
                e => Err(e),
            },
        }
    }

    async fn create_launch_template_version(&self, version: &NewVersion) -> CloudResult<i64> {
        let out = self
            .client
            .create_launch_template_version()
            .launch_template_id(&version.template_id)
            .source_version(version.source_version.to_string())
            .set_version_description(version.description.clone())
            .launch_template_data(RequestLaunchTemplateData::builder().image_id(&version.image_id).build())
            .send()
            .await
            .map_err(|e| error("CreateLaunchTemplateVersion", e))?;
        out.launch_template_version()
            .and_then(|v| v.version_number())
            .ok_or_else(|| {
                CloudError::new(
                    ErrorKind::Other,
                    "CreateLaunchTemplateVersion",
                    None,
                    "the answer carries no version number",
                )
            })
    }

    async fn set_default_version(&self, template_id: &str, number: i64) -> CloudResult<()> {
        self.client
            .modify_launch_template()
            .launch_template_id(template_id)
            .default_version(number.to_string())
            .send()
            .await
            .map_err(|e| error("ModifyLaunchTemplate", e))?;
        Ok(())
    }
}

/// The roll's launch template reads (DescribeLaunchTemplateVersions by name or id).
#[async_trait]
impl LaunchTemplates for Ec2Adapter {
    async fn template_version(&self, template: &str, version: &str) -> CloudResult<Option<TemplateVersion>> {
        let op = "DescribeLaunchTemplateVersions";
        let mut call = self.client.describe_launch_template_versions().versions(version);
        call = if template.starts_with("lt-") {
            call.launch_template_id(template)
        } else {
            call.launch_template_name(template)
        };
        let out = match call.send().await {
            Ok(out) => out,
            Err(e) => {
                let e = super::to_cloud("ec2", op, &e);
                // InvalidLaunchTemplateName.NotFoundException, InvalidLaunchTemplateId.VersionNotFound, ...
                let missing = e.kind == ErrorKind::NotFound
                    || e.code
                        .as_deref()
                        .is_some_and(|c| c.contains("NotFound") || c.contains("Malformed"));
                return if missing { Ok(None) } else { Err(e) };
            }
        };
        Ok(out.launch_template_versions().first().map(|v| TemplateVersion {
            template_id: v.launch_template_id().unwrap_or_default().to_string(),
            template_name: v.launch_template_name().unwrap_or_default().to_string(),
            number: v.version_number().unwrap_or_default(),
            image_id: v.launch_template_data().and_then(|d| d.image_id()).map(str::to_string),
            default: v.default_version().unwrap_or(false),
        }))
    }
}
