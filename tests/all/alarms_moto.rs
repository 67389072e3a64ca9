//! CloudWatch alarms against moto behind the recording proxy: the adapter reads metric
//! alarms (states, reasons, timestamps; unknown names absent; at most 100 names a call;
//! composite alarms and paging against recorded answers, which moto lacks),
//! an alarm set to ALARM with SetAlarmState in the middle of a roll rolls it back after
//! exactly one more DescribeAlarms call, and unknown alarm names exit 2 with no mutating
//! call reaching moto (ECS and ASG). What reached moto is read from the proxy's log.
//!
//! The Rust SDK speaks CloudWatch's rpc-v2-cbor protocol, which moto 5.2.5 does not: the
//! proxy forwards it as JSON 1.0 (see support/proxy.rs).

use aws_sdk_cloudwatch::types::{ComparisonOperator, StateValue, Statistic};
use slipway::cloud::{AlarmState, Alarms};

use crate::ecs_wire::{config, service};
use crate::roll_moto::{group, state};
use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::proxy::Proxy;
use crate::support::{bin, run, Dir, Run};

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const IMAGE: &str = "registry.example/web@sha256:3333333333333333333333333333333333333333333333333333333333333333";

/// A metric alarm, made (through `endpoint`) with the SDK, in `state`.
pub async fn alarm(endpoint: &str, name: &str, state: StateValue) {
    let cw = aws_sdk_cloudwatch::Client::new(&config(endpoint).await);
    cw.put_metric_alarm()
        .alarm_name(name)
        .namespace("AWS/ApplicationELB")
        .metric_name("HTTPCode_Target_5XX_Count")
        .statistic(Statistic::Sum)
        .period(60)
        .evaluation_periods(1)
        .threshold(10.0)
        .comparison_operator(ComparisonOperator::GreaterThanThreshold)
        .send()
        .await
        .unwrap();
    set_state(endpoint, name, state, "set by the test").await;
}

pub async fn set_state(endpoint: &str, name: &str, state: StateValue, reason: &str) {
    let cw = aws_sdk_cloudwatch::Client::new(&config(endpoint).await);
    cw.set_alarm_state()
        .alarm_name(name)
        .state_value(state)
        .state_reason(reason)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_adapter_reads_alarm_states_and_leaves_out_unknown_names() {
    let proxy = Proxy::start(&moto().endpoint, 0.0, 11);
    alarm(&proxy.endpoint, "adapter-ok", StateValue::Ok).await;
    alarm(&proxy.endpoint, "adapter-alarm", StateValue::Alarm).await;
    let cw = slipway::aws::cloudwatch::CloudWatchAdapter::new(&config(&proxy.endpoint).await);
    let names: Vec<String> = ["adapter-ok", "adapter-alarm", "adapter-missing"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let before = proxy.count("DescribeAlarms");
    let mut found = cw.describe(&names).await.unwrap();
    found.sort_by(|a, b| a.name.cmp(&b.name));
    assert_eq!(found.len(), 2, "unknown names are absent: {found:?}");
    assert_eq!(
        (found[0].name.as_str(), &found[0].state),
        ("adapter-alarm", &AlarmState::Alarm)
    );
    assert_eq!(found[0].reason, "set by the test");
    let updated = found[0].updated.clone().expect("a state timestamp");
    assert!(updated.starts_with("20") && updated.ends_with('Z'), "{updated}");
    assert_eq!(
        (found[1].name.as_str(), &found[1].state),
        ("adapter-ok", &AlarmState::Ok)
    );
    assert!(found.iter().all(|a| !a.composite));
    assert_eq!(proxy.count("DescribeAlarms") - before, 1);

    // 150 names: two calls of at most 100 names each.
    let mut many: Vec<String> = (0..148).map(|n| format!("adapter-none-{n}")).collect();
    many.extend(["adapter-ok".to_string(), "adapter-alarm".to_string()]);
    let before = proxy.count("DescribeAlarms");
    let found = cw.describe(&many).await.unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(proxy.count("DescribeAlarms") - before, 2);
}

fn yaml(cluster: &str, alarms: &[&str]) -> String {
    format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    ecs:\n      cluster: {cluster}\n      service: web\n      container: app\n    health:\n      alarms: [{}]\n",
        alarms.join(", ")
    )
}

fn roll(dir: &Dir, yaml: &str, endpoint: &str, extra: &[&str]) -> Run {
    let mut cmd = bin("slipway-roll");
    cmd.args(["--environment", "stage", "--sha", SHA, "--poll-interval", "1s"])
        .args(["--timeout", "60s", "--cleanup-timeout", "3s"])
        .args(["--image", IMAGE, "--output", "json"])
        .arg("--config")
        .arg(dir.write("slipway.yml", yaml))
        .args(extra)
        .envs(crate::support::moto::moto_env(endpoint, dir));
    run(&mut cmd)
}

/// slipway-roll against moto through the proxy: the group `name` rolled by surge, its
/// health URL (a local server) never healthy, so the roll waits at the health probes.
fn surge(dir: &Dir, name: &str, health: &str, alarms: &[&str], endpoint: &str) -> Run {
    let yaml = format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      name: {name}\n      launch_template: {name}\n    health:\n      urls:\n        - url: {health}\n      alarms: [{}]\n",
        alarms.join(", ")
    );
    let mut cmd = bin("slipway-roll");
    cmd.args(["--environment", "stage", "--sha", SHA, "--poll-interval", "1s"])
        .args(["--timeout", "60s", "--output", "json"])
        .arg("--config")
        .arg(dir.write("slipway.yml", &yaml))
        .envs(crate::support::moto::moto_env(endpoint, dir));
    run(&mut cmd)
}

/// moto's ECS UpdateService does not start a new deployment (DescribeServices keeps the
/// previous revision as the primary), so an ECS roll there fails at once instead of
/// waiting; the roll that waits here is an ASG surge, held at its health probe.
#[test]
fn an_alarm_set_mid_roll_rolls_it_back_after_one_more_look() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(group("alarm-surge", 1, 4, 2));
    let before = rt.block_on(state("alarm-surge"));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 12);
    rt.block_on(alarm(&proxy.endpoint, "alarm-surge-5xx", StateValue::Ok));
    // The health URL is never healthy; its first request (the roll is then waiting for
    // it, the new instances up) sets the alarm, through the proxy so that its log
    // orders SetAlarmState among the roll's calls.
    let endpoint = proxy.endpoint.clone();
    let flipped = std::sync::Once::new();
    let health = Server::start(move |_| {
        flipped.call_once(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(set_state(
                &endpoint,
                "alarm-surge-5xx",
                StateValue::Alarm,
                "5xx above 10",
            ));
        });
        Response::new(503, "starting")
    });
    let dir = Dir::new();
    let r = surge(
        &dir,
        "alarm-surge",
        &format!("{}/healthz", health.url),
        &["alarm-surge-5xx"],
        &proxy.endpoint,
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(json["result"], "rolled_back", "{json}\n{}", r.stderr);
    assert_eq!(json["alarm"], "alarm-surge-5xx", "{json}");
    assert_eq!(json["stopped_by"], "failure", "{json}");
    let error = json["error"].as_str().unwrap();
    assert!(
        error.contains("alarm alarm-surge-5xx is ALARM since 20") && error.contains(": 5xx above 10"),
        "the error names the alarm, when and why: {error}"
    );
    let calls = proxy.calls();
    let set = calls.iter().rfind(|c| c.action == "SetAlarmState").unwrap();
    let mutations: Vec<&str> = calls
        .iter()
        .filter(|c| c.forwarded && c.is_mutation() && c.service == "autoscaling")
        .map(|c| c.action.as_str())
        .collect();
    let rollback = calls
        .iter()
        .find(|c| c.forwarded && c.is_mutation() && c.service == "autoscaling" && c.arrived > set.answered)
        .expect("the rollback reached moto");
    assert_eq!(
        &mutations[..3],
        [
            "UpdateAutoScalingGroup",
            "UpdateAutoScalingGroup",
            "UpdateAutoScalingGroup"
        ],
        "roll: launch template, capacity; rollback: launch template back first: {calls:?}"
    );
    let looks = calls
        .iter()
        .filter(|c| c.action == "DescribeAlarms" && c.arrived > set.answered && c.answered < rollback.arrived)
        .count();
    assert_eq!(looks, 1, "one look at the alarm, then the rollback: {calls:?}");
    let outputs: std::collections::BTreeMap<String, String> =
        slipway::github::files::parse_outputs(&dir.read("output"))
            .into_iter()
            .collect();
    assert_eq!(outputs["alarm"], "alarm-surge-5xx");
    assert_eq!(outputs["result"], "rolled_back");
    assert_eq!(
        rt.block_on(state("alarm-surge")),
        before,
        "back on version 1, original instances"
    );
}

#[test]
fn unknown_alarm_names_exit_2_listing_them_and_change_nothing() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(service("alarm-ecs-bad", "alarm-ecs-bad-web"));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 13);
    rt.block_on(alarm(&proxy.endpoint, "alarm-bad-known", StateValue::Ok));
    let seeded = proxy.mutations().len();
    let dir = Dir::new();
    let yaml = yaml("alarm-ecs-bad", &["alarm-bad-known", "alarm-bad-typo"]);
    for extra in [vec![], vec!["--alarm", "alarm-bad-other", "--dry-run"]] {
        let r = roll(&dir, &yaml, &proxy.endpoint, &extra);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(
            r.stderr.contains("CloudWatch alarm(s) not found: alarm-bad-typo"),
            "{}",
            r.stderr
        );
        if !extra.is_empty() {
            assert!(r.stderr.contains("alarm-bad-typo, alarm-bad-other"), "{}", r.stderr);
        }
        assert!(proxy.count("DescribeAlarms") > 0);
        assert_eq!(
            proxy.mutations().len(),
            seeded,
            "nothing changed: {:?}",
            proxy.mutations()
        );
    }
}

fn wait(endpoint: &str, args: &[&str]) -> Run {
    run(bin("slipway-wait")
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIAMOTO")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1"))
}

#[test]
fn slipway_wait_watches_alarms_failing_on_alarm_and_refusing_missing_ones() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let proxy = Proxy::start(&moto().endpoint, 0.0, 14);
    rt.block_on(alarm(&proxy.endpoint, "wait-ok", StateValue::Ok));
    rt.block_on(alarm(&proxy.endpoint, "wait-bad", StateValue::Alarm));
    let r = wait(&proxy.endpoint, &["--alarm", "wait-ok", "--output", "json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(json["probes"][0]["kind"], "alarm", "{json}");
    assert_eq!(json["probes"][0]["detail"], "1/1 alarm(s) OK", "{json}");

    let r = wait(&proxy.endpoint, &["--alarm", "wait-ok", "--alarm", "wait-bad"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("alarm wait-bad is ALARM since 20") && r.stderr.contains(": set by the test"),
        "{}",
        r.stderr
    );

    let r = wait(&proxy.endpoint, &["--alarm", "wait-ok", "--alarm", "wait-gone"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("CloudWatch alarm(s) not found: wait-gone"),
        "{}",
        r.stderr
    );
}

/// Answers recorded from CloudWatch's DescribeAlarms (JSON 1.0; the proxy turns them into
/// the SDK's CBOR): a composite alarm on the first page, a metric alarm and a log alarm
/// (the model's AlarmType LogAlarm, answered in DescribeAlarmsOutput.LogAlarms) on the second.
fn recorded_describe_alarms(req: &crate::support::http::Request) -> Response {
    let body: serde_json::Value = serde_json::from_str(&req.body).unwrap_or_default();
    let answer = match body["NextToken"].as_str() {
        None => serde_json::json!({
            "CompositeAlarms": [{
                "AlarmName": "web-health",
                "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-health",
                "AlarmRule": "ALARM(web-5xx) OR ALARM(web-p99)",
                "StateValue": "ALARM",
                "StateReason": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-5xx transitioned to ALARM at Thursday 01 January, 2026 00:01:00 UTC",
                "StateUpdatedTimestamp": 1767225660.0
            }],
            "MetricAlarms": [],
            "NextToken": "page-2"
        }),
        Some(_) => serde_json::json!({
            "CompositeAlarms": [],
            "MetricAlarms": [{
                "AlarmName": "web-p99",
                "StateValue": "INSUFFICIENT_DATA",
                "StateReason": "Unchecked: Initial alarm creation",
                "StateUpdatedTimestamp": 1767225600.0,
                "MetricName": "TargetResponseTime",
                "Namespace": "AWS/ApplicationELB"
            }],
            "LogAlarms": [{
                "AlarmName": "web-errors-log",
                "AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:web-errors-log",
                "StateValue": "ALARM",
                "StateReason": "Threshold Crossed: 1 query result was greater than the threshold (5.0)",
                "StateUpdatedTimestamp": 1767225720.0,
                "Threshold": 5.0,
                "ComparisonOperator": "GreaterThanThreshold"
            }]
        }),
    };
    Response {
        status: 200,
        body: answer.to_string(),
        content_type: "application/x-amz-json-1.0",
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_adapter_reads_composite_alarms_and_every_page_of_the_recorded_protocol() {
    let server = Server::start(recorded_describe_alarms);
    let proxy = Proxy::start(&server.url, 0.0, 15);
    let cw = slipway::aws::cloudwatch::CloudWatchAdapter::new(&config(&proxy.endpoint).await);
    let names = vec![
        "web-health".to_string(),
        "web-p99".to_string(),
        "web-errors-log".to_string(),
    ];
    let found = cw.describe(&names).await.unwrap();
    assert_eq!(found.len(), 3, "{found:?}");
    assert_eq!(
        (found[0].name.as_str(), &found[0].state, found[0].composite),
        ("web-health", &AlarmState::Alarm, true)
    );
    assert_eq!(found[0].updated.as_deref(), Some("2026-01-01T00:01:00Z"));
    assert!(found[0].reason.contains("web-5xx transitioned to ALARM"));
    assert_eq!(
        (found[1].name.as_str(), &found[1].state, found[1].composite),
        ("web-p99", &AlarmState::InsufficientData, false)
    );
    assert_eq!(
        (found[2].name.as_str(), &found[2].state, found[2].composite),
        ("web-errors-log", &AlarmState::Alarm, false),
        "a log alarm is found, not reported missing"
    );
    let sent: Vec<serde_json::Value> = server
        .requests()
        .iter()
        .map(|r| serde_json::from_str(&r.body).unwrap())
        .collect();
    assert_eq!(sent.len(), 2, "two pages");
    assert_eq!(
        sent[0]["AlarmNames"],
        serde_json::json!(["web-health", "web-p99", "web-errors-log"])
    );
    assert_eq!(
        sent[0]["AlarmTypes"],
        serde_json::json!(["MetricAlarm", "CompositeAlarm", "LogAlarm"])
    );
    assert_eq!(sent[1]["NextToken"], "page-2");
    assert_eq!(
        server.requests()[0].headers["x-amz-target"],
        "GraniteServiceVersion20100801.DescribeAlarms"
    );
}
