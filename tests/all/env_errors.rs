//! Bad input to slipway-env: each case gets a message naming the field, value and fix,
//! and exit code 2, never a panic.

use crate::support::{bin, run, Dir, Run};

const SHA: &str = "89abcdef0123456789abcdef0123456789abcdef";

const GOOD: &str = "\
app: web
environments:
  prod:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: us-east-1
";

fn env_with_config(dir: &Dir, config: &str, extra: &[&str]) -> Run {
    let path = dir.write("slipway.yml", config);
    let mut cmd = bin("slipway-env");
    cmd.arg("--config")
        .arg(&path)
        .args(["--event", "push", "--ref", "refs/tags/v1.0.0", "--sha", SHA]);
    cmd.args(extra);
    run(&mut cmd)
}

fn assert_input_error(r: &Run, needles: &[&str]) {
    assert_eq!(r.code, 2, "exit code for bad input; stderr:\n{}", r.stderr);
    for needle in needles {
        assert!(r.stderr.contains(needle), "stderr lacks {needle:?}:\n{}", r.stderr);
    }
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let dir = Dir::new();
    let r = env_with_config(&dir, "app: web\n  environments: x\n", &[]);
    assert_input_error(
        &r,
        &[
            "invalid config: mapping values are not allowed in this context (",
            "slipway.yml line 2, column 15)",
            "help:",
        ],
    );
    let r = env_with_config(
        &dir,
        "app: web\nenvironments:\n  prod:\n    aws: {role_arn: x\n    url: y\n",
        &[],
    );
    assert_input_error(
        &r,
        &[
            "did not find expected ',' or '}', while parsing a flow mapping",
            "slipway.yml line 5, column ",
        ],
    );
}

#[test]
fn unknown_keys_are_refused_with_the_expected_ones() {
    let dir = Dir::new();
    let config = GOOD.replace("role_arn:", "rol_arn:");
    let r = env_with_config(&dir, &config, &[]);
    assert_input_error(
        &r,
        &[
            "unknown field `rol_arn`",
            "expected one of `role_arn`",
            "slipway.yml line 5, column 7",
            "remove the key",
        ],
    );
}

#[test]
fn an_environment_without_a_role_points_at_its_line() {
    let dir = Dir::new();
    let config = "app: web\nenvironments:\n  prod:\n    aws:\n      region: us-east-1\n";
    let r = env_with_config(&dir, config, &[]);
    assert_input_error(
        &r,
        &[
            "environment \"prod\" has no aws.role_arn",
            "slipway.yml line 4",
            "add aws.role_arn",
        ],
    );
}

#[test]
fn every_problem_is_listed_at_once() {
    let dir = Dir::new();
    let config = "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: nope\n      region: mars\n";
    let r = env_with_config(&dir, config, &[]);
    assert_input_error(
        &r,
        &[
            "has 2 problems",
            "\"nope\" is not an IAM role ARN",
            "\"mars\" is not an AWS region",
        ],
    );
}

#[test]
fn a_tag_rule_with_a_bad_glob_names_the_pattern_and_line() {
    let dir = Dir::new();
    let config = format!("{GOOD}triggers:\n  - event: push\n    tags: [\"v[0-9\"]\n    environment: prod\n");
    let r = env_with_config(&dir, &config, &[]);
    assert_input_error(
        &r,
        &[
            "trigger rule 1: tags pattern \"v[0-9\" is not a valid glob",
            "slipway.yml line 9",
        ],
    );
}

#[test]
fn a_rule_naming_an_unknown_environment_is_refused() {
    let dir = Dir::new();
    let config = format!("{GOOD}triggers:\n  - event: push\n    branches: [main]\n    environment: stage\n");
    let r = env_with_config(&dir, &config, &[]);
    assert_input_error(
        &r,
        &[
            "deploys to \"stage\", which is not under environments",
            "use one of: prod",
        ],
    );
}

#[test]
fn the_default_table_needs_the_environment_it_names() {
    // Only prod exists; a push to main maps to stage by default.
    let dir = Dir::new();
    let path = dir.write("slipway.yml", GOOD);
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args(["--event", "push", "--ref", "main", "--sha", SHA]));
    assert_input_error(
        &r,
        &["deploys to \"stage\"", "no environment \"stage\"", "write `triggers:`"],
    );
}

#[test]
fn an_event_payload_that_is_not_json() {
    let dir = Dir::new();
    let payload = dir.write("event.json", "inputs: not json");
    let r = env_with_config(&dir, GOOD, &["--event-path", payload.to_str().unwrap()]);
    assert_input_error(&r, &["event payload", "is not JSON", "GITHUB_EVENT_PATH"]);
}

#[test]
fn an_unwritable_github_output() {
    let dir = Dir::new();
    let path = dir.write("slipway.yml", GOOD);
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args(["--event", "push", "--ref", "refs/tags/v1.0.0", "--sha", SHA])
        .env("GITHUB_OUTPUT", dir.path().join("no-such-dir/output")));
    assert_input_error(
        &r,
        &[
            "GITHUB_OUTPUT points at",
            "cannot be written",
            "point GITHUB_OUTPUT at a writable file",
        ],
    );
}

#[test]
fn a_missing_config_file_says_how_to_create_one() {
    let r = run(bin("slipway-env").args([
        "--config",
        "/nonexistent/slipway.yml",
        "--event",
        "push",
        "--ref",
        "main",
    ]));
    assert_input_error(
        &r,
        &["cannot read config /nonexistent/slipway.yml", "examples/slipway.yml"],
    );
}

#[test]
fn an_input_without_equals_and_an_unknown_dispatch_environment() {
    let dir = Dir::new();
    let path = dir.write("slipway.yml", GOOD);
    let base = ["--event", "workflow_dispatch", "--ref", "main", "--sha", SHA];
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args(base)
        .args(["--input", "environment"]));
    assert_input_error(&r, &["--input \"environment\" has no `=`", "KEY=VALUE"]);
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args(base)
        .args(["--input", "environment=prdo"]));
    assert_input_error(&r, &["environment=\"prdo\" names no environment", "one of: prod"]);
}

#[test]
fn flags_that_do_not_parse_exit_2() {
    let r = run(bin("slipway-env").args(["--output", "yaml"]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("invalid value 'yaml'"), "{}", r.stderr);
    // With a config that loads, so the commit alone is what is refused.
    let dir = Dir::new();
    let path = dir.write("slipway.yml", GOOD);
    let r = run(bin("slipway-env").arg("--config").arg(&path).args([
        "--event",
        "push",
        "--ref",
        "refs/tags/v1.0.0",
        "--sha",
        "not-a-sha",
    ]));
    assert_input_error(
        &r,
        &["--sha (GITHUB_SHA) \"not-a-sha\" is not a git commit id", "help:"],
    );
}

/// What each binary needs besides the config to get as far as reading the commit.
const JOBS: &[(&str, &[&str])] = &[
    ("slipway-env", &["--event", "push", "--ref", "refs/tags/v1.0.0"]),
    ("slipway-build", &["--environment", "prod", "--dry-run"]),
    (
        "slipway-build",
        &["--event", "push", "--ref", "refs/tags/v1.0.0", "--dry-run"],
    ),
    (
        "slipway-bake",
        &["--environment", "prod", "--template", "ami.pkr.hcl", "--dry-run"],
    ),
    ("slipway-roll", &["--environment", "prod", "--dry-run"]),
    (
        "slipway-roll",
        &["--event", "push", "--ref", "refs/tags/v1.0.0", "--dry-run"],
    ),
    (
        "slipway-wait",
        &["--environment", "prod", "--url", "http://127.0.0.1:9/", "--dry-run"],
    ),
];

#[test]
fn every_binary_refuses_a_commit_that_is_not_one() {
    let dir = Dir::new();
    let path = dir.write("slipway.yml", GOOD);
    let long = "a".repeat(200);
    let zeros = "0".repeat(40);
    let accented = "é".repeat(40);
    let cases = [
        (long.as_str(), "\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"... (150 more characters) is not a git commit id: it has 200 hex digits"),
        (zeros.as_str(), "is the all-zero id"),
        (accented.as_str(), "is not a git commit id: it has characters other than 0-9 and a-f"),
        ("abc1234", "\"abc1234\" is not a git commit id: it has 7 hex digits"),
    ];
    for (sha, why) in cases {
        for (binary, extra) in JOBS {
            for by_env in [false, true] {
                let mut cmd = bin(binary);
                cmd.arg("--config").arg(&path).args(*extra).current_dir(dir.path());
                if by_env {
                    cmd.env("GITHUB_SHA", sha);
                } else {
                    cmd.args(["--sha", sha]);
                }
                let r = run(&mut cmd);
                assert_eq!(r.code, 2, "{binary} {extra:?} with {sha:?}: {}", r.stderr);
                assert!(
                    r.stderr.contains("--sha (GITHUB_SHA) ") && r.stderr.contains(why),
                    "{binary} {extra:?} with {sha:?}: {}",
                    r.stderr
                );
            }
        }
    }
}

#[test]
fn in_actions_errors_are_annotations_with_file_and_line() {
    let dir = Dir::new();
    let config = "app: web\nenvironments:\n  prod:\n    aws:\n      region: us-east-1\n";
    let path = dir.write("slipway.yml", config);
    let r = run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args(["--event", "push", "--ref", "main", "--sha", SHA])
        .env("GITHUB_ACTIONS", "true"));
    assert_eq!(r.code, 2);
    let annotation = r
        .stderr
        .lines()
        .find(|l| l.starts_with("::error "))
        .unwrap_or_else(|| panic!("no annotation in:\n{}", r.stderr));
    assert!(annotation.contains(&format!("file={}", path.display())), "{annotation}");
    assert!(
        annotation.contains(",line=4,title=slipway-env::environment \"prod\" has no aws.role_arn%0Ahelp: add"),
        "{annotation}"
    );
}

#[test]
fn a_config_nested_100000_levels_deep_is_refused_at_once() {
    let n = 100_000;
    let configs = [
        format!("app: web\nenvironments: {}{}\n", "[".repeat(n), "]".repeat(n)),
        format!("app: web\nenvironments: {}1{}\n", "{a: ".repeat(n), "}".repeat(n)),
        format!("app: web\nenvironments:\n  {}x\n", "- ".repeat(n)),
    ];
    for config in configs {
        let dir = Dir::new();
        let r = env_with_config(&dir, &config, &[]);
        assert_input_error(
            &r,
            &[
                "nests deeper than 64 levels of mappings and sequences",
                "slipway.yml line ",
                "remove the extra nesting",
            ],
        );
    }
}

#[test]
fn a_huge_wide_or_self_repeating_config_is_refused_naming_what_is_wrong() {
    let dir = Dir::new();
    let huge = format!("{GOOD}# {}\n", "x".repeat(2 << 20));
    let r = env_with_config(&dir, &huge, &[]);
    assert_input_error(&r, &["is larger than 1048576 bytes (1 MiB)", "--config"]);

    // 20,000 environments, each without a role or a region: every problem counted, 20 spelt out.
    let wide: String = (0..20_000).map(|i| format!("  e{i}:\n    aws: {{}}\n")).collect();
    let r = env_with_config(&dir, &format!("app: web\nenvironments:\n{wide}"), &[]);
    assert_input_error(
        &r,
        &[
            "has 40000 problems",
            "environment \"e0\" has no aws.role_arn (",
            "slipway.yml line 4)",
            "  - ... and 39980 more",
        ],
    );
    assert_eq!(r.stderr.matches("has no aws.").count(), 20, "{}", r.stderr);

    // An alias that expands to 9^10 values.
    let mut bomb = format!("{GOOD}    health:\n      urls:\n");
    for i in 0..10 {
        let items = if i == 0 {
            vec!["x".to_string(); 9]
        } else {
            vec![format!("*a{}", i - 1); 9]
        };
        bomb.push_str(&format!(
            "        - url: https://web.example/\n          json: {{pointer: /v, equals: &a{i} [{}]}}\n",
            items.join(", ")
        ));
    }
    let r = env_with_config(&dir, &bomb, &[]);
    assert_input_error(
        &r,
        &["repetition limit exceeded", "an alias (*name) is expanded too often"],
    );
}

#[test]
fn a_duration_too_long_to_hold_is_refused_naming_the_field_and_value() {
    let dir = Dir::new();
    for (value, shown) in [
        (
            "99999999999999999999999999999999999h",
            "\"99999999999999999999999999999999999h\"",
        ),
        ("18446744073709551615", "\"18446744073709551615\""),
        ("721h", "\"721h\""),
    ] {
        let config = format!("{GOOD}    health:\n      timeout: {value}\n");
        let r = env_with_config(&dir, &config, &[]);
        assert_input_error(
            &r,
            &[
                &format!("environments.prod.health.timeout: {shown} is longer than 720h"),
                "slipway.yml line 8, column 16",
            ],
        );
    }
    // The same type behind the command-line flags (which want a unit).
    let r = run(bin("slipway-wait").args([
        "--url",
        "http://127.0.0.1:9/",
        "--timeout",
        "18446744073709551615s",
        "--dry-run",
    ]));
    assert_input_error(&r, &["--timeout", "\"18446744073709551615s\" is longer than 720h"]);
}

#[test]
fn a_huge_glob_or_regex_is_refused_not_compiled() {
    let dir = Dir::new();
    // globset panics on a glob whose regex is too large to compile.
    let glob = "*a".repeat(200_000);
    let config = format!("{GOOD}triggers:\n  - event: push\n    branches: [\"{glob}\"]\n    environment: prod\n");
    let r = env_with_config(&dir, &config, &[]);
    assert_input_error(
        &r,
        &[
            "trigger rule 1: branches pattern \"*a*a*a",
            "(399950 more characters) is not a valid glob: it is 400000 characters long, more than the 1024",
            "slipway.yml line 9",
        ],
    );
    let regex = "(a|b)*".repeat(100_000);
    let config = format!(
        "{GOOD}    health:\n      urls:\n        - url: https://web.example/\n          body_regex: \"{regex}\"\n"
    );
    let r = env_with_config(&dir, &config, &[]);
    assert_input_error(
        &r,
        &[
            "body_regex is 600000 characters long, more than the 4096",
            "slipway.yml line 10",
        ],
    );
}

#[test]
fn a_surge_canary_that_cannot_be_is_refused_naming_the_field() {
    let dir = Dir::new();
    for (asg, needles) in [
        (
            "{name: web, strategy: refresh, canary: 1}",
            &["asg.canary is set but asg.strategy is not surge", "line 7"][..],
        ),
        ("{name: web, canary: 0}", &["asg.canary is 0", "use 1 or more"][..]),
        (
            "{name: web, canary_bake: 5m}",
            &["asg.canary_bake 5m is set without asg.canary"][..],
        ),
        ("{name: web, canary: 1, canary_bake: 49h}", &["longer than 48h"][..]),
    ] {
        let config = format!("{GOOD}    asg: {asg}\n");
        let r = env_with_config(&dir, &config, &[]);
        assert_input_error(&r, needles);
    }
}

#[test]
fn notify_settings_that_name_no_variable_are_refused_naming_the_field() {
    let dir = Dir::new();
    let config = format!(
        "{GOOD}notify:\n  slack: {{token_env: \"xoxb-1234\", channel: \" \"}}\n  webhook: {{url_env: HOOK, secret_env: \"my secret\"}}\n"
    );
    let r = env_with_config(&dir, &config, &[]);
    assert_input_error(
        &r,
        &[
            "notify.slack.token_env \"xoxb-1234\" is not an environment variable name",
            "notify.slack.channel is empty",
            "notify.webhook.secret_env \"my secret\" is not an environment variable name",
        ],
    );
}
