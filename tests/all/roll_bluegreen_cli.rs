//! slipway-roll --simulate on a blue/green environment: the dry run's plan text, a roll
//! with its outputs, an alarm rolling back, and --plan-out then --apply.

use crate::roll_cli::{outputs, simulate_with};
use crate::support::Dir;

const CONFIG: &str = "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      strategy: blue_green\n      groups: [web-a, web-b]\n      launch_template: web\n      listener: arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/web/0123456789abcdef/0123456789abcdef\n      steps: [10, 50, 100]\n      step_bake: 2m\n    health:\n      alarms: [web-5xx]\n";

#[test]
fn a_dry_run_lists_groups_weights_steps_and_stickiness() {
    let dir = Dir::new();
    let r = simulate_with(&dir, CONFIG, &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for text in [
        "plan: blue_green web-a -> web-b from version 1 to 2 (live web-a: 4 instance(s), min 2, max 8, desired 4; idle web-b: 0 instance(s))",
        ": web-a 100%, web-b 0%",
        "stickiness off",
        "traffic steps 10%, 50%, 100%, step bake 2m; then the old group is scaled to zero",
        "4. shift traffic: 10% to web-b, 90% to web-a",
        "5. bake at 10% for 2m",
        "10. web-a: update capacity: min 2 -> 0, desired 4 -> 0",
    ] {
        assert!(r.stderr.contains(text), "{text:?} missing:\n{}", r.stderr);
    }
    assert_eq!(outputs(&dir)["result"], "dry_run");
}

#[test]
fn a_simulated_blue_green_roll_reports_the_live_groups_and_the_weight_reached() {
    let dir = Dir::new();
    let r = simulate_with(&dir, CONFIG, &["--bake", "5m"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = outputs(&dir);
    assert_eq!(out["result"], "succeeded");
    assert_eq!(out["live-group-before"], "web-a");
    assert_eq!(out["live-group-after"], "web-b");
    assert_eq!(out["weight-reached"], "100");
    assert_eq!(out["rolled-back"], "false");
    assert!(
        dir.read("summary").contains("| live group after | web-b |"),
        "{}",
        dir.read("summary")
    );
}

#[test]
fn an_alarm_in_the_simulator_rolls_back_to_the_old_group() {
    let dir = Dir::new();
    let r = simulate_with(&dir, CONFIG, &["--sim-alarm-after", "5m", "--output", "json"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["result"], "rolled_back");
    assert_eq!(json["blue_green"]["weight_reached"], 50);
    assert!(
        r.stderr
            .contains("cleanup: all the traffic back on web-a (weights 100/0)"),
        "{}",
        r.stderr
    );
    let out = outputs(&dir);
    assert_eq!(
        (out["live-group-after"].as_str(), out["alarm"].as_str()),
        ("web-a", "web-5xx")
    );
}

#[test]
fn plan_out_then_apply_carries_out_the_plan() {
    let dir = Dir::new();
    let plan = dir.path().join("plan.json");
    let r = simulate_with(&dir, CONFIG, &["--plan-out", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let text = std::fs::read_to_string(&plan).unwrap();
    assert!(
        text.contains("\"kind\": \"asg-blue-green\"") && text.contains("\"shift\""),
        "{text}"
    );
    let r = simulate_with(&dir, CONFIG, &["--apply", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(outputs(&dir)["live-group-after"], "web-b");
}
