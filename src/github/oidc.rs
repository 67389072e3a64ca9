//! GitHub's OIDC token for a job: the request the runner allows (`permissions: id-token: write`)
//! and the token it returns, masked as soon as it is read.

use crate::error::{Error, Result};
use crate::secret::Secret;

/// `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`.
#[derive(Debug, Clone)]
pub struct Request {
    pub url: String,
    pub token: Secret,
}

/// The help given wherever the id-token permission is missing.
pub const PERMISSION_HELP: &str = "give the job `permissions: id-token: write` (and `contents: read`) so GitHub \
     issues an OIDC token; AWS credentials come from that token, never from stored keys";

/// Fetches an OIDC token for `audience` (for AWS: `sts.amazonaws.com`).
pub async fn fetch_token(request: &Request, audience: &str) -> Result<Secret> {
    let mut url = url::Url::parse(&request.url).map_err(|e| {
        Error::input(
            format!("ACTIONS_ID_TOKEN_REQUEST_URL is not a URL ({e})"),
            "this variable is set by the GitHub runner; do not override it",
        )
    })?;
    url.query_pairs_mut().append_pair("audience", audience);
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::failed(format!("cannot build an HTTP client: {e}")))?;
    let response = client
        .get(url.clone())
        .header("Authorization", format!("bearer {}", request.token.expose()))
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| {
            Error::failed_with_help(
                format!(
                    "cannot reach GitHub's OIDC token endpoint {}: {e}",
                    url.host_str().unwrap_or("?")
                ),
                "re-run the job; if it persists, check githubstatus.com",
            )
        })?;
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let excerpt: String = body.chars().take(200).collect();
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(Error::input(
            format!(
                "GitHub's OIDC token endpoint refused the request (HTTP {}): {excerpt}",
                status.as_u16()
            ),
            PERMISSION_HELP,
        ));
    }
    if !status.is_success() {
        return Err(Error::failed(format!(
            "GitHub's OIDC token endpoint answered HTTP {}: {excerpt}",
            status.as_u16()
        )));
    }
    let value = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("value").and_then(|t| t.as_str()).map(str::to_string))
        .filter(|t| !t.is_empty())
        .map(Secret::from);
    value.ok_or_else(|| {
        Error::input(
            format!(
                "GitHub's OIDC token endpoint answered without a token (expected JSON {{\"value\": ...}}): {excerpt:?}"
            ),
            "check that ACTIONS_ID_TOKEN_REQUEST_URL is the runner's own; re-run the job",
        )
    })
}
