//! The ECR adapter: the `cloud::Ecr` port over aws-sdk-ecr (tested against moto).

use async_trait::async_trait;
use aws_sdk_ecr::types::ImageIdentifier;
use aws_sdk_ecr::Client;
use base64::Engine as _;

use super::error_code;
use crate::cloud::ecr::{Authorization, Ecr, Manifest, ReplicationRule, Repository};
use crate::cloud::{CloudError, CloudResult, ErrorKind};

/// Every manifest type a re-tag may meet; BatchGetImage returns the stored one unchanged.
pub const MANIFEST_TYPES: [&str; 4] = [
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
];

pub struct EcrAdapter {
    client: Client,
}

impl EcrAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        EcrAdapter {
            client: Client::new(config),
        }
    }
}

fn cloud_error<E>(operation: &str, err: &aws_sdk_ecr::error::SdkError<E>) -> CloudError
where
    E: std::error::Error + aws_sdk_ecr::error::ProvideErrorMetadata + 'static,
{
    let mut e = super::to_cloud("ecr", operation, err);
    if matches!(
        e.code.as_deref(),
        Some("RepositoryNotFoundException" | "ImageNotFoundException")
    ) {
        e.kind = ErrorKind::NotFound;
    }
    e
}

fn repository(r: &aws_sdk_ecr::types::Repository) -> Repository {
    Repository {
        name: r.repository_name().unwrap_or_default().to_string(),
        uri: r.repository_uri().unwrap_or_default().to_string(),
    }
}

#[async_trait]
impl Ecr for EcrAdapter {
    async fn replication(&self) -> CloudResult<(String, Vec<ReplicationRule>)> {
        const OP: &str = "DescribeRegistry";
        let out = self
            .client
            .describe_registry()
            .send()
            .await
            .map_err(|e| cloud_error(OP, &e))?;
        let rules = out
            .replication_configuration()
            .map(|c| c.rules())
            .unwrap_or_default()
            .iter()
            .map(|rule| ReplicationRule {
                destinations: rule
                    .destinations()
                    .iter()
                    .map(|d| (d.region().to_string(), d.registry_id().to_string()))
                    .collect(),
                prefixes: rule
                    .repository_filters()
                    .iter()
                    .map(|f| f.filter().to_string())
                    .collect(),
            })
            .collect();
        Ok((out.registry_id().unwrap_or_default().to_string(), rules))
    }

    async fn authorization(&self) -> CloudResult<Authorization> {
        const OP: &str = "GetAuthorizationToken";
        let out = self
            .client
            .get_authorization_token()
            .send()
            .await
            .map_err(|e| cloud_error(OP, &e))?;
        let data = out
            .authorization_data()
            .first()
            .ok_or_else(|| CloudError::new(ErrorKind::Other, OP, None, "the answer holds no authorization data"))?;
        let token = data.authorization_token().unwrap_or_default();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| CloudError::new(ErrorKind::Other, OP, None, "the token is not base64 text"))?;
        let (username, password) = decoded
            .split_once(':')
            .ok_or_else(|| CloudError::new(ErrorKind::Other, OP, None, "the token is not USER:PASSWORD"))?;
        Ok(Authorization {
            username: username.to_string(),
            password: password.into(),
            proxy_endpoint: data.proxy_endpoint().unwrap_or_default().to_string(),
            expires_at: data.expires_at().and_then(|t| std::time::SystemTime::try_from(*t).ok()),
        })
    }

    async fn repository(&self, name: &str) -> CloudResult<Option<Repository>> {
        const OP: &str = "DescribeRepositories";
        match self.client.describe_repositories().repository_names(name).send().await {
            Ok(out) => Ok(out.repositories().first().map(repository)),
            Err(e) => {
                let err = cloud_error(OP, &e);
                match err.kind {
                    ErrorKind::NotFound => Ok(None),
                    _ => Err(err),
                }
            }
        }
    }

    async fn create_repository(&self, name: &str) -> CloudResult<Repository> {
        const OP: &str = "CreateRepository";
        let out = self
            .client
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .map_err(|e| cloud_error(OP, &e))?;
        out.repository()
            .map(repository)
            .ok_or_else(|| CloudError::new(ErrorKind::Other, OP, None, "the answer holds no repository"))
    }

    async fn delete_empty_repository(&self, name: &str) -> CloudResult<bool> {
        const OP: &str = "DeleteRepository";
        match self
            .client
            .delete_repository()
            .repository_name(name)
            .force(false)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if error_code(&e) == Some("RepositoryNotEmptyException") => Ok(false),
            Err(e) => Err(cloud_error(OP, &e)),
        }
    }

    async fn image(&self, repository: &str, tag: &str) -> CloudResult<Option<Manifest>> {
        const OP: &str = "BatchGetImage";
        let mut call = self
            .client
            .batch_get_image()
            .repository_name(repository)
            .image_ids(ImageIdentifier::builder().image_tag(tag).build());
        for t in MANIFEST_TYPES {
            call = call.accepted_media_types(t);
        }
        let out = call.send().await.map_err(|e| cloud_error(OP, &e))?;
        let Some(image) = out.images().first() else {
            return match out.failures().first() {
                Some(f)
                    if f.failure_code().is_some_and(|c| {
                        c.as_str() != "ImageNotFound" && c.as_str() != "ImageTagDoesNotMatchDigest"
                    }) =>
                {
                    Err(CloudError::new(
                        ErrorKind::Other,
                        OP,
                        f.failure_code().map(|c| c.as_str()),
                        f.failure_reason().unwrap_or_default(),
                    ))
                }
                _ => Ok(None),
            };
        };
        let body = image.image_manifest().unwrap_or_default().to_string();
        let media_type = image
            .image_manifest_media_type()
            .map(str::to_string)
            .or_else(|| media_type_of(&body))
            .unwrap_or_else(|| MANIFEST_TYPES[2].to_string());
        let digest = image
            .image_id()
            .and_then(|id| id.image_digest())
            .filter(|d| !d.is_empty())
            .map(str::to_string)
            .unwrap_or_else(|| crate::image::registry::digest_of(body.as_bytes()));
        Ok(Some(Manifest {
            digest,
            media_type,
            body,
        }))
    }

    async fn put_image(&self, repository: &str, tag: &str, manifest: &Manifest) -> CloudResult<()> {
        const OP: &str = "PutImage";
        let mut call = self
            .client
            .put_image()
            .repository_name(repository)
            .image_tag(tag)
            .image_manifest(&manifest.body)
            .image_manifest_media_type(&manifest.media_type);
        if !manifest.digest.is_empty() {
            call = call.image_digest(&manifest.digest);
        }
        match call.send().await {
            Ok(_) => Ok(()),
            Err(e) if error_code(&e) == Some("ImageAlreadyExistsException") => Ok(()),
            Err(e) => Err(cloud_error(OP, &e)),
        }
    }
}

/// The `mediaType` a manifest declares about itself.
pub fn media_type_of(body: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("mediaType")?
        .as_str()
        .map(str::to_string)
}
