//! slipway-roll's alarm and bake flags as a user runs them, with --simulate: alarms from
//! slipway.yml and --alarm (each once) created OK, --sim-alarm-after rolling the roll
//! back with the alarm named in the report, outputs and summary; a failure during the
//! bake; the plan listing the alarms and the bake; --bake and config values refused
//! with the field named; plan files carrying the alarms to --apply.

use crate::roll_cli::{outputs, simulate_with as simulate};
use crate::support::Dir;

fn config(extra_health: &str) -> String {
    format!(
        "app: web
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
      alarms: [web-stage-5xx, web-stage-latency]
{extra_health}"
    )
}

#[test]
fn sim_alarm_after_rolls_back_naming_the_alarm() {
    let dir = Dir::new();
    // A surge of the default fleet takes about 140s of virtual time; at 60s the new
    // instances are still booting.
    let r = simulate(
        &dir,
        &config(""),
        &[
            "--alarm",
            "web-stage-5xx",
            "--alarm",
            "web-stage-extra",
            "--sim-alarm-after",
            "60s",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    for text in [
        "alarms watched from the first change until the end: web-stage-5xx (OK), web-stage-latency (OK), web-stage-extra (OK)",
        "alarm web-stage-5xx is ALARM since 2026-01-01T00:01:00Z: set to ALARM by --sim-alarm-after",
        "web-stage rolled back to version 1",
        "  alarm    web-stage-5xx",
    ] {
        assert!(r.stderr.contains(text), "{text:?} missing:\n{}", r.stderr);
    }
    let out = outputs(&dir);
    assert_eq!(out["result"], "rolled_back");
    assert_eq!(out["alarm"], "web-stage-5xx");
    assert!(dir.read("summary").contains("| alarm | web-stage-5xx |"));
}

#[test]
fn a_failure_during_the_bake_rolls_back_and_a_quiet_bake_succeeds() {
    let dir = Dir::new();
    let r = simulate(
        &dir,
        &config("      bake: 10m\n"),
        &["--sim-alarm-after", "8m", "--output", "json"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("==> bake for 10m"), "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["result"], "rolled_back");
    assert_eq!(json["watch"]["bake"], "10m");

    let dir = Dir::new();
    let r = simulate(&dir, &config("      bake: 10m\n"), &["--bake", "2m"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("==> bake for 2m"), "--bake wins: {}", r.stderr);
    assert!(r.stderr.contains("bake done: healthy for 2m"), "{}", r.stderr);
    assert!(outputs(&dir)["duration"].parse::<u32>().unwrap() >= 120 + 130);
}

#[test]
fn the_plan_lists_the_alarms_and_the_bake_and_plan_files_carry_them() {
    let dir = Dir::new();
    let r = simulate(&dir, &config("      bake: 5m\n"), &["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for text in [
        "alarms watched from the first change until the end: web-stage-5xx (OK), web-stage-latency (OK)",
        "bake for 5m once the new version takes all traffic",
    ] {
        assert!(r.stderr.contains(text), "{text:?} missing:\n{}", r.stderr);
    }
    let plan = dir.path().join("plan.json");
    let r = simulate(
        &dir,
        &config("      bake: 5m\n"),
        &["--plan-out", plan.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let file: serde_json::Value = serde_json::from_str(&dir.read("plan.json")).unwrap();
    assert_eq!(file["watch"]["alarms"][1]["name"], "web-stage-latency", "{file}");
    assert_eq!(file["watch"]["bake"], "5m", "{file}");
}

#[test]
fn bad_alarm_and_bake_values_are_refused_naming_the_field() {
    let dir = Dir::new();
    let r = simulate(&dir, &config(""), &["--bake", "49h"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("--bake 49h is longer than 48h"), "{}", r.stderr);
    let r = simulate(&dir, &config(""), &["--alarm", ""]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    let yaml = config("      bake: 72h\n").replace(
        "alarms: [web-stage-5xx, web-stage-latency]",
        "alarms: [web-stage-5xx, web-stage-5xx, \"\"]",
    );
    let r = simulate(&dir, &yaml, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    for text in [
        "health.alarms lists \"web-stage-5xx\" twice",
        "health.alarms has a name of 0 characters",
        "health.bake 72h is longer than 48h",
    ] {
        assert!(r.stderr.contains(text), "{text:?} missing:\n{}", r.stderr);
    }
}

#[test]
fn apply_watches_the_alarms_and_bakes_as_planned() {
    let dir = Dir::new();
    let plan = dir.path().join("plan.json");
    let r = simulate(
        &dir,
        &config("      bake: 5m\n"),
        &["--plan-out", plan.to_str().unwrap()],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    // The config no longer names the alarms or the bake; the plan does.
    let bare = config("").replace("      alarms: [web-stage-5xx, web-stage-latency]\n", "");
    let r = simulate(
        &dir,
        &bare,
        &["--apply", plan.to_str().unwrap(), "--sim-alarm-after", "60s"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("alarm web-stage-5xx is ALARM"), "{}", r.stderr);
    assert_eq!(outputs(&dir)["alarm"], "web-stage-5xx");
    let r = simulate(&dir, &bare, &["--apply", plan.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("==> bake for 5m"), "{}", r.stderr);
}

#[test]
fn an_alarm_already_in_alarm_refuses_the_roll_and_the_dry_run_says_so() {
    let dir = Dir::new();
    let r = simulate(&dir, &config(""), &["--sim-alarm-after", "0s", "--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("the roll would be refused now: alarm web-stage-5xx is ALARM since 2026-01-01T00:00:00Z"),
        "{}",
        r.stderr
    );
    let r = simulate(&dir, &config(""), &["--sim-alarm-after", "0s"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("refusing to roll while it is"), "{}", r.stderr);
    assert!(
        !r.stderr.contains("==> set the group's launch template"),
        "nothing changed: {}",
        r.stderr
    );
    let out = outputs(&dir);
    assert_eq!(out["result"], "refused");
    assert_eq!(out["alarm"], "web-stage-5xx");
}
