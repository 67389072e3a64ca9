//! CodeDeploy to EC2 against moto behind the recording proxy: slipway-roll zips the
//! application directory, uploads it to S3 keyed by commit and creates a deployment of
//! that revision (read back from moto: bucket, key, bundle type zip, the object's ETag);
//! a second roll of the same commit uploads nothing (the PutObject requests that reached
//! moto are counted); the object is a valid zip whose sha256 is the one in its metadata;
//! a directory without appspec.yml exits 2 with no change. The calls moto lacks (the
//! instance targets, StopDeployment) and fields it leaves out (the group's Auto Scaling
//! groups and last successful deployment) are played against recorded AWS answers.

use aws_sdk_codedeploy::types::{AutoRollbackConfiguration, AutoRollbackEvent, ComputePlatform};
use sha2::{Digest, Sha256};
use slipway::aws::codedeploy::CodeDeployAdapter;
use slipway::aws::s3::S3Adapter;
use slipway::cloud::{CdRevision, CodeDeploy, NewDeployment, ObjectStore, S3Revision};

use crate::ecs_wire::config;
use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::proxy::{Denial, Proxy};
use crate::support::{bin, require, run, testbed, Dir, Run};

const SHA: &str = "abcdefabcdefabcdefabcdefabcdefabcdef0123";

/// A bucket, and an EC2 (Server) application with deployment groups, made directly in moto.
async fn setup(bucket: &str, application: &str, groups: &[&str]) {
    let sdk = config(&moto().endpoint).await;
    let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    s3.create_bucket().bucket(bucket).send().await.unwrap();
    let cd = aws_sdk_codedeploy::Client::new(&sdk);
    cd.create_application()
        .application_name(application)
        .compute_platform(ComputePlatform::Server)
        .send()
        .await
        .unwrap();
    for group in groups {
        cd.create_deployment_group()
            .application_name(application)
            .deployment_group_name(*group)
            .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
            .deployment_config_name("CodeDeployDefault.OneAtATime")
            .auto_rollback_configuration(
                AutoRollbackConfiguration::builder()
                    .enabled(true)
                    .events(AutoRollbackEvent::DeploymentFailure)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
}

fn app_dir() -> Dir {
    let dir = Dir::new();
    std::fs::create_dir_all(dir.path().join("app/scripts")).unwrap();
    dir.write(
        "app/appspec.yml",
        "version: 0.0\nos: linux\nfiles:\n  - source: /\n    destination: /srv/web\n",
    );
    dir.write("app/scripts/start.sh", "#!/bin/sh\nsystemctl restart web\n");
    dir.write("app/index.html", "<h1>web</h1>\n");
    dir
}

fn roll(dir: &Dir, proxy: &Proxy, application: &str, group: &str, bucket: &str) -> Run {
    let yaml = format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    codedeploy:\n      application: {application}\n      deployment_group: {group}\n      bundle: app\n      bucket: {bucket}\n"
    );
    run(bin("slipway-roll")
        .args(["--timeout", "3s", "--cleanup-timeout", "3s", "--poll-interval", "1s"])
        .args(["--environment", "stage", "--sha", SHA, "--output", "json"])
        .arg("--config")
        .arg(dir.write("slipway.yml", &yaml))
        .envs(crate::support::moto::moto_env(&proxy.endpoint, dir)))
}

#[test]
fn a_rerun_of_the_same_commit_reuses_the_bundle_and_deploys_that_s3_revision() {
    let (bucket, application) = ("cd-ec2-bundles", "web-ec2");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(setup(bucket, application, &["web-a", "web-b"]));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 3);
    // moto's deployments never start and it has no StopDeployment: the roll times out and
    // its cleanup is refused at once (as IAM would), leaving the deployment to read back.
    proxy.deny("StopDeployment", Denial::Protocol);
    let dir = app_dir();
    let key = format!("slipway/web/{SHA}.zip");

    let first = roll(&dir, &proxy, application, "web-a", bucket);
    let json: serde_json::Value = serde_json::from_str(&first.stdout).expect("JSON on stdout");
    assert_eq!(json["target"], "codedeploy", "{json}");
    assert_eq!(json["stopped_by"], "timed_out", "{json}");
    assert_eq!(json["bundle_uploaded"], true, "{json}");
    assert_eq!(first.code, 1, "the cleanup was refused: {}", first.stderr);
    assert!(first.stderr.contains("stop-deployment"), "{}", first.stderr);
    assert_eq!(proxy.count("PutObject"), 1);
    let first_id = json["deployment_id"].as_str().unwrap().to_string();
    let output = std::fs::read_to_string(dir.path().join("output")).unwrap();
    assert!(output.contains("codedeploy-deployment-id<<"), "{output}");
    assert!(output.contains(&first_id), "{output}");

    // The same commit to another group: HEAD finds the same bundle; nothing is uploaded.
    let second = roll(&dir, &proxy, application, "web-b", bucket);
    let json: serde_json::Value = serde_json::from_str(&second.stdout).expect("JSON on stdout");
    assert_eq!(json["bundle_uploaded"], false, "{json}");
    assert!(second.stderr.contains("stored already"), "{}", second.stderr);
    let forwarded = |action: &str| {
        proxy
            .calls()
            .iter()
            .filter(|c| c.action == action && c.forwarded)
            .count()
    };
    assert_eq!(
        forwarded("PutObject"),
        1,
        "one upload reached moto: {:?}",
        proxy.calls()
    );
    assert_eq!(forwarded("HeadObject"), 2);
    assert_eq!(forwarded("CreateDeployment"), 2);
    let second_id = json["deployment_id"].as_str().unwrap().to_string();

    rt.block_on(async {
        let sdk = config(&moto().endpoint).await;
        let s3 = aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
        let object = s3.get_object().bucket(bucket).key(&key).send().await.unwrap();
        let etag = object.e_tag().unwrap().trim_matches('"').to_string();
        let sha = object.metadata().unwrap().get("slipway-sha256").cloned().unwrap();
        let bytes = object.body.collect().await.unwrap().into_bytes();
        let digest: String = Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(sha, digest, "the metadata holds the object's sha256");
        // Both deployments name that object, as moto stored them.
        let cd = aws_sdk_codedeploy::Client::new(&sdk);
        for id in [&first_id, &second_id] {
            let d = cd.get_deployment().deployment_id(id).send().await.unwrap();
            let s3 = d
                .deployment_info()
                .unwrap()
                .revision()
                .unwrap()
                .s3_location()
                .unwrap()
                .clone();
            assert_eq!(s3.bucket(), Some(bucket));
            assert_eq!(s3.key(), Some(key.as_str()));
            assert_eq!(s3.bundle_type().map(|b| b.as_str()), Some("zip"));
            assert_eq!(s3.e_tag().map(|e| e.trim_matches('"')), Some(etag.as_str()));
        }
        // A valid zip with the directory's files, read by Python's zipfile.
        let zip = dir.write("bundle.zip", "");
        std::fs::write(&zip, &bytes).unwrap();
        let python = require(&testbed().join("venv/bin/python"));
        let listed = std::process::Command::new(python)
            .args([
                "-c",
                "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; \
                 print(' '.join(sorted(z.namelist()))); print(oct(z.getinfo('scripts/start.sh').external_attr >> 16))",
            ])
            .arg(&zip)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&listed.stdout);
        assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
        assert!(text.starts_with("appspec.yml index.html scripts/start.sh"), "{text}");
    });
}

#[test]
fn a_directory_without_appspec_exits_2_and_changes_nothing() {
    let proxy = Proxy::start(&moto().endpoint, 0.0, 4);
    let dir = app_dir();
    std::fs::remove_file(dir.path().join("app/appspec.yml")).unwrap();
    let r = roll(&dir, &proxy, "web-ec2-none", "web-a", "cd-ec2-none");
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("has no appspec.yml"), "{}", r.stderr);
    assert!(r.stderr.contains("app"), "{}", r.stderr);
    assert!(proxy.mutations().is_empty(), "{:?}", proxy.mutations());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_s3_adapter_stores_a_bundle_with_its_sha256_and_heads_it() {
    let bucket = "cd-ec2-adapter";
    let sdk = config(&moto().endpoint).await;
    aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build())
        .create_bucket()
        .bucket(bucket)
        .send()
        .await
        .unwrap();
    let proxy = Proxy::start(&moto().endpoint, 0.0, 5);
    let s3 = S3Adapter::new(&config(&proxy.endpoint).await);
    assert_eq!(s3.head(bucket, "slipway/web/x.zip").await.unwrap(), None);
    let etag = s3
        .put(bucket, "slipway/web/x.zip", b"zip bytes".to_vec(), "00ff")
        .await
        .unwrap();
    let head = s3.head(bucket, "slipway/web/x.zip").await.unwrap().unwrap();
    assert_eq!(head.etag.as_deref(), Some(etag.as_str()));
    assert_eq!(head.sha256.as_deref(), Some("00ff"));
    assert_eq!(proxy.mutations(), ["PutObject"]);
}

/// CodeDeploy's answers for an EC2 deployment group as AWS sends them.
fn recorded(target: &str) -> Response {
    let body = match target {
        "CodeDeploy_20141006.GetDeploymentGroup" => {
            r#"{"deploymentGroupInfo":{"applicationName":"web","deploymentGroupId":"0a1b","deploymentGroupName":"web-prod","deploymentConfigName":"CodeDeployDefault.OneAtATime","autoScalingGroups":[{"name":"web-asg","hook":"CodeDeploy-managed-automatic-launch-deployment-hook-web-prod"}],"serviceRoleArn":"arn:aws:iam::123456789012:role/codedeploy","autoRollbackConfiguration":{"enabled":false},"lastSuccessfulDeployment":{"deploymentId":"d-PREV00001","status":"Succeeded","endTime":1.71729E9,"createTime":1.71729E9},"computePlatform":"Server"}}"#
        }
        "CodeDeploy_20141006.GetDeployment" => {
            r#"{"deploymentInfo":{"applicationName":"web","deploymentGroupName":"web-prod","deploymentConfigName":"CodeDeployDefault.OneAtATime","deploymentId":"d-PREV00001","status":"Succeeded","revision":{"revisionType":"S3","s3Location":{"bucket":"web-bundles","key":"slipway/web/0000.zip","bundleType":"zip","eTag":"\"9a0364b9e99bb480dd25e1f0284c8555\""}},"computePlatform":"Server"}}"#
        }
        "CodeDeploy_20141006.CreateDeployment" => r#"{"deploymentId":"d-NEW000001"}"#,
        "CodeDeploy_20141006.StopDeployment" => {
            r#"{"status":"Pending","statusMessage":"Stopping Pending. Stopping to be processed"}"#
        }
        "CodeDeploy_20141006.ListDeploymentTargets" => r#"{"targetIds":["i-0aaa","i-0bbb"]}"#,
        "CodeDeploy_20141006.BatchGetDeploymentTargets" => {
            r#"{"deploymentTargets":[{"deploymentTargetType":"InstanceTarget","instanceTarget":{"deploymentId":"d-NEW000001","targetId":"i-0aaa","targetArn":"arn:aws:ec2:us-east-1:123456789012:instance/i-0aaa","status":"Succeeded","lastUpdatedAt":1.71729E9,"lifecycleEvents":[{"lifecycleEventName":"ApplicationStop","status":"Succeeded"},{"lifecycleEventName":"DownloadBundle","status":"Succeeded"},{"lifecycleEventName":"BeforeInstall","status":"Succeeded"},{"lifecycleEventName":"Install","status":"Succeeded"},{"lifecycleEventName":"AfterInstall","status":"Succeeded"},{"lifecycleEventName":"ApplicationStart","status":"Succeeded"},{"lifecycleEventName":"ValidateService","status":"Succeeded"}]}},{"deploymentTargetType":"InstanceTarget","instanceTarget":{"deploymentId":"d-NEW000001","targetId":"i-0bbb","targetArn":"arn:aws:ec2:us-east-1:123456789012:instance/i-0bbb","status":"Failed","lastUpdatedAt":1.71729E9,"lifecycleEvents":[{"lifecycleEventName":"ApplicationStop","status":"Succeeded"},{"lifecycleEventName":"DownloadBundle","status":"Succeeded"},{"lifecycleEventName":"BeforeInstall","status":"Succeeded"},{"lifecycleEventName":"Install","status":"Succeeded"},{"lifecycleEventName":"AfterInstall","status":"Failed","diagnostics":{"errorCode":"ScriptFailed","scriptName":"scripts/migrate.sh","message":"Script at specified location: scripts/migrate.sh run as user root failed with exit code 1","logTail":"[stderr]migration 42 failed"}},{"lifecycleEventName":"ApplicationStart","status":"Skipped"},{"lifecycleEventName":"ValidateService","status":"Skipped"}]}}]}"#
        }
        _ => {
            return Response {
                status: 400,
                body: r#"{"__type":"InvalidDeploymentIdException","message":"unexpected call"}"#.into(),
                content_type: "application/x-amz-json-1.1",
            }
        }
    };
    Response {
        status: 200,
        body: body.into(),
        content_type: "application/x-amz-json-1.1",
    }
}

#[tokio::test]
async fn the_codedeploy_adapter_reads_ec2_groups_instances_and_s3_revisions_at_the_wire() {
    let server = Server::start(|req| recorded(req.headers.get("x-amz-target").map(String::as_str).unwrap_or("")));
    let cd = CodeDeployAdapter::new(&config(&server.url).await);
    let group = cd.deployment_group("web", "web-prod").await.unwrap().unwrap();
    assert_eq!(group.auto_scaling_groups, vec!["web-asg".to_string()]);
    assert_eq!(group.last_successful.as_deref(), Some("d-PREV00001"));
    assert!(!group.auto_rollback);
    let previous = cd.get_deployment("d-PREV00001").await.unwrap();
    let old = S3Revision {
        bucket: "web-bundles".into(),
        key: "slipway/web/0000.zip".into(),
        etag: Some("9a0364b9e99bb480dd25e1f0284c8555".into()),
    };
    assert_eq!(previous.revision, Some(CdRevision::S3(old.clone())));
    let id = cd
        .create_deployment(&NewDeployment {
            application: "web".into(),
            group: "web-prod".into(),
            config: Some("CodeDeployDefault.HalfAtATime".into()),
            revision: CdRevision::S3(S3Revision {
                key: "slipway/web/1111.zip".into(),
                etag: Some("0123abcd".into()),
                ..old
            }),
            description: "slipway".into(),
            alarms: Vec::new(),
        })
        .await
        .unwrap();
    assert_eq!(id, "d-NEW000001");
    let target = cd.deployment_target(&id).await.unwrap().unwrap();
    assert_eq!(target.instances.len(), 2);
    assert_eq!(target.instance_counts(), (1, 1, 0));
    let (instance, event) = target.failed_instance().unwrap();
    assert_eq!((instance, event.name.as_str()), (Some("i-0bbb"), "AfterInstall"));
    let diag = event.diagnostics.clone().unwrap();
    assert_eq!(diag.error_code.as_deref(), Some("ScriptFailed"));
    assert_eq!(diag.log_tail.as_deref(), Some("[stderr]migration 42 failed"));
    assert_eq!(cd.stop_deployment(&id, false).await.unwrap(), "Pending");

    let requests = server.requests();
    let body = |action: &str| -> serde_json::Value {
        let r = requests
            .iter()
            .find(|r| r.headers.get("x-amz-target").is_some_and(|t| t.ends_with(action)))
            .unwrap_or_else(|| panic!("no {action}"));
        serde_json::from_str(&r.body).unwrap()
    };
    let create = body("CreateDeployment");
    assert_eq!(
        create["revision"],
        serde_json::json!({"revisionType": "S3", "s3Location": {"bucket": "web-bundles", "key": "slipway/web/1111.zip", "bundleType": "zip", "eTag": "0123abcd"}}),
        "{create}"
    );
    assert_eq!(create["deploymentConfigName"], "CodeDeployDefault.HalfAtATime");
    assert!(
        create.get("autoRollbackConfiguration").is_none(),
        "no alarms, no override: {create}"
    );
    assert_eq!(
        body("StopDeployment"),
        serde_json::json!({"deploymentId": "d-NEW000001", "autoRollbackEnabled": false})
    );
    assert_eq!(
        body("BatchGetDeploymentTargets"),
        serde_json::json!({"deploymentId": "d-NEW000001", "targetIds": ["i-0aaa", "i-0bbb"]})
    );
}
