//! Deploy notifications: Slack (one message per deploy, posted at the start and updated
//! in place), a Slack incoming webhook (start and end) and a generic webhook (JSON events
//! signed with HMAC-SHA256). They run on a thread of their own with real time (a
//! `--simulate` roll runs on virtual time), every request bounded by a timeout and a few
//! retries; a failure is a warning and never changes the deploy's exit code.

mod send;

use std::sync::mpsc;
use std::time::Duration;

use serde::Serialize;

use crate::config::Notify;
use crate::github::Runner;
use crate::secret::Secret;

pub use send::hmac_sha256;

/// How long the end of a deploy waits for its notifications at most.
pub const FLUSH_WITHIN: Duration = Duration::from_secs(10);
/// Each request's timeout.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(4);
/// Attempts per request (the first and two retries).
pub const ATTEMPTS: u32 = 3;
/// Progress updates are sent at most this often (the end is always sent).
pub const UPDATE_EVERY: Duration = Duration::from_secs(2);

/// What a deploy is, for every message.
#[derive(Debug, Clone, Serialize)]
pub struct About {
    pub app: String,
    pub environment: String,
    pub version: String,
    /// What is deployed: `ECS service web`, `Auto Scaling group web-prod`.
    pub target: String,
    /// The AWS region it is deployed in.
    pub region: Option<String>,
    /// In a roll of several regions: `wave 2 of 3`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wave: Option<String>,
    /// The workflow run, in Actions.
    pub run_url: Option<String>,
    /// The environment's URL.
    pub url: Option<String>,
}

/// One thing that happened to the deploy.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started,
    /// A phase of the deploy began, or the new version's share of production traffic
    /// changed during it.
    Progress {
        phase: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        traffic_percent: Option<f64>,
    },
    /// The end: the result (succeeded, rolled_back, ...), whether it is a success, and why not.
    Finished {
        result: String,
        ok: bool,
        summary: String,
        error: Option<String>,
    },
}

/// Where the notifications go, with their secrets read from the environment.
#[derive(Debug, Clone, Default)]
pub(crate) struct Sinks {
    pub slack: Option<(Secret, String, String)>,
    pub slack_webhook: Option<Secret>,
    pub webhook: Option<(Secret, Option<Secret>)>,
}

/// The running notifications of one deploy.
pub struct Notifier {
    tx: mpsc::Sender<Event>,
    done: mpsc::Receiver<()>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Notifier")
    }
}

/// The Slack Web API's base URL (`SLIPWAY_SLACK_API_URL` for a proxy or a stand-in).
fn slack_api() -> String {
    std::env::var("SLIPWAY_SLACK_API_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "https://slack.com/api".into())
}

/// A variable's value, masked; a missing one is a warning and that sink is left out.
fn secret(name: &str, what: &str, runner: &Runner) -> Option<Secret> {
    match std::env::var(name).ok().filter(|v| !v.is_empty()) {
        Some(value) => {
            runner.mask(&value);
            Some(value.into())
        }
        None => {
            eprintln!("warning: notify.{what}: the environment variable {name} is not set; no {what} notifications");
            None
        }
    }
}

impl Notifier {
    /// Starts the notifications `notify` asks for (None when it asks for none, or every
    /// one lacks its secret), and posts the start.
    pub fn start(notify: &Notify, about: About, runner: &Runner) -> Option<Notifier> {
        let sinks = Sinks {
            slack: notify
                .slack
                .as_ref()
                .and_then(|s| secret(&s.token_env, "slack", runner).map(|t| (t, s.channel.clone(), slack_api()))),
            slack_webhook: notify
                .slack_webhook
                .as_ref()
                .and_then(|s| secret(&s.webhook_env, "slack_webhook", runner)),
            webhook: notify.webhook.as_ref().and_then(|w| {
                let url = secret(&w.url_env, "webhook", runner)?;
                let key = w.secret_env.as_deref().and_then(|n| secret(n, "webhook", runner));
                Some((url, key))
            }),
        };
        if sinks.slack.is_none() && sinks.slack_webhook.is_none() && sinks.webhook.is_none() {
            return None;
        }
        let (tx, rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("slipway-notify".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
                if let Ok(runtime) = runtime {
                    runtime.block_on(send::run(sinks, about, rx));
                }
                let _ = done_tx.send(());
            });
        if let Err(e) = spawned {
            eprintln!("warning: notifications: cannot start their thread: {e}");
            return None;
        }
        let notifier = Notifier { tx, done };
        notifier.send(Event::Started);
        Some(notifier)
    }

    /// Where a running deploy queues its events.
    pub fn sender(&self) -> mpsc::Sender<Event> {
        self.tx.clone()
    }

    /// Queues an event; never blocks the deploy.
    pub fn send(&self, event: Event) {
        let _ = self.tx.send(event);
    }

    /// Sends the end and waits until every notification went out, at most `FLUSH_WITHIN`.
    pub fn finish(self, event: Event) {
        self.send(event);
        drop(self.tx);
        if self.done.recv_timeout(FLUSH_WITHIN).is_err() {
            eprintln!(
                "warning: notifications: not all sent within {}s; the deploy's result stands",
                FLUSH_WITHIN.as_secs()
            );
        }
    }
}
