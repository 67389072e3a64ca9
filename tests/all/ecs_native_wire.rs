//! The ECS adapter's native-deployment calls at the wire, against answers recorded from
//! the ECS API (moto lacks DescribeServiceDeployments, ContinueServiceDeployment and
//! StopServiceDeployment): the JSON requests it sends (UpdateService's deployment
//! configuration with the PAUSE hook, the hook answer, the ROLLBACK stop, the listing
//! and deregistration of revisions) and the answers it reads.

use std::time::Duration;

use slipway::aws::ecs::EcsAdapter;
use slipway::cloud::{
    DeploymentSettings, Ecs, ErrorKind, HookAction, HookStatus, LifecycleStage, NativeStrategy,
    ServiceDeploymentStatus, ServiceUpdate,
};

use crate::ecs_wire::config;
use crate::support::http::{Response, Server};

const PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";
const SD: &str = "arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/Ym2cW7sTlK1pAqK0nx8Yc";

fn json(body: &str) -> Response {
    Response {
        status: 200,
        body: body.to_string(),
        content_type: "application/x-amz-json-1.1",
    }
}

/// Answers recorded from the ECS API (ARNs, ids and times as AWS sends them).
fn recorded(target: &str) -> Response {
    match target.strip_prefix(PREFIX).unwrap_or_default() {
        "UpdateService" => json(
            r#"{"service":{"serviceArn":"arn:aws:ecs:us-east-1:123456789012:service/web-cluster/web","serviceName":"web","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/web-cluster","status":"ACTIVE","desiredCount":2,"runningCount":2,"pendingCount":0,"taskDefinition":"arn:aws:ecs:us-east-1:123456789012:task-definition/web:8","deploymentConfiguration":{"deploymentCircuitBreaker":{"enable":true,"rollback":true},"maximumPercent":200,"minimumHealthyPercent":100,"strategy":"CANARY","bakeTimeInMinutes":5,"canaryConfiguration":{"canaryPercent":10.0,"canaryBakeTimeInMinutes":3},"lifecycleHooks":[{"targetType":"PAUSE","lifecycleStages":["POST_TEST_TRAFFIC_SHIFT"]}]},"deployments":[{"id":"ecs-svc/7309519462751183519","status":"PRIMARY","taskDefinition":"arn:aws:ecs:us-east-1:123456789012:task-definition/web:8","desiredCount":0,"pendingCount":0,"runningCount":0,"failedTasks":0,"createdAt":1.71735228712E9,"updatedAt":1.71735228712E9,"rolloutState":"IN_PROGRESS","rolloutStateReason":"ECS deployment ecs-svc/7309519462751183519 in progress."},{"id":"ecs-svc/2090851402373906311","status":"ACTIVE","taskDefinition":"arn:aws:ecs:us-east-1:123456789012:task-definition/web:7","desiredCount":2,"pendingCount":0,"runningCount":2,"failedTasks":0,"createdAt":1.71726011509E9,"updatedAt":1.71726036718E9,"rolloutState":"COMPLETED","rolloutStateReason":"ECS deployment ecs-svc/2090851402373906311 completed."}],"currentServiceDeployment":"arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/Ym2cW7sTlK1pAqK0nx8Yc","deploymentController":{"type":"ECS"}}}"#,
        ),
        "DescribeServices" => json(
            r#"{"services":[{"serviceArn":"arn:aws:ecs:us-east-1:123456789012:service/web-cluster/web","serviceName":"web","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/web-cluster","status":"ACTIVE","desiredCount":2,"runningCount":4,"pendingCount":0,"taskDefinition":"arn:aws:ecs:us-east-1:123456789012:task-definition/web:8","currentServiceDeployment":"arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/Ym2cW7sTlK1pAqK0nx8Yc","deploymentController":{"type":"ECS"}}],"failures":[]}"#,
        ),
        "DescribeServiceDeployments" => json(
            r#"{"serviceDeployments":[{"serviceDeploymentArn":"arn:aws:ecs:us-east-1:123456789012:service-deployment/web-cluster/web/Ym2cW7sTlK1pAqK0nx8Yc","serviceArn":"arn:aws:ecs:us-east-1:123456789012:service/web-cluster/web","clusterArn":"arn:aws:ecs:us-east-1:123456789012:cluster/web-cluster","createdAt":1.71735228712E9,"startedAt":1.71735228812E9,"updatedAt":1.71735241002E9,"sourceServiceRevisions":[{"arn":"arn:aws:ecs:us-east-1:123456789012:service-revision/web-cluster/web/4980306466373577095","requestedTaskCount":2,"runningTaskCount":2,"pendingTaskCount":0,"requestedTestTrafficWeight":0.0,"requestedProductionTrafficWeight":90.0}],"targetServiceRevision":{"arn":"arn:aws:ecs:us-east-1:123456789012:service-revision/web-cluster/web/7309519462751183519","requestedTaskCount":2,"runningTaskCount":2,"pendingTaskCount":0,"requestedTestTrafficWeight":100.0,"requestedProductionTrafficWeight":10.0},"status":"IN_PROGRESS","statusReason":"Shifting production traffic.","lifecycleStage":"PRODUCTION_TRAFFIC_SHIFT","lifecycleHookDetails":[{"hookId":"b3b6e0f2-2c5e-4a62-9c8e-2f1f0b8f5a10","targetType":"PAUSE","status":"SUCCEEDED","timeoutAction":"ROLLBACK"}],"deploymentConfiguration":{"strategy":"CANARY","bakeTimeInMinutes":5,"canaryConfiguration":{"canaryPercent":10.0,"canaryBakeTimeInMinutes":3}},"deploymentCircuitBreaker":{"status":"MONITORING","failureCount":0,"threshold":3}}],"failures":[]}"#,
        ),
        "ContinueServiceDeployment" | "StopServiceDeployment" => json(&format!(r#"{{"serviceDeploymentArn":"{SD}"}}"#)),
        "ListTaskDefinitions" => json(
            r#"{"taskDefinitionArns":["arn:aws:ecs:us-east-1:123456789012:task-definition/web:6","arn:aws:ecs:us-east-1:123456789012:task-definition/web-worker:2","arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"]}"#,
        ),
        "DeregisterTaskDefinition" => json(
            r#"{"taskDefinition":{"taskDefinitionArn":"arn:aws:ecs:us-east-1:123456789012:task-definition/web:6","family":"web","revision":6,"status":"INACTIVE","containerDefinitions":[]}}"#,
        ),
        _ => Response {
            status: 400,
            body:
                r#"{"__type":"ServiceDeploymentNotFoundException","message":"The service deployment does not exist."}"#
                    .into(),
            content_type: "application/x-amz-json-1.1",
        },
    }
}

#[tokio::test]
async fn the_native_deployment_calls_speak_the_recorded_protocol() {
    let server = Server::start(|req| recorded(req.headers.get("x-amz-target").map(String::as_str).unwrap_or("")));
    let ecs = EcsAdapter::new(&config(&server.url).await);
    let update = ServiceUpdate {
        task_definition: "web:8".into(),
        deployment: Some(DeploymentSettings {
            strategy: NativeStrategy::Canary,
            bake: Duration::from_secs(300),
            canary: Some((10.0, Duration::from_secs(180))),
            linear: Some((25.0, Duration::from_secs(60))),
            alarms: vec!["web-5xx".into()],
            pause_after_test_traffic: true,
            pause_timeout: Duration::from_secs(20 * 60),
        }),
    };
    let id = ecs.update_service("web-cluster", "web", &update).await.unwrap();
    assert_eq!(id, "ecs-svc/7309519462751183519");
    let current = ecs.current_service_deployment("web-cluster", "web").await.unwrap();
    assert_eq!(current.as_deref(), Some(SD));
    let d = ecs.service_deployment(SD).await.unwrap().unwrap();
    assert_eq!(d.status, ServiceDeploymentStatus::InProgress);
    assert_eq!(d.stage, Some(LifecycleStage::ProductionTrafficShift));
    assert_eq!((d.production_percent, d.test_percent), (Some(10.0), Some(100.0)));
    assert_eq!(d.hooks[0].status, HookStatus::Succeeded);
    assert_eq!(d.hooks[0].target_type, "PAUSE");
    assert!(d.awaiting().is_none());
    ecs.continue_service_deployment(SD, "b3b6e0f2-2c5e-4a62-9c8e-2f1f0b8f5a10", HookAction::Rollback)
        .await
        .unwrap();
    ecs.stop_service_deployment(SD).await.unwrap();
    let listed = ecs.task_definitions("web", false).await.unwrap();
    assert_eq!(
        listed,
        [
            "arn:aws:ecs:us-east-1:123456789012:task-definition/web:6",
            "arn:aws:ecs:us-east-1:123456789012:task-definition/web:7"
        ],
        "another family sharing the prefix is left out"
    );
    ecs.deregister_task_definition(&listed[0]).await.unwrap();

    let requests = server.requests();
    let body = |op: &str| -> serde_json::Value {
        let r = requests
            .iter()
            .find(|r| r.headers.get("x-amz-target").map(String::as_str) == Some(&format!("{PREFIX}{op}")))
            .unwrap_or_else(|| panic!("no {op} request"));
        serde_json::from_str(&r.body).unwrap()
    };
    let update = body("UpdateService");
    assert_eq!(update["taskDefinition"], "web:8");
    let settings = &update["deploymentConfiguration"];
    assert_eq!(settings["strategy"], "CANARY");
    assert_eq!(settings["bakeTimeInMinutes"], 5);
    assert_eq!(settings["canaryConfiguration"]["canaryPercent"], 10.0);
    assert_eq!(settings["canaryConfiguration"]["canaryBakeTimeInMinutes"], 3);
    assert!(
        settings.get("linearConfiguration").is_none(),
        "only the strategy's own: {settings}"
    );
    assert_eq!(settings["alarms"]["alarmNames"][0], "web-5xx");
    assert_eq!(
        (&settings["alarms"]["enable"], &settings["alarms"]["rollback"]),
        (&true.into(), &true.into())
    );
    assert_eq!(settings["lifecycleHooks"][0]["targetType"], "PAUSE");
    assert_eq!(
        settings["lifecycleHooks"][0]["lifecycleStages"][0],
        "POST_TEST_TRAFFIC_SHIFT"
    );
    // ECS rolls back by itself when nobody answers the hook in time (a runner that died).
    assert_eq!(
        settings["lifecycleHooks"][0]["timeoutConfiguration"],
        serde_json::json!({"timeoutInMinutes": 20, "action": "ROLLBACK"}),
        "{settings}"
    );
    assert_eq!(body("DescribeServiceDeployments")["serviceDeploymentArns"][0], SD);
    let answer = body("ContinueServiceDeployment");
    assert_eq!(
        (&answer["serviceDeploymentArn"], &answer["hookId"], &answer["action"]),
        (
            &SD.into(),
            &"b3b6e0f2-2c5e-4a62-9c8e-2f1f0b8f5a10".into(),
            &"ROLLBACK".into()
        )
    );
    let stop = body("StopServiceDeployment");
    assert_eq!(
        (&stop["serviceDeploymentArn"], &stop["stopType"]),
        (&SD.into(), &"ROLLBACK".into())
    );
    let list = body("ListTaskDefinitions");
    assert_eq!(
        (&list["familyPrefix"], &list["status"], &list["sort"]),
        (&"web".into(), &"INACTIVE".into(), &"ASC".into())
    );
    assert_eq!(
        body("DeregisterTaskDefinition")["taskDefinition"],
        "arn:aws:ecs:us-east-1:123456789012:task-definition/web:6"
    );

    // A rolling update sends no deployment configuration at all.
    ecs.update_service("web-cluster", "web", &ServiceUpdate::to("web:8"))
        .await
        .unwrap();
    let last = server.requests().pop().unwrap();
    assert!(!last.body.contains("deploymentConfiguration"), "{}", last.body);
    // An unknown deployment is an error naming the call.
    let server = Server::start(|_| recorded("none"));
    let ecs = EcsAdapter::new(&config(&server.url).await);
    let err = ecs.stop_service_deployment(SD).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound, "{err}");
    assert_eq!(err.iam_action(), "ecs:StopServiceDeployment");
}

/// What moto does keep: UpdateService's strategy and bake time, which DescribeServices
/// echoes (read back through the SDK directly, not the adapter under test).
#[tokio::test]
async fn moto_keeps_the_strategy_and_bake_time_update_service_sets() {
    let endpoint = &crate::support::moto::moto().endpoint;
    crate::ecs_wire::service("native-cluster", "native").await;
    let ecs = EcsAdapter::new(&config(endpoint).await);
    let update = ServiceUpdate {
        task_definition: "native:1".into(),
        deployment: Some(DeploymentSettings {
            strategy: NativeStrategy::BlueGreen,
            bake: Duration::from_secs(240),
            canary: None,
            linear: None,
            alarms: Vec::new(),
            pause_after_test_traffic: false,
            pause_timeout: Duration::from_secs(20 * 60),
        }),
    };
    ecs.update_service("native-cluster", "web", &update).await.unwrap();
    let sdk = aws_sdk_ecs::Client::new(&config(endpoint).await);
    let out = sdk
        .describe_services()
        .cluster("native-cluster")
        .services("web")
        .send()
        .await
        .unwrap();
    let service = &out.services()[0];
    let settings = service.deployment_configuration().unwrap();
    assert_eq!(settings.strategy().map(|s| s.as_str()), Some("BLUE_GREEN"));
    assert_eq!(settings.bake_time_in_minutes(), Some(4));
    let seen = ecs.describe_service("native-cluster", "web").await.unwrap().unwrap();
    assert_eq!(seen.controller, slipway::cloud::Controller::Ecs);
}
