//! Waves in the simulator, each region with its own simulated cloud: `--sim-region` gives
//! one region its own faults; a failure stops the rest of its wave (each region rolling
//! back); `waves_on_failure: rollback_all` rolls the regions that had succeeded back onto
//! what they ran before, `stop` leaves them and says so; one plan file holds every region
//! and `--apply` carries it out; a signal in the middle of a wave rolls back every region
//! in flight and starts no later wave.

use clap::Parser;
use slipway::github::Runner;
use slipway::roll::command::{roll_waves, Args};
use slipway::signal::Pending;
use tokio_util::sync::CancellationToken;

use crate::roll_cli::{outputs, simulate_with};
use crate::support::Dir;

pub const ASG: &str = "app: web
environments:
  stage:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: us-east-1
    asg:
      name: web
    regions:
      - region: us-east-1
      - region: eu-west-1
        asg: {name: web-eu}
      - region: ap-southeast-2
    waves:
      - regions: [us-east-1]
      - regions: [eu-west-1, ap-southeast-2]
        bake: 30m
";

fn rows(dir: &Dir) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&outputs(dir)["regions"]).unwrap();
    v.as_array().unwrap().clone()
}

fn field<'a>(rows: &'a [serde_json::Value], key: &str) -> Vec<&'a str> {
    rows.iter().map(|r| r[key].as_str().unwrap_or("-")).collect()
}

#[test]
fn a_failure_in_wave_2_stops_its_wave_and_stop_leaves_wave_1_on_the_new_version() {
    let dir = Dir::new();
    let r = simulate_with(&dir, ASG, &["--sim-region", "ap-southeast-2:fail-new-version"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rows = rows(&dir);
    assert_eq!(field(&rows, "region"), ["us-east-1", "eu-west-1", "ap-southeast-2"]);
    // Only ap-southeast-2 was told to fail; eu-west-1 (baking its 30m) was stopped by it.
    assert_eq!(field(&rows, "result"), ["succeeded", "rolled_back", "rolled_back"]);
    assert_eq!(rows[1]["reason"], "stopped because ap-southeast-2 failed", "{rows:?}");
    assert!(
        rows[2]["reason"].as_str().unwrap().contains("failed its health checks"),
        "{rows:?}"
    );
    assert_eq!(rows[0]["previous"], "version 1");
    assert_eq!(rows[0]["new"], "version 2");
    assert!(
        rows.iter().all(|r| r.get("rolled_back_after_failure").is_none()),
        "{rows:?}"
    );
    assert!(
        r.stderr.contains(
            "wave 2 stopped the line at ap-southeast-2; the regions that had succeeded stay on the new version (us-east-1)"
        ),
        "{}",
        r.stderr
    );
    assert!(dir
        .read("summary")
        .contains("| us-east-1 | 1 | succeeded | version 1 | version 2 |"));
    // The roll's outputs describe the whole roll (no region's success stands for it).
    let out = outputs(&dir);
    assert_eq!(
        (
            out["result"].as_str(),
            out["rolled-back"].as_str(),
            out["target"].as_str()
        ),
        ("rolled_back", "true", "asg"),
        "{out:?}"
    );
    assert!(!out.contains_key("previous-version"), "{out:?}");
    let dir = Dir::new();
    let r = simulate_with(&dir, ASG, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(outputs(&dir)["result"], "succeeded");
    assert_eq!(outputs(&dir)["rolled-back"], "false");
}

#[test]
fn rollback_all_rolls_the_finished_waves_back_onto_their_previous_version() {
    let yaml = format!("{ASG}    waves_on_failure: rollback_all\n");
    let dir = Dir::new();
    let r = simulate_with(&dir, &yaml, &["--sim-region", "ap-southeast-2:fail-new-version"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let rows = rows(&dir);
    assert_eq!(rows[0]["result"], "succeeded");
    assert_eq!(rows[0]["rolled_back_after_failure"], "rolled_back", "{rows:?}");
    // The undo is a roll of us-east-1 from version 2 onto version 1, on the cloud the first
    // roll left (not a fresh one, which would already run version 1).
    assert!(
        r.stderr.contains("==> rolling us-east-1 (wave 1) back onto version 1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("simulating us-east-1 as its earlier roll left it"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("rolled web from version 2 to version 1"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(
            "the regions that had succeeded were rolled back too (us-east-1; waves_on_failure: rollback_all)"
        ),
        "{}",
        r.stderr
    );
    // A region that fails in wave 1: nothing before it to roll back.
    let dir = Dir::new();
    let r = simulate_with(&dir, &yaml, &["--sim-region", "us-east-1:fail-new-version"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        !r.stderr.contains("==> rolling us-east-1 (wave 1) back"),
        "{}",
        r.stderr
    );
    assert_eq!(
        field(&self::rows(&dir), "result"),
        ["rolled_back", "not_started", "not_started"]
    );
    // CodeDeploy to EC2: the region that had succeeded redeploys its earlier revision.
    let dir = crate::roll_codedeploy_ec2_sim::app_dir();
    let cd = yaml
        .replace(
            "    asg:\n      name: web\n",
            "    codedeploy:\n      application: web\n      deployment_group: web\n      bundle: app\n      bucket: web-bundles\n",
        )
        .replace("        asg: {name: web-eu}\n", "");
    let r = simulate_with(&dir, &cd, &["--sim-region", "ap-southeast-2:fail-new-version"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The simulated group starts on the revision of commit 000...0.
    let old = format!("s3://web-bundles/slipway/web/{}.zip", "0".repeat(40));
    assert!(
        r.stderr
            .contains(&format!("==> rolling us-east-1 (wave 1) back onto {old}")),
        "{}",
        r.stderr
    );
    let back = self::rows(&dir);
    assert_eq!(back[0]["rolled_back_after_failure"], "rolled_back", "{back:?}");
    assert_eq!(back[0]["previous"], old.as_str(), "{back:?}");
}

#[test]
fn sim_region_gives_a_region_its_own_dynamics_and_bad_ones_exit_2() {
    // ap-southeast-2's instances boot in 5 minutes, the others' in 1: its row takes longer.
    let dir = Dir::new();
    let r = simulate_with(&dir, ASG, &["--sim-region", "ap-southeast-2:boot=5m,fleet=2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let rows = rows(&dir);
    let secs = |n: usize| rows[n]["seconds"].as_f64().unwrap();
    assert!(secs(2) > secs(1) + 200.0, "{rows:?}");
    assert!(r.stderr.contains("simulating web (2 instance(s)"), "{}", r.stderr);
    for (flag, says) in [
        (
            "eu-central-1:fail-new-version",
            "--sim-region names eu-central-1, which is not one of",
        ),
        ("eu-west-1:boot=soon", "\"boot=soon\" is not a duration"),
        ("eu-west-1:colour=blue", "\"colour=blue\" is not a setting"),
        ("eu-west-1:fleet=0", "\"fleet=0\" is not a fleet of 1 to 10000"),
    ] {
        let dir = Dir::new();
        let r = simulate_with(&dir, ASG, &["--sim-region", flag]);
        assert_eq!(r.code, 2, "{flag}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{flag}: {}", r.stderr);
        assert!(
            !r.stderr.contains("==> wave 1"),
            "refused before any wave: {}",
            r.stderr
        );
    }
}

#[test]
fn one_plan_file_holds_every_region_and_apply_carries_it_out() {
    let dir = Dir::new();
    let plan = dir.path().join("plan.json");
    let plan_arg = plan.to_str().unwrap();
    let r = simulate_with(&dir, ASG, &["--plan-out", plan_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let set: serde_json::Value = serde_json::from_str(&dir.read("plan.json")).unwrap();
    let regions: Vec<&String> = set["regions"].as_object().unwrap().keys().collect();
    assert_eq!(regions, ["ap-southeast-2", "eu-west-1", "us-east-1"]);
    assert_eq!(
        set["regions"]["eu-west-1"]["plan"]["before"]["group"], "web-eu",
        "{set}"
    );
    assert_eq!(
        set["waves"],
        serde_json::json!([["us-east-1"], ["eu-west-1", "ap-southeast-2"]])
    );
    // Applied: every region, wave after wave.
    let applied = Dir::new();
    let r = simulate_with(&applied, ASG, &["--apply", plan_arg]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        field(&rows(&applied), "result"),
        ["succeeded", "succeeded", "succeeded"]
    );
    // Edited: refused. Other waves in slipway.yml now: refused. One region's --apply: refused.
    let edited = dir.write("edited.json", &dir.read("plan.json").replace("web-eu", "web-xx"));
    let r = simulate_with(&dir, ASG, &["--apply", edited.to_str().unwrap()]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("was changed after it was written"), "{}", r.stderr);
    let regrouped = ASG.replace(
        "      - regions: [us-east-1]\n      - regions: [eu-west-1, ap-southeast-2]\n",
        "      - regions: [us-east-1, eu-west-1]\n      - regions: [ap-southeast-2]\n",
    );
    let r = simulate_with(&dir, &regrouped, &["--apply", plan_arg]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("was planned for the waves us-east-1; eu-west-1, ap-southeast-2"),
        "{}",
        r.stderr
    );
    let r = simulate_with(&dir, ASG, &["--apply", plan_arg, "--region", "eu-west-1"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("holds the plans of every region"), "{}", r.stderr);
}

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: Args,
}

/// A signal (the token the handler would cancel) 100 virtual seconds into wave 2: both of
/// its regions roll back, wave 1 stays, wave 3 never starts; exit 130.
#[tokio::test(start_paused = true)]
async fn a_signal_in_a_wave_rolls_back_every_region_in_flight() {
    let dir = Dir::new();
    let yaml = ASG.replace(
        "        bake: 30m\n",
        "        bake: 30m\n      - regions: [sa-east-1]\n",
    ) + "";
    let yaml = yaml.replace(
        "      - region: ap-southeast-2\n",
        "      - region: ap-southeast-2\n      - region: sa-east-1\n",
    );
    let config = dir.write("slipway.yml", &yaml);
    let cli = Cli::parse_from([
        "slipway-roll",
        "--config",
        config.to_str().unwrap(),
        "--environment",
        "stage",
        "--sha",
        "0123456789abcdef0123456789abcdef01234567",
        "--simulate",
    ]);
    let waves = cli.args.job.waves().unwrap().expect("several regions");
    assert_eq!(waves.waves.len(), 3);
    let runner = Runner {
        output_file: Some(dir.path().join("output")),
        ..Runner::default()
    };
    let cancel = CancellationToken::new();
    let trigger = cancel.clone();
    let started = tokio::time::Instant::now();
    tokio::spawn(async move {
        // Wave 1 (a 4-instance surge) takes about 2 minutes; wave 2 bakes 30.
        tokio::time::sleep(std::time::Duration::from_secs(600)).await;
        trigger.cancel();
    });
    let result = roll_waves(cli.args, waves, &runner, cancel, Pending::default()).await;
    let err = result.expect_err("interrupted");
    assert_eq!(err.exit_code(), 130, "{}", err.render());
    assert!(started.elapsed().as_secs() >= 600);
    let rows = rows(&dir);
    assert_eq!(
        field(&rows, "result"),
        ["succeeded", "rolled_back", "rolled_back", "not_started"],
        "{rows:?}"
    );
    assert!(
        err.render()
            .contains("the regions that had succeeded stay on the new version (us-east-1)"),
        "{}",
        err.render()
    );
}

/// Each region rolls onto its own artifact: slipway-bake's `launch-template-versions` and
/// slipway-build's `images` outputs, one entry per region; a region without one exits 2.
#[test]
fn each_region_rolls_onto_its_own_launch_template_version_and_image() {
    let dir = Dir::new();
    let versions = r#"{"us-east-1": 2, "eu-west-1": "2", "ap-southeast-2": 1}"#;
    let r = simulate_with(&dir, ASG, &["--launch-template-versions", versions]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    // ap-southeast-2's simulated group already runs version 1: nothing to do there.
    assert_eq!(field(&rows(&dir), "result"), ["succeeded", "succeeded", "unchanged"]);
    let dir = Dir::new();
    let r = simulate_with(&dir, ASG, &["--launch-template-versions", r#"{"us-east-1": 2}"#]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--launch-template-versions has no entry for eu-west-1 (it has us-east-1)"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("==> wave 1"),
        "refused before any wave: {}",
        r.stderr
    );
    let dir = Dir::new();
    let r = simulate_with(&dir, ASG, &["--launch-template-versions", "[2]"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is not a JSON object of regions to values"),
        "{}",
        r.stderr
    );

    let ecs = "app: web
environments:
  stage:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: us-east-1
    ecs: {cluster: web-us, service: web, container: app}
    regions:
      - region: us-east-1
      - region: eu-west-1
        ecs: {cluster: web-eu}
";
    let digest = format!("sha256:{}", "a".repeat(64));
    let images = format!(
        r#"{{"us-east-1": "1.dkr.ecr.us-east-1.amazonaws.com/web@{digest}", "eu-west-1": "1.dkr.ecr.eu-west-1.amazonaws.com/web@{digest}"}}"#
    );
    let dir = Dir::new();
    let r = simulate_with(&dir, ecs, &["--images", &images]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for region in ["us-east-1", "eu-west-1"] {
        let image = format!("image 1.dkr.ecr.{region}.amazonaws.com/web@{digest}");
        assert!(r.stderr.contains(&image), "{image}: {}", r.stderr);
    }
    // Given the image slipway-build pushed to the home region, each region rolls its own
    // copy (same digest; eu-west-1 in its own account); any other image is rolled as given.
    let with_ecr = ecs
        .replace("    regions:\n", "    ecr: {repository: web}\n    regions:\n")
        .replace(
            "        ecs: {cluster: web-eu}\n",
            "        ecs: {cluster: web-eu}\n        aws: {role_arn: \"arn:aws:iam::210987654321:role/deploy\"}\n",
        );
    let home = format!("123456789012.dkr.ecr.us-east-1.amazonaws.com/web@{digest}");
    let dir = Dir::new();
    let r = simulate_with(&dir, &with_ecr, &["--image", &home]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("image {home}")), "{}", r.stderr);
    let copy = format!("210987654321.dkr.ecr.eu-west-1.amazonaws.com/web@{digest}");
    assert!(
        r.stderr.contains(&format!(
            "eu-west-1 rolls its own copy of the image (slipway-build put it there): {copy}"
        )),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains(&format!("image {copy}")), "{}", r.stderr);
    let elsewhere = format!("registry.example/web@{digest}");
    let r = simulate_with(&Dir::new(), &with_ecr, &["--image", &elsewhere]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("rolls its own copy"), "{}", r.stderr);
}

/// A region whose merged settings name two targets is refused before wave 1 changes anything.
#[test]
fn a_region_that_cannot_roll_is_refused_before_the_first_wave() {
    let yaml = ASG.replace(
        "      - region: ap-southeast-2\n",
        "      - region: ap-southeast-2\n        ecs: {cluster: web-ap, service: web, container: app}\n",
    );
    let dir = Dir::new();
    let r = simulate_with(&dir, &yaml, &[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("region ap-southeast-2: environment \"stage\" has both an asg and an ecs section"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("==> wave 1"), "{}", r.stderr);
}

/// A flag of another target (`--image` on Auto Scaling regions) is refused before wave 1.
#[test]
fn a_flag_of_another_target_is_refused_before_the_first_wave() {
    let dir = Dir::new();
    let r = simulate_with(&dir, ASG, &["--image", "registry.example/web:2"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("--image does not apply here: this environment rolls an Auto Scaling group"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("==> wave 1"), "{}", r.stderr);
}
