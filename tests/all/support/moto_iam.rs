//! A second moto server, one per test binary, that enforces IAM: started with
//! `INITIAL_NO_AUTH_ACTION_COUNT=3`, its first three calls create an administrator user
//! and its keys; every later call is checked against the caller's policies. Tests seed it
//! with the administrator's keys and run jobs with the keys of a role session whose only
//! policy is the one under test.
//!
//! moto needs a signed request to authorise AssumeRoleWithWebIdentity, which is unsigned by
//! design, so role sessions come from a signed AssumeRole by the administrator instead; the
//! session is checked against the role's policies all the same. IAM and STS calls go through
//! the testbed's boto3 (moto's own dependency), as the Rust SDK has no IAM client here.

use std::process::Command;
use std::sync::OnceLock;

use aws_sdk_autoscaling::config::Credentials;
use serde_json::Value;

use super::moto::{spawn, wait_until};
use super::{require, testbed};

/// The account moto puts everything in.
pub const ACCOUNT: &str = "123456789012";

/// Keys: the administrator's, or a role session's.
#[derive(Clone, Debug)]
pub struct Keys {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
}

impl Keys {
    /// Puts the keys into a command's environment (the standard AWS credential chain).
    pub fn apply(&self, cmd: &mut Command) {
        cmd.env("AWS_ACCESS_KEY_ID", &self.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret_key);
        match &self.session_token {
            Some(token) => cmd.env("AWS_SESSION_TOKEN", token),
            None => cmd.env_remove("AWS_SESSION_TOKEN"),
        };
    }
}

pub struct IamMoto {
    pub endpoint: String,
    pub admin: Keys,
}

/// The IAM-enforcing moto server (started on first use).
pub fn iam_moto() -> &'static IamMoto {
    static MOTO: OnceLock<IamMoto> = OnceLock::new();
    MOTO.get_or_init(|| {
        let port = spawn(&[("INITIAL_NO_AUTH_ACTION_COUNT", "3")]);
        // A connection only: a request could count as one of the three.
        wait_until(port, |_| true);
        let endpoint = format!("http://127.0.0.1:{port}");
        let admin = keys(&boto(&endpoint, &["admin"]));
        IamMoto { endpoint, admin }
    })
}

const SCRIPT: &str = r#"
import json, sys, boto3
endpoint, command = sys.argv[1], sys.argv[2]
def client(service, keys=None):
    keys = keys or {"access_key": "x", "secret_key": "x"}
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=keys["access_key"], aws_secret_access_key=keys["secret_key"])
if command == "admin":
    iam = client("iam")
    iam.create_user(UserName="admin")
    iam.put_user_policy(UserName="admin", PolicyName="everything", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    key = iam.create_access_key(UserName="admin")["AccessKey"]
    print(json.dumps({"access_key": key["AccessKeyId"], "secret_key": key["SecretAccessKey"]}))
elif command == "role":
    admin, name, policy = json.loads(sys.argv[3]), sys.argv[4], sys.argv[5]
    iam = client("iam", admin)
    trust = {"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
    iam.put_role_policy(RoleName=name, PolicyName="slipway", PolicyDocument=policy)
    arn = "arn:aws:iam::123456789012:role/" + name
    c = client("sts", admin).assume_role(RoleArn=arn, RoleSessionName="slipway-test")["Credentials"]
    print(json.dumps({"access_key": c["AccessKeyId"], "secret_key": c["SecretAccessKey"],
                      "session_token": c["SessionToken"]}))
"#;

fn boto(endpoint: &str, args: &[&str]) -> Value {
    let python = require(&testbed().join("venv/bin/python"));
    let out = Command::new(python)
        .args(["-c", SCRIPT, endpoint])
        .args(args)
        .output()
        .expect("run the testbed's python");
    assert!(
        out.status.success(),
        "seeding IAM in moto failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the seeding script prints JSON")
}

fn keys(v: &Value) -> Keys {
    Keys {
        access_key: v["access_key"].as_str().unwrap().to_string(),
        secret_key: v["secret_key"].as_str().unwrap().to_string(),
        session_token: v["session_token"].as_str().map(str::to_string),
    }
}

impl IamMoto {
    /// Creates role `name` holding exactly `policy` and returns the keys of a session of it.
    pub fn role(&self, name: &str, policy: &Value) -> Keys {
        let admin = serde_json::json!({
            "access_key": self.admin.access_key,
            "secret_key": self.admin.secret_key,
        });
        keys(&boto(
            &self.endpoint,
            &["role", &admin.to_string(), name, &policy.to_string()],
        ))
    }

    /// An SDK config with the administrator's keys, for seeding.
    pub async fn admin_sdk(&self) -> aws_config::SdkConfig {
        self.admin_sdk_at(&self.endpoint).await
    }

    /// `admin_sdk` through `endpoint` (a proxy in front of this moto).
    pub async fn admin_sdk_at(&self, endpoint: &str) -> aws_config::SdkConfig {
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(endpoint)
            .credentials_provider(Credentials::new(
                &self.admin.access_key,
                &self.admin.secret_key,
                None,
                None,
                "admin",
            ))
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .load()
            .await
    }
}
