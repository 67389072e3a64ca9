//! Sending the notifications: the loop that receives a deploy's events (coalescing
//! progress), Slack's chat.postMessage then chat.update with the message's `ts`, the
//! incoming webhook, the signed JSON webhook, and the bounded retries they share.

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Instant;

use sha2::{Digest, Sha256};

use super::{About, Event, Sinks, ATTEMPTS, REQUEST_TIMEOUT, UPDATE_EVERY};
use crate::secret::Secret;

/// HMAC-SHA256 (RFC 2104) of `message` under `key`.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new().chain_update(pad(0x36)).chain_update(message).finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The deploy in one line of Slack markup, as `event` leaves it.
fn slack_text(about: &About, event: &Event) -> String {
    let place = [Some(&about.target), about.region.as_ref(), about.wave.as_ref()]
        .into_iter()
        .flatten()
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    let what = format!("*{}* {} to *{}* ({place})", about.app, about.version, about.environment);
    let mut text = match event {
        Event::Started => format!(":rocket: Deploying {what}"),
        Event::Progress {
            phase,
            traffic_percent: None,
        } => format!(":hourglass_flowing_sand: Deploying {what}: {phase}"),
        Event::Progress {
            phase,
            traffic_percent: Some(p),
        } => format!(":hourglass_flowing_sand: Deploying {what}: {phase} (production traffic {p}%)"),
        Event::Finished {
            result,
            ok,
            summary,
            error,
        } => {
            let icon = if *ok { ":white_check_mark:" } else { ":rotating_light:" };
            let mut line = format!("{icon} {what}: {result}. {summary}");
            if let Some(error) = error {
                line.push_str(&format!("\n> {error}"));
            }
            line
        }
    };
    let links: Vec<String> = [("run", &about.run_url), ("environment", &about.url)]
        .iter()
        .filter_map(|(name, url)| url.as_ref().map(|u| format!("<{u}|{name}>")))
        .collect();
    if !links.is_empty() {
        text.push_str(&format!(" ({})", links.join(", ")));
    }
    text
}

struct Client {
    http: reqwest::Client,
}

impl Client {
    /// POSTs `body`, retried on a connection failure, a timeout, 429 or a 5xx; the answer's
    /// body, or why it failed.
    async fn post(&self, what: &str, url: &str, body: &str, headers: &[(&str, String)]) -> Result<String, String> {
        let mut last = String::new();
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(300 * u64::from(attempt))).await;
            }
            let mut request = self
                .http
                .post(url)
                .header("Content-Type", "application/json; charset=utf-8")
                .body(body.to_string());
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            match request.send().await {
                Ok(r) if r.status().is_success() => return Ok(r.text().await.unwrap_or_default()),
                Ok(r) if r.status().as_u16() == 429 || r.status().is_server_error() => {
                    last = format!("HTTP {}", r.status().as_u16());
                }
                Ok(r) => return Err(format!("{what}: HTTP {}", r.status().as_u16())),
                Err(e) if e.is_timeout() => last = format!("no answer within {}s", REQUEST_TIMEOUT.as_secs()),
                Err(e) => last = format!("cannot reach it ({})", crate::error::aws_message(&e)),
            }
        }
        Err(format!("{what}: {last} ({ATTEMPTS} attempts)"))
    }
}

/// Slack's Web API answers 200 with `ok: false` for its own errors.
fn slack_answer(what: &str, body: &str) -> Result<serde_json::Value, String> {
    let v: serde_json::Value = serde_json::from_str(body).map_err(|_| format!("{what}: not Slack's JSON"))?;
    if v["ok"] == true {
        Ok(v)
    } else {
        Err(format!(
            "{what}: Slack said {}",
            v["error"].as_str().unwrap_or("not ok")
        ))
    }
}

/// The Slack message of the deploy: its channel and `ts` once posted.
#[derive(Default)]
struct Posted {
    channel: Option<String>,
    ts: Option<String>,
}

async fn slack(
    client: &Client,
    (token, channel, api): &(Secret, String, String),
    about: &About,
    event: &Event,
    posted: &mut Posted,
) -> Result<(), String> {
    let auth = [("Authorization", format!("Bearer {}", token.expose()))];
    let text = slack_text(about, event);
    match &posted.ts {
        None => {
            let body = serde_json::json!({"channel": channel, "text": text}).to_string();
            let answer = client
                .post(
                    "Slack chat.postMessage",
                    &format!("{api}/chat.postMessage"),
                    &body,
                    &auth,
                )
                .await?;
            let v = slack_answer("Slack chat.postMessage", &answer)?;
            posted.ts = v["ts"].as_str().map(str::to_string);
            posted.channel = v["channel"].as_str().map(str::to_string);
            Ok(())
        }
        Some(ts) => {
            let channel = posted.channel.clone().unwrap_or_else(|| channel.clone());
            let body = serde_json::json!({"channel": channel, "ts": ts, "text": text}).to_string();
            let answer = client
                .post("Slack chat.update", &format!("{api}/chat.update"), &body, &auth)
                .await?;
            slack_answer("Slack chat.update", &answer).map(|_| ())
        }
    }
}

async fn webhook(
    client: &Client,
    (url, key): &(Secret, Option<Secret>),
    about: &About,
    event: &Event,
) -> Result<(), String> {
    let mut body = serde_json::to_value(event).unwrap_or_default();
    body["deploy"] = serde_json::to_value(about).unwrap_or_default();
    body["at"] = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .into();
    let body = body.to_string();
    let mut headers = vec![("X-Slipway-Event", event_name(event).to_string())];
    if let Some(key) = key {
        let signature = hmac_sha256(key.expose().as_bytes(), body.as_bytes());
        headers.push(("X-Slipway-Signature-256", format!("sha256={}", hex(&signature))));
    }
    client.post("webhook", url.expose(), &body, &headers).await.map(|_| ())
}

fn event_name(event: &Event) -> &'static str {
    match event {
        Event::Started => "started",
        Event::Progress { .. } => "progress",
        Event::Finished { .. } => "finished",
    }
}

/// Receives the deploy's events until the channel closes, sending each where it goes;
/// progress is coalesced (the newest, at most every `UPDATE_EVERY`).
pub(super) async fn run(sinks: Sinks, about: About, rx: Receiver<Event>) {
    let client = Client {
        http: reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default(),
    };
    let mut posted = Posted::default();
    let mut failed = std::collections::BTreeSet::new();
    let mut last_update: Option<Instant> = None;
    let mut held: Option<Event> = None;
    loop {
        let next = match &held {
            // A held progress goes out when its turn comes, unless something newer does first.
            Some(_) => {
                let wait = last_update
                    .map(|t| UPDATE_EVERY.saturating_sub(t.elapsed()))
                    .unwrap_or_default();
                match rx.recv_timeout(wait) {
                    Ok(event) => Some(event),
                    Err(RecvTimeoutError::Timeout) => held.take(),
                    Err(RecvTimeoutError::Disconnected) => None,
                }
            }
            None => rx.recv().ok(),
        };
        let Some(event) = next else { break };
        if let Event::Progress { .. } = event {
            if last_update.is_some_and(|t| t.elapsed() < UPDATE_EVERY) {
                held = Some(event);
                continue;
            }
        }
        held = None;
        if matches!(event, Event::Progress { .. }) {
            last_update = Some(Instant::now());
        }
        let mut report = |sink: &'static str, result: Result<(), String>| {
            if let Err(e) = result {
                // One warning per sink and kind of failure is enough.
                if failed.insert((sink, e.clone())) {
                    eprintln!("warning: notification not sent: {e}");
                }
            }
        };
        if let Some(s) = &sinks.slack {
            report("slack", slack(&client, s, &about, &event, &mut posted).await);
        }
        if let (Some(url), false) = (&sinks.slack_webhook, matches!(event, Event::Progress { .. })) {
            let body = serde_json::json!({"text": slack_text(&about, &event)}).to_string();
            report(
                "slack_webhook",
                client.post("Slack webhook", url.expose(), &body, &[]).await.map(|_| ()),
            );
        }
        if let Some(w) = &sinks.webhook {
            report("webhook", webhook(&client, w, &about, &event).await);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test cases 1, 2 and 6 (a key longer than the block).
    #[test]
    fn hmac_matches_rfc_4231() {
        let cases: [(&[u8], &[u8], &str); 3] = [
            (
                &[0x0b; 20],
                b"Hi There",
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
            ),
            (
                b"Jefe",
                b"what do ya want for nothing?",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
            ),
            (
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
            ),
        ];
        for (key, message, expected) in cases {
            assert_eq!(hex(&hmac_sha256(key, message)), expected);
        }
    }

    /// The Slack text names the region, the wave and the production traffic reported.
    #[test]
    fn slack_text_says_region_wave_and_traffic() {
        let about = About {
            app: "web".into(),
            environment: "prod".into(),
            version: "v1.2.0".into(),
            target: "ECS service web".into(),
            region: Some("eu-west-1".into()),
            wave: Some("wave 2 of 3".into()),
            run_url: None,
            url: None,
        };
        let event = Event::Progress {
            phase: "follow the canary".into(),
            traffic_percent: Some(10.0),
        };
        assert_eq!(
            slack_text(&about, &event),
            ":hourglass_flowing_sand: Deploying *web* v1.2.0 to *prod* (ECS service web, eu-west-1, wave 2 of 3): \
             follow the canary (production traffic 10%)"
        );
    }
}
