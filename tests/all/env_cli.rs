//! slipway-env in a simulated GitHub Actions run and on a terminal: outputs, summary, JSON.

use crate::support::{bin, root, run, Dir};
use slipway::github::files::parse_outputs;

const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

fn example() -> String {
    root().join("examples/slipway.yml").display().to_string()
}

/// Runs slipway-env as GitHub Actions would, with output and summary files in `dir`.
fn actions(dir: &Dir, event: &str, git_ref: &str, payload: Option<&str>) -> crate::support::Run {
    let mut cmd = bin("slipway-env");
    cmd.env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", event)
        .env("GITHUB_REF", git_ref)
        .env("GITHUB_SHA", SHA)
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"))
        .env("SLIPWAY_CONFIG", example());
    if let Some(p) = payload {
        cmd.env("GITHUB_EVENT_PATH", dir.write("event.json", p));
    }
    run(&mut cmd)
}

fn outputs(dir: &Dir) -> std::collections::BTreeMap<String, String> {
    parse_outputs(&dir.read("output")).into_iter().collect()
}

#[test]
fn tag_push_writes_prod_outputs_and_summary() {
    let dir = Dir::new();
    let r = actions(&dir, "push", "refs/tags/v1.2.0", Some("{}"));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(out["environment"], "prod");
    assert_eq!(out["deploy"], "true");
    assert_eq!(out["version"], "v1.2.0");
    assert_eq!(out["role-arn"], "arn:aws:iam::333333333333:role/slipway-deploy-prod");
    assert_eq!(out["region"], "eu-west-1");
    assert_eq!(
        dir.read("summary"),
        "**slipway**: push of tag v1.2.0 → deploy `web` to **prod**, version `v1.2.0`\n"
    );
    assert!(r.stderr.contains("deploy web to prod, version v1.2.0"), "{}", r.stderr);
    assert!(r.stdout.is_empty(), "text mode keeps stdout clean: {}", r.stdout);
}

#[test]
fn dispatch_input_from_the_payload_picks_the_environment() {
    let dir = Dir::new();
    let payload = r#"{"inputs": {"environment": "stage", "dry_run": true}, "ref": "refs/heads/main"}"#;
    let r = actions(&dir, "workflow_dispatch", "refs/heads/feature/x", Some(payload));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(out["environment"], "stage");
    assert_eq!(out["version"], &SHA[..7]);
    assert_eq!(out["region"], "eu-west-1");
}

#[test]
fn feature_branch_push_does_not_deploy() {
    let dir = Dir::new();
    let r = actions(&dir, "push", "refs/heads/feature/login", None);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(out["deploy"], "false");
    assert_eq!(out["environment"], "");
    assert_eq!(out["role-arn"], "");
    assert!(dir.read("summary").contains("no deploy (test and plan only)"));
}

#[test]
fn terminal_flags_and_json_on_stdout() {
    let r = run(bin("slipway-env").args([
        "--config",
        &example(),
        "--event",
        "push",
        "--ref",
        "main",
        "--sha",
        SHA,
        "--output",
        "json",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).expect("stdout is one JSON document");
    assert_eq!(v["environment"], "stage");
    assert_eq!(v["deploy"], true);
    assert_eq!(v["version"], &SHA[..7]);
    assert_eq!(v["event"]["git_ref"], "refs/heads/main");
    assert_eq!(v["settings"]["asg"]["name"], "web-stage");
    assert_eq!(v["settings"]["asg"]["strategy"], "surge");
    assert!(!r.stderr.contains('{'), "no JSON on stderr: {}", r.stderr);
}

#[test]
fn short_tag_ref_with_ref_type() {
    let r = run(bin("slipway-env").args([
        "--config",
        &example(),
        "--event",
        "push",
        "--ref",
        "v2.0.0",
        "--ref-type",
        "tag",
        "--sha",
        SHA,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("deploy web to prod, version v2.0.0"), "{}", r.stderr);
}

#[test]
fn the_committed_schema_matches_the_types() {
    let r = run(bin("slipway-env").arg("schema"));
    assert_eq!(r.code, 0);
    let committed = std::fs::read_to_string(root().join("slipway.schema.json")).unwrap();
    assert!(
        committed == r.stdout,
        "slipway.schema.json is stale: run `cargo run --bin slipway-env -- schema > slipway.schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&committed).unwrap();
    assert_eq!(
        schema["additionalProperties"], false,
        "unknown top-level keys are refused"
    );
    assert!(schema["$defs"]["Aws"]["properties"]["role_arn"]["description"].is_string());
}

#[test]
fn a_push_that_deletes_a_ref_deploys_nowhere_and_says_why() {
    for (git_ref, what) in [("refs/tags/v1.2.0", "tag v1.2.0"), ("refs/heads/main", "branch main")] {
        let dir = Dir::new();
        let payload = format!(
            r#"{{"ref": "{git_ref}", "deleted": true, "after": "{}"}}"#,
            "0".repeat(40)
        );
        let r = actions(&dir, "push", git_ref, Some(&payload));
        assert_eq!(r.code, 0, "{}", r.stderr);
        let out = outputs(&dir);
        assert_eq!(out["deploy"], "false", "{git_ref}");
        assert_eq!(out["environment"], "", "{git_ref}");
        assert_eq!(out["role-arn"], "", "{git_ref}");
        assert_eq!(out["reason"], format!("push of {what} deletes the ref: no deploy"));
        assert!(
            dir.read("summary").contains("no deploy (the push deleted the ref)"),
            "{}",
            dir.read("summary")
        );
        assert!(r.stderr.contains("deletes the ref: no deploy"), "{}", r.stderr);
    }
}
