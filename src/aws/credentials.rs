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
    let request = runner.oidc.clone().ok_or_else(|| {
        Error::input(
            "GitHub Actions gave this job no OIDC token (ACTIONS_ID_TOKEN_REQUEST_URL is not set): \
             the workflow lacks `permissions: id-token: write`",
            oidc::PERMISSION_HELP,
        )
    })?;
    runner.mask(request.token.expose());
    let duration = target.session_duration.std();
    let provider = OidcCredentials::new(target, runner, request, renew_before(duration));
    let first = provider.assume().await?;
    let (arn, account) = (first.arn.clone(), first.account());
    *provider.inner.current.lock().await = Some(first);
    let config = loader(&target.region).credentials_provider(provider).load().await;
    Ok(Session {
        config,
        account,
        arn,
        source: Source::GithubOidc,
    })
}

/// How long before a role session expires it is renewed: 5 minutes, or a third of a
/// shorter session.
pub fn renew_before(session: std::time::Duration) -> std::time::Duration {
    (session / 3).min(std::time::Duration::from_secs(300))
}

/// Credentials from GitHub's OIDC token: a role session from AssumeRoleWithWebIdentity,
/// renewed (a new OIDC token, AssumeRoleWithWebIdentity again) before it expires, so a
/// roll, wait or bake longer than `aws.session_duration` keeps going.
#[derive(Clone)]
pub struct OidcCredentials {
    inner: std::sync::Arc<Inner>,
}

struct Inner {
    request: oidc::Request,
    role_arn: String,
    session_name: String,
    environment: String,
    region: String,
    duration: std::time::Duration,
    renew_before: std::time::Duration,
    runner: Runner,
    /// Role sessions assumed so far (the first included).
    assumed: std::sync::atomic::AtomicUsize,
    current: tokio::sync::Mutex<Option<Assumed>>,
}

/// One role session.
struct Assumed {
    credentials: Credentials,
    /// When it is renewed: `renew_before` (or a third of a shorter session) before it ends.
    renew_at: SystemTime,
    arn: String,
}

impl Assumed {
    fn account(&self) -> String {
        self.arn.split(':').nth(4).unwrap_or_default().to_string()
    }
}

impl std::fmt::Debug for OidcCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcCredentials")
            .field("role_arn", &self.inner.role_arn)
            .field("renew_before", &self.inner.renew_before)
            .finish_non_exhaustive()
    }
}

impl OidcCredentials {
    /// A provider for `target`'s role, renewing each session `renew_before` its end.
    pub fn new(target: &Target, runner: &Runner, request: oidc::Request, renew_before: std::time::Duration) -> Self {
        OidcCredentials {
            inner: std::sync::Arc::new(Inner {
                request,
                role_arn: target.role_arn.clone().unwrap_or_default(),
                session_name: session_name(&target.app, runner),
                environment: target.environment.clone(),
                region: target.region.clone(),
                duration: target.session_duration.std(),
                renew_before,
                runner: runner.clone(),
                assumed: std::sync::atomic::AtomicUsize::new(0),
                current: tokio::sync::Mutex::new(None),
            }),
        }
    }

    /// The current session's credentials, renewed first when it ends within
    /// `renew_before`. They are handed out as expiring then, so the SDK's cache asks again
    /// in time.
    pub async fn credentials(&self) -> Result<Credentials> {
        let mut current = self.inner.current.lock().await;
        let fresh = current.as_ref().is_some_and(|a| a.renew_at > SystemTime::now());
        if !fresh {
            *current = Some(self.assume().await?);
        }
        let a = current.as_ref().expect("assumed above");
        let c = &a.credentials;
        Ok(Credentials::new(
            c.access_key_id(),
            c.secret_access_key(),
            c.session_token().map(str::to_string),
            Some(a.renew_at),
            "slipway-github-oidc",
        ))
    }

    /// A new OIDC token exchanged for a new role session.
    async fn assume(&self) -> Result<Assumed> {
        let i = &self.inner;
        let role_arn = i.role_arn.as_str();
        let token = oidc::fetch_token(&i.request, "sts.amazonaws.com").await?;
        i.runner.mask(token.expose());
        let sts = aws_sdk_sts::Client::new(&loader(&i.region).no_credentials().load().await);
        let out = sts
            .assume_role_with_web_identity()
            .role_arn(role_arn)
            .role_session_name(&i.session_name)
            .web_identity_token(token.expose())
            .duration_seconds(i.duration.as_secs().min(i32::MAX as u64) as i32)
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
                            i.runner.repository.as_deref().unwrap_or("OWNER/REPO"),
                            i.environment
                        ),
                    ),
                    _ => Error::failed(message),
                }
            })?;
        let creds = out
            .credentials()
            .ok_or_else(|| Error::failed("STS AssumeRoleWithWebIdentity returned no credentials"))?;
        i.runner.mask(creds.access_key_id());
        i.runner.mask(creds.secret_access_key());
        i.runner.mask(creds.session_token());
        let arn = out.assumed_role_user().map(|u| u.arn().to_string()).unwrap_or_default();
        let now = SystemTime::now();
        let expires = SystemTime::try_from(*creds.expiration()).unwrap_or(now + i.duration);
        let lifetime = expires.duration_since(now).unwrap_or_default();
        let renew_at = expires - i.renew_before.min(lifetime / 3);
        let n = i.assumed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if n > 0 {
            eprintln!("renewed the role session of {role_arn} (session {})", n + 1);
        }
        Ok(Assumed {
            credentials: Credentials::new(
                creds.access_key_id(),
                creds.secret_access_key(),
                Some(creds.session_token().to_string()),
                Some(expires),
                "slipway-github-oidc",
            ),
            renew_at,
            arn,
        })
    }
}

impl aws_credential_types::provider::ProvideCredentials for OidcCredentials {
    fn provide_credentials<'a>(&'a self) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::new(async move {
            self.credentials()
                .await
                .map_err(|e| aws_credential_types::provider::error::CredentialsError::provider_error(e.render()))
        })
    }
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
