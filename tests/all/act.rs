//! The workflow templates run end to end, unedited, under a real GitHub Actions runner
//! (nektos/act): the AMI pipeline on a `v*` tag (GitHub's OIDC token endpoint played
//! locally, AWS answered by moto, real Packer) ends with the group on the new AMI; the
//! ECS template on a pull request builds the image and rehearses the rollout without
//! touching AWS; a push to a feature branch deploys nothing.

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::RequestLaunchTemplateData;

use crate::support::act::Repo;
use crate::support::http::{Response, Server};
use crate::support::moto::moto;

const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyZXBvOm9jdG8vd2ViOmVudmlyb25tZW50OnByb2QifQ.c2ln";
const REQUEST_TOKEN: &str = "act-request-token";

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(&moto().endpoint)
        .credentials_provider(aws_sdk_autoscaling::config::Credentials::new(
            "AKIAEXAMPLE",
            "secret",
            None,
            None,
            "test",
        ))
        .load()
        .await
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Launch template `name` (version 1 on the stock AMI) and a group of two on it.
async fn group(name: &str) {
    let config = sdk().await;
    aws_sdk_ec2::Client::new(&config)
        .create_launch_template()
        .launch_template_name(name)
        .launch_template_data(
            RequestLaunchTemplateData::builder()
                .image_id("ami-03cf127a")
                .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
                .build(),
        )
        .send()
        .await
        .expect("create the launch template");
    aws_sdk_autoscaling::Client::new(&config)
        .create_auto_scaling_group()
        .auto_scaling_group_name(name)
        .launch_template(
            LaunchTemplateSpecification::builder()
                .launch_template_name(name)
                .version("1")
                .build(),
        )
        .min_size(1)
        .max_size(2)
        .desired_capacity(2)
        .availability_zones("us-east-1a")
        .send()
        .await
        .expect("create the group");
}

/// The group's launch template version, its instances (id, AMI), and the template's
/// versions (number, AMI).
async fn fleet(name: &str) -> (String, Vec<(String, String)>, Vec<(i64, String)>) {
    let config = sdk().await;
    let g = aws_sdk_autoscaling::Client::new(&config)
        .describe_auto_scaling_groups()
        .auto_scaling_group_names(name)
        .send()
        .await
        .unwrap();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let g = &g.auto_scaling_groups()[0];
    let group_version = g
        .launch_template()
        .and_then(|t| t.version())
        .unwrap_or_default()
        .to_string();
    let mut instances = Vec::new();
    for i in g.instances() {
        let id = i.instance_id().unwrap().to_string();
        let out = ec2.describe_instances().instance_ids(&id).send().await.unwrap();
        let ami = out.reservations()[0].instances()[0]
            .image_id()
            .unwrap_or_default()
            .to_string();
        instances.push((id, ami));
    }
    instances.sort();
    let versions = ec2
        .describe_launch_template_versions()
        .launch_template_name(name)
        .send()
        .await
        .unwrap();
    let mut versions: Vec<(i64, String)> = versions
        .launch_template_versions()
        .iter()
        .map(|v| {
            let ami = v.launch_template_data().and_then(|d| d.image_id()).unwrap_or_default();
            (v.version_number().unwrap(), ami.to_string())
        })
        .collect();
    versions.sort();
    (group_version, instances, versions)
}

/// GitHub's OIDC token endpoint: a token for the runner's bearer and STS's audience.
fn token_endpoint() -> Server {
    Server::start(|req| {
        let bearer = req.headers.get("authorization").map(String::as_str);
        if bearer != Some(&format!("bearer {REQUEST_TOKEN}")) || !req.target.contains("audience=sts.amazonaws.com") {
            return Response::new(401, r#"{"message":"bad bearer or audience"}"#);
        }
        Response::new(200, format!(r#"{{"value":"{JWT}"}}"#))
    })
}

/// A repository with the AMI pipeline for group `name` in prod (and stage on main).
fn ami_repo(name: &str) -> Repo {
    let env = |env: &str| {
        format!(
            "  {env}:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy-{env}\n      region: us-east-1\n    \
             asg:\n      name: {name}\n      launch_template: {name}\n      strategy: surge\n      allow_raise_max: true\n    \
             health:\n      timeout: 2m\n      aws_interval: 1s\n"
        )
    };
    let config = format!("app: web\nenvironments:\n{}{}", env("stage"), env("prod"));
    let packer = include_str!("../fixtures/act/ami.pkr.hcl").replace("ENDPOINT", &moto().endpoint);
    Repo::new(&[
        ("slipway.yml", config),
        ("packer/ami.pkr.hcl", packer),
        (".github/workflows/ami.yml", Repo::template("ami-pipeline.yml")),
    ])
}

fn aws_env(github: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            format!("{}/token?api-version=2.0", github.url),
        ),
        ("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN.to_string()),
    ]
}

#[test]
fn ami_pipeline_on_a_tag_bakes_rolls_and_waits_until_the_group_is_on_the_new_ami() {
    let name = "act-ami-tag";
    runtime().block_on(group(name));
    let (_, before, _) = runtime().block_on(fleet(name));
    let repo = ami_repo(name);
    let github = token_endpoint();
    let result = repo.act(
        "push",
        r#"{"ref":"refs/tags/v1.4.0","ref_type":"tag"}"#,
        "ami.yml",
        &aws_env(&github),
    );
    let log = result.run.all_text();
    assert_eq!(result.run.code, 0, "act failed:\n{log}");
    assert!(result.succeeded("resolve"), "{log}");
    let resolved = result.outputs("resolve");
    assert_eq!(resolved["environment"], "prod", "{log}");
    assert_eq!(resolved["deploy"], "true");
    assert!(result.succeeded("bake-roll-wait"), "{log}");

    // The end state, from moto: a new launch template version on a new AMI, and every
    // instance of the group replaced by one on it.
    let (group_version, after, versions) = runtime().block_on(fleet(name));
    assert_eq!(versions.len(), 2, "{versions:?}");
    let (new_version, new_ami) = versions[1].clone();
    assert_eq!(new_version, 2);
    assert!(new_ami.starts_with("ami-") && new_ami != "ami-03cf127a", "{versions:?}");
    assert_eq!(group_version, "2");
    assert_eq!(after.len(), 2, "{after:?}");
    for (id, ami) in &after {
        assert!(!before.iter().any(|b| &b.0 == id), "{id} is an old instance");
        assert_eq!(ami, &new_ami, "{after:?}");
    }

    // The job's outputs say the same, and the wait passed.
    let job = result.outputs("bake-roll-wait");
    assert_eq!(job["ami-id"], new_ami, "{log}");
    assert_eq!(job["launch-template-version"], "2");
    assert_eq!(job["new-version"], "2");
    assert_eq!(job["new-image-id"], new_ami);
    assert_eq!(job["previous-image-id"], "ami-03cf127a");
    assert_eq!(job["instances-replaced"], "2");
    assert_eq!(job["rolled-back"], "false");
    assert_eq!(job["healthy"], "true");
    assert_eq!(job["outcome"], "healthy");
    // The step summaries say it too, with the tag as the version.
    let summary = result.summary("bake-roll-wait");
    assert!(summary.contains("baked web v1.4.0"), "{summary}");
    assert!(summary.contains("slipway-wait: healthy"), "{summary}");
    // Credentials came from GitHub's OIDC token (no keys were given to the job).
    assert!(!github.requests().is_empty(), "no OIDC token was requested");
}

#[test]
fn ami_pipeline_on_a_feature_branch_push_deploys_nothing() {
    let name = "act-ami-feature";
    runtime().block_on(group(name));
    let before = runtime().block_on(fleet(name));
    let repo = ami_repo(name);
    let github = token_endpoint();
    let result = repo.act(
        "push",
        r#"{"ref":"refs/heads/feature/login"}"#,
        "ami.yml",
        &aws_env(&github),
    );
    let log = result.run.all_text();
    assert_eq!(result.run.code, 0, "act failed:\n{log}");
    assert!(result.succeeded("resolve"), "{log}");
    let resolved = result.outputs("resolve");
    assert_eq!(resolved["deploy"], "false", "{log}");
    assert_eq!(resolved["environment"], "");
    assert!(result.job("bake-roll-wait").is_empty(), "the deploy job ran:\n{log}");
    assert!(github.requests().is_empty(), "no job asked for AWS credentials");
    assert_eq!(runtime().block_on(fleet(name)), before, "AWS changed");
}

/// A repository with the ECS template: stage and prod deploy `web` in cluster `cluster`.
fn ecs_repo(cluster: &str) -> Repo {
    let env = |env: &str| {
        format!(
            "  {env}:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy-{env}\n      region: us-east-1\n    \
             ecr:\n      repository: {cluster}\n    ecs:\n      cluster: {cluster}\n      service: web\n      container: app\n"
        )
    };
    Repo::new(&[
        (
            "slipway.yml",
            format!("app: web\nenvironments:\n{}{}", env("stage"), env("prod")),
        ),
        ("Dockerfile", "FROM scratch\nCOPY index.html /index.html\n".to_string()),
        ("index.html", "<h1>web</h1>\n".to_string()),
        (".github/workflows/deploy.yml", Repo::template("ecs-service.yml")),
    ])
    .with_docker()
}

/// What a deploy could change in moto: the service's task definition and the revisions.
async fn ecs_state(cluster: &str) -> (String, Vec<String>) {
    let ecs = aws_sdk_ecs::Client::new(&sdk().await);
    let services = ecs
        .describe_services()
        .cluster(cluster)
        .services("web")
        .send()
        .await
        .unwrap();
    let current = services.services()[0].task_definition().unwrap_or_default().to_string();
    let revisions = ecs.list_task_definitions().send().await.unwrap();
    (current, revisions.task_definition_arns().to_vec())
}

#[test]
fn ecs_template_on_a_pull_request_builds_and_rehearses_without_touching_aws() {
    let cluster = "act-ecs-pr";
    runtime().block_on(crate::ecs_wire::service(cluster, cluster));
    let before = runtime().block_on(ecs_state(cluster));
    let repo = ecs_repo(cluster);
    let github = token_endpoint();
    let payload = r#"{"number":7,"pull_request":{"number":7,"head":{"ref":"feature/login"},"base":{"ref":"main"}}}"#;
    let result = repo.act("pull_request", payload, "deploy.yml", &aws_env(&github));
    let log = result.run.all_text();
    assert_eq!(result.run.code, 0, "act failed:\n{log}");
    assert!(result.succeeded("resolve"), "{log}");
    assert_eq!(result.outputs("resolve")["deploy"], "false", "{log}");
    assert!(result.succeeded("plan"), "{log}");

    // The image was built by the runner's docker, and the rollout rehearsed on the
    // simulator with stage's settings and that image.
    let plan = result.job_text("plan");
    assert!(plan.contains("Successfully tagged localhost/web:pr"), "{plan}");
    assert!(
        plan.contains(&format!("simulating ECS service web in {cluster}")),
        "{plan}"
    );
    assert!(plan.contains("plan: ecs service web"), "{plan}");
    assert!(plan.contains("with container app image web:pr"), "{plan}");
    assert_eq!(result.outputs("plan")["image"], "web:pr", "{plan}");

    // Nothing reached AWS: no deploy job, no credentials asked for, moto unchanged.
    assert!(result.job("deploy").is_empty(), "the deploy job ran:\n{log}");
    assert!(github.requests().is_empty(), "a pull request asked for AWS credentials");
    assert_eq!(runtime().block_on(ecs_state(cluster)), before, "AWS changed");
}
