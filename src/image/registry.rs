//! A plain registry through the Docker Registry HTTP API v2: read a tag's manifest and
//! put it back under other tags (GET + PUT of the manifest, no layer moves), and read an
//! image's revision label. Basic credentials, or a bearer token fetched with them when the
//! registry asks for one, from the registry itself only: the ECR password never goes to a
//! host the registry merely names.

use reqwest::header::{ACCEPT, CONTENT_TYPE, WWW_AUTHENTICATE};
use reqwest::{Method, RequestBuilder, Response, StatusCode};

use crate::aws::ecr::MANIFEST_TYPES;
use crate::cloud::ecr::Manifest;
use crate::error::{Error, Result};
use crate::secret::Secret;

/// Where the registry is and how to log in.
#[derive(Debug, Clone)]
pub struct Registry {
    /// `host[:port]`, as image references name it.
    pub host: String,
    /// `https://host[:port]`, or http:// for a loopback host or an explicit `http://`.
    pub base: String,
    username: String,
    password: Secret,
    http: reqwest::Client,
    /// The bearer token the registry handed out last (for a request that cannot be
    /// repeated after a challenge: a streamed upload).
    token: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

/// Splits `--registry` (`host[:port]` or a URL) into the host image references use and
/// the base URL of its API.
pub fn parse_host(value: &str) -> Result<(String, String)> {
    let value = value.trim().trim_end_matches('/');
    let (scheme, host) = match value.split_once("://") {
        Some((s @ ("http" | "https"), rest)) => (Some(s), rest),
        Some(_) => {
            return Err(Error::input(
                format!("registry {value:?} has a scheme other than http or https"),
                "pass --registry HOST[:PORT], or https://HOST[:PORT] / http://HOST[:PORT]",
            ))
        }
        None => (None, value),
    };
    let valid = !host.is_empty()
        && !host.contains('/')
        && host.chars().all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if !valid {
        return Err(Error::input(
            format!("registry {value:?} is not a host name"),
            "pass --registry HOST[:PORT], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        ));
    }
    let name = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    let loopback = matches!(name, "localhost" | "127.0.0.1" | "[::1]");
    let scheme = scheme.unwrap_or(if loopback { "http" } else { "https" });
    Ok((host.to_string(), format!("{scheme}://{host}")))
}

impl Registry {
    /// The same registry with a renewed password.
    pub fn with_password(&self, password: Secret) -> Self {
        Registry {
            password,
            ..self.clone()
        }
    }

    pub fn new(host: &str, base: &str, username: &str, password: Secret) -> Self {
        Registry {
            host: host.to_string(),
            base: base.to_string(),
            username: username.to_string(),
            password,
            http: reqwest::Client::builder()
                .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
                .build()
                .unwrap_or_default(),
            token: Default::default(),
        }
    }

    /// Sends a request with basic credentials; on a bearer challenge, gets a token and retries once.
    async fn send(&self, build: impl Fn() -> RequestBuilder) -> Result<Response> {
        let response = build()
            .basic_auth(&self.username, Some(self.password.expose()))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if response.status() != StatusCode::UNAUTHORIZED {
            return Ok(response);
        }
        let challenge = response
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let Some(params) = challenge.strip_prefix("Bearer ") else {
            return Ok(response);
        };
        let token = self.bearer_token(params).await?;
        *self.token.lock().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        build().bearer_auth(token).send().await.map_err(|e| self.unreachable(e))
    }

    /// Sends a request that cannot be repeated: with the bearer token from an earlier
    /// challenge when there was one, basic credentials otherwise.
    async fn send_once(&self, request: RequestBuilder) -> Result<Response> {
        let token = self.token.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let request = match token {
            Some(token) => request.bearer_auth(token),
            None => request.basic_auth(&self.username, Some(self.password.expose())),
        };
        request.send().await.map_err(|e| self.unreachable(e))
    }

    async fn bearer_token(&self, params: &str) -> Result<String> {
        let mut realm = None;
        let mut query = Vec::new();
        for part in params.split(',') {
            if let Some((k, v)) = part.trim().split_once('=') {
                let v = v.trim_matches('"').to_string();
                match k {
                    "realm" => realm = Some(v),
                    "service" | "scope" => query.push((k.to_string(), v)),
                    _ => {}
                }
            }
        }
        let realm = realm.ok_or_else(|| self.refused("the bearer challenge names no realm".into()))?;
        let url = url::Url::parse_with_params(&realm, &query)
            .map_err(|e| self.refused(format!("the bearer challenge's realm {realm:?} is not a URL: {e}")))?;
        if !same_origin(&url, &self.base) {
            return Err(Error::failed_with_help(
                format!(
                    "the registry {} asks for a token from {}, which is not the registry itself; \
                     slipway sends the ECR credentials only to {}",
                    self.host,
                    origin(&url),
                    self.base
                ),
                "check that --registry names the registry (an ECR registry takes its credentials directly), \
                 or log in to this registry with its own tooling",
            ));
        }
        let response = self
            .http
            .get(url)
            .basic_auth(&self.username, Some(self.password.expose()))
            .send()
            .await
            .map_err(|e| self.unreachable(e))?;
        if !response.status().is_success() {
            return Err(self.refused(error_text(response).await));
        }
        let body: serde_json::Value = response.json().await.map_err(|e| self.unreachable(e))?;
        body.get("token")
            .or_else(|| body.get("access_token"))
            .and_then(|t| t.as_str())
            .map(str::to_string)
            .ok_or_else(|| self.refused("the token answer holds no token".into()))
    }

    /// The manifest a tag (or digest) points at, or None when there is none.
    pub async fn manifest(&self, repository: &str, reference: &str) -> Result<Option<Manifest>> {
        let url = format!("{}/v2/{repository}/manifests/{reference}", self.base);
        let response = self
            .send(|| self.http.get(&url).header(ACCEPT, MANIFEST_TYPES.join(", ")))
            .await?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(self.refused(error_text(response).await)),
            _ => return Err(self.failed("GET", &url, error_text(response).await)),
        }
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let content_type = header(CONTENT_TYPE.as_str());
        let reported = header("docker-content-digest").filter(|d| !d.is_empty());
        let bytes = response.bytes().await.map_err(|e| self.unreachable(e))?;
        // The digest is the sha256 of the bytes: when the registry does not say it, compute it.
        let digest = reported.unwrap_or_else(|| digest_of(&bytes));
        let body = String::from_utf8(bytes.to_vec())
            .map_err(|_| self.failed("GET", &url, "the manifest is not UTF-8 JSON".into()))?;
        let media_type = content_type
            .or_else(|| crate::aws::ecr::media_type_of(&body))
            .unwrap_or_else(|| MANIFEST_TYPES[2].to_string());
        Ok(Some(Manifest {
            digest,
            media_type,
            body,
        }))
    }

    /// Puts the manifest under `tag`, byte for byte; returns the digest the registry reports.
    pub async fn put_manifest(&self, repository: &str, tag: &str, manifest: &Manifest) -> Result<String> {
        let url = format!("{}/v2/{repository}/manifests/{tag}", self.base);
        let response = self
            .send(|| {
                self.http
                    .request(Method::PUT, &url)
                    .header(CONTENT_TYPE, &manifest.media_type)
                    .body(manifest.body.clone())
            })
            .await?;
        if response.status() == StatusCode::UNAUTHORIZED || response.status() == StatusCode::FORBIDDEN {
            return Err(self.refused(error_text(response).await));
        }
        if !response.status().is_success() {
            return Err(self.failed("PUT", &url, error_text(response).await));
        }
        Ok(response
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
            .unwrap_or_else(|| manifest.digest.clone()))
    }

    /// The commit an image says it was built from: the `org.opencontainers.image.revision`
    /// label of its config (for an index, of its first image). None when it carries none.
    pub async fn revision(&self, repository: &str, manifest: &Manifest) -> Result<Option<String>> {
        let Ok(mut doc) = serde_json::from_str::<serde_json::Value>(&manifest.body) else {
            return Ok(None);
        };
        if let Some(first) = doc["manifests"].as_array().and_then(|m| m.first()) {
            let Some(digest) = first["digest"].as_str() else {
                return Ok(None);
            };
            let Some(image) = self.manifest(repository, digest).await? else {
                return Ok(None);
            };
            let Ok(parsed) = serde_json::from_str(&image.body) else {
                return Ok(None);
            };
            doc = parsed;
        }
        let Some(config) = doc["config"]["digest"].as_str() else {
            return Ok(None);
        };
        let url = format!("{}/v2/{repository}/blobs/{config}", self.base);
        let response = self.send(|| self.http.get(&url)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => return Ok(None),
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(self.refused(error_text(response).await)),
            _ => return Err(self.failed("GET", &url, error_text(response).await)),
        }
        let config: serde_json::Value = response.json().await.unwrap_or_default();
        Ok(config["config"]["Labels"][REVISION_LABEL].as_str().map(str::to_string))
    }

    /// Whether the repository holds the blob (HEAD).
    pub async fn has_blob(&self, repository: &str, digest: &str) -> Result<bool> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let response = self.send(|| self.http.head(&url)).await?;
        match response.status() {
            StatusCode::NOT_FOUND => Ok(false),
            s if s.is_success() => Ok(true),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(self.refused(error_text(response).await)),
            _ => Err(self.failed("HEAD", &url, error_text(response).await)),
        }
    }

    /// The blob's bytes as a response to read chunk by chunk (a registry such as ECR
    /// redirects to its storage; the credentials do not follow to another host).
    pub async fn open_blob(&self, repository: &str, digest: &str) -> Result<Response> {
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let response = self.send(|| self.http.get(&url)).await?;
        match response.status() {
            s if s.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(self.refused(error_text(response).await)),
            _ => Err(self.failed("GET", &url, error_text(response).await)),
        }
    }

    /// Uploads a blob streamed from `source` (another registry's answer), as an engine's
    /// push does: POST an upload, one PATCH carrying the whole stream, PUT with the digest
    /// (the registry checks the bytes against it). Returns the bytes sent.
    pub async fn upload_blob(&self, repository: &str, digest: &str, source: Response) -> Result<u64> {
        let start = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let response = self.send(|| self.http.post(&start)).await?;
        let location = self.next_location(response, "POST", &start).await?;
        let size = source.content_length().unwrap_or_default();
        let patch = self
            .http
            .patch(&location)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::from(source));
        let response = self.send_once(patch).await?;
        let location = self.next_location(response, "PATCH", &location).await?;
        let mut url = url::Url::parse(&location)
            .map_err(|e| self.failed("PATCH", &location, format!("the upload location is not a URL: {e}")))?;
        url.query_pairs_mut().append_pair("digest", digest);
        let response = self
            .send(|| {
                self.http
                    .put(url.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
            })
            .await?;
        if !response.status().is_success() {
            return Err(self.failed("PUT", url.as_str(), error_text(response).await));
        }
        Ok(size)
    }

    /// The absolute upload URL an upload step's answer names in `Location`.
    async fn next_location(&self, response: Response, method: &str, url: &str) -> Result<String> {
        match response.status() {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => return Err(self.refused(error_text(response).await)),
            s if !s.is_success() => return Err(self.failed(method, url, error_text(response).await)),
            _ => {}
        }
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| self.failed(method, url, "the answer names no upload Location".into()))?;
        url::Url::parse(&self.base)
            .and_then(|base| base.join(location))
            .map(String::from)
            .map_err(|e| {
                self.failed(
                    method,
                    url,
                    format!("the upload Location {location:?} is not a URL: {e}"),
                )
            })
    }

    fn unreachable(&self, e: reqwest::Error) -> Error {
        Error::failed_with_help(
            format!("cannot reach the registry at {}: {e}", self.base),
            "check --registry and the network; a plain-HTTP registry needs --registry http://HOST:PORT",
        )
    }

    fn refused(&self, message: String) -> Error {
        Error::failed_with_help(
            format!("the registry {} refused the ECR credentials: {message}", self.host),
            "check that --registry names the registry of this account and region, and that the role may call ecr:GetAuthorizationToken",
        )
    }

    fn failed(&self, method: &str, url: &str, message: String) -> Error {
        Error::failed(format!("the registry refused {method} {url}: {message}"))
    }
}

/// The label naming the commit an image was built from.
pub const REVISION_LABEL: &str = "org.opencontainers.image.revision";

/// `sha256:<hex>` of a manifest's bytes: its digest, as registries compute it.
pub fn digest_of(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    let hash = Sha256::digest(bytes);
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

/// Whether `url` is on the registry at `base` (same scheme, host and port).
fn same_origin(url: &url::Url, base: &str) -> bool {
    match url::Url::parse(base) {
        Ok(base) => {
            url.scheme() == base.scheme()
                && url.host_str() == base.host_str()
                && url.port_or_known_default() == base.port_or_known_default()
        }
        Err(_) => false,
    }
}

/// `scheme://host[:port]` of a URL, for messages (no path, query or userinfo).
fn origin(url: &url::Url) -> String {
    match (url.host_str(), url.port()) {
        (Some(host), Some(port)) => format!("{}://{host}:{port}", url.scheme()),
        (Some(host), None) => format!("{}://{host}", url.scheme()),
        _ => url.scheme().to_string(),
    }
}

/// The registry's own words: `code: message` from its JSON error body, or the status.
async fn error_text(response: Response) -> String {
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let parsed: Option<Vec<String>> = serde_json::from_str::<serde_json::Value>(&body).ok().and_then(|v| {
        v.get("errors")?.as_array().map(|errors| {
            errors
                .iter()
                .map(|e| {
                    let code = e.get("code").and_then(|c| c.as_str()).unwrap_or_default();
                    let message = e.get("message").and_then(|m| m.as_str()).unwrap_or_default();
                    format!("{}: {message}", code.to_ascii_lowercase())
                })
                .collect()
        })
    });
    match parsed {
        Some(list) if !list.is_empty() => list.join("; "),
        _ if body.trim().is_empty() => status.to_string(),
        _ => format!("{status}: {}", body.trim()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_hosts_and_schemes() {
        assert_eq!(
            parse_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com").unwrap(),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com".into(),
                "https://123456789012.dkr.ecr.eu-west-1.amazonaws.com".into()
            )
        );
        assert_eq!(
            parse_host("127.0.0.1:5000").unwrap(),
            ("127.0.0.1:5000".into(), "http://127.0.0.1:5000".into())
        );
        assert_eq!(
            parse_host("http://registry.internal:5000/").unwrap(),
            ("registry.internal:5000".into(), "http://registry.internal:5000".into())
        );
        assert_eq!(parse_host("ftp://x").unwrap_err().exit_code(), 2);
        assert_eq!(parse_host("host/path").unwrap_err().exit_code(), 2);
    }

    #[test]
    fn tokens_come_only_from_the_registry_itself() {
        let url = |u: &str| url::Url::parse(u).unwrap();
        assert!(same_origin(&url("https://r.example/token?x=1"), "https://r.example"));
        assert!(same_origin(&url("https://r.example:443/token"), "https://r.example"));
        assert!(same_origin(
            &url("http://127.0.0.1:5000/token"),
            "http://127.0.0.1:5000"
        ));
        assert!(!same_origin(&url("http://r.example/token"), "https://r.example"));
        assert!(!same_origin(&url("https://auth.example/token"), "https://r.example"));
        assert!(!same_origin(
            &url("http://127.0.0.1:5001/token"),
            "http://127.0.0.1:5000"
        ));
        assert_eq!(
            origin(&url("https://u:p@auth.example:8443/t?secret=1")),
            "https://auth.example:8443"
        );
    }

    #[test]
    fn a_digest_is_the_sha256_of_the_bytes() {
        assert_eq!(
            digest_of(b""),
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
