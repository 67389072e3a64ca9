//! The IAM policies an environment's deploy role needs: a least-privilege permissions
//! policy naming only the actions and resources of the jobs slipway.yml configures for
//! it, and the trust policy that lets GitHub's OIDC token for that repository and
//! environment (and nothing else) assume it.

use serde::Serialize;
use serde_json::{json, Value};

use crate::config::{role_account, Environment, Loaded};
use crate::error::{Error, Result};

/// GitHub's OIDC issuer, as IAM names it.
pub const GITHUB_OIDC_HOST: &str = "token.actions.githubusercontent.com";

/// What `slipway-env iam-policy` prints.
#[derive(Debug, Serialize)]
pub struct Policies {
    pub environment: String,
    pub role_arn: String,
    /// The role's permissions policy.
    pub permissions_policy: Value,
    /// The role's trust policy.
    pub trust_policy: Value,
    /// What the policies leave to the reader, in words.
    pub notes: Vec<String>,
}

/// What a roll through a CodeDeploy deployment group calls on it, for both compute platforms.
const CODEDEPLOY_DEPLOYS: &[&str] = &[
    "codedeploy:GetDeploymentGroup",
    "codedeploy:CreateDeployment",
    "codedeploy:GetDeployment",
    "codedeploy:ListDeployments",
    "codedeploy:ListDeploymentTargets",
    "codedeploy:BatchGetDeploymentTargets",
    "codedeploy:StopDeployment",
];

/// What a CodeDeploy roll (either compute platform) calls on its deployment group: with
/// alarms, the deployment gets them as `overrideAlarmConfiguration`, which needs
/// UpdateDeploymentGroup besides CreateDeployment. Source: the codedeploy 2014-10-06
/// model, CreateDeploymentInput.overrideAlarmConfiguration: "If you specify an
/// overrideAlarmConfiguration, you need the UpdateDeploymentGroup IAM permission when
/// calling CreateDeployment."
fn codedeploy_deploys(env: &Environment, extra: &[&'static str], notes: &mut Vec<String>) -> Vec<&'static str> {
    let mut actions = [CODEDEPLOY_DEPLOYS, extra].concat();
    if env.health.alarms.is_empty() {
        notes.push(
            "a CodeDeploy roll given alarms only with --alarm also needs codedeploy:UpdateDeploymentGroup \
             (CreateDeployment's overrideAlarmConfiguration): list them in health.alarms to get it"
                .into(),
        );
    } else {
        actions.push("codedeploy:UpdateDeploymentGroup");
    }
    actions
}

/// Whether GitHub should show this environment as production.
pub fn is_production(name: &str) -> bool {
    matches!(name, "prod" | "production")
}

/// The policies for environment `name`; `repository` is `owner/name` (default: a
/// placeholder to replace).
pub fn policies(loaded: &Loaded, name: &str, repository: Option<&str>) -> Result<Policies> {
    regional_policies(loaded, name, None, repository)
}

/// The policies for environment `name` in `region` (required when it lists several
/// regions: each region may have its own role and account).
pub fn regional_policies(
    loaded: &Loaded,
    name: &str,
    region: Option<&str>,
    repository: Option<&str>,
) -> Result<Policies> {
    let env = &crate::context::settings_in(loaded.environment(name)?, name, region)?;
    let role_arn = env.aws.role_arn.clone().ok_or_else(|| {
        Error::input(
            format!("environment {name:?} has no role_arn"),
            "add aws.role_arn to the environment in slipway.yml",
        )
    })?;
    let account = role_account(&role_arn)
        .ok_or_else(|| {
            Error::input(
                format!("role_arn {role_arn:?} of environment {name:?} names no account"),
                "write it as arn:aws:iam::ACCOUNT:role/NAME",
            )
        })?
        .to_string();
    let region = env.aws.region.clone().unwrap_or_else(|| "*".into());
    let mut notes = Vec::new();
    let mut statements = statements(env, &region, &account, &mut notes);
    // slipway-build across regions reads the home registry's replication rules.
    let all = loaded.environment(name)?;
    if env.ecr.is_some() && all.regions.len() > 1 && all.region_names().first() == Some(&region) {
        statements.push(statement(
            "EcrReplicationRules",
            &["ecr:DescribeRegistry"],
            vec!["*".into()],
        ));
    }
    // slipway-bake across accounts: the home region shares its AMI and the AMI's snapshots
    // with the accounts of the other regions before they copy it.
    let home = all.regions.len() > 1 && all.region_names().first() == Some(&region);
    let bakes = env.asg.as_ref().is_some_and(|a| a.launch_template.is_some());
    if home && bakes && !other_accounts(all, &account).is_empty() {
        statements.push(statement(
            "AmiShareRead",
            &[
                "ec2:DescribeImageAttribute",
                "ec2:DescribeSnapshotAttribute",
                "ec2:DescribeSnapshots",
            ],
            vec!["*".into()],
        ));
        statements.push(statement(
            "AmiShare",
            &["ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"],
            vec![
                format!("arn:aws:ec2:{region}::image/*"),
                format!("arn:aws:ec2:{region}::snapshot/*"),
            ],
        ));
        notes.push(format!(
            "the AmiShare statements let the home region share its AMI with account(s) {}; an AMI encrypted \
             with a customer managed KMS key also needs that key's policy to let those accounts use it",
            other_accounts(all, &account).join(", ")
        ));
    }
    let repository = match repository.filter(|r| !r.is_empty()) {
        Some(r) => r.to_string(),
        None => {
            notes.push("replace OWNER/REPO in the trust policy with your repository (or set GITHUB_REPOSITORY)".into());
            "OWNER/REPO".into()
        }
    };
    Ok(Policies {
        environment: name.to_string(),
        role_arn,
        permissions_policy: json!({ "Version": "2012-10-17", "Statement": statements }),
        trust_policy: trust_policy(&account, &repository, name),
        notes,
    })
}

/// The accounts of the environment's regions other than `account`, each once.
fn other_accounts(env: &Environment, account: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for region in env.region_names() {
        let Ok(there) = env.in_region(&region) else { continue };
        if let Some(other) = there.aws.role_arn.as_deref().and_then(role_account) {
            if other != account && !out.iter().any(|a| a == other) {
                out.push(other.to_string());
            }
        }
    }
    out
}

/// The trust policy: GitHub's OIDC provider in `account`, audience sts.amazonaws.com, and
/// only jobs of `repository` that run in GitHub environment `environment`.
pub fn trust_policy(account: &str, repository: &str, environment: &str) -> Value {
    json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "GitHubActionsEnvironment",
            "Effect": "Allow",
            "Principal": { "Federated": format!("arn:aws:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}") },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {
                "StringEquals": {
                    format!("{GITHUB_OIDC_HOST}:aud"): "sts.amazonaws.com",
                    format!("{GITHUB_OIDC_HOST}:sub"): format!("repo:{repository}:environment:{environment}"),
                }
            }
        }]
    })
}

fn statement(sid: &str, actions: &[&str], resources: Vec<String>) -> Value {
    json!({ "Sid": sid, "Effect": "Allow", "Action": actions, "Resource": resources })
}

/// iam:PassRole on the account's roles, only to `service`.
fn pass_role(sid: &str, account: &str, service: &str) -> Value {
    json!({
        "Sid": sid,
        "Effect": "Allow",
        "Action": ["iam:PassRole"],
        "Resource": [format!("arn:aws:iam::{account}:role/*")],
        "Condition": { "StringEquals": { "iam:PassedToService": service } }
    })
}

/// The name in a name or an ARN: what follows `marker` (e.g. `cluster/`) in an ARN.
fn last_segment<'a>(value: &'a str, marker: &str) -> &'a str {
    match value.strip_prefix("arn:").and_then(|_| value.rsplit_once(marker)) {
        Some((_, name)) => name,
        None => value,
    }
}

/// slipway-roll to a CodeDeploy deployment group of EC2 instances: the bundle in S3
/// (HeadObject is allowed by s3:GetObject), the deployment and its instances, stopping it.
fn server_deploy(
    out: &mut Vec<Value>,
    env: &Environment,
    cd: &crate::config::ServerDeploy,
    region: &str,
    account: &str,
    notes: &mut Vec<String>,
) {
    out.push(statement(
        "CodeDeployBundles",
        &["s3:GetObject", "s3:PutObject"],
        vec![format!("arn:aws:s3:::{}/{}/*", cd.bucket, cd.prefix)],
    ));
    let (application, group) = (&cd.application, &cd.deployment_group);
    out.push(statement(
        "CodeDeployEc2Deployments",
        &codedeploy_deploys(env, &[], notes),
        vec![format!(
            "arn:aws:codedeploy:{region}:{account}:deploymentgroup:{application}/{group}"
        )],
    ));
    out.push(statement(
        "CodeDeployEc2Revisions",
        &[
            "codedeploy:RegisterApplicationRevision",
            "codedeploy:GetApplicationRevision",
        ],
        vec![format!(
            "arn:aws:codedeploy:{region}:{account}:application:{application}"
        )],
    ));
    out.push(statement(
        "CodeDeployEc2Configs",
        &["codedeploy:GetDeploymentConfig"],
        vec![format!("arn:aws:codedeploy:{region}:{account}:deploymentconfig:*")],
    ));
}

fn statements(env: &Environment, region: &str, account: &str, notes: &mut Vec<String>) -> Vec<Value> {
    let mut out = Vec::new();
    if let Some(ecr) = &env.ecr {
        // slipway-build: log in, check for this commit's image, push or re-tag it.
        out.push(statement("EcrLogin", &["ecr:GetAuthorizationToken"], vec!["*".into()]));
        out.push(statement(
            "EcrPushAndPromote",
            &[
                "ecr:DescribeRepositories",
                "ecr:BatchGetImage",
                "ecr:PutImage",
                "ecr:BatchCheckLayerAvailability",
                "ecr:GetDownloadUrlForLayer",
                "ecr:InitiateLayerUpload",
                "ecr:UploadLayerPart",
                "ecr:CompleteLayerUpload",
            ],
            vec![format!("arn:aws:ecr:{region}:{account}:repository/{}", ecr.repository)],
        ));
        notes.push("slipway-build --create-repository also needs ecr:CreateRepository; it is left out".into());
    }
    if let Some(ecs) = &env.ecs {
        // slipway-roll (ECS) and slipway-wait: a new task definition revision, the service update, its progress.
        let cluster_name = last_segment(&ecs.cluster, "cluster/");
        let service = if ecs.service.starts_with("arn:") {
            ecs.service.clone()
        } else {
            format!("arn:aws:ecs:{region}:{account}:service/{cluster_name}/{}", ecs.service)
        };
        out.push(statement(
            "EcsService",
            &["ecs:DescribeServices", "ecs:UpdateService"],
            vec![service],
        ));
        let cluster = if ecs.cluster.starts_with("arn:") {
            ecs.cluster.clone()
        } else {
            format!("arn:aws:ecs:{region}:{account}:cluster/{cluster_name}")
        };
        out.push(statement(
            "EcsTasks",
            &["ecs:ListTasks", "ecs:DescribeTasks"],
            vec![cluster, format!("arn:aws:ecs:{region}:{account}:task/{cluster_name}/*")],
        ));
        if ecs.strategy != crate::config::EcsStrategy::Rolling {
            // ECS native blue/green, canary, linear: follow, answer and stop the service deployment.
            out.push(statement(
                "EcsServiceDeployments",
                &[
                    "ecs:DescribeServiceDeployments",
                    "ecs:ContinueServiceDeployment",
                    "ecs:StopServiceDeployment",
                ],
                vec![format!(
                    "arn:aws:ecs:{region}:{account}:service-deployment/{cluster_name}/{}/*",
                    last_segment(&ecs.service, "/")
                )],
            ));
        }
        // These have no resource-level permissions in IAM.
        let mut definitions = vec!["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"];
        if ecs.keep_revisions.is_some() {
            definitions.extend(["ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"]);
        }
        out.push(statement("EcsTaskDefinitions", &definitions, vec!["*".into()]));
        out.push(pass_role("EcsPassTaskRoles", account, "ecs-tasks.amazonaws.com"));
        if let Some(cd) = &ecs.codedeploy {
            // slipway-roll through CodeDeploy blue/green (a CODE_DEPLOY service).
            let application = cd
                .application
                .clone()
                .unwrap_or_else(|| format!("AppECS-{cluster_name}-{}", last_segment(&ecs.service, "/")));
            let group = cd
                .deployment_group
                .clone()
                .unwrap_or_else(|| format!("DgpECS-{cluster_name}-{}", last_segment(&ecs.service, "/")));
            out.push(statement(
                "CodeDeployDeployments",
                &codedeploy_deploys(env, &["codedeploy:ContinueDeployment"], notes),
                vec![format!(
                    "arn:aws:codedeploy:{region}:{account}:deploymentgroup:{application}/{group}"
                )],
            ));
            out.push(statement(
                "CodeDeployRevisions",
                &[
                    "codedeploy:RegisterApplicationRevision",
                    "codedeploy:GetApplicationRevision",
                ],
                vec![format!(
                    "arn:aws:codedeploy:{region}:{account}:application:{application}"
                )],
            ));
            out.push(statement(
                "CodeDeployConfigs",
                &["codedeploy:GetDeploymentConfig"],
                vec![format!("arn:aws:codedeploy:{region}:{account}:deploymentconfig:*")],
            ));
        } else {
            notes.push(
                "a service with deployment controller CODE_DEPLOY also needs CodeDeploy permissions: \
                 add `codedeploy: {}` to the environment's ecs section to get them"
                    .into(),
            );
        }
        notes.push("narrow iam:PassRole to the task and execution roles of the service's task definition".into());
    }
    if let Some(cd) = &env.codedeploy {
        server_deploy(&mut out, env, cd, region, account, notes);
    }
    if let Some(asg) = &env.asg {
        // slipway-roll (ASG) and slipway-wait: describe calls have no resource-level permissions.
        out.push(statement(
            "AutoScalingRead",
            &[
                "autoscaling:DescribeAutoScalingGroups",
                "autoscaling:DescribeInstanceRefreshes",
                "autoscaling:DescribeScalingActivities",
            ],
            vec!["*".into()],
        ));
        out.push(statement(
            "AutoScalingRoll",
            &[
                "autoscaling:UpdateAutoScalingGroup",
                "autoscaling:StartInstanceRefresh",
                "autoscaling:CancelInstanceRefresh",
                "autoscaling:RollbackInstanceRefresh",
                "autoscaling:TerminateInstanceInAutoScalingGroup",
            ],
            // Blue/green rolls both of its groups.
            if asg.groups.is_empty() {
                std::slice::from_ref(&asg.name)
            } else {
                &asg.groups[..]
            }
            .iter()
            .map(|group| {
                format!("arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{group}")
            })
            .collect(),
        ));
        if let Some(arn) = asg.listener.as_ref().or(asg.listener_rule.as_ref()) {
            // Blue/green reads the forward action's weights and sets them.
            out.push(statement(
                "ListenerRead",
                &[
                    "elasticloadbalancing:DescribeListeners",
                    "elasticloadbalancing:DescribeRules",
                ],
                vec!["*".into()],
            ));
            let modify = if asg.listener.is_some() {
                "elasticloadbalancing:ModifyListener"
            } else {
                "elasticloadbalancing:ModifyRule"
            };
            out.push(statement("ListenerWeights", &[modify], vec![arn.clone()]));
            // keep_old schedules the old group's scale-down; the next roll reads and deletes it.
            out.push(statement(
                "ScheduledActionsRead",
                &["autoscaling:DescribeScheduledActions"],
                vec!["*".into()],
            ));
            out.push(statement(
                "KeepOldScaleDown",
                &[
                    "autoscaling:PutScheduledUpdateGroupAction",
                    "autoscaling:DeleteScheduledAction",
                ],
                asg.groups
                    .iter()
                    .map(|group| {
                        format!(
                            "arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{group}"
                        )
                    })
                    .collect(),
            ));
        }
        // Every roll reads the group's launch template versions (the plan pins one).
        out.push(statement(
            "LaunchTemplateRead",
            &[
                "ec2:DescribeLaunchTemplates",
                "ec2:DescribeLaunchTemplateVersions",
                "ec2:DescribeImages",
            ],
            vec!["*".into()],
        ));
        let template_arn = match asg.launch_template.as_deref() {
            Some(id) if id.starts_with("lt-") => format!("arn:aws:ec2:{region}:{account}:launch-template/{id}"),
            Some(name) => {
                notes.push(format!(
                    "launch template {name:?} is named, not an lt- id, so its statements cover every launch template of the account; write its id to narrow them"
                ));
                format!("arn:aws:ec2:{region}:{account}:launch-template/*")
            }
            None => format!("arn:aws:ec2:{region}:{account}:launch-template/*"),
        };
        // UpdateAutoScalingGroup and StartInstanceRefresh with a launch template make AWS
        // check that the caller may launch, tag and pass the role of what the template describes.
        let launch = |kind: &str| format!("arn:aws:ec2:{region}:{account}:{kind}/*");
        let mut run_resources: Vec<String> = [
            "instance",
            "volume",
            "network-interface",
            "security-group",
            "subnet",
            "key-pair",
        ]
        .iter()
        .map(|kind| launch(kind))
        .collect();
        run_resources.push(template_arn.clone());
        run_resources.push(format!("arn:aws:ec2:{region}::image/*"));
        run_resources.push(format!("arn:aws:ec2:{region}::snapshot/*"));
        out.push(statement(
            "AutoScalingLaunchChecks",
            &["ec2:RunInstances"],
            run_resources,
        ));
        out.push(json!({
            "Sid": "AutoScalingLaunchTags",
            "Effect": "Allow",
            "Action": ["ec2:CreateTags"],
            "Resource": [launch("instance"), launch("volume"), launch("network-interface")],
            "Condition": { "StringEquals": { "ec2:CreateAction": "RunInstances" } }
        }));
        out.push(pass_role("AutoScalingPassInstanceRole", account, "ec2.amazonaws.com"));
        notes.push(
            "narrow the ec2.amazonaws.com iam:PassRole to the role of the launch template's instance profile".into(),
        );
        if asg.launch_template.is_some() {
            // slipway-bake: Packer's amazon-ebs builder, then a launch template version. In
            // the other regions of a multi-region bake the same role copies the AMI in
            // (CopyImage, DescribeImages, CreateTags, DeregisterImage: all in PACKER_EBS).
            out.push(statement(
                "LaunchTemplateVersion",
                &["ec2:CreateLaunchTemplateVersion", "ec2:ModifyLaunchTemplate"],
                vec![template_arn],
            ));
            out.push(statement("PackerAmazonEbs", PACKER_EBS, vec!["*".into()]));
            notes
                .push("the PackerAmazonEbs statement is Packer's documented minimum for the amazon-ebs builder".into());
        }
    }
    if env.asg.is_some() || !env.health.target_groups.is_empty() {
        // slipway-wait and the surge strategy read target health; ELB describe calls have no
        // resource-level permissions.
        out.push(statement(
            "TargetHealthRead",
            &[
                "elasticloadbalancing:DescribeTargetGroups",
                "elasticloadbalancing:DescribeTargetGroupAttributes",
                "elasticloadbalancing:DescribeTargetHealth",
            ],
            vec!["*".into()],
        ));
    }
    if !env.health.alarms.is_empty() {
        // Rolls and slipway-wait read the alarms (an instance refresh given them too),
        // composite alarms among them, which needs the action on every resource: "To use
        // this operation and return information about composite alarms, you must be signed
        // on with the cloudwatch:DescribeAlarms permission that is scoped to *. You can't
        // return information about composite alarms if your cloudwatch:DescribeAlarms
        // permission has a narrower scope." (cloudwatch 2010-08-01 model, DescribeAlarms).
        out.push(statement(
            "AlarmsRead",
            &["cloudwatch:DescribeAlarms"],
            vec!["*".into()],
        ));
    }
    if env.asg.is_some() {
        // The surge strategy drains old instances from the group's target groups.
        let groups: Vec<String> = if env.health.target_groups.is_empty() {
            vec![format!("arn:aws:elasticloadbalancing:{region}:{account}:targetgroup/*")]
        } else {
            env.health.target_groups.clone()
        };
        out.push(statement(
            "TargetDrain",
            &["elasticloadbalancing:DeregisterTargets"],
            groups,
        ));
    }
    out
}

/// Packer's amazon-ebs builder (its documented minimal set).
const PACKER_EBS: &[&str] = &[
    "ec2:AttachVolume",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CopyImage",
    "ec2:CreateImage",
    "ec2:CreateKeyPair",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSnapshot",
    "ec2:CreateTags",
    "ec2:CreateVolume",
    "ec2:DeleteKeyPair",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteSnapshot",
    "ec2:DeleteVolume",
    "ec2:DeregisterImage",
    "ec2:DescribeImageAttribute",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeInstanceStatus",
    "ec2:DescribeRegions",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSnapshots",
    "ec2:DescribeSubnets",
    "ec2:DescribeTags",
    "ec2:DescribeVolumes",
    "ec2:DetachVolume",
    "ec2:GetPasswordData",
    "ec2:ModifyImageAttribute",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifySnapshotAttribute",
    "ec2:RegisterImage",
    "ec2:RunInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
];

#[cfg(test)]
mod tests {
    use super::*;

    const ACCOUNT: &str = "123456789012";

    fn loaded(environment: &str) -> Loaded {
        let text = format!(
            "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::{ACCOUNT}:role/deploy\n      region: eu-west-1\n{environment}"
        );
        crate::config::parse(std::path::Path::new("slipway.yml"), text).unwrap()
    }

    /// The ARN formats of the Service Authorization Reference for each resource type the
    /// policy names (account and region where the format has them, none where it has not).
    fn documented(arn: &str) -> bool {
        let r = "eu-west-1";
        let a = ACCOUNT;
        let shapes = [
            format!(r"^arn:aws:ecr:{r}:{a}:repository/[a-z0-9][a-z0-9._/-]*$"),
            format!(r"^arn:aws:ecs:{r}:{a}:cluster/[A-Za-z0-9_-]+$"),
            format!(r"^arn:aws:ecs:{r}:{a}:service/[A-Za-z0-9_-]+/[A-Za-z0-9_-]+$"),
            format!(r"^arn:aws:ecs:{r}:{a}:task/[A-Za-z0-9_-]+/\*$"),
            format!(r"^arn:aws:iam::{a}:role/\*$"),
            format!(r"^arn:aws:autoscaling:{r}:{a}:autoScalingGroup:\*:autoScalingGroupName/[A-Za-z0-9_.-]+$"),
            format!(r"^arn:aws:ec2:{r}:{a}:launch-template/(lt-[0-9a-f]+|\*)$"),
            format!(r"^arn:aws:ec2:{r}:{a}:(instance|volume|network-interface|security-group|subnet|key-pair)/\*$"),
            format!(r"^arn:aws:ec2:{r}::(image|snapshot)/\*$"),
            format!(r"^arn:aws:elasticloadbalancing:{r}:{a}:targetgroup/([A-Za-z0-9-]+/[0-9a-f]+|\*)$"),
            format!(r"^arn:aws:cloudwatch:{r}:{a}:alarm:[^:]+$"),
            r"^arn:aws:s3:::[a-z0-9.-]+/[^*]+/\*$".to_string(),
            format!(
                r"^arn:aws:codedeploy:{r}:{a}:(deploymentgroup:[^/]+/[^/]+|application:[^/:]+|deploymentconfig:\*)$"
            ),
            format!(r"^arn:aws:elasticloadbalancing:{r}:{a}:listener/app/[A-Za-z0-9-]+/[0-9a-f]+/[0-9a-f]+$"),
            format!(
                r"^arn:aws:elasticloadbalancing:{r}:{a}:listener-rule/app/[A-Za-z0-9-]+/[0-9a-f]+/[0-9a-f]+/[0-9a-f]+$"
            ),
        ];
        arn == "*" || shapes.iter().any(|s| regex::Regex::new(s).unwrap().is_match(arn))
    }

    const BLUE_GREEN: &str = "    asg:\n      strategy: blue_green\n      groups: [web-a, web-b]\n      launch_template: lt-0123456789abcdef0\n      listener: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/0123456789abcdef/0123456789abcdef\n";

    #[test]
    fn blue_green_may_set_the_listener_weights_and_roll_both_groups() {
        let p = policies(&loaded(BLUE_GREEN), "prod", None).unwrap();
        let statements = p.permissions_policy["Statement"].as_array().unwrap();
        let sid = |name: &str| statements.iter().find(|s| s["Sid"] == name).unwrap().clone();
        let roll = sid("AutoScalingRoll");
        let groups: Vec<&str> = roll["Resource"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        assert!(
            groups[0].ends_with("autoScalingGroupName/web-a") && groups[1].ends_with("autoScalingGroupName/web-b"),
            "{groups:?}"
        );
        let weights = sid("ListenerWeights");
        assert_eq!(weights["Action"][0], "elasticloadbalancing:ModifyListener");
        assert!(weights["Resource"][0].as_str().unwrap().contains(":listener/app/web/"));
        assert!(actions(&p).contains(&"elasticloadbalancing:DescribeListeners".to_string()));
    }

    #[test]
    fn every_resource_has_the_documented_arn_shape() {
        let configs = [
            "    ecr: { repository: team/web }\n    ecs: { cluster: web-prod, service: web, container: app }\n",
            "    ecs: { cluster: \"arn:aws:ecs:eu-west-1:123456789012:cluster/web-prod\", service: web, container: app }\n",
            "    asg: { name: web-prod, launch_template: lt-0123456789abcdef0 }\n    health:\n      target_groups: [\"arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef\"]\n",
            "    ecs: { cluster: web-prod, service: web, container: app }\n    health:\n      alarms: [web-prod-5xx]\n",
            "    asg: { name: web-prod, launch_template: web }\n",
            "    asg: { name: web-prod }\n",
            "    codedeploy: { application: web, deployment_group: web-prod, bundle: deploy, bucket: web-bundles, prefix: b/web }\n",
            BLUE_GREEN,
            &BLUE_GREEN.replace("listener:", "listener_rule:").replace(":listener/app/web/0123456789abcdef/", ":listener-rule/app/web/0123456789abcdef/0123456789abcdef/"),
        ];
        for config in configs {
            let p = policies(&loaded(config), "prod", Some("octo/web")).unwrap();
            let statements = p.permissions_policy["Statement"].as_array().unwrap();
            assert!(!statements.is_empty());
            for s in statements {
                for r in s["Resource"].as_array().unwrap() {
                    let r = r.as_str().unwrap();
                    assert!(
                        documented(r),
                        "{config}: {} names {r}, not an ARN of a documented shape",
                        s["Sid"]
                    );
                }
            }
        }
    }

    fn actions(p: &Policies) -> Vec<String> {
        p.permissions_policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| {
                s["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a.as_str().unwrap().to_string())
            })
            .collect()
    }

    #[test]
    fn an_ec2_codedeploy_environment_gets_its_bundle_prefix_and_its_group_only() {
        let p = policies(
            &loaded("    codedeploy: { application: web, deployment_group: web-prod, bundle: deploy, bucket: web-bundles }\n"),
            "prod",
            None,
        )
        .unwrap();
        let statements = p.permissions_policy["Statement"].as_array().unwrap();
        let sid = |sid: &str| statements.iter().find(|s| s["Sid"] == sid).cloned().unwrap();
        assert_eq!(
            sid("CodeDeployBundles")["Resource"],
            json!(["arn:aws:s3:::web-bundles/slipway/*"])
        );
        assert_eq!(
            sid("CodeDeployBundles")["Action"],
            json!(["s3:GetObject", "s3:PutObject"])
        );
        let deployments = sid("CodeDeployEc2Deployments");
        for needed in [
            "codedeploy:CreateDeployment",
            "codedeploy:StopDeployment",
            "codedeploy:BatchGetDeploymentTargets",
        ] {
            assert!(
                deployments["Action"].as_array().unwrap().iter().any(|a| a == needed),
                "{needed}"
            );
        }
        assert_eq!(
            deployments["Resource"],
            json!(["arn:aws:codedeploy:eu-west-1:123456789012:deploymentgroup:web/web-prod"])
        );
        assert!(!actions(&p)
            .iter()
            .any(|a| a.starts_with("ecs:") || a.starts_with("autoscaling:")));
    }

    /// CreateDeployment with overrideAlarmConfiguration needs UpdateDeploymentGroup
    /// (codedeploy model, CreateDeploymentInput.overrideAlarmConfiguration).
    #[test]
    fn a_codedeploy_roll_handing_alarms_to_the_deployment_may_update_its_group() {
        let ecs = "    ecs: { cluster: c, service: s, container: a, codedeploy: {} }\n";
        let ec2 =
            "    codedeploy: { application: web, deployment_group: web-prod, bundle: deploy, bucket: web-bundles }\n";
        for (config, sid) in [(ecs, "CodeDeployDeployments"), (ec2, "CodeDeployEc2Deployments")] {
            let with = format!("{config}    health:\n      alarms: [web-5xx]\n");
            let p = policies(&loaded(&with), "prod", None).unwrap();
            let statement = p.permissions_policy["Statement"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["Sid"] == sid)
                .cloned()
                .unwrap();
            assert!(
                statement["Action"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|a| a == "codedeploy:UpdateDeploymentGroup"),
                "{config}: {statement}"
            );
            let without = policies(&loaded(config), "prod", None).unwrap();
            assert!(!actions(&without).contains(&"codedeploy:UpdateDeploymentGroup".to_string()));
            assert!(
                without.notes.iter().any(|n| n.contains("UpdateDeploymentGroup")),
                "{:?}",
                without.notes
            );
        }
    }

    #[test]
    fn alarms_get_describe_alarms_scoped_to_every_alarm_as_composite_alarms_need() {
        let p = policies(
            &loaded(
                "    ecs: { cluster: c, service: s, container: a }\n    health:\n      alarms: [web-5xx, web-p99]\n",
            ),
            "prod",
            None,
        )
        .unwrap();
        assert!(actions(&p).iter().any(|a| a == "cloudwatch:DescribeAlarms"));
        let statements = p.permissions_policy["Statement"].as_array().unwrap();
        let read = statements.iter().find(|s| s["Sid"] == "AlarmsRead").unwrap();
        assert_eq!(read["Resource"], serde_json::json!(["*"]));
        let none = policies(
            &loaded("    ecs: { cluster: c, service: s, container: a }\n"),
            "prod",
            None,
        )
        .unwrap();
        assert!(!actions(&none).iter().any(|a| a.starts_with("cloudwatch:")));
    }

    #[test]
    fn a_group_without_a_launch_template_still_gets_what_a_roll_needs() {
        let p = policies(&loaded("    asg: { name: web-prod }\n"), "prod", None).unwrap();
        let actions = actions(&p);
        for needed in [
            "ec2:DescribeLaunchTemplateVersions",
            "autoscaling:UpdateAutoScalingGroup",
            // AWS checks these on the caller of UpdateAutoScalingGroup/StartInstanceRefresh
            // with a launch template.
            "ec2:RunInstances",
            "ec2:CreateTags",
            "iam:PassRole",
        ] {
            assert!(actions.iter().any(|a| a == needed), "{needed} missing: {actions:?}");
        }
        // Nothing for slipway-bake without a launch template to bake into.
        assert!(!actions.iter().any(|a| a == "ec2:CreateLaunchTemplateVersion"));
        let pass = p.permissions_policy["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Sid"] == "AutoScalingPassInstanceRole")
            .unwrap();
        assert_eq!(
            pass["Condition"]["StringEquals"]["iam:PassedToService"],
            "ec2.amazonaws.com"
        );
    }

    #[test]
    fn every_region_of_a_bake_may_copy_the_ami_in_and_write_its_own_launch_template() {
        let env = "    asg: { name: web, launch_template: web }\n    regions:\n      - region: eu-west-1\n      - region: us-east-2\n        aws: { role_arn: \"arn:aws:iam::210987654321:role/deploy\" }\n        asg: { launch_template: web-us }\n";
        let loaded = loaded(env);
        for (region, account) in [("eu-west-1", ACCOUNT), ("us-east-2", "210987654321")] {
            let p = regional_policies(&loaded, "prod", Some(region), None).unwrap();
            let actions = actions(&p);
            for needed in [
                "ec2:CopyImage",
                "ec2:DescribeImages",
                "ec2:CreateTags",
                "ec2:DeregisterImage",
                "ec2:CreateLaunchTemplateVersion",
            ] {
                assert!(
                    actions.iter().any(|a| a == needed),
                    "{region}: {needed} missing: {actions:?}"
                );
            }
            let text = p.permissions_policy.to_string();
            assert!(
                text.contains(&format!("arn:aws:ec2:{region}:{account}:launch-template/")),
                "{region}: {text}"
            );
        }
    }

    #[test]
    fn the_home_region_may_share_its_ami_with_the_other_accounts_and_no_one_else_may() {
        let env = "    asg: { name: web, launch_template: web }\n    regions:\n      - region: eu-west-1\n      - region: us-east-2\n      - region: ap-south-1\n        aws: { role_arn: \"arn:aws:iam::210987654321:role/deploy\" }\n";
        let config = loaded(env);
        let share = ["ec2:ModifyImageAttribute", "ec2:ModifySnapshotAttribute"];
        let read = [
            "ec2:DescribeImageAttribute",
            "ec2:DescribeSnapshotAttribute",
            "ec2:DescribeSnapshots",
        ];
        let home = regional_policies(&config, "prod", Some("eu-west-1"), None).unwrap();
        let statements = home.permissions_policy["Statement"].as_array().unwrap();
        let sid = |name: &str| statements.iter().find(|s| s["Sid"] == name).cloned().unwrap();
        assert_eq!(sid("AmiShare")["Action"], json!(share));
        assert_eq!(
            sid("AmiShare")["Resource"],
            json!(["arn:aws:ec2:eu-west-1::image/*", "arn:aws:ec2:eu-west-1::snapshot/*"])
        );
        assert_eq!(sid("AmiShareRead")["Action"], json!(read));
        assert!(
            home.notes.iter().any(|n| n.contains("account(s) 210987654321;")),
            "{:?}",
            home.notes
        );
        // The other regions copy; they share nothing.
        for region in ["us-east-2", "ap-south-1"] {
            let p = regional_policies(&config, "prod", Some(region), None).unwrap();
            assert!(
                !p.permissions_policy.to_string().contains("AmiShare"),
                "{region}: {}",
                p.permissions_policy
            );
        }
        // One account everywhere: nothing to share.
        let one = loaded(&env.replace("210987654321", ACCOUNT));
        let p = regional_policies(&one, "prod", Some("eu-west-1"), None).unwrap();
        assert!(!p.permissions_policy.to_string().contains("AmiShare"));
    }

    #[test]
    fn trust_is_scoped_to_repository_and_environment() {
        let t = trust_policy("111111111111", "octo/web", "prod");
        let c = &t["Statement"][0]["Condition"]["StringEquals"];
        assert_eq!(
            c["token.actions.githubusercontent.com:sub"],
            "repo:octo/web:environment:prod"
        );
        assert_eq!(c["token.actions.githubusercontent.com:aud"], "sts.amazonaws.com");
        assert_eq!(
            t["Statement"][0]["Principal"]["Federated"],
            "arn:aws:iam::111111111111:oidc-provider/token.actions.githubusercontent.com"
        );
    }

    #[test]
    fn only_the_home_region_reads_the_replication_rules() {
        let env = "    ecr: { repository: web }\n    regions:\n      - region: eu-west-1\n      - region: us-east-2\n";
        let loaded = loaded(env);
        let home = regional_policies(&loaded, "prod", Some("eu-west-1"), None).unwrap();
        assert!(actions(&home).contains(&"ecr:DescribeRegistry".to_string()));
        let other = regional_policies(&loaded, "prod", Some("us-east-2"), None).unwrap();
        let other = actions(&other);
        assert!(!other.contains(&"ecr:DescribeRegistry".to_string()));
        for needed in [
            "ecr:InitiateLayerUpload",
            "ecr:UploadLayerPart",
            "ecr:CompleteLayerUpload",
            "ecr:PutImage",
        ] {
            assert!(other.contains(&needed.to_string()), "{needed}");
        }
    }

    #[test]
    fn each_region_gets_its_own_role_and_resources() {
        let env = "    ecs: { cluster: web-eu, service: web, container: app }\n    regions:\n      - region: eu-west-1\n      - region: us-east-2\n        aws: { role_arn: \"arn:aws:iam::210987654321:role/deploy\" }\n        ecs: { cluster: web-us }\n";
        let loaded = loaded(env);
        let err = regional_policies(&loaded, "prod", None, None).unwrap_err();
        assert_eq!(err.exit_code(), 2, "{err}");
        assert!(
            err.to_string()
                .contains("deploys to 2 regions in waves (eu-west-1; us-east-2)"),
            "{err}"
        );
        let us = regional_policies(&loaded, "prod", Some("us-east-2"), None).unwrap();
        assert_eq!(us.role_arn, "arn:aws:iam::210987654321:role/deploy");
        let text = us.permissions_policy.to_string();
        assert!(
            text.contains("arn:aws:ecs:us-east-2:210987654321:service/web-us/web"),
            "{text}"
        );
        assert!(!text.contains("eu-west-1"), "{text}");
        let eu = regional_policies(&loaded, "prod", Some("eu-west-1"), None).unwrap();
        assert!(eu
            .permissions_policy
            .to_string()
            .contains(&format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/web-eu/web")));
        let err = regional_policies(&loaded, "prod", Some("ap-south-1"), None).unwrap_err();
        assert!(
            err.to_string().contains("ap-south-1 is not one of its regions"),
            "{err}"
        );
    }
}
