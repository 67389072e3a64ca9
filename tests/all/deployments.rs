//! GitHub deployments against a local HTTP server standing in for the GitHub REST API:
//! the order and payload of the calls slipway makes through octocrab, and that a 401
//! or a 500 from GitHub only warns while the deploy's own result stands.

use std::process::Command;

use serde_json::Value;

use crate::support::action::parse_outputs;
use crate::support::http::{Request, Response, Server};
use crate::support::{bin, run, Dir, Run};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

/// A fake GitHub: deployment 7 is created, statuses are accepted, unless `fail` says
/// which status code to answer for which paths.
fn github(fail: Option<(u16, &'static str)>) -> Server {
    github_creating(7, fail)
}

/// A fake GitHub whose deployments get id `id`.
fn github_creating(id: u64, fail: Option<(u16, &'static str)>) -> Server {
    Server::start(move |req: &Request| {
        if let Some((status, path_part)) = fail {
            if req.target.contains(path_part) {
                return Response::new(
                    status,
                    format!(
                        r#"{{"message":"refused with {status}","documentation_url":"https://docs.github.com/rest"}}"#
                    ),
                );
            }
        }
        if req.target.ends_with("/statuses") {
            Response::new(201, r#"{"id": 1, "state": "in_progress"}"#)
        } else {
            Response::new(201, format!(r#"{{"id": {id}, "sha": "x"}}"#))
        }
    })
}

fn health(status: u16) -> Server {
    Server::start(move |_| Response::new(status, r#"{"status":"ok"}"#))
}

fn config(dir: &Dir, health_url: &str) -> String {
    dir.write(
        "slipway.yml",
        &format!(
            "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::222222222222:role/deploy\n      region: eu-west-1\n    url: https://stage.example.com\n    health:\n      urls:\n        - url: {health_url}\n          consecutive: 1\n"
        ),
    )
    .display()
    .to_string()
}

fn in_actions(cmd: &mut Command, api: &Server, dir: &Dir) {
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_REPOSITORY", "octo/web")
        .env("GITHUB_RUN_ID", "42")
        .env("GITHUB_SERVER_URL", "https://github.example")
        .env("GITHUB_API_URL", &api.url)
        .env("GITHUB_TOKEN", "t0ken-secret")
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"));
}

/// slipway-wait --deployment against `api`. A healthy endpoint gets the default budget (a
/// loaded machine cannot make it time out); an unhealthy one times out after 2s.
fn wait_with_deployment(api: &Server, health_status: u16, extra: &[&str]) -> (Run, Dir) {
    let dir = Dir::new();
    let health = health(health_status);
    let config = config(&dir, &format!("{}/healthz", health.url));
    let mut cmd = bin("slipway-wait");
    in_actions(&mut cmd, api, &dir);
    cmd.args([
        "--config",
        &config,
        "--environment",
        "stage",
        "--deployment",
        "--interval",
        "100ms",
    ])
    .args(if health_status == 200 {
        &[][..]
    } else {
        &["--timeout", "2s"][..]
    })
    .args(extra);
    (run(&mut cmd), dir)
}

fn body(req: &Request) -> Value {
    serde_json::from_str(&req.body).expect("a JSON body")
}

#[test]
fn a_healthy_wait_records_a_deployment_in_progress_then_success() {
    let api = github(None);
    let (r, _dir) = wait_with_deployment(&api, 200, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls = api.requests();
    let paths: Vec<(&str, &str)> = calls.iter().map(|c| (c.method.as_str(), c.target.as_str())).collect();
    assert_eq!(
        paths,
        [
            ("POST", "/repos/octo/web/deployments"),
            ("POST", "/repos/octo/web/deployments/7/statuses"),
            ("POST", "/repos/octo/web/deployments/7/statuses"),
        ]
    );
    let created = body(&calls[0]);
    assert_eq!(created["ref"], SHA);
    assert_eq!(created["environment"], "stage");
    assert_eq!(created["auto_merge"], false);
    assert_eq!(created["required_contexts"], serde_json::json!([]));
    assert_eq!(created["production_environment"], false);
    for (call, state) in calls[1..].iter().zip(["in_progress", "success"]) {
        let status = body(call);
        assert_eq!(status["state"], state);
        assert_eq!(status["environment"], "stage");
        assert_eq!(status["environment_url"], "https://stage.example.com");
        assert_eq!(status["log_url"], "https://github.example/octo/web/actions/runs/42");
    }
    for call in &calls {
        let auth = call.headers.get("authorization").cloned().unwrap_or_default();
        assert!(auth.ends_with("t0ken-secret"), "authorization header {auth:?}");
    }
    assert!(!r.all_text().contains("t0ken-secret"), "the token was printed");
}

#[test]
fn an_unhealthy_wait_records_failure_and_keeps_its_exit_code() {
    let api = github(None);
    let (r, _dir) = wait_with_deployment(&api, 503, &[]);
    assert_eq!(r.code, 3, "timed out: {}", r.stderr);
    let states: Vec<Value> = api.requests()[1..].iter().map(|c| body(c)["state"].clone()).collect();
    assert_eq!(states, ["in_progress", "failure"]);
}

#[test]
fn a_401_from_github_warns_and_the_deploy_goes_on() {
    let api = github(Some((401, "/repos/")));
    let (r, dir) = wait_with_deployment(&api, 200, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // One refused create; no statuses are posted for a deployment that does not exist.
    assert_eq!(api.requests().len(), 1);
    assert!(r.stderr.contains("::warning"), "{}", r.stderr);
    assert!(r.stderr.contains("401"), "{}", r.stderr);
    assert!(r.stderr.contains("the deploy goes on without it"), "{}", r.stderr);
    assert_eq!(parse_outputs(&dir.read("output"))["healthy"], "true");
}

#[test]
fn a_500_on_statuses_warns_and_the_deploy_goes_on() {
    let api = github(Some((500, "/statuses")));
    let (r, _dir) = wait_with_deployment(&api, 200, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls = api.requests();
    assert_eq!(calls[0].target, "/repos/octo/web/deployments");
    assert!(calls[1..].iter().all(|c| c.target.ends_with("/deployments/7/statuses")));
    assert!(r.stderr.contains("cannot post the in_progress status"), "{}", r.stderr);
    assert!(r.stderr.contains("cannot post the success status"), "{}", r.stderr);
    assert!(r.stderr.contains("500"), "{}", r.stderr);
}

#[test]
fn an_unreachable_github_warns_and_the_deploy_goes_on() {
    let dir = Dir::new();
    let health = health(200);
    let config = config(&dir, &format!("{}/healthz", health.url));
    let refusing = crate::support::http::RefusingPort::new();
    let mut cmd = bin("slipway-wait");
    let api = Server::start(|_| Response::new(200, "{}"));
    in_actions(&mut cmd, &api, &dir);
    cmd.env("GITHUB_API_URL", format!("http://127.0.0.1:{}", refusing.port))
        .args(["--config", &config, "--environment", "stage", "--deployment"]);
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("cannot reach the GitHub API"), "{}", r.stderr);
}

#[test]
fn env_creates_the_deployment_and_wait_closes_it() {
    let api = github_creating(4711, None);
    let dir = Dir::new();
    let config = crate::support::root().join("examples/slipway.yml");
    let mut cmd = bin("slipway-env");
    in_actions(&mut cmd, &api, &dir);
    cmd.args(["--config"])
        .arg(&config)
        .args(["--event", "push", "--ref", "refs/tags/v1.2.0", "--deployment"]);
    let r = run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The id GitHub gave the new deployment, passed on as the workflow would.
    let id = parse_outputs(&dir.read("output"))["deployment-id"].clone();
    assert_eq!(id, "4711");
    let calls = api.requests();
    assert_eq!(calls.len(), 2);
    let created = body(&calls[0]);
    assert_eq!(created["environment"], "prod");
    assert_eq!(created["production_environment"], true);
    assert_eq!(created["description"], "web v1.2.0");
    assert_eq!(body(&calls[1])["state"], "in_progress");
    assert_eq!(body(&calls[1])["environment_url"], "https://web.example.com");

    // slipway-wait --deployment-id posts the result to that deployment, creating none.
    let (r, _dir) = wait_with_deployment(&api, 200, &["--deployment-id", &id]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let calls = api.requests();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[1].target, "/repos/octo/web/deployments/4711/statuses");
    assert_eq!(calls[2].target, "/repos/octo/web/deployments/4711/statuses");
    assert_eq!(body(&calls[2])["state"], "success");
}

#[test]
fn outside_actions_no_deployment_is_recorded() {
    let api = github(None);
    let (r, _dir) = {
        let dir = Dir::new();
        let health = health(200);
        let config = config(&dir, &format!("{}/healthz", health.url));
        let mut cmd = bin("slipway-wait");
        cmd.env("GITHUB_API_URL", &api.url).env("GITHUB_TOKEN", "t").args([
            "--config",
            &config,
            "--environment",
            "stage",
            "--deployment",
        ]);
        (run(&mut cmd), dir)
    };
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(api.requests().is_empty());
}

#[test]
fn a_dry_run_posts_nothing_to_github() {
    // Neither a new deployment nor one given by id: a dry run calls no API.
    for extra in [&["--dry-run"][..], &["--dry-run", "--deployment-id", "7"][..]] {
        let api = github(None);
        let (r, _dir) = wait_with_deployment(&api, 200, extra);
        assert_eq!(r.code, 0, "{}", r.stderr);
        assert!(r.stderr.contains("dry run, nothing was polled"), "{}", r.stderr);
        let calls: Vec<String> = api
            .requests()
            .iter()
            .map(|c| format!("{} {}", c.method, c.target))
            .collect();
        assert!(calls.is_empty(), "a dry run called GitHub: {calls:?}");
    }
}
