//! Secrets in memory (AWS secret keys and session tokens, GitHub tokens, registry
//! passwords, OIDC tokens): a string whose `Debug` and `Display` print `***`, so no
//! `{:?}` of a struct, log line or error can show one. Reading it is explicit: `expose`.

use std::fmt;

/// A secret string. It has no `Serialize` on purpose.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    #[allow(dead_code)]
    struct Holder {
        name: String,
        token: Secret,
        maybe: Option<Secret>,
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let h = Holder {
            name: "n".into(),
            token: Secret::new("ghp_s3cret"),
            maybe: Some("aws-s3cret".into()),
        };
        let shown = format!("{h:?} {h:#?} {} {}", h.token, h.maybe.as_ref().unwrap());
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("Secret(***)"), "{shown}");
        assert_eq!(h.token.expose(), "ghp_s3cret");
    }

    #[test]
    fn structs_holding_secrets_do_not_show_them() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct Wait {
            #[command(flatten)]
            args: crate::wait::command::Args,
        }
        let wait = Wait::try_parse_from(["slipway-wait", "--url", "http://x", "--github-token", "ghp-s3cret"]).unwrap();
        assert_eq!(wait.args.github_token.as_ref().map(Secret::expose), Some("ghp-s3cret"));
        let packer = crate::ami::Packer {
            program: "packer".into(),
            working_directory: ".".into(),
            template: "ami.pkr.hcl".into(),
            vars: vec![],
            var_files: vec![],
            only: vec![],
            env: vec![],
            credentials: vec![("AWS_SECRET_ACCESS_KEY".into(), "aws-s3cret".into())],
            actions: false,
        };
        let auth = crate::cloud::ecr::Authorization {
            username: "AWS".into(),
            password: "ecr-s3cret".into(),
            proxy_endpoint: "https://r.example".into(),
            expires_at: None,
        };
        let oidc = crate::github::oidc::Request {
            url: "https://token.example".into(),
            token: "jwt-s3cret".into(),
        };
        let registry = crate::image::registry::Registry::new("r", "https://r", "AWS", "reg-s3cret".into());
        let shown = format!("{wait:?} {packer:?} {auth:?} {oidc:?} {registry:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
