//! The OIDC flow end to end: a local stand-in for GitHub's token endpoint that checks
//! the audience and bearer, then moto's STS; the account guard; and no credential in
//! any output except the runner's mask commands.

use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::{bin, run, Dir, Run};
use slipway::github::files::parse_outputs;

const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";
const REQUEST_TOKEN: &str = "runner-request-token-5f2a";
const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm9jdG8vd2ViOmVudmlyb25tZW50OnByb2QifQ.c2lnbmF0dXJl";

fn config(account: &str, allowed: &str) -> String {
    format!(
        "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::{account}:role/deploy\n      \
         region: us-east-1\n      allowed_account_ids: [\"{allowed}\"]\n"
    )
}

/// GitHub's token endpoint: a token for the right bearer and audience, 401/400 otherwise.
fn token_endpoint() -> Server {
    Server::start(|req| {
        if req.headers.get("authorization").map(String::as_str) != Some(&format!("bearer {REQUEST_TOKEN}")) {
            return Response::new(401, r#"{"message":"bad bearer"}"#);
        }
        if !req.target.contains("audience=sts.amazonaws.com") {
            return Response::new(400, r#"{"message":"wrong audience"}"#);
        }
        Response::new(200, format!(r#"{{"count":1,"value":"{JWT}"}}"#))
    })
}

fn in_actions(dir: &Dir, config: &str, token_url: &str) -> Run {
    let path = dir.write("slipway.yml", config);
    run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args([
            "--check-credentials",
            "--event",
            "push",
            "--ref",
            "refs/tags/v3.1.0",
            "--sha",
            SHA,
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "octo/web")
        .env("GITHUB_RUN_ID", "4242")
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{token_url}/token?api-version=2.0"),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        .env("AWS_ENDPOINT_URL", &moto().endpoint))
}

#[test]
fn oidc_token_is_exchanged_with_sts_and_every_secret_masked() {
    let dir = Dir::new();
    let github = token_endpoint();
    let r = in_actions(&dir, &config("210987654321", "210987654321"), &github.url);
    assert_eq!(r.code, 0, "{}", r.stderr);

    // The token endpoint saw one request with the runner's bearer and STS's audience.
    let requests = github.requests();
    assert_eq!(requests.len(), 1);
    assert!(requests[0]
        .target
        .starts_with("/token?api-version=2.0&audience=sts.amazonaws.com"));

    // The session is the role's, in its account.
    assert!(
        r.stderr
            .contains("arn:aws:sts::210987654321:assumed-role/deploy/slipway-web-web-4242"),
        "{}",
        r.stderr
    );
    let outputs: std::collections::BTreeMap<_, _> = parse_outputs(&dir.read("output")).into_iter().collect();
    assert_eq!(outputs["account"], "210987654321");

    // Every secret is masked before anything else could print it, and shows nowhere else.
    let text = r.all_text();
    let masked: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("::add-mask::")).collect();
    assert!(masked.contains(&REQUEST_TOKEN), "request token masked");
    assert!(masked.contains(&JWT), "OIDC token masked");
    assert!(
        masked.iter().any(|m| m.starts_with("ASIA")),
        "access key id masked: {masked:?}"
    );
    assert!(
        masked.len() >= 5,
        "request token, JWT, key id, secret key, session token: {masked:?}"
    );
    for secret in &masked {
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            assert!(!line.contains(secret), "secret {secret:?} leaked in {line:?}");
        }
    }
}

#[test]
fn the_account_guard_refuses_another_account() {
    // Outside Actions the standard chain is used; moto's caller is account 123456789012.
    let dir = Dir::new();
    let path = dir.write("slipway.yml", &config("210987654321", "210987654321"));
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args([
            "--check-credentials",
            "--event",
            "push",
            "--ref",
            "refs/tags/v3.1.0",
            "--sha",
            SHA,
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY000001")
        .env("AWS_SECRET_ACCESS_KEY", "example-secret-never-printed")
        .env("AWS_ENDPOINT_URL", &moto().endpoint));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("refusing to deploy environment \"prod\": the credentials belong to account 123456789012"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("allowed: 210987654321"), "{}", r.stderr);
    assert!(!r.all_text().contains("example-secret-never-printed"));

    // The same chain passes when the account is the allowed one.
    let path = dir.write("slipway.yml", &config("123456789012", "123456789012"));
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args([
            "--check-credentials",
            "--event",
            "push",
            "--ref",
            "refs/tags/v3.1.0",
            "--sha",
            SHA,
        ])
        .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY000001")
        .env("AWS_SECRET_ACCESS_KEY", "example-secret-never-printed")
        .env("AWS_ENDPOINT_URL", &moto().endpoint));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.all_text().contains("example-secret-never-printed"));
}

#[test]
fn a_missing_id_token_permission_says_so() {
    let dir = Dir::new();
    let path = dir.write("slipway.yml", &config("210987654321", "210987654321"));
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args([
            "--check-credentials",
            "--event",
            "push",
            "--ref",
            "refs/tags/v3.1.0",
            "--sha",
            SHA,
        ])
        .env("GITHUB_ACTIONS", "true")
        .env("AWS_ENDPOINT_URL", &moto().endpoint));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the workflow lacks `permissions: id-token: write`"),
        "{}",
        r.stderr
    );
}

#[test]
fn a_403_from_the_token_endpoint_is_bad_input_with_the_fix() {
    let dir = Dir::new();
    let github = Server::start(|_| Response::new(403, r#"{"message":"Resource not accessible by integration"}"#));
    let r = in_actions(&dir, &config("210987654321", "210987654321"), &github.url);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("refused the request (HTTP 403): {\"message\":\"Resource not accessible"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("permissions: id-token: write"), "{}", r.stderr);
}

#[test]
fn garbage_from_the_token_endpoint_is_bad_input() {
    let dir = Dir::new();
    for body in ["<html>proxy error</html>", r#"{"count":0}"#, r#"{"value":""}"#] {
        let github = Server::start(move |_| Response::new(200, body));
        let r = in_actions(&dir, &config("210987654321", "210987654321"), &github.url);
        assert_eq!(r.code, 2, "{body}: {}", r.stderr);
        assert!(r.stderr.contains("answered without a token"), "{body}: {}", r.stderr);
    }
}

/// No credentials anywhere (an empty HOME, no AWS_* variables at all): slipway-build
/// --dry-run says so in one line with the sources it looked in and the fix, exits 2,
/// and prints neither the SDK's log lines nor its Debug dump.
#[test]
fn no_credentials_is_one_plain_message() {
    let home = Dir::new();
    let dir = Dir::new();
    let config = dir.write(
        "slipway.yml",
        "app: web\nenvironments:\n  dev:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      \
         region: us-east-1\n    ecr: { repository: web }\n",
    );
    dir.write("Dockerfile", "FROM scratch\n");
    let mut cmd = bin("slipway-build");
    for key in [
        "AWS_EC2_METADATA_DISABLED",
        "AWS_CONFIG_FILE",
        "AWS_SHARED_CREDENTIALS_FILE",
    ] {
        cmd.env_remove(key);
    }
    let r = run(cmd
        .current_dir(dir.path())
        .env("HOME", home.path())
        .arg("--config")
        .arg(&config)
        .args(["--environment", "dev", "--sha", SHA, "--dry-run"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "the error and its help: {}", r.stderr);
    assert!(
        lines[0].starts_with("slipway-build: error: no AWS credentials found (looked in the environment"),
        "{}",
        r.stderr
    );
    assert!(lines[0].contains("EC2 instance metadata"), "{}", r.stderr);
    assert!(
        lines[1].contains("aws sso login") && lines[1].contains("AWS_PROFILE"),
        "{}",
        r.stderr
    );
    assert!(lines[1].contains("id-token: write"), "{}", r.stderr);
    for noise in ["WARN", "ProviderError", "DispatchFailure", "SdkBody"] {
        assert!(!r.stderr.contains(noise), "{noise}: {}", r.stderr);
    }
}

/// A job that outlives its role session: moto's STS answers (through the proxy) with a
/// session that ends 3 seconds after it began, standing in for `aws.session_duration`
/// ending before a long roll, wait or bake does. slipway-wait watches an alarm for ~8
/// seconds (until a slow URL answers): the session is renewed before it ends, each time
/// with a new OIDC token and AssumeRoleWithWebIdentity (both counted), and the wait
/// succeeds; every renewed secret is masked too.
#[test]
fn credentials_are_renewed_before_the_session_ends_and_a_longer_job_succeeds() {
    use std::time::{Duration, Instant, SystemTime};
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = crate::support::proxy::Proxy::start(&moto().endpoint, 0.0, 21);
    rt.block_on(crate::alarms_moto::alarm(
        &proxy.endpoint,
        "renew-ok",
        aws_sdk_cloudwatch::types::StateValue::Ok,
    ));
    let expiration = regex::Regex::new("<Expiration>[^<]*</Expiration>").unwrap();
    proxy.rewrite("AssumeRoleWithWebIdentity", move |body| {
        let ends = aws_sdk_sts::primitives::DateTime::from(SystemTime::now() + Duration::from_secs(3));
        let ends = ends.fmt(aws_sdk_sts::primitives::DateTimeFormat::DateTime).unwrap();
        expiration
            .replace(body, format!("<Expiration>{ends}</Expiration>"))
            .into_owned()
    });
    let started = Instant::now();
    let slow = Server::start(move |_| match started.elapsed() > Duration::from_secs(8) {
        true => Response::new(200, "ok"),
        false => Response::new(503, "warming up"),
    });
    let github = token_endpoint();
    let dir = Dir::new();
    let path = dir.write("slipway.yml", &config("123456789012", "123456789012"));
    let r = run(bin("slipway-wait")
        .arg("--config")
        .arg(&path)
        .args(["--environment", "prod", "--sha", SHA, "--alarm", "renew-ok", "--url"])
        .arg(format!("{}/healthz", slow.url))
        .args(["--consecutive", "1", "--aws-interval", "1s", "--timeout", "60s"])
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "octo/web")
        .env("GITHUB_RUN_ID", "4243")
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/token?api-version=2.0", github.url),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        .env("AWS_ENDPOINT_URL", &proxy.endpoint));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let assumed = proxy.count("AssumeRoleWithWebIdentity");
    let tokens = github.requests().len();
    assert!(
        assumed >= 3,
        "renewed at least twice in ~8s of 3-second sessions: {assumed}"
    );
    assert_eq!(tokens, assumed, "each renewal with a new OIDC token");
    assert!(
        r.stderr
            .contains("renewed the role session of arn:aws:iam::123456789012:role/deploy"),
        "{}",
        r.stderr
    );
    let masked = r
        .all_text()
        .lines()
        .filter(|l| l.starts_with("::add-mask::ASIA"))
        .count();
    assert_eq!(masked, assumed, "every session's key id masked");
}
