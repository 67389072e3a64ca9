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

#[cfg(test)]
mod tests {
    use super::ImageRef;

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
