//! The object store port: S3 objects by bucket and key, as far as bundles need them (a
//! HEAD to see whether a bundle is already stored, and a PUT with its sha256 in metadata).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::CloudResult;

/// The metadata key a bundle's sha256 is stored under (`x-amz-meta-slipway-sha256`).
pub const SHA256_METADATA: &str = "slipway-sha256";

/// What a HEAD says about a stored object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    /// The ETag, without its quotes.
    pub etag: Option<String>,
    /// The sha256 (hex) slipway stored in the object's metadata, when it put the object.
    pub sha256: Option<String>,
    pub size: i64,
}

#[async_trait]
pub trait ObjectStore: Send + Sync {
    /// The object, or None when it does not exist (HeadObject).
    async fn head(&self, bucket: &str, key: &str) -> CloudResult<Option<StoredObject>>;
    /// Stores the object with its sha256 in metadata (PutObject); returns its ETag (unquoted).
    async fn put(&self, bucket: &str, key: &str, body: Vec<u8>, sha256: &str) -> CloudResult<String>;
}
