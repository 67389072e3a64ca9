//! An environment in several regions: `regions:` (per-region overrides, the rest
//! inherited) and `waves:`. Bad input exits 2 before anything; slipway-env outputs the
//! waves as one JSON matrix per wave; a job picks its region with --region, and a job
//! on a multi-region environment that does not say which region is refused.

use crate::roll_cli::{outputs, simulate_with};
use crate::support::{bin, run, Dir};

const ECS: &str = "app: web
environments:
  stage:
    aws:
      role_arn: arn:aws:iam::123456789012:role/deploy
      region: us-east-1
    ecs:
      cluster: web-us
      service: web
      container: app
";

fn multi(regions: &str, waves: &str) -> String {
    format!("{ECS}    regions:\n{regions}{waves}")
}

const THREE: &str = "      - region: us-east-1
      - region: eu-west-1
        ecs: {cluster: web-eu}
        aws: {role_arn: \"arn:aws:iam::210987654321:role/deploy\"}
      - region: ap-southeast-2
        ecs: {cluster: web-ap}
";

const TWO_WAVES: &str = "    waves:
      - regions: [us-east-1]
      - regions: [eu-west-1, ap-southeast-2]
        bake: 30m
";

fn env_outputs(dir: &Dir, yaml: &str) -> crate::support::Run {
    let path = dir.write("slipway.yml", yaml);
    run(bin("slipway-env")
        .arg("--config")
        .arg(&path)
        .args([
            "--event",
            "push",
            "--ref",
            "refs/heads/main",
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
        ])
        .env("GITHUB_OUTPUT", dir.path().join("output")))
}

#[test]
fn bad_regions_and_waves_exit_2_naming_them() {
    for (regions, waves, says) in [
        (
            "      - region: us-east-9\n",
            "",
            "regions names \"us-east-9\", which is not an AWS region",
        ),
        (
            "      - region: eu-west-1\n      - region: eu-west-1\n",
            "",
            "regions lists eu-west-1 twice",
        ),
        (
            THREE,
            "    waves:\n      - regions: [us-east-1, eu-central-1]\n",
            "wave 1 names region eu-central-1, which is not in regions",
        ),
        (
            THREE,
            "    waves:\n      - regions: [us-east-1, eu-west-1]\n      - regions: [eu-west-1, ap-southeast-2]\n",
            "region eu-west-1 is in wave 1 and wave 2",
        ),
        (
            THREE,
            "    waves:\n      - regions: [us-east-1]\n",
            "region eu-west-1 is in no wave",
        ),
        (
            "      - region: eu-west-1\n        ecs: {cluster: web-eu, colour: blue}\n",
            "",
            "region eu-west-1: its overrides do not fit",
        ),
    ] {
        let dir = Dir::new();
        let r = env_outputs(&dir, &multi(regions, waves));
        assert_eq!(r.code, 2, "{says}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
        assert!(!r.stderr.contains("panicked"), "{}", r.stderr);
    }
}

#[test]
fn slipway_env_outputs_the_waves_as_matrices() {
    let dir = Dir::new();
    let r = env_outputs(&dir, &multi(THREE, TWO_WAVES));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out = crate::roll_cli::outputs(&dir);
    let waves: serde_json::Value = serde_json::from_str(&out["waves"]).unwrap();
    assert_eq!(
        waves,
        serde_json::json!([
            [{"region": "us-east-1", "wave": 1}],
            [{"region": "eu-west-1", "wave": 2}, {"region": "ap-southeast-2", "wave": 2}]
        ])
    );
    assert_eq!(out["wave-count"], "2");
    // Without waves: one region at a time, as listed; one region alone: one wave.
    let dir = Dir::new();
    env_outputs(&dir, &multi(THREE, ""));
    let waves: serde_json::Value = serde_json::from_str(&crate::roll_cli::outputs(&dir)["waves"]).unwrap();
    assert_eq!(waves.as_array().unwrap().len(), 3, "{waves}");
    let dir = Dir::new();
    env_outputs(&dir, ECS);
    assert_eq!(
        crate::roll_cli::outputs(&dir)["waves"],
        r#"[[{"region":"us-east-1","wave":1}]]"#
    );
}

#[test]
fn a_job_picks_its_region_and_one_that_does_not_say_is_refused() {
    let yaml = multi(THREE, TWO_WAVES);
    let image = ["--image", "registry.example/web:2"];
    // Other jobs on a multi-region environment must say which region: exit 2, listing the waves.
    let dir = Dir::new();
    let r = run(bin("slipway-wait")
        .arg("--config")
        .arg(dir.write("slipway.yml", &yaml))
        .args([
            "--environment",
            "stage",
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
            "--dry-run",
        ]));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("deploys to 3 regions in waves (us-east-1; eu-west-1, ap-southeast-2)"),
        "{}",
        r.stderr
    );
    // --region eu-west-1: that region's cluster (the rest inherited).
    let dir = Dir::new();
    let mut args = image.to_vec();
    args.extend(["--region", "eu-west-1"]);
    let r = simulate_with(&dir, &yaml, &args);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("simulating ECS service web in web-eu"),
        "{}",
        r.stderr
    );
    assert_eq!(outputs(&dir)["result"], "succeeded");
    // The wave's 30m bake is the region's bake; wave 1 has none.
    let dir = Dir::new();
    args.push("--dry-run");
    let r = simulate_with(&dir, &yaml, &args);
    assert!(
        r.stderr.contains("bake for 30m once the new version takes all traffic"),
        "{}",
        r.stderr
    );
    let r = simulate_with(
        &dir,
        &yaml,
        &[
            "--region",
            "us-east-1",
            "--dry-run",
            "--image",
            "registry.example/web:2",
        ],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("bake for"), "{}", r.stderr);
    // A region the environment does not list.
    let dir = Dir::new();
    let mut args = image.to_vec();
    args.extend(["--region", "eu-central-1"]);
    let r = simulate_with(&dir, &yaml, &args);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("eu-central-1 is not one of its regions (us-east-1, eu-west-1, ap-southeast-2)"),
        "{}",
        r.stderr
    );
}

/// One slipway-roll for every region: wave 1, then wave 2's two regions together (each with
/// its own simulated cloud and the wave's 30m bake); a failure in wave 1 stops the line and
/// wave 2 never starts. The `regions` output has a row per region.
#[test]
fn one_roll_deploys_every_region_wave_after_wave_and_stops_the_line_at_a_failure() {
    let yaml = multi(THREE, TWO_WAVES);
    let dir = Dir::new();
    let r = simulate_with(&dir, &yaml, &["--image", "registry.example/web:2"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let first = r.stderr.find("==> wave 1 of 2: us-east-1").expect("wave 1");
    let second = r
        .stderr
        .find("==> wave 2 of 2: eu-west-1, ap-southeast-2")
        .expect("wave 2");
    let done = r.stderr.find("wave 1, us-east-1: succeeded").expect("wave 1 succeeded");
    assert!(
        first < done && done < second,
        "wave 2 starts after wave 1 ended: {}",
        r.stderr
    );
    let rows: serde_json::Value = serde_json::from_str(&outputs(&dir)["regions"]).unwrap();
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows.iter().all(|r| r["result"] == "succeeded"), "{rows:?}");
    assert_eq!(rows[1]["wave"], 2);
    // Wave 2's regions baked 30 minutes (virtual), wave 1's did not bake.
    assert!(rows[1]["seconds"].as_f64().unwrap() >= 1800.0, "{rows:?}");
    assert!(rows[0]["seconds"].as_f64().unwrap() < 1800.0, "{rows:?}");
    assert!(
        dir.read("summary").contains("| eu-west-1 | 2 | succeeded |"),
        "{}",
        dir.read("summary")
    );

    // The new version fails in wave 1: it rolls back there, wave 2 never starts, exit 1.
    let dir = Dir::new();
    let r = simulate_with(
        &dir,
        &yaml,
        &["--image", "registry.example/web:2", "--sim-fail-new-version"],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(!r.stderr.contains("==> wave 2"), "{}", r.stderr);
    assert!(
        r.stderr.contains("wave 1 stopped the line at us-east-1"),
        "{}",
        r.stderr
    );
    let rows: serde_json::Value = serde_json::from_str(&outputs(&dir)["regions"]).unwrap();
    let results: Vec<&str> = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["result"].as_str().unwrap())
        .collect();
    assert_eq!(results[0], "rolled_back", "{rows:?}");
    assert_eq!(&results[1..], ["not_started", "not_started"]);
}
