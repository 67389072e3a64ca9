//! The HTTP(S) probe: status codes, body text, regex, a JSON pointer, the version the new
//! build must serve, N successes in a row, a latency limit; connect, TLS and timeout
//! errors reported as what they are.

use std::time::Duration;

use async_trait::async_trait;
use regex::Regex;
use tokio::time::Instant;

use super::engine::{human, Check};
use super::gate::Probe;
use super::redact;
use crate::error::{Error, Result};

/// What a healthy answer looks like.
#[derive(Debug, Clone, Default)]
pub struct Expect {
    /// Status codes that count as healthy.
    pub status: Vec<u16>,
    pub body_contains: Option<String>,
    pub body_regex: Option<Regex>,
    /// RFC 6901 pointer and the value it must hold.
    pub json: Option<(String, serde_json::Value)>,
    /// Text the body must contain to prove the new build serves.
    pub version: Option<String>,
    /// Successes in a row.
    pub consecutive: u32,
    pub max_latency: Option<Duration>,
}

/// Probes one URL.
pub struct HttpProbe {
    url: reqwest::Url,
    expect: Expect,
    interval: Duration,
    client: reqwest::Client,
    streak: u32,
}

/// The most of a body read per answer.
const MAX_BODY: usize = 1 << 20;

impl HttpProbe {
    /// A probe of `url`; `ca_cert` is an extra PEM root to trust (a private CA).
    pub fn new(url: &str, expect: Expect, interval: Duration, ca_cert: Option<&[u8]>) -> Result<Self> {
        let shown = redact::url(url);
        let parsed = reqwest::Url::parse(url).map_err(|e| {
            Error::input(
                format!("health URL {shown:?} does not parse: {e}"),
                "write a full URL such as https://stage.example.com/healthz",
            )
        })?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(Error::input(
                format!("health URL {shown:?} has scheme {:?}", parsed.scheme()),
                "use an http:// or https:// URL",
            ));
        }
        let timeout = expect
            .max_latency
            .map(|m| m + Duration::from_secs(1))
            .unwrap_or(Duration::from_secs(10));
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5).min(timeout))
            .user_agent(concat!("slipway-wait/", env!("CARGO_PKG_VERSION")))
            .pool_max_idle_per_host(1);
        if let Some(pem) = ca_cert {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
                Error::input(
                    format!("--ca-cert is not a PEM certificate: {e}"),
                    "pass a PEM file with the CA certificate",
                )
            })?;
            builder = builder.add_root_certificate(cert);
        }
        let client = builder
            .build()
            .map_err(|e| Error::failed(format!("cannot build an HTTP client: {e}")))?;
        Ok(HttpProbe {
            url: parsed,
            expect,
            interval,
            client,
            streak: 0,
        })
    }

    async fn look(&self) -> std::result::Result<String, String> {
        let started = Instant::now();
        let response = self
            .client
            .get(self.url.clone())
            .send()
            .await
            .map_err(|e| self.transport(&e))?;
        let status = response.status().as_u16();
        let body = read_body(response).await.map_err(|e| self.transport(&e))?;
        let latency = started.elapsed();
        let e = &self.expect;
        if !e.status.contains(&status) {
            let want: Vec<String> = e.status.iter().map(u16::to_string).collect();
            return Err(format!("HTTP {status} (want {}){}", want.join("/"), excerpt(&body)));
        }
        if let Some(max) = e.max_latency {
            if latency > max {
                return Err(format!("slow: answered in {} (max {})", human(latency), human(max)));
            }
        }
        if let Some(text) = &e.body_contains {
            if !body.contains(text.as_str()) {
                return Err(format!("body lacks {text:?}{}", excerpt(&body)));
            }
        }
        if let Some(re) = &e.body_regex {
            if !re.is_match(&body) {
                return Err(format!("body does not match /{}/{}", re.as_str(), excerpt(&body)));
            }
        }
        if let Some((pointer, want)) = &e.json {
            let value: serde_json::Value = serde_json::from_str(&body).map_err(|err| {
                format!(
                    "body is not JSON ({err}), so {pointer} cannot be read{}",
                    excerpt(&body)
                )
            })?;
            match value.pointer(pointer) {
                None => return Err(format!("JSON body has no {pointer}{}", excerpt(&body))),
                Some(got) if !json_matches(got, want) => {
                    return Err(format!("{pointer} is {got} (want {want})"));
                }
                Some(_) => {}
            }
        }
        if let Some(version) = &e.version {
            if !body.contains(version.as_str()) {
                return Err(format!(
                    "serving another version: body lacks {version:?}{}",
                    excerpt(&body)
                ));
            }
        }
        Ok(format!("HTTP {status} in {}", human(latency)))
    }

    fn transport(&self, err: &reqwest::Error) -> String {
        // The library quotes the URL it was given: credentials and query values included.
        let mut chain = redact::in_text(&error_chain(err), self.url.as_str());
        if let Some(url) = err.url() {
            chain = redact::in_text(&chain, url.as_str());
        }
        let lower = chain.to_ascii_lowercase();
        if err.is_timeout() {
            let limit = self
                .expect
                .max_latency
                .map(|m| format!(" (max latency {})", human(m)))
                .unwrap_or_default();
            return format!("no answer in time{limit}");
        }
        if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
            let hint = if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
                "; pass --ca-cert FILE if it is signed by a private CA"
            } else {
                ""
            };
            return format!("TLS error: {chain}{hint}");
        }
        if lower.contains("connection refused") {
            return format!("connection refused by {}", authority(&self.url));
        }
        if err.is_connect() {
            return format!("cannot connect to {}: {chain}", authority(&self.url));
        }
        format!("request failed: {chain}")
    }
}

fn authority(url: &reqwest::Url) -> String {
    match url.port_or_known_default() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or("?")),
        None => url.host_str().unwrap_or("?").to_string(),
    }
}

/// Every message in the error's source chain, without repeats.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut current = Some(err);
    while let Some(e) = current {
        let text = e.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        current = e.source();
    }
    parts.join(": ")
}

async fn read_body(mut response: reqwest::Response) -> std::result::Result<String, reqwest::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        let room = MAX_BODY.saturating_sub(body.len());
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// A JSON value equals the expectation; a string expectation also matches a number or
/// bool written the same way.
fn json_matches(got: &serde_json::Value, want: &serde_json::Value) -> bool {
    got == want || matches!(want, serde_json::Value::String(s) if !got.is_string() && &got.to_string() == s)
}

fn excerpt(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.is_empty() {
        return String::new();
    }
    let cut: String = flat.chars().take(120).collect();
    let more = if flat.chars().count() > 120 { "…" } else { "" };
    format!(": {cut}{more}")
}

#[async_trait]
impl Probe for HttpProbe {
    fn kind(&self) -> &'static str {
        "http"
    }

    fn name(&self) -> String {
        redact::url(self.url.as_str())
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    async fn poll(&mut self) -> Result<Check<String>> {
        let need = self.expect.consecutive.max(1);
        Ok(match self.look().await {
            Ok(detail) => {
                self.streak += 1;
                if self.streak >= need {
                    let row = if need > 1 {
                        format!(", {need} in a row")
                    } else {
                        String::new()
                    };
                    Check::Done(format!("{detail}{row}"))
                } else {
                    Check::Pending(format!("{detail}, {}/{need} in a row", self.streak))
                }
            }
            Err(why) => {
                self.streak = 0;
                Check::Pending(why)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_expectations_compare_values_and_their_text() {
        use serde_json::json;
        assert!(json_matches(&json!("abc"), &json!("abc")));
        assert!(json_matches(&json!(3), &json!("3")));
        assert!(json_matches(&json!(true), &json!(true)));
        assert!(!json_matches(&json!("3"), &json!(3)));
        assert!(!json_matches(&json!("abd"), &json!("abc")));
    }

    #[test]
    fn bad_urls_are_bad_input() {
        for url in ["not a url", "ftp://x/y"] {
            let err = HttpProbe::new(url, Expect::default(), Duration::from_secs(1), None)
                .err()
                .unwrap();
            assert_eq!(err.exit_code(), 2, "{url}");
        }
    }

    #[test]
    fn excerpts_are_short_and_flat() {
        assert_eq!(excerpt(""), "");
        assert_eq!(excerpt("a\n  b"), ": a b");
        assert!(excerpt(&"x".repeat(500)).ends_with('…'));
    }
}
