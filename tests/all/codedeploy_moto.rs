//! The CodeDeploy adapter and target against moto behind the recording proxy: a service
//! with deployment controller CODE_DEPLOY and a load balancer entry, its application and
//! deployment group, then a deployment whose AppSpec is read back from moto (not from what
//! the code says it sent) naming the new revision and the service's container and port;
//! slipway-roll picking the CodeDeploy target by the service's controller, timing out on
//! moto's never-starting deployment, and trying StopDeployment (refused here).
//! The calls moto lacks (StopDeployment, ContinueDeployment, the deployment targets) are
//! played against recorded AWS answers, asserting the request bodies.

use aws_sdk_codedeploy::types::{
    BlueGreenDeploymentConfiguration, ComputePlatform, DeploymentOption, DeploymentReadyAction, DeploymentReadyOption,
    DeploymentStyle, DeploymentType, EcsService as CdEcsService, LoadBalancerInfo, TargetGroupInfo,
    TargetGroupPairInfo,
};
use aws_sdk_ecs::types::{DeploymentController, DeploymentControllerType, LoadBalancer};
use slipway::aws::codedeploy::CodeDeployAdapter;
use slipway::aws::ecs::EcsAdapter;
use slipway::cloud::{CdRevision, CdStatus, CodeDeploy, Controller, Ecs, ErrorKind, NewDeployment, Revision};
use slipway::roll::codedeploy::app_spec;

use crate::ecs_wire::{config, service};
use crate::support::http::{Response, Server};
use crate::support::moto::moto;
use crate::support::proxy::{Denial, Proxy};
use crate::support::{bin, run, Dir};

const TG: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/cd-blue/0123456789abcdef";

/// A CODE_DEPLOY service `web` in `cluster` (container app, port 8080 behind a target
/// group) on `family:1`, and its application and deployment group under the console's
/// names. Made directly in moto.
async fn codedeploy_service(cluster: &str, family: &str) {
    let sdk = config(&moto().endpoint).await;
    let ecs = aws_sdk_ecs::Client::new(&sdk);
    // The cluster and the task definition, as for the rolling tests; the service is ours.
    service(cluster, family).await;
    ecs.create_service()
        .cluster(cluster)
        .service_name("web-cd")
        .task_definition(format!("{family}:1"))
        .desired_count(1)
        .deployment_controller(
            DeploymentController::builder()
                .r#type(DeploymentControllerType::CodeDeploy)
                .build()
                .unwrap(),
        )
        .load_balancers(
            LoadBalancer::builder()
                .target_group_arn(TG)
                .container_name("app")
                .container_port(8080)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let cd = aws_sdk_codedeploy::Client::new(&sdk);
    let app = format!("AppECS-{cluster}-web-cd");
    cd.create_application()
        .application_name(&app)
        .compute_platform(ComputePlatform::Ecs)
        .send()
        .await
        .unwrap();
    let pair = TargetGroupPairInfo::builder()
        .target_groups(TargetGroupInfo::builder().name("cd-blue").build())
        .target_groups(TargetGroupInfo::builder().name("cd-green").build())
        .build();
    cd.create_deployment_group()
        .application_name(&app)
        .deployment_group_name(format!("DgpECS-{cluster}-web-cd"))
        .service_role_arn("arn:aws:iam::123456789012:role/codedeploy")
        .deployment_config_name("CodeDeployDefault.ECSAllAtOnce")
        .ecs_services(
            CdEcsService::builder()
                .cluster_name(cluster)
                .service_name("web-cd")
                .build(),
        )
        .deployment_style(
            DeploymentStyle::builder()
                .deployment_type(DeploymentType::BlueGreen)
                .deployment_option(DeploymentOption::WithTrafficControl)
                .build(),
        )
        .blue_green_deployment_configuration(
            BlueGreenDeploymentConfiguration::builder()
                .deployment_ready_option(
                    DeploymentReadyOption::builder()
                        .action_on_timeout(DeploymentReadyAction::ContinueDeployment)
                        .build(),
                )
                .build(),
        )
        .load_balancer_info(LoadBalancerInfo::builder().target_group_pair_info_list(pair).build())
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_deployment_names_the_new_revision_and_the_services_container_and_port() {
    let (cluster, family) = ("cd-adapter", "cdweb");
    codedeploy_service(cluster, family).await;
    let proxy = Proxy::start(&moto().endpoint, 0.0, 1);
    let sdk = config(&proxy.endpoint).await;
    let (ecs, cd) = (EcsAdapter::new(&sdk), CodeDeployAdapter::new(&sdk));

    let s = ecs.describe_service(cluster, "web-cd").await.unwrap().unwrap();
    assert_eq!(s.controller, Controller::CodeDeploy);
    let lb = &s.load_balancers[0];
    let (container, port) = (lb.container.clone().unwrap(), lb.port.unwrap());
    assert_eq!((container.as_str(), port), ("app", 8080));
    let (app, dg) = (format!("AppECS-{cluster}-web-cd"), format!("DgpECS-{cluster}-web-cd"));
    let group = cd.deployment_group(&app, &dg).await.unwrap().expect("the group");
    assert_eq!(group.ecs_services, vec![(cluster.to_string(), "web-cd".to_string())]);
    assert_eq!(group.target_groups, vec!["cd-blue".to_string(), "cd-green".to_string()]);
    assert_eq!(group.config.as_deref(), Some("CodeDeployDefault.ECSAllAtOnce"));
    assert!(!group.waits_for_ready);
    assert!(
        cd.deployment_group(&app, "nope").await.unwrap().is_none(),
        "a missing group is None"
    );

    let new = ecs
        .register_revision(&Revision {
            from: s.task_definition.clone(),
            container: "app".into(),
            image: "registry.example/web@sha256:0123".into(),
            environment: Vec::new(),
        })
        .await
        .unwrap();
    let hooks = vec![("AfterAllowTestTraffic".to_string(), "smoke".to_string())];
    let id = cd
        .create_deployment(&NewDeployment {
            application: app.clone(),
            group: dg.clone(),
            config: Some("CodeDeployDefault.ECSCanary10Percent5Minutes".into()),
            revision: CdRevision::AppSpec(app_spec(&new.arn, &container, port, &hooks)),
            description: "slipway test".into(),
            alarms: vec!["web-5xx".into()],
        })
        .await
        .unwrap();
    let d = cd.get_deployment(&id).await.unwrap();
    assert_eq!(d.status, CdStatus::Created, "moto's deployments stay Created");
    assert_eq!(
        d.group,
        Some((app.clone(), dg.clone())),
        "GetDeployment names its application and group"
    );
    assert_eq!(cd.active_deployments(&app, &dg).await.unwrap(), vec![id.clone()]);
    assert_eq!(proxy.count("CreateDeployment"), 1);

    // What moto stored, read with the SDK directly.
    let direct = aws_sdk_codedeploy::Client::new(&config(&moto().endpoint).await);
    let info = direct.get_deployment().deployment_id(&id).send().await.unwrap();
    let info = info.deployment_info().unwrap();
    let content = info.revision().unwrap().app_spec_content().unwrap().content().unwrap();
    let spec: serde_json::Value = serde_json::from_str(content).unwrap();
    let props = &spec["Resources"][0]["TargetService"]["Properties"];
    assert_eq!(props["TaskDefinition"], new.arn.as_str());
    assert!(new.arn.ends_with(&format!("{family}:2")), "{}", new.arn);
    let moto_service = aws_sdk_ecs::Client::new(&config(&moto().endpoint).await)
        .describe_services()
        .cluster(cluster)
        .services("web-cd")
        .send()
        .await
        .unwrap();
    let entry = &moto_service.services()[0].load_balancers()[0];
    assert_eq!(
        props["LoadBalancerInfo"]["ContainerName"],
        entry.container_name().unwrap()
    );
    assert_eq!(
        props["LoadBalancerInfo"]["ContainerPort"],
        entry.container_port().unwrap()
    );
    assert_eq!(spec["Hooks"][0]["AfterAllowTestTraffic"], "smoke");
    assert_eq!(
        info.deployment_config_name(),
        Some("CodeDeployDefault.ECSCanary10Percent5Minutes")
    );
}

#[test]
fn slipway_roll_times_out_on_a_deployment_that_never_starts_and_tries_to_stop_it() {
    let (cluster, family) = ("cd-roll", "cdroll");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(codedeploy_service(cluster, family));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 2);
    // moto has no StopDeployment (its 500 would be retried for two minutes): refused as
    // IAM would, the cleanup's attempt is recorded and it fails at once.
    proxy.deny("StopDeployment", Denial::Protocol);
    let dir = Dir::new();
    let r = roll_cd_service(&dir, &proxy, cluster, "");
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(
        json["strategy"], "codedeploy",
        "picked by the service's controller: {json}"
    );
    assert_eq!(json["stopped_by"], "timed_out", "{json}");
    assert!(!json["deployment_id"].as_str().unwrap().is_empty(), "{json}");
    // The cleanup tried StopDeployment and says what is left to do by hand.
    assert_eq!(r.code, 1, "the cleanup failed: {}", r.stderr);
    assert_eq!(json["result"], "failed", "{json}");
    assert!(r.stderr.contains("stop-deployment"), "{}", r.stderr);
    assert!(proxy.count("StopDeployment") >= 1, "{:?}", proxy.calls());
    assert_eq!(proxy.count("CreateDeployment"), 1);
    let output = std::fs::read_to_string(dir.path().join("output")).unwrap();
    let lines: Vec<&str> = output.lines().collect();
    let value = |name: &str| {
        let at = lines.iter().position(|l| l.starts_with(&format!("{name}<<"))).unwrap();
        lines[at + 1]
    };
    assert_eq!(value("strategy"), "codedeploy", "{output}");
    assert_eq!(value("ecs-deployment-id"), json["deployment_id"], "{output}");
}

/// CodeDeploy's answers as AWS sends them (JSON protocol), for the calls moto lacks.
fn recorded(target: &str) -> Response {
    let body = match target {
        "CodeDeploy_20141006.StopDeployment" => r#"{"status":"Pending","statusMessage":"Stopping Pending. Stopping to be processed"}"#,
        "CodeDeploy_20141006.ContinueDeployment" => "{}",
        "CodeDeploy_20141006.CreateDeployment" => r#"{"deploymentId":"d-QGF7W3Z0C"}"#,
        "CodeDeploy_20141006.ListDeploymentTargets" => r#"{"targetIds":["web-cluster:web"]}"#,
        "CodeDeploy_20141006.BatchGetDeploymentTargets" => r#"{"deploymentTargets":[{"deploymentTargetType":"ECSTarget","ecsTarget":{"deploymentId":"d-QGF7W3Z0C","targetId":"web-cluster:web","targetArn":"arn:aws:ecs:us-east-1:123456789012:service/web-cluster/web","lastUpdatedAt":1.71729E9,"lifecycleEvents":[{"lifecycleEventName":"BeforeInstall","startTime":1.71729E9,"endTime":1.71729E9,"status":"Succeeded"},{"lifecycleEventName":"Install","startTime":1.71729E9,"endTime":1.71729E9,"status":"Succeeded"},{"lifecycleEventName":"AfterInstall","status":"Succeeded"},{"lifecycleEventName":"AllowTestTraffic","status":"Succeeded"},{"lifecycleEventName":"AfterAllowTestTraffic","status":"Failed","diagnostics":{"errorCode":"ScriptFailed","scriptName":"smoke","message":"The Lambda function smoke reported Failed","logTail":"GET /healthz 500"}},{"lifecycleEventName":"BeforeAllowTraffic","status":"Skipped"},{"lifecycleEventName":"AllowTraffic","status":"Skipped"},{"lifecycleEventName":"AfterAllowTraffic","status":"Skipped"}],"status":"Failed","taskSetsInfo":[{"identifer":"ecs-svc/0123","desiredCount":2,"pendingCount":0,"runningCount":2,"status":"PRIMARY","trafficWeight":100.0,"targetGroup":{"name":"web-blue"},"taskSetLabel":"Blue"},{"identifer":"ecs-svc/4567","desiredCount":2,"pendingCount":0,"runningCount":2,"status":"ACTIVE","trafficWeight":0.0,"targetGroup":{"name":"web-green"},"taskSetLabel":"Green"}]}}]}"#,
        _ => {
            return Response {
                status: 400,
                body: r#"{"__type":"DeploymentAlreadyCompletedException","message":"The deployment d-QGF7W3Z0C has already completed."}"#.into(),
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
async fn the_codedeploy_adapter_speaks_the_recorded_protocol() {
    let server = Server::start(|req| recorded(req.headers.get("x-amz-target").map(String::as_str).unwrap_or("")));
    let cd = CodeDeployAdapter::new(&config(&server.url).await);
    let created = cd
        .create_deployment(&NewDeployment {
            application: "AppECS-web-cluster-web".into(),
            group: "DgpECS-web-cluster-web".into(),
            config: None,
            revision: CdRevision::AppSpec("{}".into()),
            description: "slipway".into(),
            alarms: vec!["web-5xx".into(), "web-latency".into()],
        })
        .await
        .unwrap();
    assert_eq!(created, "d-QGF7W3Z0C");
    assert_eq!(cd.stop_deployment("d-QGF7W3Z0C", true).await.unwrap(), "Pending");
    cd.continue_deployment("d-QGF7W3Z0C").await.unwrap();
    let target = cd.deployment_target("d-QGF7W3Z0C").await.unwrap().unwrap();
    assert_eq!(target.status, "Failed");
    let failed = target.failed_event().unwrap();
    assert_eq!(failed.name, "AfterAllowTestTraffic");
    let diag = failed.diagnostics.clone().unwrap();
    assert_eq!(diag.error_code.as_deref(), Some("ScriptFailed"));
    assert_eq!(diag.log_tail.as_deref(), Some("GET /healthz 500"));
    assert_eq!(target.task_sets.len(), 2);
    assert_eq!(target.task_sets[0].traffic_weight, 100.0);
    assert_eq!(target.task_sets[1].target_group.as_deref(), Some("web-green"));
    let err = cd.get_deployment("d-QGF7W3Z0C").await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Invalid, "{err}");

    let requests = server.requests();
    let find = |action: &str| {
        requests
            .iter()
            .find(|r| r.headers.get("x-amz-target").is_some_and(|t| t.ends_with(action)))
            .unwrap_or_else(|| panic!("no {action}"))
            .body
            .clone()
    };
    let body = |action: &str| serde_json::from_str::<serde_json::Value>(&find(action)).unwrap();
    // The roll's alarms go to CodeDeploy too, which rolls back on one by itself.
    let create = body("CreateDeployment");
    assert_eq!(
        create["overrideAlarmConfiguration"],
        serde_json::json!({"enabled": true, "ignorePollAlarmFailure": false, "alarms": [{"name": "web-5xx"}, {"name": "web-latency"}]}),
        "{create}"
    );
    assert_eq!(
        create["autoRollbackConfiguration"],
        serde_json::json!({"enabled": true, "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"]}),
        "{create}"
    );
    assert_eq!(
        body("StopDeployment"),
        serde_json::json!({"deploymentId": "d-QGF7W3Z0C", "autoRollbackEnabled": true})
    );
    assert_eq!(
        body("ContinueDeployment"),
        serde_json::json!({"deploymentId": "d-QGF7W3Z0C", "deploymentWaitType": "READY_WAIT"})
    );
    assert_eq!(
        body("BatchGetDeploymentTargets"),
        serde_json::json!({"deploymentId": "d-QGF7W3Z0C", "targetIds": ["web-cluster:web"]})
    );
}

/// slipway-roll (JSON outcome, 3 s timeouts) of service web-cd in `cluster`, a CODE_DEPLOY
/// service in moto, through `proxy`; `extra` is more of the environment's settings.
fn roll_cd_service(dir: &Dir, proxy: &Proxy, cluster: &str, extra: &str) -> crate::support::Run {
    let yaml = format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    ecs:\n      cluster: {cluster}\n      service: web-cd\n      container: app\n{extra}"
    );
    run(bin("slipway-roll")
        .args(["--timeout", "3s", "--cleanup-timeout", "3s", "--poll-interval", "1s"])
        .args([
            "--environment",
            "stage",
            "--sha",
            "0123456789abcdef0123456789abcdef01234567",
        ])
        .args([
            "--image",
            "registry.example/web@sha256:4444444444444444444444444444444444444444444444444444444444444444",
        ])
        .args(["--output", "json"])
        .arg("--config")
        .arg(dir.write("slipway.yml", &yaml))
        .envs(crate::support::moto::moto_env(&proxy.endpoint, dir)))
}

/// CodeDeploy takes at most 10 alarms in a deployment's alarmConfiguration (codedeploy
/// model, AlarmConfiguration.alarms): a roll watching 12 hands the first 10 to the
/// deployment, says which, and watches all 12 itself.
#[test]
fn slipway_roll_hands_codedeploy_at_most_ten_alarms_and_says_which() {
    let (cluster, family) = ("cd-alarms", "cdalarms");
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(codedeploy_service(cluster, family));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 3);
    proxy.deny("StopDeployment", Denial::Protocol);
    let names: Vec<String> = (1..=12).map(|i| format!("cd-alarm-{i:02}")).collect();
    for name in &names {
        rt.block_on(crate::alarms_moto::alarm(
            &proxy.endpoint,
            name,
            aws_sdk_cloudwatch::types::StateValue::Ok,
        ));
    }
    let dir = Dir::new();
    let health = format!("    health:\n      alarms: [{}]\n", names.join(", "));
    let r = roll_cd_service(&dir, &proxy, cluster, &health);
    let create = proxy
        .calls()
        .into_iter()
        .find(|c| c.action == "CreateDeployment")
        .unwrap_or_else(|| panic!("no CreateDeployment:\n{}", r.stderr));
    let body: serde_json::Value = serde_json::from_str(&create.body).unwrap();
    let sent: Vec<&str> = body["overrideAlarmConfiguration"]["alarms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["name"].as_str().unwrap())
        .collect();
    assert_eq!(sent, names[..10].iter().map(String::as_str).collect::<Vec<_>>());
    assert!(
        r.stderr.contains("a CodeDeploy deployment takes at most 10 alarms")
            && r.stderr.contains(
                "slipway watches all 12 itself, so cd-alarm-11, cd-alarm-12 roll back only while slipway runs"
            ),
        "{}",
        r.stderr
    );
}
