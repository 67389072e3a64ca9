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

/// Whether GitHub should show this environment as production.
pub fn is_production(name: &str) -> bool {
    matches!(name, "prod" | "production")
}

/// The policies for environment `name`; `repository` is `owner/name` (default: a
/// placeholder to replace).
pub fn policies(loaded: &Loaded, name: &str, repository: Option<&str>) -> Result<Policies> {
    let env = loaded.environment(name)?;
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
    let statements = statements(env, &region, &account, &mut notes);
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
        let service = if ecs.service.starts_with("arn:") {
            ecs.service.clone()
        } else {
            format!("arn:aws:ecs:{region}:{account}:service/{}/{}", ecs.cluster, ecs.service)
        };
        out.push(statement(
            "EcsService",
            &["ecs:DescribeServices", "ecs:UpdateService"],
            vec![service],
        ));
        let cluster = if ecs.cluster.starts_with("arn:") {
            ecs.cluster.clone()
        } else {
            format!("arn:aws:ecs:{region}:{account}:cluster/{}", ecs.cluster)
        };
        out.push(statement(
            "EcsTasks",
            &["ecs:ListTasks", "ecs:DescribeTasks"],
            vec![
                cluster,
                format!("arn:aws:ecs:{region}:{account}:task/{}/*", ecs.cluster),
            ],
        ));
        // These two have no resource-level permissions in IAM.
        out.push(statement(
            "EcsTaskDefinitions",
            &["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"],
            vec!["*".into()],
        ));
        out.push(json!({
            "Sid": "EcsPassTaskRoles",
            "Effect": "Allow",
            "Action": ["iam:PassRole"],
            "Resource": [format!("arn:aws:iam::{account}:role/*")],
            "Condition": { "StringEquals": { "iam:PassedToService": "ecs-tasks.amazonaws.com" } }
        }));
        notes.push("narrow iam:PassRole to the task and execution roles of the service's task definition".into());
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
            vec![format!(
                "arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:autoScalingGroupName/{}",
                asg.name
            )],
        ));
        if let Some(template) = &asg.launch_template {
            // slipway-bake: Packer's amazon-ebs builder, then a launch template version.
            out.push(statement(
                "LaunchTemplateRead",
                &[
                    "ec2:DescribeLaunchTemplates",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:DescribeImages",
                ],
                vec!["*".into()],
            ));
            let template_arn = if template.starts_with("lt-") {
                format!("arn:aws:ec2:{region}:{account}:launch-template/{template}")
            } else {
                notes.push(format!(
                    "launch template {template:?} is named, not an lt- id, so its statement covers every launch template of the account; write its id to narrow it"
                ));
                format!("arn:aws:ec2:{region}:{account}:launch-template/*")
            };
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
}
