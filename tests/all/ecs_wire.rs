//! The ECS adapter's wire calls against moto, seen by a recording proxy: read the task
//! definition, register a revision with the new image, update the service, roll it back;
//! then the same with 30% of calls throttled, each mutation still reaching moto once.

use slipway::aws::ecs::EcsAdapter;
use slipway::cloud::{Ecs, Revision, ServiceUpdate};

use crate::support::moto::moto;
use crate::support::proxy::Proxy;

pub async fn config(endpoint: &str) -> aws_config::SdkConfig {
    slipway::aws::loader("us-east-1")
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_sts::config::Credentials::new(
            "AKIAMOTO", "secret", None, None, "test",
        ))
        .load()
        .await
}

/// A cluster and a one-task service on task definition `family:1`, made directly in moto.
pub async fn service(cluster: &str, family: &str) {
    let ecs = aws_sdk_ecs::Client::new(&config(&moto().endpoint).await);
    ecs.create_cluster().cluster_name(cluster).send().await.unwrap();
    let container = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("app")
        .image("registry.example/web:1")
        .memory(256)
        .environment(
            aws_sdk_ecs::types::KeyValuePair::builder()
                .name("MODE")
                .value("prod")
                .build(),
        )
        .build();
    let sidecar = aws_sdk_ecs::types::ContainerDefinition::builder()
        .name("log")
        .image("registry.example/log:7")
        .memory(64)
        .build();
    ecs.register_task_definition()
        .family(family)
        .container_definitions(container)
        .container_definitions(sidecar)
        .send()
        .await
        .unwrap();
    ecs.create_service()
        .cluster(cluster)
        .service_name("web")
        .task_definition(format!("{family}:1"))
        .desired_count(1)
        .send()
        .await
        .unwrap();
}

async fn roll_and_roll_back(ecs: &EcsAdapter, cluster: &str, family: &str) {
    let before = ecs.describe_service(cluster, "web").await.unwrap().unwrap();
    assert!(before.task_definition.ends_with(&format!("{family}:1")));
    let current = ecs.task_definition(&before.task_definition).await.unwrap().unwrap();
    let new = ecs
        .register_revision(&Revision {
            from: current.arn.clone(),
            container: "app".into(),
            image: "registry.example/web@sha256:0123".into(),
            environment: vec![("VERSION".into(), "v2".into())],
        })
        .await
        .unwrap();
    assert_eq!(new.revision, 2);
    let app = new.container("app").unwrap();
    assert_eq!(app.image, "registry.example/web@sha256:0123");
    assert_eq!(
        app.environment,
        vec![("MODE".into(), "prod".into()), ("VERSION".into(), "v2".into())]
    );
    assert_eq!(
        new.container("log").unwrap().image,
        "registry.example/log:7",
        "other containers unchanged"
    );
    ecs.update_service(cluster, "web", &ServiceUpdate::to(&new.arn))
        .await
        .unwrap();
    assert_eq!(
        ecs.describe_service(cluster, "web")
            .await
            .unwrap()
            .unwrap()
            .task_definition,
        new.arn
    );
    ecs.update_service(cluster, "web", &ServiceUpdate::to(&current.arn))
        .await
        .unwrap();
    assert_eq!(
        ecs.describe_service(cluster, "web")
            .await
            .unwrap()
            .unwrap()
            .task_definition,
        current.arn
    );
}

#[test]
fn register_update_and_rollback_reach_moto_in_order() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(service("wire-ecs", "wire-web"));
    let proxy = Proxy::start(&moto().endpoint, 0.0, 1);
    let ecs = EcsAdapter::new(&rt.block_on(config(&proxy.endpoint)));
    rt.block_on(roll_and_roll_back(&ecs, "wire-ecs", "wire-web"));
    assert_eq!(
        proxy.mutations(),
        vec!["RegisterTaskDefinition", "UpdateService", "UpdateService"]
    );
    assert!(proxy.calls().iter().all(|c| c.service == "ecs"));
}

#[test]
fn thirty_percent_throttling_still_completes_and_mutates_once() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(service("wire-ecs-throttled", "wire-web-throttled"));
    let proxy = Proxy::start(&moto().endpoint, 0.3, 7);
    let ecs = EcsAdapter::new(&rt.block_on(config(&proxy.endpoint)));
    rt.block_on(roll_and_roll_back(&ecs, "wire-ecs-throttled", "wire-web-throttled"));
    assert_eq!(
        proxy.mutations(),
        vec!["RegisterTaskDefinition", "UpdateService", "UpdateService"]
    );
    assert!(proxy.faults() > 0, "the proxy did throttle: {:?}", proxy.calls());
}

#[test]
fn a_missing_task_definition_is_none() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ecs = EcsAdapter::new(&rt.block_on(config(&moto().endpoint)));
    let found = rt.block_on(ecs.task_definition("no-such-family:9")).unwrap();
    assert_eq!(found, None);
}
