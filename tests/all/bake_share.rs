//! slipway-bake on an environment whose eu-west-1 region has its role in another account:
//! real Packer bakes in us-east-1 against moto, and before any copy the home region shares
//! the AMI and its snapshot with that account (read back from moto's launch and
//! create-volume permissions). moto's CopyImage only finds a source AMI in the caller's own
//! account, so the proxy keeps every call in the home account (`one_account`): the share
//! calls, their order before the copies and their arguments are what reached moto. An
//! encrypted snapshot comes from a rewritten DescribeSnapshots answer (moto's AMIs have
//! unencrypted snapshots only).

use crate::bake::{amis_in, create_template, ec2_in, runtime, template_in, Bake};
use crate::support::proxy::Proxy;
use crate::support::Run;

const OTHER: &str = "210987654321";
const HOME: &str = "123456789012";

/// us-east-1 (home) and us-west-2 in the home account, eu-west-1 in `OTHER`.
struct Accounts {
    bake: Bake,
    proxy: Proxy,
}

impl Accounts {
    fn new(name: &str) -> Self {
        let bake = Bake::new(name, "");
        let lt = bake.lt.clone();
        bake.dir.write(
            "slipway.yml",
            &format!(
                "app: web\nenvironments:\n  dev:\n    aws:\n      role_arn: arn:aws:iam::{HOME}:role/deploy\n      \
                 region: us-east-1\n    asg:\n      name: web-dev\n      launch_template: {lt}\n    regions:\n      \
                 - region: us-east-1\n      - region: us-west-2\n      - region: eu-west-1\n        \
                 aws: {{role_arn: \"arn:aws:iam::{OTHER}:role/deploy\"}}\n"
            ),
        );
        create_template("us-west-2", &lt);
        create_template("eu-west-1", &lt);
        let proxy = Proxy::start(&crate::support::moto::moto().endpoint, 0.0, 3);
        proxy.one_account(HOME);
        Accounts { bake, proxy }
    }

    fn run(&self, extra: &[&str]) -> Run {
        let mut cmd = self.bake.command(extra);
        cmd.env("AWS_ENDPOINT_URL", &self.proxy.endpoint);
        crate::support::run(&mut cmd)
    }

    /// The bodies of the calls of `action` that reached moto.
    fn bodies(&self, action: &str) -> Vec<String> {
        self.proxy
            .calls()
            .into_iter()
            .filter(|c| c.action == action && c.forwarded)
            .map(|c| c.body)
            .collect()
    }
}

/// (snapshot of `ami`, accounts of the AMI's launch permission, accounts of the
/// snapshot's create-volume permission), from moto in us-east-1.
fn permissions(ami: &str) -> (String, Vec<String>, Vec<String>) {
    runtime().block_on(async {
        let ec2 = ec2_in("us-east-1");
        let image = ec2.describe_images().image_ids(ami).send().await.unwrap();
        let snapshot = image.images()[0].block_device_mappings()[0]
            .ebs()
            .unwrap()
            .snapshot_id()
            .unwrap()
            .to_string();
        let launch = ec2
            .describe_image_attribute()
            .image_id(ami)
            .attribute(aws_sdk_ec2::types::ImageAttributeName::LaunchPermission)
            .send()
            .await
            .unwrap();
        let volumes = ec2
            .describe_snapshot_attribute()
            .snapshot_id(&snapshot)
            .attribute(aws_sdk_ec2::types::SnapshotAttributeName::CreateVolumePermission)
            .send()
            .await
            .unwrap();
        let users = |ids: Vec<Option<&str>>| ids.into_iter().flatten().map(str::to_string).collect();
        (
            snapshot,
            users(launch.launch_permissions().iter().map(|p| p.user_id()).collect()),
            users(
                volumes
                    .create_volume_permissions()
                    .iter()
                    .map(|p| p.user_id())
                    .collect(),
            ),
        )
    })
}

#[test]
fn a_region_in_another_account_gets_the_ami_shared_before_its_copy_and_a_rerun_adds_nothing() {
    let w = Accounts::new("sharedami");

    let r = w.run(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "share    would share the new AMI with account {OTHER} (eu-west-1)"
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("us-west-2: would share"), "{}", r.stderr);
    assert_eq!(
        w.proxy.count("ModifyImageAttribute") + w.proxy.count("ModifySnapshotAttribute"),
        0
    );

    let r = w.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let home = w.bake.outputs()["ami-id"].clone();
    let (snapshot, launch, volumes) = permissions(&home);
    assert_eq!(launch, vec![OTHER.to_string()], "launch permission of {home}");
    assert_eq!(
        volumes,
        vec![OTHER.to_string()],
        "create-volume permission of {snapshot}"
    );
    // One call each, with the home AMI, its snapshot and the other account (not the home's).
    let image = w.bodies("ModifyImageAttribute");
    assert_eq!(image.len(), 1, "{image:?}");
    assert!(image[0].contains(&format!("ImageId={home}")), "{image:?}");
    assert!(image[0].contains(&format!("UserId={OTHER}")), "{image:?}");
    let snap = w.bodies("ModifySnapshotAttribute");
    assert_eq!(snap.len(), 1, "{snap:?}");
    assert!(snap[0].contains(&format!("SnapshotId={snapshot}")), "{snap:?}");
    assert!(snap[0].contains("OperationType=add"), "{snap:?}");
    assert!(snap[0].contains(&format!("UserId.1={OTHER}")), "{snap:?}");
    // Both were answered before any copy was asked for.
    let calls = w.proxy.calls();
    let shared = calls
        .iter()
        .filter(|c| c.action.starts_with("Modify") && c.action.ends_with("Attribute"))
        .map(|c| c.answered)
        .max()
        .unwrap();
    let copies: Vec<usize> = calls
        .iter()
        .filter(|c| c.action == "CopyImage")
        .map(|c| c.arrived)
        .collect();
    assert_eq!(copies.len(), 2, "{:?}", w.proxy.mutations());
    assert!(
        copies.iter().all(|&c| c > shared),
        "shared at {shared}, copies at {copies:?}"
    );
    assert!(
        r.stderr
            .contains(&format!("share    {home} shared with account {OTHER} (eu-west-1)")),
        "{}",
        r.stderr
    );
    assert_eq!(amis_in("eu-west-1", &w.bake.sha).len(), 1);
    assert_eq!(template_in("eu-west-1", &w.bake.lt).1, 2);
    assert!(w
        .bake
        .dir
        .read("summary")
        .contains(&format!("shared with account {OTHER}")));

    // A rerun reads the permissions and adds nothing.
    let r = w.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.proxy.count("ModifyImageAttribute"), 1, "{:?}", w.proxy.mutations());
    assert_eq!(w.proxy.count("ModifySnapshotAttribute"), 1, "{:?}", w.proxy.mutations());
    assert!(
        r.stderr.contains(&format!(
            "share    {home} already shared with account {OTHER} (eu-west-1)"
        )),
        "{}",
        r.stderr
    );
    assert_eq!(permissions(&home).1, vec![OTHER.to_string()]);
    let r = w.run(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr
            .contains(&format!("eu-west-1: {home} is already shared with account {OTHER}")),
        "{}",
        r.stderr
    );
}

#[test]
fn a_snapshot_encrypted_with_the_default_key_stops_the_bake_before_any_share_or_copy() {
    let w = Accounts::new("sharekey");
    // EC2 reports the AMI's snapshot as encrypted with the default EBS key.
    w.proxy.rewrite("DescribeSnapshots", |body| {
        body.replace(
            "<encrypted>false</encrypted>",
            "<encrypted>true</encrypted><kmsKeyId>arn:aws:kms:us-east-1:123456789012:alias/aws/ebs</kmsKeyId>",
        )
    });
    let r = w.run(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is encrypted with the default EBS key (aws/ebs)"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains(&format!("account {OTHER} (region eu-west-1)")),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("customer managed KMS key"), "{}", r.stderr);
    assert_eq!(amis_in("us-east-1", &w.bake.sha).len(), 1, "the home AMI was baked");
    assert_eq!(w.proxy.count("DescribeSnapshots"), 1, "the rewrite was used");
    for action in [
        "ModifyImageAttribute",
        "ModifySnapshotAttribute",
        "CopyImage",
        "CreateLaunchTemplateVersion",
    ] {
        assert_eq!(w.proxy.count(action), 0, "{action}: {:?}", w.proxy.mutations());
    }
    assert!(amis_in("eu-west-1", &w.bake.sha).is_empty());
    assert!(
        amis_in("us-west-2", &w.bake.sha).is_empty(),
        "no copy into the home account either"
    );
    // A dry run refuses the same way, now that the AMI exists.
    let r = w.run(&["--dry-run"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains("is encrypted with the default EBS key"),
        "{}",
        r.stderr
    );
}
