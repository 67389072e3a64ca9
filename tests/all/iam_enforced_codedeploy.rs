//! The policy `slipway-env iam-policy` generates for a CodeDeploy-to-EC2 environment,
//! tested against moto enforcing IAM: a roll with a role holding exactly that policy
//! (S3 statements as generated, so moto checks the bundle prefix's ARN; the others widened
//! to "*", since moto matches only actions there) gets through the busy check, the group,
//! HeadObject, PutObject, CreateDeployment and GetDeployment; the same roll without
//! s3:PutObject is denied at the upload and creates no deployment, and one whose S3
//! statement names another prefix is denied the HEAD. The first roll hands an alarm to
//! the deployment (overrideAlarmConfiguration, read back at the proxy), for which the
//! policy grants codedeploy:UpdateDeploymentGroup as AWS's model says it must (moto
//! checks only the action called, CreateDeployment, so the grant itself is read from the
//! generated policy). moto has no
//! StopDeployment, so the proxy refuses it (the cleanup of the timed-out roll) at once.

use serde_json::{json, Value};

use crate::support::moto_iam::{iam_moto, Keys, ACCOUNT};
use crate::support::proxy::{Denial, Proxy};
use crate::support::{bin, run, Dir, Run};

const BUCKET: &str = "iam-cd-bundles";

const ALARM: &str = "iam-cd-5xx";

fn yaml(group: &str) -> String {
    format!(
        "app: web\nenvironments:\n  dev:\n    aws:\n      role_arn: arn:aws:iam::{ACCOUNT}:role/deploy\n      region: us-east-1\n    codedeploy:\n      application: iam-cd\n      deployment_group: {group}\n      bundle: app\n      bucket: {BUCKET}\n"
    )
}

fn yaml_with_alarm(group: &str) -> String {
    format!("{}    health:\n      alarms: [{ALARM}]\n", yaml(group))
}

/// The generated policy: S3 resources as generated, the others "*", no conditions.
fn policy(dir: &Dir, without: Option<&str>) -> Value {
    let r = run(bin("slipway-env")
        .arg("iam-policy")
        .arg("--config")
        .arg(dir.path().join("slipway.yml"))
        .args(["--environment", "dev", "--repository", "octo/web"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let mut policy = serde_json::from_str::<Value>(&r.stdout).unwrap()["permissions_policy"].clone();
    let statements = policy["Statement"].as_array_mut().unwrap();
    for s in statements.iter_mut() {
        let s3 = s["Action"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a.as_str().unwrap().starts_with("s3:"));
        if !s3 {
            s["Resource"] = json!("*");
        }
        s.as_object_mut().unwrap().remove("Condition");
        // moto names CloudWatch's actions by the service's signing name (monitoring:...),
        // IAM by its action prefix (cloudwatch:...): the statement holds both for moto.
        let actions = s["Action"].as_array_mut().unwrap();
        let monitoring: Vec<Value> = actions
            .iter()
            .filter_map(|a| a.as_str()?.strip_prefix("cloudwatch:"))
            .map(|a| json!(format!("monitoring:{a}")))
            .collect();
        actions.extend(monitoring);
        if let Some(action) = without {
            s["Action"].as_array_mut().unwrap().retain(|a| a != action);
        }
    }
    statements.retain(|s| !s["Action"].as_array().unwrap().is_empty());
    policy
}

fn roll(dir: &Dir, proxy: &Proxy, keys: &Keys, sha: &str) -> Run {
    let mut cmd = bin("slipway-roll");
    cmd.current_dir(dir.path())
        .env("SLIPWAY_CONFIG", dir.path().join("slipway.yml"))
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("GITHUB_OUTPUT", dir.path().join("output"))
        .args(["--environment", "dev", "--sha", sha, "--output", "json"])
        .args(["--timeout", "3s", "--cleanup-timeout", "3s", "--poll-interval", "1s"]);
    keys.apply(&mut cmd);
    run(&mut cmd)
}

#[test]
fn roll_codedeploy_ec2_with_the_generated_policy_and_not_without_put_object() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let sdk = iam_moto().admin_sdk().await;
            let s3 =
                aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
            s3.create_bucket().bucket(BUCKET).send().await.unwrap();
            let cd = aws_sdk_codedeploy::Client::new(&sdk);
            cd.create_application()
                .application_name("iam-cd")
                .compute_platform(aws_sdk_codedeploy::types::ComputePlatform::Server)
                .send()
                .await
                .unwrap();
            for group in ["iam-cd-a", "iam-cd-b"] {
                cd.create_deployment_group()
                    .application_name("iam-cd")
                    .deployment_group_name(group)
                    .service_role_arn(format!("arn:aws:iam::{ACCOUNT}:role/codedeploy"))
                    .send()
                    .await
                    .unwrap();
            }
        });
    let proxy = Proxy::start(&iam_moto().endpoint, 0.0, 6);
    proxy.deny("StopDeployment", Denial::Bare403);
    // The alarm, made by the administrator through the proxy (it speaks CloudWatch's CBOR
    // for moto, and signs the translated call again with the administrator's keys).
    let admin = &iam_moto().admin;
    proxy.sign_as(&admin.access_key, &admin.secret_key, admin.session_token.as_deref());
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let cw = aws_sdk_cloudwatch::Client::new(&iam_moto().admin_sdk_at(&proxy.endpoint).await);
            cw.put_metric_alarm()
                .alarm_name(ALARM)
                .namespace("AWS/ApplicationELB")
                .metric_name("HTTPCode_Target_5XX_Count")
                .statistic(aws_sdk_cloudwatch::types::Statistic::Sum)
                .period(60)
                .evaluation_periods(1)
                .threshold(10.0)
                .comparison_operator(aws_sdk_cloudwatch::types::ComparisonOperator::GreaterThanThreshold)
                .send()
                .await
                .unwrap();
        });
    let dir = Dir::new();
    std::fs::create_dir_all(dir.path().join("app")).unwrap();
    dir.write("app/appspec.yml", "version: 0.0\nos: linux\n");

    dir.write("slipway.yml", &yaml_with_alarm("iam-cd-a"));
    let full = policy(&dir, None);
    let granted: Vec<&str> = full["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|s| s["Action"].as_array().unwrap().iter().filter_map(Value::as_str))
        .collect();
    assert!(granted.contains(&"codedeploy:UpdateDeploymentGroup"), "{full}");
    let keys = iam_moto().role("iam-cd-full", &full);
    proxy.sign_as(&keys.access_key, &keys.secret_key, keys.session_token.as_deref());
    let r = roll(&dir, &proxy, &keys, "1111111111111111111111111111111111111111");
    let json: Value = serde_json::from_str(&r.stdout).unwrap_or_else(|_| panic!("JSON on stdout: {}", r.stderr));
    assert_eq!(
        json["stopped_by"], "timed_out",
        "every call before the cleanup was allowed: {json}"
    );
    assert_eq!(json["bundle_uploaded"], true, "{json}");
    assert!(json["deployment_id"].as_str().is_some_and(|d| !d.is_empty()), "{json}");
    assert!(!r.stderr.contains("AccessDenied"), "{}", r.stderr);
    let created = proxy
        .calls()
        .into_iter()
        .find(|c| c.action == "CreateDeployment")
        .unwrap();
    let body: Value = serde_json::from_str(&created.body).unwrap();
    assert_eq!(
        body["overrideAlarmConfiguration"]["alarms"],
        json!([{ "name": ALARM }]),
        "the alarm reached CodeDeploy: {body}"
    );

    dir.write("slipway.yml", &yaml("iam-cd-b"));
    let keys = iam_moto().role("iam-cd-without", &policy(&dir, Some("s3:PutObject")));
    let before = proxy.count("CreateDeployment");
    let r = roll(&dir, &proxy, &keys, "2222222222222222222222222222222222222222");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr.contains("PutObject") && (r.stderr.contains("AccessDenied") || r.stderr.contains("not authorized")),
        "denied at the upload:\n{}",
        r.stderr
    );
    assert_eq!(
        proxy.count("CreateDeployment"),
        before,
        "no deployment without the bundle"
    );

    // moto checks S3 resources: the same policy on another prefix is denied the HEAD.
    let mut elsewhere = policy(&dir, None);
    for s in elsewhere["Statement"].as_array_mut().unwrap() {
        if s["Sid"] == "CodeDeployBundles" {
            s["Resource"] = json!([format!("arn:aws:s3:::{BUCKET}/elsewhere/*")]);
        }
    }
    let keys = iam_moto().role("iam-cd-elsewhere", &elsewhere);
    let r = roll(&dir, &proxy, &keys, "3333333333333333333333333333333333333333");
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("HeadObject"), "denied at the HEAD:\n{}", r.stderr);
    assert_eq!(proxy.count("CreateDeployment"), before);
}
