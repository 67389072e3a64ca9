//! The ECR port: registry credentials, repositories, and images read and written by
//! manifest (which is how a build is promoted without rebuilding it).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::CloudResult;
use crate::secret::Secret;

/// Registry credentials from GetAuthorizationToken.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub username: String,
    pub password: Secret,
    /// The registry's endpoint, e.g. `https://123456789012.dkr.ecr.eu-west-1.amazonaws.com`.
    pub proxy_endpoint: String,
    /// When the login ends (ECR's last 12 hours).
    pub expires_at: Option<std::time::SystemTime>,
}

impl Authorization {
    /// Whether the login ends within `margin` (or has ended).
    pub fn ends_within(&self, margin: std::time::Duration) -> bool {
        self.expires_at
            .is_some_and(|at| at <= std::time::SystemTime::now() + margin)
    }
}

/// A repository.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Repository {
    pub name: String,
    /// `123456789012.dkr.ecr.eu-west-1.amazonaws.com/web`.
    pub uri: String,
}

/// An image manifest exactly as the registry stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// `sha256:...`.
    pub digest: String,
    /// e.g. `application/vnd.oci.image.manifest.v1+json`.
    pub media_type: String,
    /// The manifest's bytes, unchanged (re-tagging must not alter a byte).
    pub body: String,
}

/// One rule of a registry's replication configuration (DescribeRegistry): images pushed
/// to a repository the filters match are copied by ECR to every destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationRule {
    /// `(region, registry id)` of each destination.
    pub destinations: Vec<(String, String)>,
    /// The repository-name prefixes of its PREFIX_MATCH filters; empty: every repository.
    pub prefixes: Vec<String>,
}

/// Whether `rules` replicate `repository` to `region` of account `account` (ECR keeps
/// the repository's name in the destination).
pub fn replicates(rules: &[ReplicationRule], repository: &str, region: &str, account: &str) -> bool {
    rules.iter().any(|rule| {
        rule.destinations.iter().any(|(r, id)| r == region && id == account)
            && (rule.prefixes.is_empty() || rule.prefixes.iter().any(|p| repository.starts_with(p.as_str())))
    })
}

#[async_trait]
pub trait Ecr: Send + Sync {
    /// DescribeRegistry: the registry's id and its replication rules.
    async fn replication(&self) -> CloudResult<(String, Vec<ReplicationRule>)>;
    /// GetAuthorizationToken, decoded into a username and password.
    async fn authorization(&self) -> CloudResult<Authorization>;
    /// The repository, or None when it does not exist.
    async fn repository(&self, name: &str) -> CloudResult<Option<Repository>>;
    /// CreateRepository with the registry's defaults.
    async fn create_repository(&self, name: &str) -> CloudResult<Repository>;
    /// DeleteRepository of an empty repository (cleanup after a build that pushed nothing);
    /// false when it holds images and was kept.
    async fn delete_empty_repository(&self, name: &str) -> CloudResult<bool>;
    /// BatchGetImage for one tag: the manifest it points at, or None.
    async fn image(&self, repository: &str, tag: &str) -> CloudResult<Option<Manifest>>;
    /// PutImage: points `tag` at `manifest`. A tag that already points there is not an error.
    async fn put_image(&self, repository: &str, tag: &str, manifest: &Manifest) -> CloudResult<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_replicates_to_its_destinations_for_matching_repositories() {
        let rules = vec![ReplicationRule {
            destinations: vec![("eu-west-1".into(), "123456789012".into())],
            prefixes: vec!["team/".into()],
        }];
        assert!(replicates(&rules, "team/web", "eu-west-1", "123456789012"));
        assert!(!replicates(&rules, "web", "eu-west-1", "123456789012"));
        assert!(!replicates(&rules, "team/web", "us-east-2", "123456789012"));
        assert!(!replicates(&rules, "team/web", "eu-west-1", "210987654321"));
        let all = vec![ReplicationRule {
            destinations: vec![("eu-west-1".into(), "123456789012".into())],
            prefixes: vec![],
        }];
        assert!(replicates(&all, "web", "eu-west-1", "123456789012"));
        assert!(!replicates(&[], "web", "eu-west-1", "123456789012"));
    }
}
