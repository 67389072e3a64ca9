//! Deploy notifications from a simulated roll to local stand-ins: Slack's Web API (one
//! chat.postMessage, then only chat.update calls with its `ts`, the last one saying the
//! outcome), a Slack incoming webhook (start and end) and a webhook receiver that checks
//! every HMAC-SHA256 signature. Slack answering 500, or never answering, leaves the
//! deploy's exit code and result as they were, with a warning.

use std::net::TcpListener;

use crate::roll_cli::{outputs, simulate_cmd, CONFIG};
use crate::support::http::{Response, Server};
use crate::support::{run, Dir, Run};

const TOKEN: &str = "xoxb-test-5f2a";
const SECRET: &str = "webhook-secret-9c1e";
const TS: &str = "1700000000.000100";

fn config(notify: &str) -> String {
    format!("{CONFIG}notify:\n{notify}")
}

/// Slack's Web API: the bot token checked, a `ts` for the posted message.
fn slack() -> Server {
    Server::start(|req| {
        if req.headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {TOKEN}")) {
            return Response::new(200, r#"{"ok":false,"error":"invalid_auth"}"#);
        }
        let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
        match req.target.as_str() {
            "/api/chat.postMessage" => Response::new(200, format!(r#"{{"ok":true,"channel":"C042","ts":"{TS}"}}"#)),
            "/api/chat.update" if body["ts"] == TS && body["channel"] == "C042" => {
                Response::new(200, format!(r#"{{"ok":true,"channel":"C042","ts":"{TS}"}}"#))
            }
            _ => Response::new(200, r#"{"ok":false,"error":"message_not_found"}"#),
        }
    })
}

fn roll(dir: &Dir, yaml: &str, extra: &[&str], env: &[(&str, String)]) -> Run {
    let mut cmd = simulate_cmd(dir, yaml, extra);
    for (k, v) in env {
        cmd.env(k, v);
    }
    run(&mut cmd)
}

#[test]
fn a_deploy_posts_once_then_updates_in_place_and_signs_every_webhook_event() {
    let (slack, hook, incoming) = (
        slack(),
        Server::start(|_| Response::new(204, "")),
        Server::start(|_| Response::new(200, "ok")),
    );
    let yaml = config(
        "  slack: {token_env: TEST_SLACK_TOKEN, channel: \"#deploys\"}\n  \
         slack_webhook: {webhook_env: TEST_SLACK_HOOK}\n  \
         webhook: {url_env: TEST_HOOK_URL, secret_env: TEST_HOOK_SECRET}\n",
    );
    let env = [
        ("TEST_SLACK_TOKEN", TOKEN.to_string()),
        ("SLIPWAY_SLACK_API_URL", format!("{}/api", slack.url)),
        ("TEST_SLACK_HOOK", format!("{}/services/T0/B0/x", incoming.url)),
        ("TEST_HOOK_URL", format!("{}/deploys", hook.url)),
        ("TEST_HOOK_SECRET", SECRET.to_string()),
        ("GITHUB_ACTIONS", "true".to_string()),
        ("GITHUB_REPOSITORY", "octo/web".to_string()),
        ("GITHUB_RUN_ID", "77".to_string()),
    ];
    let dir = Dir::new();
    let r = roll(&dir, &yaml, &[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("warning: notification"), "{}", r.stderr);
    for secret in [TOKEN, SECRET] {
        assert!(r.stderr.contains(&format!("::add-mask::{secret}")), "{secret} masked");
    }

    // Slack: one postMessage, then only updates of that message; the last says the outcome.
    let calls = slack.requests();
    let targets: Vec<&str> = calls.iter().map(|c| c.target.as_str()).collect();
    assert_eq!(targets[0], "/api/chat.postMessage", "{targets:?}");
    assert!(targets.len() >= 2, "{targets:?}");
    assert!(targets[1..].iter().all(|t| *t == "/api/chat.update"), "{targets:?}");
    let first: serde_json::Value = serde_json::from_str(&calls[0].body).unwrap();
    assert_eq!(first["channel"], "#deploys");
    assert!(
        first["text"].as_str().unwrap().contains(":rocket: Deploying *web*"),
        "{first}"
    );
    let last: serde_json::Value = serde_json::from_str(&calls.last().unwrap().body).unwrap();
    let text = last["text"].as_str().unwrap();
    assert!(
        text.contains(":white_check_mark:") && text.contains("succeeded"),
        "{text}"
    );
    assert!(
        text.contains("<https://github.com/octo/web/actions/runs/77|run>"),
        "{text}"
    );

    // The incoming webhook: the start and the end.
    let posted: Vec<String> = incoming.requests().iter().map(|r| r.body.clone()).collect();
    assert_eq!(posted.len(), 2, "{posted:?}");
    assert!(posted[1].contains("succeeded"), "{posted:?}");

    // The webhook: started, progress..., finished; every signature checks out.
    let events = hook.requests();
    let names: Vec<String> = events.iter().map(|e| e.headers["x-slipway-event"].clone()).collect();
    assert_eq!(names.first().map(String::as_str), Some("started"), "{names:?}");
    assert_eq!(names.last().map(String::as_str), Some("finished"), "{names:?}");
    for e in &events {
        let mac = slipway::notify::hmac_sha256(SECRET.as_bytes(), e.body.as_bytes());
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            e.headers["x-slipway-signature-256"],
            format!("sha256={hex}"),
            "{}",
            e.body
        );
    }
    let end: serde_json::Value = serde_json::from_str(&events.last().unwrap().body).unwrap();
    assert_eq!(
        (end["result"].as_str(), end["ok"].as_bool()),
        (Some("succeeded"), Some(true)),
        "{end}"
    );
    assert_eq!(end["deploy"]["environment"], "stage");
    assert_eq!(end["deploy"]["region"], "eu-west-1");

    // A rolled-back deploy says so, with the reason.
    let dir = Dir::new();
    let slack = self::slack();
    let mut env = env.to_vec();
    env[1].1 = format!("{}/api", slack.url);
    let r = roll(&dir, &yaml, &["--sim-fail-new-version"], &env);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let last: serde_json::Value = serde_json::from_str(&slack.requests().last().unwrap().body).unwrap();
    let text = last["text"].as_str().unwrap();
    assert!(
        text.contains(":rotating_light:") && text.contains("rolled_back"),
        "{text}"
    );
    assert!(text.contains("failed its health checks"), "the reason: {text}");
}

#[test]
fn slack_failing_or_silent_never_changes_the_deploys_result() {
    let yaml = config("  slack: {channel: C042}\n");
    // Slack answers 500 to everything: retried, then a warning; the roll succeeds.
    let broken = Server::start(|_| Response::new(500, "oops"));
    let dir = Dir::new();
    let env = [
        ("SLACK_BOT_TOKEN", TOKEN.to_string()),
        ("SLIPWAY_SLACK_API_URL", format!("{}/api", broken.url)),
    ];
    let r = roll(&dir, &yaml, &[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(outputs(&dir)["result"], "succeeded");
    assert!(
        r.stderr
            .contains("warning: notification not sent: Slack chat.postMessage: HTTP 500 (3 attempts)"),
        "{}",
        r.stderr
    );
    assert_eq!(
        broken.requests().len() % 3,
        0,
        "each message tried 3 times: {}",
        broken.requests().len()
    );

    // Slack never answers (a port that accepts and says nothing): bounded, then a warning.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = Dir::new();
    let env = [
        ("SLACK_BOT_TOKEN", TOKEN.to_string()),
        (
            "SLIPWAY_SLACK_API_URL",
            format!("http://{}/api", silent.local_addr().unwrap()),
        ),
    ];
    let r = roll(&dir, &yaml, &[], &env);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(outputs(&dir)["result"], "succeeded");
    assert!(
        r.stderr.contains("notifications: not all sent within 10s"),
        "{}",
        r.stderr
    );

    // A token variable that is not set: a warning, no notification, the roll goes on.
    let dir = Dir::new();
    let r = roll(&dir, &yaml, &[], &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("notify.slack: the environment variable SLACK_BOT_TOKEN is not set"),
        "{}",
        r.stderr
    );
}

/// A roll of several regions notifies per region, naming the region and its wave.
#[test]
fn each_region_of_a_roll_in_waves_is_announced_with_its_wave() {
    let hook = Server::start(|_| Response::new(204, ""));
    let yaml = format!(
        "{}    notify:\n      webhook: {{url_env: TEST_HOOK_URL}}\n",
        crate::waves_sim::ASG
    );
    let dir = Dir::new();
    let r = roll(&dir, &yaml, &[], &[("TEST_HOOK_URL", hook.url.clone())]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let finished: Vec<serde_json::Value> = hook
        .requests()
        .iter()
        .filter(|e| e.headers["x-slipway-event"] == "finished")
        .map(|e| serde_json::from_str(&e.body).unwrap())
        .collect();
    let mut said: Vec<(&str, &str)> = finished
        .iter()
        .map(|e| {
            (
                e["deploy"]["region"].as_str().unwrap(),
                e["deploy"]["wave"].as_str().unwrap(),
            )
        })
        .collect();
    said.sort();
    assert_eq!(
        said,
        [
            ("ap-southeast-2", "wave 2 of 2"),
            ("eu-west-1", "wave 2 of 2"),
            ("us-east-1", "wave 1 of 2")
        ],
        "{finished:?}"
    );
}
