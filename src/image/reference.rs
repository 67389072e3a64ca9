//! Image references as a task definition takes them: `[registry[:port]/]path[:tag][@digest]`,
//! checked with the distribution reference grammar before anything is registered.

use std::sync::OnceLock;

use regex::Regex;

use crate::error::{Error, Result};

/// The parts of a parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRef {
    /// The registry host (with port), when the reference names one.
    pub registry: Option<String>,
    pub repository: String,
    pub tag: Option<String>,
    /// `sha256:<64 hex>`.
    pub digest: Option<String>,
}

fn grammar() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        let component = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*";
        let host = r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?";
        Regex::new(&format!(
            r"^(?:(?P<registry>{host})/)?(?P<repository>{component}(?:/{component})*)(?::(?P<tag>[\w][\w.-]{{0,127}}))?(?:@(?P<digest>[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{{32,}}))?$"
        ))
        .expect("a valid pattern")
    })
}

impl ImageRef {
    /// Parses a reference, or says what is wrong with it (bad input).
    pub fn parse(reference: &str) -> Result<ImageRef> {
        let bad = |why: &str| {
            Error::input(
                format!("--image {reference:?} is not an image reference: {why}"),
                "pass an image like 123456789012.dkr.ecr.us-east-1.amazonaws.com/web@sha256:<64 hex> \
                 (slipway-build prints it) or registry/repository:tag",
            )
        };
        if reference.is_empty() {
            return Err(bad("it is empty"));
        }
        if reference.len() > 255 + 128 + 80 {
            return Err(bad("it is too long"));
        }
        let caps = grammar()
            .captures(reference)
            .ok_or_else(|| bad("expected [registry/]repository[:tag][@sha256:digest], lowercase repository"))?;
        // A lone first component with a dot, a port or `localhost` is a registry; the grammar
        // reads `host/x` right already, but `web:1.0` must stay a repository and a tag.
        let registry = caps.name("registry").map(|m| m.as_str().to_string());
        if let Some(r) = &registry {
            let looks_like_host = r.contains('.') || r.contains(':') || r == "localhost" || r.starts_with('[');
            if !looks_like_host && r.chars().any(|c| c.is_ascii_uppercase()) {
                return Err(bad("the repository must be lowercase"));
            }
        }
        let digest = caps.name("digest").map(|m| m.as_str().to_string());
        if let Some(d) = &digest {
            let (algorithm, hex) = d.split_once(':').unwrap_or_default();
            if algorithm == "sha256" && hex.len() != 64 {
                return Err(bad("a sha256 digest has 64 hex digits"));
            }
        }
        Ok(ImageRef {
            registry,
            repository: caps["repository"].to_string(),
            tag: caps.name("tag").map(|m| m.as_str().to_string()),
            digest,
        })
    }
}

/// The image `digest` names in one region of an environment: `HOST/REPOSITORY@DIGEST`,
/// HOST being the region's `ecr.registry` when it has one, else
/// `{account}.dkr.ecr.{region}.amazonaws.com` (`.com.cn` in China) with the account of
/// its role ARN. `settings` are the region's (`Environment::in_region`). This is where
/// slipway-build puts the image in that region.
pub fn image_in_region(settings: &crate::config::Environment, digest: &str) -> Result<String> {
    let region = settings.aws.region.as_deref().unwrap_or_default();
    let ecr = settings.ecr.as_ref().ok_or_else(|| {
        Error::input(
            format!("region {region} has no ecr.repository"),
            "add `ecr: { repository: NAME }` to the environment (or its region) in slipway.yml",
        )
    })?;
    let host = match &ecr.registry {
        Some(registry) => super::registry::parse_host(registry)?.0,
        None => {
            let account = settings
                .aws
                .role_arn
                .as_deref()
                .and_then(crate::config::role_account)
                .ok_or_else(|| {
                    Error::input(
                        format!("region {region}: no account to name its registry (aws.role_arn is missing)"),
                        "add aws.role_arn, or ecr.registry with the registry's host",
                    )
                })?;
            let suffix = if region.starts_with("cn-") {
                "amazonaws.com.cn"
            } else {
                "amazonaws.com"
            };
            format!("{account}.dkr.ecr.{region}.{suffix}")
        }
    };
    Ok(format!("{host}/{}@{digest}", ecr.repository))
}

#[cfg(test)]
mod tests {
    use super::ImageRef;

    #[test]
    fn an_image_is_named_in_each_region_by_its_registry() {
        let text = "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    ecr: { repository: team/web }\n    regions:\n      - region: us-east-1\n      - region: eu-west-1\n        aws: { role_arn: \"arn:aws:iam::210987654321:role/deploy\" }\n      - region: cn-north-1\n      - region: ap-south-1\n        ecr: { registry: \"http://127.0.0.1:5000\" }\n";
        let loaded = crate::config::parse(std::path::Path::new("slipway.yml"), text.to_string()).unwrap();
        let env = loaded.environment("prod").unwrap();
        let digest = format!("sha256:{}", "a".repeat(64));
        let at = |region: &str| super::image_in_region(&env.in_region(region).unwrap(), &digest).unwrap();
        assert_eq!(
            at("us-east-1"),
            format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/team/web@{digest}")
        );
        assert_eq!(
            at("eu-west-1"),
            format!("210987654321.dkr.ecr.eu-west-1.amazonaws.com/team/web@{digest}")
        );
        assert_eq!(
            at("cn-north-1"),
            format!("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn/team/web@{digest}")
        );
        assert_eq!(at("ap-south-1"), format!("127.0.0.1:5000/team/web@{digest}"));
        ImageRef::parse(&at("eu-west-1")).unwrap();
    }

    #[test]
    fn good_references_parse() {
        let digest = format!("sha256:{}", "a".repeat(64));
        let ecr = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{digest}");
        let r = ImageRef::parse(&ecr).unwrap();
        assert_eq!(
            r.registry.as_deref(),
            Some("123456789012.dkr.ecr.us-east-1.amazonaws.com")
        );
        assert_eq!(
            (r.repository.as_str(), r.digest.as_deref()),
            ("web", Some(digest.as_str()))
        );
        for ok in [
            "nginx",
            "web:1.2.3",
            "library/nginx:latest",
            "localhost:5000/team/web:sha-0123456",
            "public.ecr.aws/docker/library/redis:7",
        ] {
            ImageRef::parse(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn bad_references_are_bad_input() {
        for bad in [
            "",
            "Web:1",
            "web:",
            "web@sha256:abc",
            "registry.example/web::1",
            "web 1",
            "-web",
            "web:tag with space",
        ] {
            let err = ImageRef::parse(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains("is not an image reference"), "{err}");
        }
    }
}
