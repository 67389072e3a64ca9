//! `slipway-env iam-policy` on examples/slipway.yml: valid JSON policies that name only
//! the actions and resources of the jobs each environment configures, and a trust
//! policy scoped to the repository and the environment.

use serde_json::Value;

use crate::support::{bin, root, run};

fn policy(environment: &str) -> Value {
    let r = run(bin("slipway-env")
        .arg("iam-policy")
        .arg("--config")
        .arg(root().join("examples/slipway.yml"))
        .args(["--environment", environment, "--repository", "octo/web"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    serde_json::from_str(&r.stdout).expect("iam-policy prints JSON")
}

fn actions(p: &Value) -> Vec<String> {
    statements(p)
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

fn resources(p: &Value) -> Vec<String> {
    statements(p)
        .iter()
        .flat_map(|s| {
            s["Resource"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap().to_string())
        })
        .collect()
}

fn statements(p: &Value) -> Vec<Value> {
    assert_eq!(p["permissions_policy"]["Version"], "2012-10-17");
    p["permissions_policy"]["Statement"].as_array().unwrap().clone()
}

fn services(actions: &[String]) -> Vec<String> {
    let mut s: Vec<String> = actions
        .iter()
        .map(|a| a.split(':').next().unwrap().to_string())
        .collect();
    s.sort();
    s.dedup();
    s
}

#[test]
fn ecs_environment_policy_names_only_ecr_and_ecs() {
    let p = policy("dev");
    let actions = actions(&p);
    assert_eq!(services(&actions), ["ecr", "ecs", "iam"]);
    assert!(actions.contains(&"ecs:UpdateService".to_string()));
    assert!(actions.contains(&"ecr:PutImage".to_string()));
    assert!(
        !actions.iter().any(|a| a.ends_with(":*") || a == "*"),
        "no wildcard actions: {actions:?}"
    );
    for r in resources(&p) {
        assert!(
            r == "*"
                || r == "arn:aws:ecr:us-east-1:111111111111:repository/web"
                || r.starts_with("arn:aws:ecs:us-east-1:111111111111:")
                || r == "arn:aws:iam::111111111111:role/*",
            "unexpected resource {r}"
        );
    }
    assert!(resources(&p).contains(&"arn:aws:ecs:us-east-1:111111111111:service/web-dev/web".to_string()));
    // Only actions IAM offers no resource-level permission for get "*".
    for s in statements(&p) {
        if s["Resource"][0] == "*" {
            let a: Vec<&str> = s["Action"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a.as_str().unwrap())
                .collect();
            assert!(
                a.iter().all(|a| [
                    "ecr:GetAuthorizationToken",
                    "ecs:DescribeTaskDefinition",
                    "ecs:RegisterTaskDefinition"
                ]
                .contains(a)),
                "{a:?} on *"
            );
        }
    }
    let pass = statements(&p)
        .into_iter()
        .find(|s| s["Action"][0] == "iam:PassRole")
        .unwrap();
    assert_eq!(
        pass["Condition"]["StringEquals"]["iam:PassedToService"],
        "ecs-tasks.amazonaws.com"
    );
}

#[test]
fn asg_environment_policy_names_only_ecr_autoscaling_ec2_and_its_target_group() {
    let p = policy("stage");
    let actions = actions(&p);
    // iam: PassRole of the instance profile's role, which AWS checks on a roll.
    assert_eq!(
        services(&actions),
        ["autoscaling", "ec2", "ecr", "elasticloadbalancing", "iam"]
    );
    assert!(!actions.iter().any(|a| a.starts_with("ecs:")));
    let resources = resources(&p);
    assert!(resources.contains(
        &"arn:aws:autoscaling:eu-west-1:222222222222:autoScalingGroup:*:autoScalingGroupName/web-stage".to_string()
    ));
    assert!(resources.contains(
        &"arn:aws:elasticloadbalancing:eu-west-1:222222222222:targetgroup/web-stage/0123456789abcdef".to_string()
    ));
    for r in &resources {
        // IAM ARNs have no region; AMIs and snapshots may belong to other accounts.
        assert!(
            r == "*"
                || r.contains(":eu-west-1:222222222222:")
                || r == "arn:aws:iam::222222222222:role/*"
                || r == "arn:aws:ec2:eu-west-1::image/*"
                || r == "arn:aws:ec2:eu-west-1::snapshot/*",
            "resource {r} is outside stage"
        );
    }
}

/// Whether IAM lets a GitHub OIDC token with `claims`, from the provider in `account`,
/// assume a role with `trust`: an allowing statement for sts:AssumeRoleWithWebIdentity
/// whose federated principal is that provider and whose conditions all hold (StringEquals
/// exactly, StringLike with `*` and `?`; any other operator fails closed).
fn admits(trust: &Value, account: &str, claims: &[(&str, &str)]) -> bool {
    let provider = format!("arn:aws:iam::{account}:oidc-provider/token.actions.githubusercontent.com");
    let claim = |key: &str| {
        let name = key.strip_prefix("token.actions.githubusercontent.com:")?;
        claims.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
    };
    let like = |pattern: &str, value: &str| {
        let regex = format!("^{}$", regex::escape(pattern).replace("\\*", ".*").replace("\\?", "."));
        regex::Regex::new(&regex).unwrap().is_match(value)
    };
    trust["Statement"].as_array().unwrap().iter().any(|s| {
        s["Effect"] == "Allow"
            && s["Action"] == "sts:AssumeRoleWithWebIdentity"
            && s["Principal"]["Federated"] == provider.as_str()
            && s["Condition"].as_object().is_none_or(|conditions| {
                conditions.iter().all(|(operator, tests)| {
                    tests.as_object().unwrap().iter().all(|(key, want)| {
                        let wanted: Vec<&str> = match want {
                            Value::Array(a) => a.iter().map(|v| v.as_str().unwrap()).collect(),
                            v => vec![v.as_str().unwrap()],
                        };
                        match (operator.as_str(), claim(key)) {
                            ("StringEquals", Some(v)) => wanted.contains(&v),
                            ("StringLike", Some(v)) => wanted.iter().any(|w| like(w, v)),
                            _ => false,
                        }
                    })
                })
            })
    })
}

#[test]
fn trust_policy_admits_only_the_repository_in_that_environment() {
    for (env, account) in [
        ("dev", "111111111111"),
        ("stage", "222222222222"),
        ("prod", "333333333333"),
    ] {
        let trust = &policy(env)["trust_policy"];
        let token = |sub: &str, aud: &str| vec![("sub", sub.to_string()), ("aud", aud.to_string())];
        let admitted = |account: &str, claims: Vec<(&str, String)>| {
            let claims: Vec<(&str, &str)> = claims.iter().map(|(k, v)| (*k, v.as_str())).collect();
            admits(trust, account, &claims)
        };
        let own = format!("repo:octo/web:environment:{env}");
        assert!(
            admitted(account, token(&own, "sts.amazonaws.com")),
            "{env}: its own job is refused"
        );
        let other_env = if env == "prod" { "dev" } else { "prod" };
        for sub in [
            format!("repo:octo/web:environment:{other_env}"),
            "repo:octo/web:ref:refs/heads/main".to_string(),
            "repo:octo/web:pull_request".to_string(),
            format!("repo:octo/web-fork:environment:{env}"),
            format!("repo:evil/web:environment:{env}"),
            format!("repo:octo/web:environment:{env}-preview"),
        ] {
            assert!(
                !admitted(account, token(&sub, "sts.amazonaws.com")),
                "{env} admits {sub}"
            );
        }
        assert!(
            !admitted(account, token(&own, "https://github.com/octo")),
            "{env}: another audience"
        );
        assert!(
            !admitted("999999999999", token(&own, "sts.amazonaws.com")),
            "{env}: another account's provider"
        );
        assert!(
            !admitted(account, vec![("aud", "sts.amazonaws.com".into())]),
            "{env}: a token without sub"
        );
    }
}

#[test]
fn iam_policy_for_an_unknown_environment_is_bad_input() {
    let r = run(bin("slipway-env")
        .arg("iam-policy")
        .arg("--config")
        .arg(root().join("examples/slipway.yml"))
        .args(["--environment", "nope"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("no environment named \"nope\""), "{}", r.stderr);
}

#[test]
fn a_blue_green_environment_may_follow_answer_and_stop_its_service_deployments_only() {
    let p = policy("prod");
    let native: Vec<Value> = statements(&p)
        .into_iter()
        .filter(|s| s["Sid"] == "EcsServiceDeployments")
        .collect();
    assert_eq!(native.len(), 1, "{p:#}");
    assert_eq!(
        native[0]["Action"],
        serde_json::json!([
            "ecs:DescribeServiceDeployments",
            "ecs:ContinueServiceDeployment",
            "ecs:StopServiceDeployment"
        ])
    );
    assert_eq!(
        native[0]["Resource"],
        serde_json::json!(["arn:aws:ecs:eu-west-1:333333333333:service-deployment/web-prod/web/*"])
    );
    let all = actions(&p);
    for keep in ["ecs:ListTaskDefinitions", "ecs:DeregisterTaskDefinition"] {
        assert!(all.contains(&keep.to_string()), "keep_revisions needs {keep}: {all:?}");
    }
    // dev rolls: none of these.
    let dev = actions(&policy("dev"));
    assert!(
        !dev.iter()
            .any(|a| a.contains("ServiceDeployment") || a.contains("Deregister")),
        "{dev:?}"
    );
}

#[test]
fn a_codedeploy_environment_gets_the_deployment_calls_on_its_group_only() {
    // examples/slipway.yml's prod-us deploys through CodeDeploy under the console's names.
    let p = policy("prod-us");
    let actions = actions(&p);
    assert_eq!(services(&actions), ["codedeploy", "ecr", "ecs", "iam"]);
    for action in [
        "codedeploy:CreateDeployment",
        "codedeploy:StopDeployment",
        "codedeploy:ContinueDeployment",
        "codedeploy:BatchGetDeploymentTargets",
    ] {
        assert!(actions.contains(&action.to_string()), "{action} missing: {actions:?}");
    }
    let deployments = statements(&p)
        .into_iter()
        .find(|s| s["Sid"] == "CodeDeployDeployments")
        .unwrap();
    assert_eq!(
        deployments["Resource"],
        serde_json::json!([
            "arn:aws:codedeploy:us-east-1:333333333333:deploymentgroup:AppECS-web-prod-us-web/DgpECS-web-prod-us-web"
        ])
    );
    // An environment without ecs.codedeploy gets none, and a note saying how.
    let dev = policy("dev");
    assert!(!self::actions(&dev).iter().any(|a| a.starts_with("codedeploy:")));
    assert!(dev.to_string().contains("codedeploy: {}"), "{dev}");
}

#[test]
fn iam_policy_gives_only_the_home_region_the_share_calls_for_a_region_in_another_account() {
    let dir = crate::support::Dir::new();
    dir.write(
        "slipway.yml",
        "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      \
         region: us-east-1\n    asg: { name: web, launch_template: web }\n    regions:\n      - region: us-east-1\n      \
         - region: eu-west-1\n        aws: { role_arn: \"arn:aws:iam::210987654321:role/deploy\" }\n",
    );
    let policy = |region: &str| -> Value {
        let r = run(bin("slipway-env")
            .arg("iam-policy")
            .arg("--config")
            .arg(dir.path().join("slipway.yml"))
            .args(["--environment", "prod", "--region", region, "--repository", "octo/web"]));
        assert_eq!(r.code, 0, "{}", r.stderr);
        serde_json::from_str(&r.stdout).expect("iam-policy prints JSON")
    };
    let home = policy("us-east-1");
    let share = statements(&home)
        .into_iter()
        .find(|s| s["Sid"] == "AmiShare")
        .expect("the home region shares");
    assert_eq!(
        share["Resource"],
        serde_json::json!(["arn:aws:ec2:us-east-1::image/*", "arn:aws:ec2:us-east-1::snapshot/*"])
    );
    assert!(actions(&home).contains(&"ec2:DescribeSnapshotAttribute".to_string()));
    let other = policy("eu-west-1");
    assert_eq!(other["role_arn"], "arn:aws:iam::210987654321:role/deploy");
    assert!(!statements(&other).iter().any(|s| s["Sid"] == "AmiShare"), "{other}");
    assert!(actions(&other).contains(&"ec2:CopyImage".to_string()));
    assert!(
        other["trust_policy"]
            .to_string()
            .contains("arn:aws:iam::210987654321:oidc-provider/"),
        "{other}"
    );
}
