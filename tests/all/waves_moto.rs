//! Waves against moto, which keeps each region's state apart: one slipway-roll over three
//! regions in two waves (an Auto Scaling group and target group in each region, health
//! URLs per region) ends with every region on the new launch template version; a health
//! URL in wave 2 still serving the old commit rolls wave 2 back and leaves wave 1 on the
//! new version (`stop`), or rolls wave 1 back too (`rollback_all`); an unknown region, a
//! wave naming an unconfigured region and a region listed twice exit 2 with no call
//! reaching moto. The group state is read back from moto, region by region.

use crate::roll_moto::{group_in, state_in};
use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::proxy::Proxy;
use crate::support::{bin, run, Dir, Run};
use slipway::github::files::parse_outputs;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "ap-southeast-2"];

/// A health endpoint that serves commit `sha`.
fn serving(sha: &'static str) -> Server {
    Server::start(move |_| Response::new(200, format!("{{\"commit\":\"{sha}\"}}")))
}

/// The environment: group `name` in each region (its own health URL there), two waves.
fn yaml(name: &str, urls: [&str; 3], extra: &str) -> String {
    let mut y = format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      name: {name}\n      launch_template: {name}\n      allow_raise_max: true\n    regions:\n"
    );
    for (region, url) in REGIONS.iter().zip(urls) {
        y.push_str(&format!(
            "      - region: {region}\n        health: {{urls: [{{url: \"{url}/healthz\", version: \"{{sha}}\"}}]}}\n"
        ));
    }
    y.push_str(
        "    waves:\n      - regions: [us-east-1]\n      - regions: [eu-west-1, ap-southeast-2]\n        bake: 20s\n",
    );
    y.push_str(extra);
    y
}

fn roll(dir: &Dir, yaml: &str, endpoint: &str) -> Run {
    let mut cmd = bin("slipway-roll");
    cmd.args([
        "--environment",
        "stage",
        "--sha",
        SHA,
        "--poll-interval",
        "1s",
        "--timeout",
        "12s",
    ])
    .args(["--launch-template-version", "2"])
    .arg("--config")
    .arg(dir.write("slipway.yml", yaml))
    .envs(crate::support::moto::moto_env(endpoint, dir));
    run(&mut cmd)
}

fn rows(dir: &Dir) -> Vec<serde_json::Value> {
    let outputs: std::collections::BTreeMap<String, String> = parse_outputs(&dir.read("output")).into_iter().collect();
    serde_json::from_str::<serde_json::Value>(&outputs["regions"])
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The launch template version each region's group runs, read from moto.
async fn versions(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    for region in REGIONS {
        out.push(state_in(region, name).await.3);
    }
    out
}

async fn groups(name: &str) {
    for region in REGIONS {
        group_in(region, name, 1, 2, 2).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_waves_over_three_regions_end_on_the_new_version_everywhere() {
    let name = "waves-ok";
    groups(name).await;
    let new = serving(SHA);
    let dir = Dir::new();
    let r =
        tokio::task::block_in_place(|| roll(&dir, &yaml(name, [&new.url, &new.url, &new.url], ""), &moto().endpoint));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(versions(name).await, ["2", "2", "2"]);
    let rows = rows(&dir);
    let results: Vec<&str> = rows.iter().map(|r| r["result"].as_str().unwrap()).collect();
    assert_eq!(results, ["succeeded", "succeeded", "succeeded"]);
    assert!(
        rows.iter()
            .all(|r| r["previous"] == "version 1" && r["new"] == "version 2"),
        "{rows:?}"
    );
    let wave2 = r.stderr.find("==> wave 2 of 2").unwrap();
    assert!(
        r.stderr.find("wave 1, us-east-1: succeeded").unwrap() < wave2,
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_in_wave_2_rolls_back_that_wave_and_stop_or_rollback_all_decide_wave_1() {
    let new = serving(SHA);
    let old = serving("fedcba9876543210fedcba9876543210fedcba98");
    for (name, extra, wave1) in [
        ("waves-stop", "", "2"),
        ("waves-all", "    waves_on_failure: rollback_all\n", "1"),
    ] {
        groups(name).await;
        let dir = Dir::new();
        // ap-southeast-2's endpoint still serves the old commit.
        let y = yaml(name, [&new.url, &new.url, &old.url], extra);
        let r = tokio::task::block_in_place(|| roll(&dir, &y, &moto().endpoint));
        assert_ne!(r.code, 0, "{}", r.stderr);
        assert!(
            r.stderr.contains("wave 2 stopped the line at ap-southeast-2"),
            "{}",
            r.stderr
        );
        // Wave 2 is back on version 1 in both regions (eu-west-1 stopped in its bake);
        // wave 1 as waves_on_failure says.
        assert_eq!(versions(name).await, [wave1, "1", "1"], "{name}: {}", r.stderr);
        let rows = rows(&dir);
        assert_eq!(rows[1]["reason"], "stopped because ap-southeast-2 failed", "{rows:?}");
        assert_eq!(rows[2]["result"], "rolled_back", "{rows:?}");
        match wave1 {
            "2" => assert!(r.stderr.contains("stay on the new version (us-east-1)"), "{}", r.stderr),
            _ => assert_eq!(rows[0]["rolled_back_after_failure"], "rolled_back", "{rows:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_regions_exit_2_before_any_call_reaches_moto() {
    let proxy = Proxy::start(&moto().endpoint, 0.0, 3);
    let base = yaml(
        "waves-bad",
        ["http://127.0.0.1:9", "http://127.0.0.1:9", "http://127.0.0.1:9"],
        "",
    );
    for (bad, says) in [
        (
            base.replace("      - region: eu-west-1\n", "      - region: eu-west-9\n"),
            "regions names \"eu-west-9\", which is not an AWS region",
        ),
        (
            base.replace("[eu-west-1, ap-southeast-2]", "[eu-west-1, ap-southeast-2, eu-north-1]"),
            "wave 2 names region eu-north-1, which is not in regions",
        ),
        (
            base.replace("      - region: ap-southeast-2\n", "      - region: eu-west-1\n"),
            "regions lists eu-west-1 twice",
        ),
    ] {
        let dir = Dir::new();
        let r = tokio::task::block_in_place(|| roll(&dir, &bad, &proxy.endpoint));
        assert_eq!(r.code, 2, "{says}: {}", r.stderr);
        assert!(r.stderr.contains(says), "{says}: {}", r.stderr);
    }
    assert!(proxy.calls().is_empty(), "{:?}", proxy.calls().len());
}
