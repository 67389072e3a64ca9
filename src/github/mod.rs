//! GitHub Actions runner plumbing: the run's context, workflow commands (groups,
//! annotations, masks), GITHUB_OUTPUT and GITHUB_STEP_SUMMARY, the OIDC token, and deployments.

pub mod commands;
pub mod deployments;
pub mod files;
pub mod oidc;

use std::path::PathBuf;

/// What the GitHub Actions runner tells a step through its environment.
#[derive(Debug, Clone, Default)]
pub struct Runner {
    /// True inside GitHub Actions (`GITHUB_ACTIONS=true`).
    pub actions: bool,
    /// `GITHUB_OUTPUT`: where step outputs go.
    pub output_file: Option<PathBuf>,
    /// `GITHUB_STEP_SUMMARY`: markdown shown on the run's page.
    pub summary_file: Option<PathBuf>,
    /// `GITHUB_REPOSITORY`, e.g. `octo/web`.
    pub repository: Option<String>,
    /// `GITHUB_RUN_ID`.
    pub run_id: Option<String>,
    /// `GITHUB_RUN_ATTEMPT`.
    pub run_attempt: Option<String>,
    /// `GITHUB_SERVER_URL`, default https://github.com.
    pub server_url: String,
    /// `GITHUB_WORKSPACE`: annotations name files relative to it.
    pub workspace: Option<PathBuf>,
    /// `GITHUB_API_URL`, default https://api.github.com.
    pub api_url: String,
    /// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`, present when the
    /// job has `permissions: id-token: write`.
    pub oidc: Option<oidc::Request>,
}

impl Runner {
    /// Reads the runner's variables through `var` (the process environment in binaries).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Self {
        let non_empty = |name: &str| var(name).filter(|v| !v.is_empty());
        let oidc = match (
            non_empty("ACTIONS_ID_TOKEN_REQUEST_URL"),
            non_empty("ACTIONS_ID_TOKEN_REQUEST_TOKEN"),
        ) {
            (Some(url), Some(token)) => Some(oidc::Request {
                url,
                token: token.into(),
            }),
            _ => None,
        };
        Runner {
            actions: var("GITHUB_ACTIONS").as_deref() == Some("true"),
            output_file: non_empty("GITHUB_OUTPUT").map(PathBuf::from),
            summary_file: non_empty("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            repository: non_empty("GITHUB_REPOSITORY"),
            run_id: non_empty("GITHUB_RUN_ID"),
            run_attempt: non_empty("GITHUB_RUN_ATTEMPT"),
            server_url: non_empty("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into()),
            workspace: non_empty("GITHUB_WORKSPACE").map(PathBuf::from),
            api_url: non_empty("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into()),
            oidc,
        }
    }

    /// The process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// The URL of this run's page, when known.
    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url,
            self.repository.as_ref()?,
            self.run_id.as_ref()?
        ))
    }

    /// A location with its file made relative to the workspace, as annotations need it.
    pub fn in_workspace(&self, location: &crate::error::Location) -> crate::error::Location {
        let mut loc = location.clone();
        if let Some(ws) = &self.workspace {
            let absolute = if loc.file.is_absolute() {
                loc.file.clone()
            } else {
                std::env::current_dir()
                    .map(|d| d.join(&loc.file))
                    .unwrap_or_else(|_| loc.file.clone())
            };
            if let Ok(rel) = absolute.strip_prefix(ws) {
                loc.file = rel.to_path_buf();
            }
        }
        loc
    }

    /// Registers a secret with the runner so it never shows in logs. Outside Actions it
    /// does nothing (and the secret is never printed either).
    pub fn mask(&self, secret: &str) {
        if self.actions {
            for line in commands::add_mask(secret) {
                eprintln!("{line}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn reads_the_runner_variables() {
        let vars: HashMap<&str, &str> = [
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_OUTPUT", "/tmp/out"),
            ("GITHUB_REPOSITORY", "octo/web"),
            ("GITHUB_RUN_ID", "42"),
            ("ACTIONS_ID_TOKEN_REQUEST_URL", "http://x/token?a=1"),
            ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", ""),
        ]
        .into();
        let r = Runner::from_vars(|k| vars.get(k).map(|v| v.to_string()));
        assert!(r.actions);
        assert_eq!(r.output_file, Some(PathBuf::from("/tmp/out")));
        assert_eq!(r.summary_file, None);
        assert_eq!(r.run_url().unwrap(), "https://github.com/octo/web/actions/runs/42");
        // An empty request token means no id-token permission.
        assert!(r.oidc.is_none());
    }
}
