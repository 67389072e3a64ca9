//! The object store port over aws-sdk-s3 (bundles for CodeDeploy).

use async_trait::async_trait;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;

use super::{absent_as_none, to_cloud};
use crate::cloud::objects::SHA256_METADATA;
use crate::cloud::{CloudError, CloudResult, ErrorKind, ObjectStore, StoredObject};

/// The IAM prefix of this service's actions.
const SERVICE: &str = "s3";

/// S3 through the AWS SDK.
#[derive(Clone)]
pub struct S3Adapter {
    client: Client,
}

impl S3Adapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        // Path-style addressing: bucket names with dots, and endpoints without wildcard DNS.
        // No checksum trailer (aws-chunked) where S3 does not require one: a plain body.
        // A bundle's upload may take longer than the small calls' 30 s attempt timeout
        // (the roll allows it 30 minutes, calls::UPLOAD_FOR).
        let uploads = aws_config::timeout::TimeoutConfig::builder()
            .connect_timeout(super::CONNECT_TIMEOUT)
            .operation_attempt_timeout(std::time::Duration::from_secs(15 * 60))
            .operation_timeout(std::time::Duration::from_secs(30 * 60))
            .build();
        let conf = aws_sdk_s3::config::Builder::from(config)
            .timeout_config(uploads)
            .force_path_style(true)
            .request_checksum_calculation(aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired)
            .build();
        S3Adapter {
            client: Client::from_conf(conf),
        }
    }
}

/// HEAD answers a missing object with a bare 404 (no code): that is NotFound.
fn head_error(mut e: CloudError, not_found: bool) -> CloudError {
    if not_found || e.code.as_deref() == Some("NoSuchKey") {
        e.kind = ErrorKind::NotFound;
    }
    e
}

fn unquote(etag: Option<&str>) -> Option<String> {
    etag.map(|e| e.trim_matches('"').to_string())
}

#[async_trait]
impl ObjectStore for S3Adapter {
    async fn head(&self, bucket: &str, key: &str) -> CloudResult<Option<StoredObject>> {
        let out = self
            .client
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| {
                let missing = e.as_service_error().is_some_and(|s| s.is_not_found());
                head_error(to_cloud(SERVICE, "HeadObject", &e), missing)
            });
        let Some(out) = absent_as_none(out)? else {
            return Ok(None);
        };
        Ok(Some(StoredObject {
            etag: unquote(out.e_tag()),
            sha256: out.metadata().and_then(|m| m.get(SHA256_METADATA)).cloned(),
            size: out.content_length().unwrap_or_default(),
        }))
    }

    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>, sha256: &str) -> CloudResult<String> {
        let op = "PutObject";
        let out = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/zip")
            .metadata(SHA256_METADATA, sha256)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        unquote(out.e_tag()).ok_or_else(|| CloudError::new(ErrorKind::Other, op, None, "the answer has no ETag"))
    }
}
