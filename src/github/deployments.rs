//! GitHub deployments: one deployment per deploy, with in_progress, success and failure
//! statuses that link the environment's URL and the run's log. The GitHub API is a
//! courtesy here: when it cannot be reached or refuses, slipway warns and deploys anyway.

use std::time::Duration;

use octocrab::Octocrab;
use serde_json::{json, Value};

use super::{commands, Runner};

/// The state a deployment status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The deploy has started.
    InProgress,
    /// The deploy finished and the environment is healthy.
    Success,
    /// The deploy failed (unhealthy, rolled back, timed out).
    Failure,
    /// slipway could not do the deploy (bad input, an error before any change).
    Error,
}

impl State {
    /// The API's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            State::InProgress => "in_progress",
            State::Success => "success",
            State::Failure => "failure",
            State::Error => "error",
        }
    }
}

/// What is deployed where.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// The environment's name, e.g. `prod`.
    pub environment: String,
    /// The commit (or ref) deployed.
    pub git_ref: String,
    /// The environment's public URL (slipway.yml `url`).
    pub environment_url: Option<String>,
    /// A short description, e.g. `web v1.2.0`.
    pub description: String,
    /// Whether this is a production environment (GitHub shows those first).
    pub production: bool,
}

/// A client for one repository's deployments.
pub struct Deployments {
    client: Octocrab,
    repository: String,
    log_url: Option<String>,
}

impl Deployments {
    /// A client for `repository` (`owner/name`) at `api_url`, authenticated with `token`.
    /// Call it inside a Tokio runtime (the client's middleware spawns a task).
    pub fn new(api_url: &str, token: &str, repository: &str, log_url: Option<String>) -> Result<Self, String> {
        let client = Octocrab::builder()
            .base_uri(api_url)
            .map_err(|e| format!("bad GitHub API URL {api_url:?}: {e}"))?
            .personal_token(token.to_string())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(20)))
            .set_write_timeout(Some(Duration::from_secs(20)))
            .build()
            .map_err(|e| format!("cannot set up the GitHub client: {e}"))?;
        Ok(Deployments {
            client,
            repository: repository.to_string(),
            log_url,
        })
    }

    /// The runner's repository, API URL and run page, when running in GitHub Actions with a
    /// token; `None` otherwise (deployments are then simply not recorded).
    pub fn from_runner(runner: &Runner, token: Option<&str>) -> Option<Result<Self, String>> {
        let token = token.filter(|t| !t.is_empty())?;
        if !runner.actions {
            return None;
        }
        let repository = runner.repository.as_deref()?;
        Some(Self::new(&runner.api_url, token, repository, runner.run_url()))
    }

    /// Creates a deployment and returns its id. It never merges branches and never waits
    /// for other checks: the workflow that runs slipway has already decided to deploy.
    pub async fn create(&self, target: &Target) -> Result<u64, String> {
        let body = json!({
            "ref": target.git_ref,
            "environment": target.environment,
            "description": target.description,
            "auto_merge": false,
            "required_contexts": [],
            "production_environment": target.production,
            "transient_environment": false,
            "task": "deploy",
        });
        let route = format!("/repos/{}/deployments", self.repository);
        let created: Value = self.client.post(route, Some(&body)).await.map_err(describe)?;
        created["id"]
            .as_u64()
            .ok_or_else(|| format!("GitHub answered without a deployment id: {created}"))
    }

    /// Posts a status for deployment `id`.
    pub async fn status(&self, id: u64, state: State, target: &Target) -> Result<(), String> {
        let mut body = json!({
            "state": state.as_str(),
            "environment": target.environment,
            "description": truncate(&format!("{}: {}", target.description, state.as_str()), 140),
            "auto_inactive": state == State::Success,
        });
        if let Some(url) = &target.environment_url {
            body["environment_url"] = url.clone().into();
        }
        if let Some(url) = &self.log_url {
            body["log_url"] = url.clone().into();
        }
        let route = format!("/repos/{}/deployments/{id}/statuses", self.repository);
        let _: Value = self.client.post(route, Some(&body)).await.map_err(describe)?;
        Ok(())
    }
}

/// A deployment in progress: created by [`Tracker::start`], closed by [`Tracker::finish`].
/// Every API failure becomes a warning; the deploy itself never fails because of it.
pub struct Tracker {
    client: Option<Deployments>,
    id: Option<u64>,
    target: Target,
}

impl Tracker {
    /// Creates the deployment and marks it in progress. Outside Actions, or without a
    /// token, it does nothing.
    pub async fn start(runner: &Runner, token: Option<&str>, target: Target) -> Tracker {
        let client = match Deployments::from_runner(runner, token) {
            Some(Ok(client)) => Some(client),
            Some(Err(e)) => {
                warn(runner, &e);
                None
            }
            None => None,
        };
        let mut tracker = Tracker {
            client,
            id: None,
            target,
        };
        if let Some(client) = &tracker.client {
            match client.create(&tracker.target).await {
                Ok(id) => tracker.id = Some(id),
                Err(e) => warn(runner, &format!("cannot create the deployment: {e}")),
            }
        }
        tracker.post(runner, State::InProgress).await;
        tracker
    }

    /// Resumes a deployment created earlier (e.g. by `slipway-env --deployment`).
    pub fn resume(runner: &Runner, token: Option<&str>, id: u64, target: Target) -> Tracker {
        let client = match Deployments::from_runner(runner, token) {
            Some(Ok(client)) => Some(client),
            Some(Err(e)) => {
                warn(runner, &e);
                None
            }
            None => None,
        };
        Tracker {
            client,
            id: Some(id),
            target,
        }
    }

    /// The deployment's id, when one was created.
    pub fn id(&self) -> Option<u64> {
        self.id
    }

    /// Posts the final state.
    pub async fn finish(&self, runner: &Runner, state: State) {
        self.post(runner, state).await;
    }

    async fn post(&self, runner: &Runner, state: State) {
        if let (Some(client), Some(id)) = (&self.client, self.id) {
            if let Err(e) = client.status(id, state, &self.target).await {
                warn(runner, &format!("cannot post the {} status: {e}", state.as_str()));
            }
        }
    }
}

fn warn(runner: &Runner, message: &str) {
    let message = format!("GitHub deployment: {message}; the deploy goes on without it");
    if runner.actions {
        eprintln!(
            "{}",
            commands::annotation(commands::Level::Warning, &message, Some("slipway"), None)
        );
    } else {
        eprintln!("warning: {message}");
    }
}

fn describe(err: octocrab::Error) -> String {
    match &err {
        octocrab::Error::GitHub { source, .. } => {
            let help = match source.status_code.as_u16() {
                401 => " (is the token valid?)",
                403 | 404 => " (does the job have `permissions: deployments: write`?)",
                _ => "",
            };
            format!("GitHub answered {}: {}{help}", source.status_code, source.message)
        }
        other => format!("cannot reach the GitHub API: {other}"),
    }
}

fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => text[..at].to_string(),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_match_the_api() {
        assert_eq!(State::InProgress.as_str(), "in_progress");
        assert_eq!(State::Success.as_str(), "success");
        assert_eq!(State::Failure.as_str(), "failure");
        assert_eq!(State::Error.as_str(), "error");
    }

    #[tokio::test]
    async fn nothing_is_recorded_outside_actions_or_without_a_token() {
        let mut runner = Runner {
            repository: Some("octo/web".into()),
            api_url: "http://127.0.0.1:9".into(),
            ..Runner::default()
        };
        assert!(Deployments::from_runner(&runner, Some("t")).is_none());
        runner.actions = true;
        assert!(Deployments::from_runner(&runner, None).is_none());
        assert!(Deployments::from_runner(&runner, Some("")).is_none());
        assert!(Deployments::from_runner(&runner, Some("t")).is_some());
    }

    #[test]
    fn descriptions_fit_the_api_limit() {
        assert_eq!(truncate("abc", 2), "ab");
        assert_eq!(truncate("abc", 5), "abc");
        assert_eq!(truncate(&"é".repeat(200), 140).chars().count(), 140);
    }
}
