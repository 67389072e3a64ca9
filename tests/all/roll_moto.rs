//! slipway-roll against moto: the surge end to end on a real (moto) Auto Scaling group
//! with an attached target group, bad input refused with nothing changed, `--dry-run`;
//! and the instance refresh calls, which moto lacks, against recorded AWS answers.

use aws_sdk_autoscaling::config::Credentials;
use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use slipway::cloud::{AutoScaling, ErrorKind, LaunchTemplateSpec, LaunchTemplates, RefreshSpec};
use slipway::github::files::parse_outputs;

use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::{bin, run, Dir, Run};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    sdk_in(endpoint, "us-east-1").await
}

/// The SDK's configuration for moto in `region` (moto keeps each region's state apart).
pub async fn sdk_in(endpoint: &str, region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(region.to_string()))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("AKIAEXAMPLE", "secret", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

/// A group `name` on version 1 of launch template `name` (which also has version 2),
/// attached to a target group, with the given sizes.
pub async fn group(name: &str, min: i32, max: i32, desired: i32) -> String {
    group_in("us-east-1", name, min, max, desired).await
}

/// `group` in `region`.
pub async fn group_in(region: &str, name: &str, min: i32, max: i32, desired: i32) -> String {
    let config = sdk_in(&moto().endpoint, region).await;
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let data = |ami: &str| {
        RequestLaunchTemplateData::builder()
            .image_id(ami)
            .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
            .build()
    };
    ec2.create_launch_template()
        .launch_template_name(name)
        .launch_template_data(data("ami-03cf127a"))
        .send()
        .await
        .expect("create the launch template");
    ec2.create_launch_template_version()
        .launch_template_name(name)
        .launch_template_data(data("ami-03cf127a"))
        .version_description("the new build")
        .send()
        .await
        .expect("create version 2");
    let vpc = ec2.describe_vpcs().send().await.expect("vpcs").vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let tg = elb
        .create_target_group()
        .name(name)
        .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
        .port(80)
        .vpc_id(vpc)
        .send()
        .await
        .expect("create the target group");
    let tg_arn = tg.target_groups()[0].target_group_arn().unwrap().to_string();
    let asg = aws_sdk_autoscaling::Client::new(&config);
    asg.create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(name)
                .version("1")
                .build(),
        )
        .min_size(min)
        .max_size(max)
        .desired_capacity(desired)
        .availability_zones(format!("{region}a"))
        .target_group_arns(&tg_arn)
        .health_check_type("ELB")
        .send()
        .await
        .expect("create the group");
    tg_arn
}

pub async fn state(name: &str) -> (i32, i32, i32, String, Vec<String>) {
    state_in("us-east-1", name).await
}

/// `state` in `region`.
pub async fn state_in(region: &str, name: &str) -> (i32, i32, i32, String, Vec<String>) {
    let config = sdk_in(&moto().endpoint, region).await;
    let out = aws_sdk_autoscaling::Client::new(&config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .expect("describe");
    let g = &out.auto_scaling_groups()[0];
    let mut ids: Vec<String> = g
        .instances()
        .iter()
        .map(|i| i.instance_id().unwrap().to_string())
        .collect();
    ids.sort();
    (
        g.min_size().unwrap(),
        g.max_size().unwrap(),
        g.desired_capacity().unwrap(),
        g.launch_template()
            .and_then(|t| t.version())
            .unwrap_or_default()
            .to_string(),
        ids,
    )
}

fn config(dir: &Dir, name: &str, allow_raise_max: bool) -> std::path::PathBuf {
    dir.write(
        "slipway.yml",
        &format!(
            "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      name: {name}\n      launch_template: {name}\n      allow_raise_max: {allow_raise_max}\n"
        ),
    )
}

fn roll(dir: &Dir, name: &str, allow_raise_max: bool, extra: &[&str]) -> Run {
    let mut cmd = bin("slipway-roll");
    cmd.args([
        "--environment",
        "stage",
        "--sha",
        SHA,
        "--poll-interval",
        "1s",
        "--timeout",
        "60s",
    ])
    .arg("--config")
    .arg(config(dir, name, allow_raise_max))
    .args(extra)
    .envs(crate::support::moto::moto_env(&moto().endpoint, dir));
    run(&mut cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn surge_rolls_a_moto_group_with_a_target_group() {
    let name = "roll-surge";
    let tg = group(name, 1, 2, 2).await;
    let (_, _, _, _, before) = state(name).await;
    let dir = Dir::new();
    let r = roll(
        &dir,
        name,
        true,
        &["--launch-template-version", "2", "--output", "json"],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(json["result"], "succeeded", "{json}");
    assert_eq!(
        (json["previous_version"].as_i64(), json["new_version"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(json["instances_replaced"], 2);
    assert_eq!(json["rolled_back"], false);
    assert_eq!(json["plan"]["steps"][1]["action"], "set_capacity");
    let (min, max, desired, version, after) = state(name).await;
    assert_eq!(
        (min, max, desired, version.as_str()),
        (1, 2, 2, "2"),
        "max raised to 4, then restored"
    );
    assert_eq!(after.len(), 2);
    assert!(after.iter().all(|id| !before.contains(id)), "{before:?} -> {after:?}");
    let config = sdk(&moto().endpoint).await;
    let health = aws_sdk_elasticloadbalancingv2::Client::new(&config)
        .describe_target_health()
        .target_group_arn(&tg)
        .send()
        .await
        .unwrap();
    let healthy: Vec<String> = health
        .target_health_descriptions()
        .iter()
        .filter(|d| d.target_health().and_then(|h| h.state()).map(|s| s.as_str()) == Some("healthy"))
        .map(|d| d.target().unwrap().id().unwrap().to_string())
        .collect();
    // (moto re-registers the group's instances on every capacity change and never
    // deregisters terminated ones, so an old id may linger there; EC2 says what runs.)
    assert!(
        after.iter().all(|id| healthy.contains(id)),
        "the new instances serve: {healthy:?}"
    );
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let instances = ec2
        .describe_instances()
        .set_instance_ids(Some(before.clone()))
        .send()
        .await
        .unwrap();
    for i in instances.reservations().iter().flat_map(|r| r.instances()) {
        let state = i.state().and_then(|s| s.name()).map(|n| n.as_str().to_string());
        assert_eq!(
            state.as_deref(),
            Some("terminated"),
            "old instance {:?} left running",
            i.instance_id()
        );
    }
    let outputs: std::collections::BTreeMap<String, String> = parse_outputs(&dir.read("output")).into_iter().collect();
    assert_eq!(outputs["previous-version"], "1");
    assert_eq!(outputs["new-version"], "2");
    assert_eq!(outputs["rolled-back"], "false");
    assert!(
        dir.read("summary").contains("| new version | 2 |"),
        "{}",
        dir.read("summary")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_against_moto_exits_2_and_changes_nothing() {
    group("roll-bad", 1, 3, 2).await;
    let before = state("roll-bad").await;
    let dir = Dir::new();
    let cases: [(&str, bool, &[&str], &str); 4] = [
        (
            "roll-missing",
            true,
            &[],
            "no Auto Scaling group named \"roll-missing\"",
        ),
        (
            "roll-bad",
            true,
            &["--launch-template-version", "9"],
            "has no version 9",
        ),
        ("roll-bad", false, &["--launch-template-version", "2"], "max size 3"),
        ("roll-bad", true, &["--launch-template-version", "2", "--dry-run"], ""),
    ];
    for (name, raise, extra, message) in cases {
        let r = roll(&dir, name, raise, extra);
        if message.is_empty() {
            assert_eq!(r.code, 0, "{}", r.stderr);
            assert!(
                r.stderr.contains("update capacity: max 3 -> 4, desired 2 -> 4"),
                "{}",
                r.stderr
            );
        } else {
            assert_eq!(r.code, 2, "{}", r.stderr);
            assert!(r.stderr.contains(message), "{}", r.stderr);
            assert!(r.stderr.contains("help:"), "{}", r.stderr);
        }
        assert_eq!(state("roll-bad").await, before, "nothing changed");
    }
}

#[tokio::test]
async fn the_launch_template_adapter_reads_moto() {
    group("roll-lt", 1, 2, 1).await;
    let config = sdk(&moto().endpoint).await;
    let lt = slipway::aws::ec2::Ec2Adapter::new(&config);
    let v = lt.template_version("roll-lt", "$Latest").await.unwrap().unwrap();
    assert_eq!(
        (v.number, v.image_id.as_deref(), v.default),
        (2, Some("ami-03cf127a"), false)
    );
    assert_eq!(
        lt.template_version("roll-lt", "$Default")
            .await
            .unwrap()
            .unwrap()
            .number,
        1
    );
    assert!(lt.template_version("roll-lt", "7").await.unwrap().is_none());
    assert!(lt.template_version("no-such-template", "1").await.unwrap().is_none());
}

const NS: &str = "http://autoscaling.amazonaws.com/doc/2011-01-01/";

/// Answers recorded from the Auto Scaling API (ids and times as AWS sends them).
fn recorded(body: &str) -> Response {
    let action = body
        .split('&')
        .find_map(|p| p.strip_prefix("Action="))
        .unwrap_or_default();
    let xml = match action {
        "StartInstanceRefresh" => format!(
            r#"<StartInstanceRefreshResponse xmlns="{NS}"><StartInstanceRefreshResult><InstanceRefreshId>08b91cf7-8fa6-48af-b6a6-d227f40f1b9b</InstanceRefreshId></StartInstanceRefreshResult><ResponseMetadata><RequestId>7f0b4a2c-4e8a-4c43-9a1f-3c5f4f1e0a11</RequestId></ResponseMetadata></StartInstanceRefreshResponse>"#
        ),
        "DescribeInstanceRefreshes" => format!(
            r#"<DescribeInstanceRefreshesResponse xmlns="{NS}"><DescribeInstanceRefreshesResult><InstanceRefreshes><member><PercentageComplete>40</PercentageComplete><InstanceRefreshId>08b91cf7-8fa6-48af-b6a6-d227f40f1b9b</InstanceRefreshId><InstancesToUpdate>3</InstancesToUpdate><AutoScalingGroupName>web</AutoScalingGroupName><Status>InProgress</Status><StatusReason>Waiting for instances to warm up before continuing. For example: i-0645704820a8e83ff is warming up.</StatusReason><StartTime>2024-06-02T18:11:27Z</StartTime></member></InstanceRefreshes></DescribeInstanceRefreshesResult><ResponseMetadata><RequestId>1d2b1b0e-a7b2-4f3e-9b1c-5b8c2b5c8a22</RequestId></ResponseMetadata></DescribeInstanceRefreshesResponse>"#
        ),
        "RollbackInstanceRefresh" => format!(
            r#"<RollbackInstanceRefreshResponse xmlns="{NS}"><RollbackInstanceRefreshResult><InstanceRefreshId>08b91cf7-8fa6-48af-b6a6-d227f40f1b9b</InstanceRefreshId></RollbackInstanceRefreshResult><ResponseMetadata><RequestId>2e3c2c1f-b8c3-4a4f-8c2d-6c9d3c6d9b33</RequestId></ResponseMetadata></RollbackInstanceRefreshResponse>"#
        ),
        _ => {
            return Response {
                status: 400,
                body: format!(
                    r#"<ErrorResponse xmlns="{NS}"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>3f4d3d20-c9d4-4b50-9d3e-7dae4d7eac44</RequestId></ErrorResponse>"#
                ),
                content_type: "text/xml",
            }
        }
    };
    Response {
        status: 200,
        body: xml,
        content_type: "text/xml",
    }
}

#[tokio::test]
async fn the_refresh_adapter_speaks_the_recorded_protocol() {
    let server = Server::start(|req| recorded(&req.body));
    let config = sdk(&server.url).await;
    let asg = slipway::aws::asg::AsgAdapter::new(&config);
    let spec = RefreshSpec {
        launch_template: LaunchTemplateSpec {
            id: Some("lt-0abcdef1234567890".into()),
            name: Some("web".into()),
            version: "7".into(),
        },
        min_healthy_percentage: 90,
        max_healthy_percentage: 120,
        instance_warmup: Some(60),
        skip_matching: true,
        auto_rollback: true,
        alarms: vec!["web-5xx".into(), "web-latency".into()],
        bake_time: Some(600),
    };
    let id = asg.start_refresh("web", &spec).await.unwrap();
    assert_eq!(id, "08b91cf7-8fa6-48af-b6a6-d227f40f1b9b");
    let refreshes = asg.describe_refreshes("web", Some(&id)).await.unwrap();
    assert_eq!(refreshes.len(), 1);
    let r = &refreshes[0];
    assert_eq!(
        (r.status.as_str(), r.percentage_complete, r.instances_to_update),
        ("InProgress", Some(40), Some(3))
    );
    assert!(r.in_progress());
    asg.rollback_refresh("web").await.unwrap();
    let err = asg.cancel_refresh("web").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Throttled, "{err}");

    let bodies: Vec<String> = server.requests().into_iter().map(|r| r.body).collect();
    let start = &bodies[0];
    for param in [
        "Action=StartInstanceRefresh",
        "AutoScalingGroupName=web",
        "DesiredConfiguration.LaunchTemplate.LaunchTemplateId=lt-0abcdef1234567890",
        "DesiredConfiguration.LaunchTemplate.Version=7",
        "Preferences.MinHealthyPercentage=90",
        "Preferences.MaxHealthyPercentage=120",
        "Preferences.InstanceWarmup=60",
        "Preferences.SkipMatching=true",
        "Preferences.AutoRollback=true",
        "Preferences.AlarmSpecification.Alarms.member.1=web-5xx",
        "Preferences.AlarmSpecification.Alarms.member.2=web-latency",
        "Preferences.BakeTime=600",
    ] {
        assert!(start.split('&').any(|p| p == param), "{param} missing from {start}");
    }
    assert!(
        !start.contains("LaunchTemplateName"),
        "the id wins over the name: {start}"
    );
    assert!(
        bodies[1].contains("Action=DescribeInstanceRefreshes")
            && bodies[1].contains("InstanceRefreshIds.member.1=08b91cf7"),
        "{}",
        bodies[1]
    );
    assert!(
        bodies[2].contains("Action=RollbackInstanceRefresh&") && bodies[2].contains("AutoScalingGroupName=web"),
        "{}",
        bodies[2]
    );
}

/// Instance refresh reads get the SDK's retries for throttling, but an endpoint without
/// the API (a bare HTTP 500, as moto answers) is asked once, not ten times.
#[tokio::test]
async fn refresh_reads_retry_throttling_but_not_an_endpoint_without_the_api() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = std::sync::Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let server = Server::start(move |req| {
        if seen.fetch_add(1, Ordering::SeqCst) == 0 {
            recorded("Action=Throttle")
        } else {
            recorded(&req.body)
        }
    });
    let config = slipway::aws::loader("us-east-1")
        .endpoint_url(&server.url)
        .credentials_provider(Credentials::new("AKIAEXAMPLE", "secret", None, None, "test"))
        .load()
        .await;
    let asg = slipway::aws::asg::AsgAdapter::new(&config);
    let refreshes = asg
        .describe_refreshes("web", None)
        .await
        .expect("retried after throttling");
    assert_eq!(refreshes.len(), 1);
    assert_eq!(server.requests().len(), 2, "one throttled answer, one retry");

    let bare = Server::start(|_| Response {
        status: 500,
        body: "<!doctype html><title>500 Internal Server Error</title>".into(),
        content_type: "text/html",
    });
    let config = slipway::aws::loader("us-east-1")
        .endpoint_url(&bare.url)
        .credentials_provider(Credentials::new("AKIAEXAMPLE", "secret", None, None, "test"))
        .load()
        .await;
    let err = slipway::aws::asg::AsgAdapter::new(&config)
        .describe_refreshes("web", None)
        .await
        .unwrap_err();
    assert_eq!(err.code.as_deref(), Some("NotImplemented"), "{err}");
    assert_eq!(bare.requests().len(), 1, "asked once");
}

/// A roll whose health URL must show the new commit: a server still serving another
/// build keeps the old instances (rolled back, version restored); the right one lets it finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_urls_must_show_the_new_version_before_the_old_instances_go() {
    use crate::support::http::{Response, Server};
    let serving = std::sync::Arc::new(std::sync::Mutex::new("0000000".to_string()));
    let current = serving.clone();
    let server = Server::start(move |_| Response::new(200, format!(r#"{{"commit":"{}"}}"#, current.lock().unwrap())));
    for (name, commit, code) in [("roll-health-old", "0000000", 3), ("roll-health-new", &SHA[..7], 0)] {
        *serving.lock().unwrap() = commit.to_string();
        group(name, 1, 2, 2).await;
        let (_, _, _, _, before) = state(name).await;
        let dir = Dir::new();
        let config = format!(
            "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      \
             region: us-east-1\n    asg:\n      name: {name}\n      launch_template: {name}\n    health:\n      urls:\n        \
             - url: {}/version\n          json:\n            pointer: /commit\n            equals: \"{{version}}\"\n",
            server.url
        );
        let path = dir.write("slipway.yml", &config);
        let r = run(bin("slipway-roll")
            .args([
                "--environment",
                "stage",
                "--sha",
                SHA,
                "--poll-interval",
                "1s",
                "--timeout",
                "3s",
            ])
            .args(["--launch-template-version", "2", "--output", "json"])
            .arg("--config")
            .arg(&path)
            .env("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY000001")
            .env("AWS_SECRET_ACCESS_KEY", "example-secret")
            .env("AWS_ENDPOINT_URL", &moto().endpoint));
        assert_eq!(r.code, code, "{name}: {}", r.stderr);
        let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
        let (_, _, desired, version, after) = state(name).await;
        if code == 0 {
            assert_eq!(json["result"], "succeeded", "{json}");
            assert_eq!(version, "2");
            assert!(after.iter().all(|id| !before.contains(id)));
        } else {
            assert_eq!(json["rolled_back"], true, "{json}");
            assert!(r.stderr.contains(r#"/commit is "0000000" (want "#), "{}", r.stderr);
            assert_eq!((desired, version.as_str()), (2, "1"), "capacity and version restored");
            assert_eq!(after, before, "the old instances still serve");
        }
    }
}
