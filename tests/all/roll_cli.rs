//! slipway-roll --simulate as a user runs it: progress and summary, JSON, GITHUB_OUTPUT,
//! a failing new version rolled back with exit 1, and --dry-run.

use crate::support::{bin, run, Dir, Run};
use slipway::github::files::parse_outputs;

pub const CONFIG: &str = "app: web
environments:
  stage:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: eu-west-1
    asg:
      name: web-stage
      launch_template: web-stage
      strategy: surge
    health:
      target_groups:
        - arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-stage/0123456789abcdef
";

fn simulate(dir: &Dir, extra: &[&str]) -> Run {
    simulate_with(dir, CONFIG, extra)
}

/// `slipway-roll --simulate` for environment stage of `yaml`, writing outputs and summary to `dir`.
pub fn simulate_with(dir: &Dir, yaml: &str, extra: &[&str]) -> Run {
    run(&mut simulate_cmd(dir, yaml, extra))
}

/// The command `simulate_with` runs, for tests that add to its environment.
pub fn simulate_cmd(dir: &Dir, yaml: &str, extra: &[&str]) -> std::process::Command {
    let mut cmd = bin("slipway-roll");
    cmd.arg("--config")
        .arg(dir.write("slipway.yml", yaml))
        .args([
            "--environment",
            "stage",
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
            "--simulate",
        ])
        .args(extra)
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"));
    cmd
}

pub fn outputs(dir: &Dir) -> std::collections::BTreeMap<String, String> {
    parse_outputs(&dir.read("output")).into_iter().collect()
}

#[test]
fn simulate_rolls_with_progress_outputs_and_summary() {
    let dir = Dir::new();
    let r = simulate(&dir, &["--sim-fleet", "3"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.is_empty(), "text mode keeps stdout clean: {}", r.stdout);
    for text in [
        "simulating web-stage (3 instance(s)",
        "plan: surge web-stage from version 1 to 2",
        "==> wait until 3 new instances are InService and healthy",
        "rolled web-stage from version 1 to version 2: 3 instance(s) replaced",
    ] {
        assert!(r.stderr.contains(text), "{text:?} missing:\n{}", r.stderr);
    }
    let out = outputs(&dir);
    assert_eq!(out["result"], "succeeded");
    assert_eq!(out["previous-version"], "1");
    assert_eq!(out["new-version"], "2");
    assert_eq!(out["instances-replaced"], "3");
    assert_eq!(out["rolled-back"], "false");
    assert!(
        out["duration"].parse::<u32>().unwrap() >= 130,
        "virtual time: {}",
        out["duration"]
    );
    let summary = dir.read("summary");
    assert!(
        summary.contains("| previous version | 1 |") && summary.contains("| rolled back | no |"),
        "{summary}"
    );
}

#[test]
fn simulate_a_failing_version_rolls_back_with_exit_1() {
    for strategy in ["surge", "refresh"] {
        let dir = Dir::new();
        let r = simulate(
            &dir,
            &["--strategy", strategy, "--sim-fail-new-version", "--output", "json"],
        );
        assert_eq!(r.code, 1, "{strategy}: {}", r.stderr);
        let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
        assert_eq!(json["result"], "rolled_back", "{json}");
        assert_eq!(json["rolled_back"], true);
        assert_eq!(json["simulated"], true);
        assert_eq!(json["exit_code"], 1);
        assert!(r.stderr.contains("rolled back to version 1"), "{}", r.stderr);
        assert!(r.stderr.contains("slipway-roll: error:"), "{}", r.stderr);
        assert!(r.stderr.contains("(rolled back to version 1)"), "{}", r.stderr);
        assert_eq!(outputs(&dir)["rolled-back"], "true");
    }
}

#[test]
fn dry_run_prints_the_plan_as_text_and_json() {
    let dir = Dir::new();
    let r = simulate(&dir, &["--dry-run", "--strategy", "refresh"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("1. start an instance refresh to version 2 (min healthy 100%, max healthy 200%"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("==>"), "nothing ran: {}", r.stderr);
    let r = simulate(&dir, &["--dry-run", "--output", "json"]);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(json["result"], "dry_run");
    assert_eq!(json["plan"]["strategy"], "surge");
    assert_eq!(json["plan"]["steps"][0]["action"], "set_launch_template");
}

#[test]
fn an_environment_without_a_group_is_bad_input() {
    let dir = Dir::new();
    let mut cmd = bin("slipway-roll");
    cmd.arg("--config")
        .arg(dir.write("slipway.yml", "app: web\nenvironments:\n  dev:\n    aws: {role_arn: \"arn:aws:iam::123456789012:role/d\", region: us-east-1}\n"))
        .args(["--environment", "dev", "--sha", "0123456789abcdef0123456789abcdef01234567", "--simulate"]);
    let r = run(&mut cmd);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("environment \"dev\" has no asg section"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("help: add asg.name"), "{}", r.stderr);
}

const BOTH: &str = "app: web
environments:
  stage:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: eu-west-1
    asg:
      name: web-stage
      launch_template: web-stage
    ecs:
      cluster: web-cluster
      service: web
      container: app
  prod:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: eu-west-1
    ecs:
      cluster: web-cluster
      service: web
      container: app
";

fn roll_both(dir: &Dir, env: &str, extra: &[&str]) -> Run {
    let mut cmd = bin("slipway-roll");
    cmd.arg("--config")
        .arg(dir.write("slipway.yml", BOTH))
        .args([
            "--environment",
            env,
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
            "--simulate",
        ])
        .args(extra)
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .env("GITHUB_STEP_SUMMARY", dir.path().join("summary"));
    run(&mut cmd)
}

#[test]
fn simulate_ecs_rolls_back_a_crashing_image_and_reports_task_definitions() {
    let dir = Dir::new();
    let r = roll_both(&dir, "stage", &["--image", "registry.example/web:2"]);
    assert_eq!(r.code, 2, "both sections need --target: {}", r.stderr);
    assert!(
        r.stderr.contains("help: pass --target asg or --target ecs"),
        "{}",
        r.stderr
    );
    let r = roll_both(
        &dir,
        "stage",
        &[
            "--target",
            "ecs",
            "--image",
            "registry.example/web:2",
            "--sim-fail-new-version",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(out["result"], "rolled_back");
    assert!(
        out["previous-task-definition"].ends_with("task-definition/web:1"),
        "{out:?}"
    );
    assert!(out["new-task-definition"].ends_with("task-definition/web:2"), "{out:?}");
    assert!(out["ecs-deployment-id"].starts_with("ecs-svc/"), "{out:?}");
    assert_eq!(out["rolled-back"], "true");
    assert!(
        dir.read("summary").contains("| rolled back | yes |"),
        "{}",
        dir.read("summary")
    );
}

#[test]
fn plan_out_then_apply_and_the_refusals() {
    let dir = Dir::new();
    let plan = dir.path().join("plan.json");
    let plan_arg = plan.to_str().unwrap();
    let image = ["--image", "registry.example/web:2"];
    let r = roll_both(&dir, "prod", &[&image[..], &["--plan-out", plan_arg]].concat());
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("plan written to"), "{}", r.stderr);
    assert_eq!(outputs(&dir)["result"], "planned");
    let r = roll_both(&dir, "prod", &["--apply", plan_arg, "--output", "json"]);
    assert_eq!(r.code, 0, "a fresh plan applies: {}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["result"], "succeeded");

    // Drift: the simulated service now runs 3 tasks, not 4.
    let r = roll_both(&dir, "prod", &["--apply", plan_arg, "--sim-fleet", "3"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("the desired count changed from 4 to 3"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("desired: planned 4, now 3"), "{}", r.stderr);

    // Another environment, or another target.
    let r = roll_both(&dir, "stage", &["--target", "ecs", "--apply", plan_arg]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is a plan for app \"web\", environment \"prod\""),
        "{}",
        r.stderr
    );
    let r = roll_both(&dir, "stage", &["--target", "asg", "--apply", plan_arg]);
    assert_eq!(r.code, 2, "{}", r.stderr);

    // Edited.
    let text = std::fs::read_to_string(&plan).unwrap();
    std::fs::write(&plan, text.replace("registry.example/web:2", "registry.example/web:3")).unwrap();
    let r = roll_both(&dir, "prod", &["--apply", plan_arg]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("was changed after it was written"), "{}", r.stderr);
}

#[test]
fn asg_plans_apply_too() {
    let dir = Dir::new();
    let plan = dir.path().join("asg-plan.json");
    let plan_arg = plan.to_str().unwrap();
    let r = simulate(&dir, &["--plan-out", plan_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = simulate(&dir, &["--apply", plan_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(outputs(&dir)["result"], "succeeded");
    let r = simulate(&dir, &["--apply", plan_arg, "--sim-fleet", "5"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Auto Scaling group web-stage no longer matches the plan: the group's capacity changed"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("before.capacity.desired: planned 4, now 5"),
        "{}",
        r.stderr
    );
}

/// The plan job of the plan/apply template runs the action with `dry-run: "true"` and
/// `--plan-out`: the two together write the plan and change nothing.
#[test]
fn dry_run_with_plan_out_writes_the_plan() {
    let dir = Dir::new();
    let plan = dir.path().join("plan.json");
    let r = simulate(&dir, &["--dry-run", "--plan-out", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let written: serde_json::Value = serde_json::from_str(&dir.read("plan.json")).expect("a plan file");
    assert_eq!(written["environment"], "stage", "{written}");
}

#[test]
fn simulation_sizes_out_of_range_are_bad_input_not_a_panic() {
    for (flag, value) in [
        ("--sim-fleet", "2147483647"),
        ("--sim-fleet", "0"),
        ("--sim-throttle", "2"),
        ("--sim-throttle", "NaN"),
    ] {
        let dir = Dir::new();
        let r = simulate(&dir, &[flag, value]);
        assert_eq!(r.code, 2, "{flag} {value}: {}", r.stderr);
        assert!(
            r.stderr.contains(flag) && r.stderr.contains(value),
            "{flag} {value}: the message names the flag and the value: {}",
            r.stderr
        );
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

const NATIVE: &str = "app: web
environments:
  stage:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: eu-west-1
    ecs:
      cluster: web-cluster
      service: web
      container: app
      strategy: canary
      canary:
        percent: 10
        bake: 2m
    health:
      timeout: 15m
      test_urls:
        - url: https://test.stage.web.example.com/healthz
";

fn roll_native(dir: &Dir, extra: &[&str]) -> Run {
    let mut args = vec!["--image", "registry.example/web:2"];
    args.extend_from_slice(extra);
    simulate_with(dir, NATIVE, &args)
}

#[test]
fn simulate_a_canary_through_the_test_gate_and_a_failing_one_rolled_back() {
    let dir = Dir::new();
    let r = roll_native(&dir, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("strategy canary: test traffic first (paused at POST_TEST_TRAFFIC_SHIFT"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("production traffic 10% for 2m, then 100%"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("probe 1 test URL(s) at the PAUSE hook"),
        "{}",
        r.stderr
    );

    let r = roll_native(&dir, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("test traffic healthy: CONTINUE"), "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(
        (
            out["result"].as_str(),
            out["strategy"].as_str(),
            out["traffic-percent"].as_str()
        ),
        ("succeeded", "canary", "100")
    );
    assert!(out["ecs-deployment-id"].contains(":service-deployment/"), "{out:?}");
    assert_eq!(out["failing-stage"], "");

    let dir = Dir::new();
    let r = roll_native(&dir, &["--sim-fail-new-version"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(
        (
            out["result"].as_str(),
            out["failing-stage"].as_str(),
            out["rolled-back"].as_str()
        ),
        ("rolled_back", "SCALE_UP", "true")
    );
    assert!(
        dir.read("summary").contains("| failing stage | SCALE_UP |"),
        "{}",
        dir.read("summary")
    );
}

/// `--wait-until traffic-shifted` from the command line: the roll returns at the shift with
/// the deployment id and says how to resume; it is refused (exit 2) where no platform
/// finishes the deployment (a rolling service, an Auto Scaling group), and `--resume` of a
/// deployment the (fresh) simulated cloud does not have is refused naming it.
#[test]
fn wait_until_traffic_shifted_returns_at_the_shift_and_is_refused_where_nothing_finishes_it() {
    let dir = Dir::new();
    let r = roll_native(&dir, &["--wait-until", "traffic-shifted", "--bake", "30m"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(
        (out["result"].as_str(), out["traffic-percent"].as_str()),
        ("traffic_shifted", "100")
    );
    let id = out["ecs-deployment-id"].clone();
    assert!(
        r.stderr
            .contains(&format!("Follow it with: slipway-roll --resume {id}")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("the deployment finishes on its own"), "{}", r.stderr);
    assert!(
        out["duration"].parse::<u32>().unwrap() < 1800,
        "did not wait for the 30m bake: {out:?}"
    );

    let dir = Dir::new();
    let r = roll_native(&dir, &["--resume", &id]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!("no service deployment {id}")),
        "{}",
        r.stderr
    );

    let rolling = NATIVE.replace(
        "      strategy: canary\n      canary:\n        percent: 10\n        bake: 2m\n",
        "",
    );
    for (yaml, extra) in [
        (rolling.as_str(), vec!["--image", "registry.example/web:2"]),
        (CONFIG, vec![]),
    ] {
        for flag in [["--wait-until", "traffic-shifted"], ["--resume", "d-ABCDEFGHI"]] {
            let dir = Dir::new();
            let mut args = extra.clone();
            args.extend_from_slice(&flag);
            let r = simulate_with(&dir, yaml, &args);
            assert_eq!(r.code, 2, "{flag:?}: {}", r.stderr);
            assert!(r.stderr.contains(flag[0]), "names the flag: {}", r.stderr);
        }
    }
}

/// A surge canary from slipway.yml: the dry run lists it, and a plan written with it is
/// applied as made.
#[test]
fn a_surge_canary_is_planned_and_applied_as_made() {
    let yaml = CONFIG.replace(
        "      strategy: surge\n",
        "      strategy: surge\n      canary: 1\n      canary_bake: 3m\n",
    );
    let dir = Dir::new();
    let r = simulate_with(&dir, &yaml, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("canary: 1 new instance(s) serve beside the old ones for 3m"),
        "{}",
        r.stderr
    );
    let plan = dir.path().join("plan.json");
    let plan = plan.to_str().unwrap();
    let r = simulate_with(&dir, &yaml, &["--plan-out", plan]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(std::fs::read_to_string(plan).unwrap().contains("\"canary_bake\""));
    let r = simulate_with(&dir, &yaml, &["--apply", plan]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("==> canary bake (1 instance(s)) for 3m"),
        "{}",
        r.stderr
    );
    assert_eq!(outputs(&dir)["result"], "succeeded");
}

/// A flag of another target is refused (exit 2) naming the flag and the target, before
/// anything is simulated or changed; never silently ignored.
#[test]
fn a_flag_of_another_target_is_refused_naming_it() {
    let dir = Dir::new();
    let r = simulate(
        &dir,
        &["--target", "asg", "--image", "registry.example/web:2", "--env", "A=1"],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--image, --env does not apply here: this environment rolls an Auto Scaling group"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("simulating"),
        "refused before anything ran: {}",
        r.stderr
    );
    let ecs = "app: web\nenvironments:\n  stage:\n    aws: { role_arn: arn:aws:iam::123456789012:role/deploy, region: us-east-1 }\n    ecs: { cluster: web, service: web, container: app }\n";
    let r = simulate_with(
        &dir,
        ecs,
        &[
            "--target",
            "ecs",
            "--image",
            "registry.example/web:2",
            "--group",
            "web-asg",
            "--strategy",
            "refresh",
        ],
    );
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--group, --strategy does not apply here: this environment rolls an ECS service"),
        "{}",
        r.stderr
    );
}
