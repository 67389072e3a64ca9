//! The launch template port over aws-sdk-ec2 (DescribeLaunchTemplateVersions).

use async_trait::async_trait;
use aws_sdk_ec2::Client;

use super::to_cloud;
use crate::cloud::{CloudResult, ErrorKind, LaunchTemplates, TemplateVersion};

/// EC2 launch templates through the AWS SDK.
#[derive(Clone)]
pub struct TemplatesAdapter {
    client: Client,
}

impl TemplatesAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        TemplatesAdapter {
            client: Client::new(config),
        }
    }
}

#[async_trait]
impl LaunchTemplates for TemplatesAdapter {
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
                let e = to_cloud(op, &e);
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
