//! Snapshots of what a multi-region bake shows: the text report, the step summary, the
//! GITHUB_OUTPUT pairs and the JSON outcome, one per result kind (baked with copies and a
//! reused region, and a dry run), so a wrong row shows up in review.

use slipway::ami::{report, Artifact, How, Outcome, RegionResult, Status, TemplateChange};

fn template(region: &str, version: Option<i64>, created: bool) -> TemplateChange {
    let id = match region {
        "us-east-1" => "lt-0aaa",
        "us-west-2" => "lt-0bbb",
        _ => "lt-0ccc",
    };
    TemplateChange {
        id: id.into(),
        name: "web".into(),
        source_version: 1,
        version,
        created,
        default: false,
    }
}

fn row(region: &str, ami: Option<&str>, how: How, seconds: f64, version: Option<i64>, created: bool) -> RegionResult {
    RegionResult {
        region: region.into(),
        ami_id: ami.map(str::to_string),
        how,
        seconds,
        launch_template: Some(template(region, version, created)),
    }
}

fn outcome(result: Status, regions: Vec<RegionResult>) -> Outcome {
    let home = regions[0].ami_id.clone();
    Outcome {
        result,
        app: "web".into(),
        environment: "prod".into(),
        version: "v1.4.0".into(),
        commit: "0123456789abcdef0123456789abcdef01234567".into(),
        region: "us-east-1".into(),
        packer_version: "1.6.6".into(),
        template: "ami.pkr.hcl".into(),
        amis: home
            .iter()
            .map(|ami| Artifact {
                build: "amazon-ebs.web".into(),
                builder_id: "mitchellh.amazonebs".into(),
                region: "us-east-1".into(),
                ami_id: ami.clone(),
            })
            .collect(),
        ami_id: home,
        launch_template: regions[0].launch_template.clone(),
        regions,
        shares: Vec::new(),
    }
}

fn rendered(o: &Outcome) -> String {
    let outputs: Vec<String> = report::outputs(o).iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!(
        "--- text\n{}\n--- step summary\n{}\n--- outputs\n{}\n\n--- json\n{}\n",
        report::text(o),
        report::markdown(o),
        outputs.join("\n"),
        serde_json::to_string_pretty(o).unwrap()
    )
}

#[test]
fn three_regions_baked_copied_and_reused() {
    let o = outcome(
        Status::Baked,
        vec![
            row("us-east-1", Some("ami-0home"), How::Baked, 312.0, Some(7), true),
            row("us-west-2", Some("ami-0copy"), How::Copied, 245.0, Some(4), true),
            row("eu-west-1", Some("ami-0earlier"), How::Reused, 1.0, Some(3), false),
        ],
    );
    insta::assert_snapshot!("three_regions_baked", rendered(&o));
}

#[test]
fn three_regions_dry_run() {
    let o = outcome(
        Status::DryRun,
        vec![
            row("us-east-1", None, How::WouldBake, 0.0, None, false),
            row("us-west-2", None, How::WouldCopy, 0.0, None, false),
            row("eu-west-1", Some("ami-0earlier"), How::Reused, 0.0, None, false),
        ],
    );
    insta::assert_snapshot!("three_regions_dry_run", rendered(&o));
}

#[test]
fn three_regions_one_in_another_account_shared() {
    let mut o = outcome(
        Status::Baked,
        vec![
            row("us-east-1", Some("ami-0home"), How::Baked, 312.0, Some(7), true),
            row("us-west-2", Some("ami-0copy"), How::Copied, 245.0, Some(4), true),
            row("eu-west-1", Some("ami-0other"), How::Copied, 260.0, Some(2), true),
        ],
    );
    o.shares = vec![slipway::ami::Share {
        account: "210987654321".into(),
        regions: vec!["eu-west-1".into()],
        ami_id: Some("ami-0home".into()),
        snapshots: vec!["snap-0home".into()],
        added: true,
    }];
    insta::assert_snapshot!("three_regions_one_in_another_account_shared", rendered(&o));
}
