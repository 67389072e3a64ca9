//! The ECS port over aws-sdk-ecs.

use async_trait::async_trait;
use aws_sdk_ecs::operation::register_task_definition::builders::RegisterTaskDefinitionFluentBuilder;
use aws_sdk_ecs::types::{
    ContainerDefinition, DesiredStatus, KeyValuePair, Tag, TaskDefinition as EcsTaskDefinition, TaskDefinitionField,
};
use aws_sdk_ecs::Client;

use super::{absent_as_none, to_cloud};
use crate::cloud::{
    CloudError, CloudResult, ContainerSpec, Controller, Ecs, EcsDeployment, EcsService, ErrorKind, HookAction,
    Revision, ServiceDeployment, ServiceEvent, ServiceLoadBalancer, ServiceUpdate, StoppedTask, TaskDefinition,
};

/// The IAM prefix of this service's actions.
pub(super) const SERVICE: &str = "ecs";

/// ECS through the AWS SDK.
#[derive(Clone)]
pub struct EcsAdapter {
    pub(super) client: Client,
}

impl EcsAdapter {
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        EcsAdapter {
            client: Client::new(config),
        }
    }
}

fn not_found(e: CloudError) -> CloudError {
    match e.code.as_deref() {
        Some("ClusterNotFoundException" | "ServiceNotFoundException") => CloudError {
            kind: ErrorKind::NotFound,
            ..e
        },
        _ => e,
    }
}

#[async_trait]
impl Ecs for EcsAdapter {
    async fn describe_service(&self, cluster: &str, service: &str) -> CloudResult<Option<EcsService>> {
        let op = "DescribeServices";
        let Some(out) = absent_as_none(
            self.client
                .describe_services()
                .cluster(cluster)
                .services(service)
                .send()
                .await
                .map_err(|e| not_found(to_cloud(SERVICE, op, &e))),
        )?
        else {
            return Ok(None);
        };
        let Some(s) = out.services().first() else {
            return Ok(None);
        };
        if s.status() == Some("INACTIVE") {
            return Ok(None);
        }
        let deployments = s
            .deployments()
            .iter()
            .map(|d| EcsDeployment {
                id: d.id().unwrap_or_default().to_string(),
                status: d.status().unwrap_or_default().into(),
                task_definition: d.task_definition().unwrap_or_default().to_string(),
                desired: d.desired_count(),
                running: d.running_count(),
                pending: d.pending_count(),
                failed_tasks: d.failed_tasks(),
                rollout_state: d.rollout_state().map(|r| r.as_str().into()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_string),
            })
            .collect();
        let events = s
            .events()
            .iter()
            .map(|e| ServiceEvent {
                at: e.created_at().map(|t| t.to_string()).unwrap_or_default(),
                message: e.message().unwrap_or_default().to_string(),
            })
            .collect();
        Ok(Some(EcsService {
            arn: s.service_arn().unwrap_or_default().to_string(),
            name: s.service_name().unwrap_or(service).to_string(),
            cluster: s.cluster_arn().unwrap_or(cluster).to_string(),
            status: s.status().unwrap_or_default().to_string(),
            desired: s.desired_count(),
            running: s.running_count(),
            pending: s.pending_count(),
            task_definition: s.task_definition().unwrap_or_default().to_string(),
            deployments,
            events,
            circuit_breaker_rollback: s
                .deployment_configuration()
                .and_then(|c| c.deployment_circuit_breaker())
                .is_some_and(|b| b.enable() && b.rollback()),
            controller: s
                .deployment_controller()
                .map(|c| Controller::from(c.r#type().as_str()))
                .unwrap_or(Controller::Ecs),
            load_balancers: s
                .load_balancers()
                .iter()
                .map(|lb| {
                    let advanced = lb.advanced_configuration();
                    ServiceLoadBalancer {
                        target_group: lb.target_group_arn().map(str::to_string),
                        container: lb.container_name().map(str::to_string),
                        port: lb.container_port(),
                        alternate_target_group: advanced
                            .and_then(|a| a.alternate_target_group_arn())
                            .map(str::to_string),
                        production_listener_rule: advanced
                            .and_then(|a| a.production_listener_rule())
                            .map(str::to_string),
                        test_listener_rule: advanced.and_then(|a| a.test_listener_rule()).map(str::to_string),
                        role: advanced.and_then(|a| a.role_arn()).map(str::to_string),
                    }
                })
                .collect(),
        }))
    }

    async fn stopped_tasks(&self, cluster: &str, service: &str, limit: usize) -> CloudResult<Vec<StoppedTask>> {
        let listed = self
            .client
            .list_tasks()
            .cluster(cluster)
            .service_name(service)
            .desired_status(DesiredStatus::Stopped)
            .max_results(limit.clamp(1, 100) as i32)
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, "ListTasks", &e)))?;
        let arns: Vec<String> = listed.task_arns().iter().take(limit).cloned().collect();
        if arns.is_empty() {
            return Ok(Vec::new());
        }
        let described = self
            .client
            .describe_tasks()
            .cluster(cluster)
            .set_tasks(Some(arns))
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, "DescribeTasks", &e))?;
        Ok(described
            .tasks()
            .iter()
            .map(|t| StoppedTask {
                arn: t.task_arn().unwrap_or_default().to_string(),
                task_definition: t.task_definition_arn().unwrap_or_default().to_string(),
                stopped_reason: t.stopped_reason().map(str::to_string),
                containers: t
                    .containers()
                    .iter()
                    .map(|c| {
                        (
                            c.name().unwrap_or_default().to_string(),
                            c.exit_code(),
                            c.reason().map(str::to_string),
                        )
                    })
                    .collect(),
            })
            .collect())
    }

    async fn task_definition(&self, arn: &str) -> CloudResult<Option<TaskDefinition>> {
        match self.describe(arn).await {
            Ok(td) => Ok(Some(model(&td))),
            Err(e) if e.kind == ErrorKind::NotFound || e.kind == ErrorKind::Invalid => Ok(None),
            Err(e) => Err(e),
        }
    }

    async fn register_revision(&self, revision: &Revision) -> CloudResult<TaskDefinition> {
        let op = "RegisterTaskDefinition";
        let (td, tags) = self.describe_with_tags(&revision.from).await?;
        let mut containers = td.container_definitions().to_vec();
        let Some(container) = containers
            .iter_mut()
            .find(|c| c.name() == Some(revision.container.as_str()))
        else {
            return Err(CloudError::new(
                ErrorKind::Invalid,
                op,
                None,
                format!(
                    "task definition {} has no container {:?}",
                    revision.from, revision.container
                ),
            ));
        };
        let mut env: Vec<KeyValuePair> = container.environment().to_vec();
        for (key, value) in &revision.environment {
            env.retain(|kv| kv.name() != Some(key.as_str()));
            env.push(KeyValuePair::builder().name(key).value(value).build());
        }
        env.sort_by(|a, b| a.name().cmp(&b.name()));
        container.image = Some(revision.image.clone());
        container.environment = Some(env);
        let call = copy_definition(self.client.register_task_definition(), &td, containers, tags);
        let out = call
            // No SDK retries: a retry after a lost reply would register a second revision.
            // The roll retries this call itself, first looking for the revision it asked for.
            .customize()
            .config_override(
                aws_sdk_ecs::config::Config::builder().retry_config(crate::aws::retry_config().with_max_attempts(1)),
            )
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        let registered = out
            .task_definition()
            .ok_or_else(|| CloudError::new(ErrorKind::Other, op, None, "no task definition in the answer"))?;
        Ok(model(registered))
    }

    async fn update_service(&self, cluster: &str, service: &str, update: &ServiceUpdate) -> CloudResult<String> {
        let op = "UpdateService";
        let out = self
            .client
            .update_service()
            .cluster(cluster)
            .service(service)
            .task_definition(&update.task_definition)
            .set_deployment_configuration(update.deployment.as_ref().map(super::ecs_deploy::configuration))
            .send()
            .await
            .map_err(|e| not_found(to_cloud(SERVICE, op, &e)))?;
        let id = out
            .service()
            .and_then(|s| s.deployments().iter().find(|d| d.status() == Some("PRIMARY")))
            .and_then(|d| d.id())
            .unwrap_or_default();
        Ok(id.to_string())
    }

    async fn current_service_deployment(&self, cluster: &str, service: &str) -> CloudResult<Option<String>> {
        self.current_deployment(cluster, service).await.map_err(not_found)
    }

    async fn service_deployment(&self, arn: &str) -> CloudResult<Option<ServiceDeployment>> {
        self.describe_deployment(arn).await
    }

    async fn stop_service_deployment(&self, arn: &str) -> CloudResult<()> {
        self.stop_deployment(arn).await
    }

    async fn continue_service_deployment(&self, arn: &str, hook_id: &str, action: HookAction) -> CloudResult<()> {
        self.continue_deployment(arn, hook_id, action).await
    }

    async fn task_definitions(&self, family: &str, active: bool) -> CloudResult<Vec<String>> {
        self.list_definitions(family, active).await
    }

    async fn deregister_task_definition(&self, arn: &str) -> CloudResult<()> {
        self.deregister(arn).await
    }
}

/// A RegisterTaskDefinition call carrying every field of `td` that registration takes,
/// the definition's tags, and `containers` (the same containers, one of them changed).
/// The test below fails when the SDK learns a field this does not copy.
#[allow(deprecated)] // inference accelerators: retired by AWS, still copied as they were.
fn copy_definition(
    call: RegisterTaskDefinitionFluentBuilder,
    td: &EcsTaskDefinition,
    containers: Vec<ContainerDefinition>,
    tags: Vec<Tag>,
) -> RegisterTaskDefinitionFluentBuilder {
    fn list<T: Clone>(v: &[T]) -> Option<Vec<T>> {
        (!v.is_empty()).then(|| v.to_vec())
    }
    call.set_family(td.family().map(str::to_string))
        .set_task_role_arn(td.task_role_arn().map(str::to_string))
        .set_execution_role_arn(td.execution_role_arn().map(str::to_string))
        .set_network_mode(td.network_mode().cloned())
        .set_container_definitions(Some(containers))
        .set_volumes(list(td.volumes()))
        .set_placement_constraints(list(td.placement_constraints()))
        .set_requires_compatibilities(list(td.requires_compatibilities()))
        .set_cpu(td.cpu().map(str::to_string))
        .set_memory(td.memory().map(str::to_string))
        .set_tags((!tags.is_empty()).then_some(tags))
        .set_pid_mode(td.pid_mode().cloned())
        .set_ipc_mode(td.ipc_mode().cloned())
        .set_proxy_configuration(td.proxy_configuration().cloned())
        .set_inference_accelerators(list(td.inference_accelerators()))
        .set_ephemeral_storage(td.ephemeral_storage().cloned())
        .set_runtime_platform(td.runtime_platform().cloned())
        .set_enable_fault_injection(td.enable_fault_injection())
}

impl EcsAdapter {
    /// A task definition with its tags (DescribeTaskDefinition include=TAGS).
    async fn describe_with_tags(&self, arn: &str) -> CloudResult<(EcsTaskDefinition, Vec<Tag>)> {
        let op = "DescribeTaskDefinition";
        let out = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .include(TaskDefinitionField::Tags)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        let td = out
            .task_definition()
            .cloned()
            .ok_or_else(|| CloudError::not_found(op, format!("task definition {arn} not found")))?;
        Ok((td, out.tags().to_vec()))
    }

    async fn describe(&self, arn: &str) -> CloudResult<aws_sdk_ecs::types::TaskDefinition> {
        let op = "DescribeTaskDefinition";
        let out = self
            .client
            .describe_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| to_cloud(SERVICE, op, &e))?;
        out.task_definition()
            .cloned()
            .ok_or_else(|| CloudError::not_found(op, format!("task definition {arn} not found")))
    }
}

fn model(td: &aws_sdk_ecs::types::TaskDefinition) -> TaskDefinition {
    TaskDefinition {
        arn: td.task_definition_arn().unwrap_or_default().to_string(),
        family: td.family().unwrap_or_default().to_string(),
        revision: td.revision(),
        containers: td
            .container_definitions()
            .iter()
            .map(|c| {
                let mut environment: Vec<(String, String)> = c
                    .environment()
                    .iter()
                    .map(|kv| {
                        (
                            kv.name().unwrap_or_default().to_string(),
                            kv.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect();
                environment.sort();
                ContainerSpec {
                    name: c.name().unwrap_or_default().to_string(),
                    image: c.image().unwrap_or_default().to_string(),
                    environment,
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::*;

    use super::*;

    /// The top-level fields of a `{:#?}` dump, by name.
    fn fields(debug: &str) -> std::collections::BTreeMap<String, String> {
        let mut out = std::collections::BTreeMap::new();
        let mut current: Option<(String, String)> = None;
        for line in debug.lines().skip(1) {
            let top = line.strip_prefix("    ").filter(|l| !l.starts_with(' '));
            match top.and_then(|l| l.split_once(": ")) {
                Some((name, value)) => {
                    if let Some((n, v)) = current.take() {
                        out.insert(n, v);
                    }
                    current = Some((name.to_string(), value.to_string()));
                }
                None => {
                    if let Some((_, v)) = current.as_mut() {
                        v.push_str(line.trim());
                    }
                }
            }
        }
        if let Some((n, v)) = current {
            out.insert(n, v.trim_end_matches('}').to_string());
        }
        out
    }

    /// A task definition with every field the SDK knows set.
    #[allow(deprecated)]
    fn everything() -> EcsTaskDefinition {
        let container = ContainerDefinition::builder()
            .name("app")
            .image("registry.example/web:1")
            .environment(KeyValuePair::builder().name("A").value("1").build())
            .build();
        EcsTaskDefinition::builder()
            .task_definition_arn("arn:aws:ecs:us-east-1:123456789012:task-definition/web:1")
            .container_definitions(container)
            .family("web")
            .task_role_arn("arn:aws:iam::123456789012:role/task")
            .execution_role_arn("arn:aws:iam::123456789012:role/exec")
            .network_mode(NetworkMode::Awsvpc)
            .revision(1)
            .volumes(Volume::builder().name("data").build())
            .status(TaskDefinitionStatus::Active)
            .requires_attributes(Attribute::builder().name("ecs.capability.x").build().unwrap())
            .placement_constraints(
                TaskDefinitionPlacementConstraint::builder()
                    .r#type(TaskDefinitionPlacementConstraintType::MemberOf)
                    .expression("attribute:ecs.os-type == linux")
                    .build(),
            )
            .compatibilities(Compatibility::Fargate)
            .runtime_platform(
                RuntimePlatform::builder()
                    .cpu_architecture(CpuArchitecture::Arm64)
                    .operating_system_family(OsFamily::Linux)
                    .build(),
            )
            .requires_compatibilities(Compatibility::Fargate)
            .cpu("256")
            .memory("512")
            .inference_accelerators(
                InferenceAccelerator::builder()
                    .device_name("gpu")
                    .device_type("eia2.medium")
                    .build()
                    .unwrap(),
            )
            .pid_mode(PidMode::Task)
            .ipc_mode(IpcMode::Task)
            .proxy_configuration(ProxyConfiguration::builder().container_name("envoy").build().unwrap())
            .registered_at(aws_sdk_ecs::primitives::DateTime::from_secs(1))
            .deregistered_at(aws_sdk_ecs::primitives::DateTime::from_secs(2))
            .delete_requested_at(aws_sdk_ecs::primitives::DateTime::from_secs(3))
            .registered_by("arn:aws:iam::123456789012:user/me")
            .ephemeral_storage(EphemeralStorage::builder().size_in_gib(30).build())
            .enable_fault_injection(true)
            .build()
    }

    #[test]
    fn a_new_revision_copies_every_field_registration_takes() {
        let td = everything();
        let seen = fields(&format!("{td:#?}"));
        let unset: Vec<&String> = seen.iter().filter(|(_, v)| *v == "None,").map(|(k, _)| k).collect();
        assert!(unset.is_empty(), "the test definition leaves fields unset: {unset:?}");
        let config = aws_sdk_ecs::Config::builder()
            .behavior_version(aws_sdk_ecs::config::BehaviorVersion::latest())
            .region(aws_sdk_ecs::config::Region::new("us-east-1"))
            .build();
        let client = Client::from_conf(config);
        let tags = vec![Tag::builder().key("team").value("web").build()];
        let call = copy_definition(
            client.register_task_definition(),
            &td,
            td.container_definitions().to_vec(),
            tags.clone(),
        );
        let sent = fields(&format!("{:#?}", call.as_input()));
        assert!(
            sent["tags"].contains("\"team\"") && sent["tags"].contains("\"web\""),
            "the tags are copied: {}",
            sent["tags"]
        );
        for (name, value) in &sent {
            if name == "tags" {
                continue;
            }
            let original = seen.get(name).unwrap_or_else(|| {
                panic!("RegisterTaskDefinition takes {name}, which a task definition does not have")
            });
            assert_eq!(value, original, "field {name} is not copied as it was");
        }
    }
}
