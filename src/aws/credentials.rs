//! Credentials: inside GitHub Actions, the job's OIDC token exchanged with STS
//! AssumeRoleWithWebIdentity; outside, the standard AWS chain (env, profile, SSO).
//! Either way the account is checked against the environment's allowed list before
//! anything else is called.

use std::time::SystemTime;

use aws_config::SdkConfig;
use aws_sdk_sts::config::Credentials;

use super::{loader, to_cloud};
use crate::cloud::CREDENTIALS_HELP;
use crate::config::{self, Duration};
use crate::error::{Error, Result};
use crate::github::{oidc, Runner};

/// What a job needs credentials for.
#[derive(Debug, Clone)]
pub struct Target {
    pub app: String,
    pub environment: String,
    pub role_arn: Option<String>,
    pub region: String,
    /// Accounts allowed; empty means the account of `role_arn`.
    pub allowed_accounts: Vec<String>,
    pub session_duration: Duration,
}

impl Target {
    /// The target of a configured environment.
    pub fn from_config(app: &str, name: &str, env: &config::Environment) -> Self {
        Target {
            app: app.to_string(),
            environment: name.to_string(),
            role_arn: env.aws.role_arn.clone(),
            region: env.aws.region.clone().unwrap_or_default(),
            allowed_accounts: env.aws.allowed_account_ids.clone(),
            session_duration: env.aws.session_duration,
        }
    }

    fn allowed(&self) -> Vec<String> {
        if !self.allowed_accounts.is_empty() {
            return self.allowed_accounts.clone();
        }
        self.role_arn
            .as_deref()
            .and_then(config::role_account)
            .map(|a| vec![a.to_string()])
            .unwrap_or_default()
    }
}

/// Where the credentials came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// GitHub's OIDC token exchanged for a role session.
    GithubOidc,
    /// The standard AWS chain: environment, profile, SSO, instance role.
    DefaultChain,
}

/// A ready SdkConfig and who it acts as.
#[derive(Debug, Clone)]
pub struct Session {
    pub config: SdkConfig,
    pub account: String,
    /// The caller's ARN (an assumed-role ARN for OIDC sessions).
    pub arn: String,
    pub source: Source,
}

/// `slipway-<app>-<repo>-<run id>-<attempt>`, restricted to the characters and length STS accepts.
pub fn session_name(app: &str, runner: &Runner) -> String {
    let mut parts = vec!["slipway".to_string(), app.to_string()];
    if let Some(repo) = &runner.repository {
        parts.push(repo.rsplit('/').next().unwrap_or(repo).to_string());
    }
    parts.extend(runner.run_id.iter().cloned());
    parts.extend(runner.run_attempt.iter().cloned());
    let name: String = parts
        .join("-")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+=,.@-_".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.chars().take(64).collect()
}

/// Credentials for `target`: OIDC inside Actions, the default chain elsewhere; then the account guard.
pub async fn connect(target: &Target, runner: &Runner) -> Result<Session> {
    let session = if runner.actions && target.role_arn.is_some() {
        assume_with_oidc(target, runner).await?
    } else {
        default_chain(target).await?
    };
    let allowed = target.allowed();
    if !allowed.is_empty() && !allowed.contains(&session.account) {
        return Err(Error::input(
            format!(
                "refusing to deploy environment {:?}: the credentials belong to account {} ({}), \
                 which is not allowed for it (allowed: {})",
                target.environment,
                session.account,
                session.arn,
                allowed.join(", ")
            ),
            "use credentials for the right account (AWS_PROFILE, or the environment's role), \
             or fix aws.allowed_account_ids",
        ));
    }
    Ok(session)
}

async fn assume_with_oidc(target: &Target, runner: &Runner) -> Result<Session> {
    let role_arn = target.role_arn.as_deref().unwrap_or_default();
    let request = runner.oidc.as_ref().ok_or_else(|| {
        Error::input(
            "GitHub Actions gave this job no OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): \
             the workflow lacks `permissions: id-token: write`",
            oidc::PERMISSION_HELP,
        )
    })?;
    runner.mask(request.token.expose());
    let token = oidc::fetch_token(request, "sts.amazonaws.com").await?;
    runner.mask(token.expose());
    let sts = aws_sdk_sts::Client::new(&loader(&target.region).no_credentials().load().await);
    let out = sts
        .assume_role_with_web_identity()
        .role_arn(role_arn)
        .role_session_name(session_name(&target.app, runner))
        .web_identity_token(token.expose())
        .duration_seconds(target.session_duration.std().as_secs().min(i32::MAX as u64) as i32)
        .send()
        .await
        .map_err(|e| {
            let e = to_cloud("sts", "AssumeRoleWithWebIdentity", &e);
            let message = format!("STS refused to assume {role_arn} with the GitHub OIDC token: {e}");
            match e.code.as_deref() {
                Some("AccessDenied" | "InvalidIdentityToken" | "IDPRejectedClaim") => Error::failed_with_help(
                    message,
                    format!(
                        "the role's trust policy must allow token.actions.githubusercontent.com with \
                         sub repo:{}:environment:{}; `slipway-env iam-policy` prints it",
                        runner.repository.as_deref().unwrap_or("OWNER/REPO"),
                        target.environment
                    ),
                ),
                _ => Error::failed(message),
            }
        })?;
    let creds = out
        .credentials()
        .ok_or_else(|| Error::failed("STS AssumeRoleWithWebIdentity returned no credentials"))?;
    runner.mask(creds.access_key_id());
    runner.mask(creds.secret_access_key());
    runner.mask(creds.session_token());
    let arn = out.assumed_role_user().map(|u| u.arn().to_string()).unwrap_or_default();
    let account = arn.split(':').nth(4).unwrap_or_default().to_string();
    let expiry = SystemTime::try_from(*creds.expiration()).ok();
    let credentials = Credentials::new(
        creds.access_key_id(),
        creds.secret_access_key(),
        Some(creds.session_token().to_string()),
        expiry,
        "slipway-github-oidc",
    );
    let config = loader(&target.region).credentials_provider(credentials).load().await;
    Ok(Session {
        config,
        account,
        arn,
        source: Source::GithubOidc,
    })
}

/// Where the standard chain looks, in its order.
pub const CHAIN_SOURCES: &str = "the environment (AWS_ACCESS_KEY_ID), the shared config and credentials \
files (AWS_PROFILE or the default profile, SSO included), a web identity token file, ECS container \
credentials and EC2 instance metadata";

async fn default_chain(target: &Target) -> Result<Session> {
    let config = loader(&target.region).load().await;
    check_credentials(&config).await?;
    let sts = aws_sdk_sts::Client::new(&config);
    let who = sts
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| Error::from(to_cloud("sts", "GetCallerIdentity", &e)))?;
    Ok(Session {
        config,
        account: who.account().unwrap_or_default().to_string(),
        arn: who.arn().unwrap_or_default().to_string(),
        source: Source::DefaultChain,
    })
}

/// Loads credentials from the standard chain once, so that finding none is one plain
/// message (exit 2) rather than a failed STS call.
async fn check_credentials(config: &SdkConfig) -> Result<()> {
    use aws_credential_types::provider::error::CredentialsError;
    use aws_sdk_sts::config::ProvideCredentials;
    let Some(provider) = config.credentials_provider() else {
        return Err(Error::input(
            format!("no AWS credentials found: no credentials provider is configured (looked in {CHAIN_SOURCES})"),
            CREDENTIALS_HELP,
        ));
    };
    match provider.provide_credentials().await {
        Ok(_) => Ok(()),
        Err(CredentialsError::CredentialsNotLoaded(_)) => Err(Error::input(
            format!("no AWS credentials found (looked in {CHAIN_SOURCES})"),
            CREDENTIALS_HELP,
        )),
        // A source that failed ends the chain: say which problem stopped it.
        Err(e) => {
            let why = crate::error::aws_message(&e);
            let why = why
                .strip_prefix("an error occurred while loading credentials: ")
                .unwrap_or(&why);
            Err(Error::input(
                format!("no AWS credentials found (looked in {CHAIN_SOURCES}; the search stopped at: {why})"),
                CREDENTIALS_HELP,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_names_fit_sts_rules() {
        let runner = Runner {
            repository: Some("octo/web app".into()),
            run_id: Some("123".into()),
            run_attempt: Some("2".into()),
            ..Runner::default()
        };
        assert_eq!(session_name("shop", &runner), "slipway-shop-web-app-123-2");
        let long = session_name(&"x".repeat(100), &runner);
        assert_eq!(long.len(), 64);
    }

    #[test]
    fn the_default_allowed_account_is_the_roles() {
        let target = Target {
            app: "a".into(),
            environment: "prod".into(),
            role_arn: Some("arn:aws:iam::210987654321:role/deploy".into()),
            region: "us-east-1".into(),
            allowed_accounts: vec![],
            session_duration: Duration::from_secs(3600),
        };
        assert_eq!(target.allowed(), vec!["210987654321".to_string()]);
    }
}
