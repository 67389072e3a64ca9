//! slipway-wait's AWS probes against moto: a target group attached to an Auto Scaling
//! group, the group's instances, and an ECS service (whose deployment never progresses
//! in moto, so the wait times out naming why). Setup uses the AWS SDK against moto.

use crate::support::moto::moto;
use crate::support::proxy::{Denial, Proxy};
use crate::support::{bin, run, Dir, Run};

fn sdk() -> aws_config::SdkConfig {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(&moto().endpoint)
            .credentials_provider(aws_sdk_sts::config::Credentials::new(
                "AKIAMOTO", "secret", None, None, "test",
            ))
            .load(),
    )
}

/// The default VPC's id, through EC2's query API (slipway has no EC2 client here).
async fn default_vpc() -> String {
    let body = reqwest::Client::new()
        .post(&moto().endpoint)
        .header(
            "Authorization",
            "AWS4-HMAC-SHA256 Credential=AKIAMOTO/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0",
        )
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("Action=DescribeVpcs&Version=2016-11-15")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let start = body.find("<vpcId>").expect("moto has a default VPC") + "<vpcId>".len();
    body[start..start + body[start..].find('<').unwrap()].to_string()
}

/// An Auto Scaling group of two instances with a target group attached; returns the ARN.
fn group_with_target_group(name: &str) -> String {
    let config = sdk();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let asg = aws_sdk_autoscaling::Client::new(&config);
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
        let vpc = default_vpc().await;
        let tg = elb
            .create_target_group()
            .name(name)
            .protocol(aws_sdk_elasticloadbalancingv2::types::ProtocolEnum::Http)
            .port(80)
            .vpc_id(vpc)
            .send()
            .await
            .unwrap();
        let arn = tg.target_groups()[0].target_group_arn().unwrap().to_string();
        asg.create_launch_configuration()
            .launch_configuration_name(name)
            .image_id("ami-03cf127a")
            .instance_type("t3.micro")
            .send()
            .await
            .unwrap();
        asg.create_auto_scaling_group()
            .auto_scaling_group_name(name)
            .launch_configuration_name(name)
            .min_size(2)
            .max_size(4)
            .desired_capacity(2)
            .availability_zones("us-east-1a")
            .target_group_arns(&arn)
            .send()
            .await
            .unwrap();
        arn
    })
}

fn wait(args: &[&str]) -> Run {
    wait_through(&moto().endpoint, args)
}

fn wait_through(endpoint: &str, args: &[&str]) -> Run {
    run(bin("slipway-wait")
        .args(args)
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "AKIAMOTO")
        .env("AWS_SECRET_ACCESS_KEY", "secret")
        .env("AWS_REGION", "us-east-1"))
}

#[test]
fn target_group_and_group_instances_are_healthy() {
    let arn = group_with_target_group("wait-tg-ok");
    let r = wait(&[
        "--target-group",
        &arn,
        "--asg",
        "wait-tg-ok",
        "--min-healthy-targets",
        "2",
        "--output",
        "json",
    ]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let report: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(report["probes"][0]["kind"], "target-group");
    assert_eq!(report["probes"][0]["name"], "wait-tg-ok");
    assert_eq!(report["probes"][0]["detail"], "2/2 targets healthy");
    assert_eq!(report["probes"][1]["detail"], "2 instances InService and Healthy");
}

#[test]
fn too_few_targets_time_out_naming_the_minimum() {
    let arn = group_with_target_group("wait-tg-few");
    let r = wait(&[
        "--target-group",
        &arn,
        "--min-healthy-targets",
        "3",
        "--timeout",
        "2s",
        "--aws-interval",
        "500ms",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(
        r.stderr.contains("2/2 targets healthy (need at least 3)"),
        "{}",
        r.stderr
    );
}

#[test]
fn the_environment_health_section_names_the_probes() {
    let arn = group_with_target_group("wait-env");
    let dir = Dir::new();
    let config = format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      \
         region: us-east-1\n    asg:\n      name: wait-env\n    health:\n      timeout: 30s\n      target_groups:\n        - {arn}\n"
    );
    let path = dir.write("slipway.yml", &config);
    let r = wait(&["--environment", "stage", "--config", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("ok          target-group wait-env"), "{}", r.stderr);
    assert!(r.stderr.contains("ok          asg wait-env"), "{}", r.stderr);
}

#[test]
fn an_ecs_deployment_that_never_completes_times_out_saying_why() {
    let config = sdk();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&config);
        ecs.create_cluster().cluster_name("wait-ecs").send().await.unwrap();
        let container = aws_sdk_ecs::types::ContainerDefinition::builder()
            .name("app")
            .image("registry.example/web:1")
            .memory(128)
            .build();
        ecs.register_task_definition()
            .family("wait-web")
            .container_definitions(container)
            .send()
            .await
            .unwrap();
        ecs.create_service()
            .cluster("wait-ecs")
            .service_name("web")
            .task_definition("wait-web")
            .desired_count(1)
            .send()
            .await
            .unwrap();
    });
    let r = wait(&[
        "--ecs-cluster",
        "wait-ecs",
        "--ecs-service",
        "web",
        "--timeout",
        "2s",
        "--aws-interval",
        "500ms",
    ]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("ecs wait-ecs/web"), "{}", r.stderr);
    assert!(
        r.stderr.contains("primary wait-web:1 IN_PROGRESS: 0/1 running"),
        "{}",
        r.stderr
    );
}

#[test]
fn resources_that_do_not_exist_are_bad_input() {
    let missing_tg = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef";
    let cases: &[(&[&str], &str)] = &[
        (&["--target-group", missing_tg], "target group arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/nope/0123456789abcdef does not exist"),
        (&["--asg", "no-such-group"], "Auto Scaling group \"no-such-group\" does not exist"),
        (&["--ecs-cluster", "no-such-cluster", "--ecs-service", "web"], "ECS service \"web\" not found in cluster \"no-such-cluster\""),
    ];
    for (args, needle) in cases {
        let r = wait(args);
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    }
}

/// A cluster `cluster` with a one-task service `web` (moto never finishes its deployment).
fn ecs_service(cluster: &str, family: &str) {
    let config = sdk();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let ecs = aws_sdk_ecs::Client::new(&config);
        ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
        let container = aws_sdk_ecs::types::ContainerDefinition::builder()
            .name("app")
            .image("registry.example/web:1")
            .memory(128)
            .build();
        ecs.register_task_definition()
            .family(family)
            .container_definitions(container)
            .send()
            .await
            .unwrap();
        ecs.create_service()
            .cluster(cluster)
            .service_name("web")
            .task_definition(family)
            .desired_count(1)
            .send()
            .await
            .unwrap();
    });
}

/// Denied is not pending: a probe whose describe call is refused fails (exit 1) at the
/// first poll, naming the call and the IAM action, in each protocol's form of AccessDenied
/// and as a bare 403; the refused call is not retried. (Without the fix the probe polls on
/// until the timeout and exits 3.)
#[test]
fn a_denied_describe_call_fails_the_wait_at_once_naming_the_action() {
    let arn = group_with_target_group("wait-denied");
    ecs_service("wait-denied", "wait-denied-web");
    let probes: [(&[&str], &str, &str); 3] = [
        (
            &["--target-group", &arn],
            "DescribeTargetHealth",
            "elasticloadbalancing",
        ),
        (&["--asg", "wait-denied"], "DescribeAutoScalingGroups", "autoscaling"),
        (
            &["--ecs-cluster", "wait-denied", "--ecs-service", "web"],
            "DescribeServices",
            "ecs",
        ),
    ];
    for (args, action, service) in probes {
        for how in [Denial::Protocol, Denial::Bare403] {
            let proxy = Proxy::start(&moto().endpoint, 0.0, 1);
            proxy.deny(action, how);
            let mut all = args.to_vec();
            all.extend(["--timeout", "30s", "--aws-interval", "1s", "--output", "json"]);
            let r = wait_through(&proxy.endpoint, &all);
            assert_eq!(r.code, 1, "{action} {how:?}: {}", r.stderr);
            let report: serde_json::Value = serde_json::from_str(&r.stdout).expect("the JSON report");
            assert_eq!(report["outcome"], "failed", "{report}");
            let cause = report["cause"].as_str().unwrap_or_default();
            assert!(cause.contains(&format!("{action} failed: ")), "{how:?}: {cause}");
            assert!(cause.contains(&format!("grant {service}:{action}")), "{how:?}: {cause}");
            if how == Denial::Protocol {
                assert!(cause.contains("is not authorized to perform"), "AWS's message: {cause}");
            }
            assert!(!cause.contains("ServiceError") && !cause.contains("SdkBody"), "{cause}");
            // One poll (the ECS probe's diagnosis reads the service's events once more),
            // never the SDK's or the probe's retries.
            let asked = if service == "ecs" { 2 } else { 1 };
            assert_eq!(
                proxy.count(action),
                asked,
                "{action} {how:?}: a denial is never retried"
            );
        }
    }
}

/// A resource deleted in the middle of a wait ends it at once (exit 1), while one that
/// does not exist at the start is bad input (exit 2, tested above).
#[test]
fn a_resource_deleted_mid_wait_fails_at_once() {
    let arn = group_with_target_group("wait-vanish");
    let config = sdk();
    // The group: deleted right after the probe first saw it.
    let proxy = Proxy::start(&moto().endpoint, 0.0, 1);
    let asg_config = config.clone();
    proxy.after("DescribeAutoScalingGroups", move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(
            aws_sdk_autoscaling::Client::new(&asg_config)
                .delete_auto_scaling_group()
                .auto_scaling_group_name("wait-vanish")
                .force_delete(true)
                .send(),
        )
        .expect("delete the group");
    });
    // Waiting for a launch template version no instance has keeps the probe pending.
    let r = wait_through(
        &proxy.endpoint,
        &[
            "--asg",
            "wait-vanish",
            "--launch-template-version",
            "9",
            "--timeout",
            "30s",
            "--aws-interval",
            "1s",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Auto Scaling group \"wait-vanish\" was deleted during the wait"),
        "{}",
        r.stderr
    );
    // The target group: asks for more healthy targets than there are, then is deleted.
    let proxy = Proxy::start(&moto().endpoint, 0.0, 1);
    let (elb_config, tg) = (config.clone(), arn.clone());
    proxy.after("DescribeTargetHealth", move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let elb = aws_sdk_elasticloadbalancingv2::Client::new(&elb_config);
        rt.block_on(elb.delete_target_group().target_group_arn(&tg).send())
            .expect("delete the target group");
    });
    let r = wait_through(
        &proxy.endpoint,
        &[
            "--target-group",
            &arn,
            "--min-healthy-targets",
            "5",
            "--timeout",
            "30s",
            "--aws-interval",
            "1s",
        ],
    );
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("was deleted during the wait"), "{}", r.stderr);
}
