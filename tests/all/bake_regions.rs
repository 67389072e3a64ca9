//! slipway-bake on an environment in three regions, from one job: real Packer bakes in the
//! home region against moto, slipway copies the AMI into the other regions (CopyImage in
//! moto's per-region state, through the recording proxy) and puts each region's AMI into
//! that region's launch template. Everything is read back from moto, region by region.

use std::collections::BTreeMap;

use crate::bake::{amis_in, create_template, template_in, Bake};
use crate::support::proxy::{Denial, Proxy};
use crate::support::Run;

const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// A bake world whose environment lists three regions (eu-west-1 with a launch template
/// of its own name), with every AWS call of slipway going through a recording proxy.
struct Regional {
    bake: Bake,
    proxy: Proxy,
}

impl Regional {
    /// `missing`: a region whose launch template is not created.
    fn new(name: &str, missing: Option<&str>) -> Self {
        let bake = Bake::new(name, "");
        let lt = bake.lt.clone();
        bake.dir.write(
            "slipway.yml",
            &format!(
                "app: web\nenvironments:\n  dev:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      \
                 region: us-east-1\n    asg:\n      name: web-dev\n      launch_template: {lt}\n    regions:\n      \
                 - region: us-east-1\n      - region: us-west-2\n      - region: eu-west-1\n        \
                 asg: {{launch_template: {lt}-eu}}\n    waves:\n      - regions: [us-east-1]\n      \
                 - regions: [us-west-2, eu-west-1]\n"
            ),
        );
        for region in &REGIONS[1..] {
            if Some(*region) != missing {
                create_template(region, &Self::lt_name(&lt, region));
            }
        }
        let proxy = Proxy::start(&crate::support::moto::moto().endpoint, 0.0, 1);
        Regional { bake, proxy }
    }

    fn lt_name(lt: &str, region: &str) -> String {
        match region {
            "eu-west-1" => format!("{lt}-eu"),
            _ => lt.to_string(),
        }
    }

    fn run(&self, extra: &[&str]) -> Run {
        let mut cmd = self.bake.command(extra);
        cmd.env("AWS_ENDPOINT_URL", &self.proxy.endpoint);
        crate::support::run(&mut cmd)
    }

    /// region -> (id -> tags) of this commit's AMIs.
    fn amis(&self) -> BTreeMap<&'static str, BTreeMap<String, BTreeMap<String, String>>> {
        REGIONS.iter().map(|r| (*r, amis_in(r, &self.bake.sha))).collect()
    }

    /// region -> (default, latest, image of each version) of its launch template.
    fn templates(&self) -> BTreeMap<&'static str, (i64, i64, Vec<String>)> {
        REGIONS
            .iter()
            .map(|r| (*r, template_in(r, &Self::lt_name(&self.bake.lt, r))))
            .collect()
    }

    fn json_output(&self, name: &str) -> serde_json::Value {
        serde_json::from_str(&self.bake.outputs()[name]).unwrap()
    }
}

#[test]
fn one_bake_puts_one_ami_into_every_regions_launch_template_and_a_rerun_copies_nothing() {
    let w = Regional::new("threeregions", None);

    // A dry run says what would happen in each region and changes nothing.
    let r = w.run(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for region in &REGIONS[1..] {
        let lt = Regional::lt_name(&w.bake.lt, region);
        assert!(
            r.stderr
                .contains(&format!("region   {region}: would copy; template {lt} (lt-")),
            "{}",
            r.stderr
        );
    }
    assert!(r.stderr.contains("region   us-east-1: would bake"), "{}", r.stderr);
    assert_eq!(
        w.proxy
            .mutations()
            .iter()
            .filter(|m| *m != "AssumeRoleWithWebIdentity")
            .count(),
        0
    );
    assert!(w.amis().values().all(|a| a.is_empty()));

    let r = w.run(&[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let home = w.bake.outputs()["ami-id"].clone();
    let amis = w.json_output("amis");
    assert_eq!(amis.as_object().unwrap().len(), 3, "{amis}");
    assert_eq!(amis["us-east-1"], home.as_str());
    assert_eq!(w.proxy.count("CopyImage"), 2, "one copy per other region");

    // Every region holds one AMI of the commit, tagged like the source, and its launch
    // template has a version 2 naming that region's AMI.
    let found = w.amis();
    let source_tags = found["us-east-1"][&home].clone();
    assert_eq!(source_tags["slipway:build"], "amazon-ebs.web");
    let versions = w.json_output("launch-template-versions");
    let templates = w.templates();
    for region in REGIONS {
        let ami = amis[region].as_str().unwrap().to_string();
        assert_eq!(found[region].len(), 1, "{region}: {found:?}");
        let tags = &found[region][&ami];
        for (key, value) in &source_tags {
            assert_eq!(tags.get(key), Some(value), "{region} {key}: {tags:?}");
        }
        if region != "us-east-1" {
            assert_ne!(ami, home);
            assert_eq!(tags["slipway:source-ami"], home, "{region}");
            assert_eq!(tags["slipway:source-region"], "us-east-1", "{region}");
        }
        assert_eq!(
            templates[region],
            (1, 2, vec!["ami-03cf127a".into(), ami.clone()]),
            "{region}"
        );
        assert_eq!(versions[region], 2, "{versions}");
    }
    let summary = w.bake.dir.read("summary");
    for region in &REGIONS[1..] {
        assert!(
            summary.contains(&format!(
                "| {region} | `{}` | copied |",
                amis[*region].as_str().unwrap()
            )),
            "{summary}"
        );
    }
    assert!(
        summary.contains(&format!("| us-east-1 | `{home}` | baked |")),
        "{summary}"
    );

    // A rerun (making the versions the defaults) bakes and copies nothing: it finds every
    // region's AMI by its tags and the version that carries it.
    std::fs::remove_file(w.bake.dir.path().join("output")).unwrap();
    let r = w.run(&["--set-default"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(w.proxy.count("CopyImage"), 2, "no CopyImage on a rerun");
    assert!(!r.stderr.contains("::group::packer build"), "{}", r.stderr);
    assert_eq!(w.json_output("amis"), amis);
    assert_eq!(w.bake.outputs()["result"], "skipped");
    for (region, (default, latest, _)) in w.templates() {
        assert_eq!((default, latest), (2, 2), "{region}");
    }
    assert_eq!(w.amis().values().map(|a| a.len()).sum::<usize>(), 3);

    // And a dry run now says each region's AMI would be reused.
    let r = w.run(&["--dry-run"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    for region in &REGIONS[1..] {
        assert!(
            r.stderr.contains(&format!(
                "region   {region}: would reuse {}",
                amis[*region].as_str().unwrap()
            )),
            "{}",
            r.stderr
        );
    }
}

#[test]
fn a_region_without_its_launch_template_stops_the_bake_before_packer_runs() {
    let w = Regional::new("regionnolt", Some("eu-west-1"));
    let r = w.run(&[]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "region eu-west-1: launch template \"{}-eu\" does not exist in eu-west-1",
            w.bake.lt
        )),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("amazon-ebs.web: Creating AMI"), "{}", r.stderr);
    assert!(w.amis().values().all(|a| a.is_empty()), "nothing baked or copied");
    assert_eq!(w.proxy.count("CopyImage"), 0);
    for region in &REGIONS[..2] {
        assert_eq!(template_in(region, &w.bake.lt).1, 1, "{region}");
    }
}

#[test]
fn a_refused_copy_names_its_region_and_changes_no_launch_template() {
    let w = Regional::new("copyrefused", None);
    w.proxy.deny_in("CopyImage", "eu-west-1", Denial::Protocol);
    let r = w.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("region eu-west-1: copying ami-"), "{}", r.stderr);
    assert!(r.stderr.contains("UnauthorizedOperation"), "{}", r.stderr);
    assert!(
        r.stderr.contains("no launch template was changed in any region"),
        "{}",
        r.stderr
    );
    let found = w.amis();
    assert!(found["eu-west-1"].is_empty(), "no AMI in eu-west-1: {found:?}");
    // The finished copy stays (a rerun reuses it); no template got a version.
    assert_eq!(found["us-west-2"].len(), 1, "{found:?}");
    for (region, (_, latest, _)) in w.templates() {
        assert_eq!(latest, 1, "{region}");
    }
    assert_eq!(w.proxy.count("CreateLaunchTemplateVersion"), 0);

    // Once the copy is allowed, a rerun copies only to eu-west-1.
    let allowed = Proxy::start(&crate::support::moto::moto().endpoint, 0.0, 2);
    let mut cmd = w.bake.command(&[]);
    cmd.env("AWS_ENDPOINT_URL", &allowed.endpoint);
    let r = crate::support::run(&mut cmd);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(allowed.count("CopyImage"), 1, "only the region that had none");
    for (region, (_, latest, _)) in w.templates() {
        assert_eq!(latest, 2, "{region}");
    }
}

#[test]
fn a_copy_that_ends_failed_is_deregistered_and_changes_no_launch_template() {
    let w = Regional::new("copyfailed", None);
    // EC2 reports every copy slipway makes (its description says so) as failed.
    copies_end(&w, "failed");
    let r = w.run(&[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("the copy ended failed"), "{}", r.stderr);
    assert!(r.stderr.contains("was deregistered"), "{}", r.stderr);
    assert_eq!(w.proxy.count("DeregisterImage"), 2, "{:?}", w.proxy.mutations());
    let found = w.amis();
    assert!(
        found["us-west-2"].is_empty() && found["eu-west-1"].is_empty(),
        "{found:?}"
    );
    assert_eq!(found["us-east-1"].len(), 1, "the home AMI stays");
    for (region, (_, latest, _)) in w.templates() {
        assert_eq!(latest, 1, "{region}");
    }
}

#[test]
fn a_copy_still_pending_at_the_timeout_is_deregistered_and_exits_3() {
    let w = Regional::new("copytimeout", None);
    // EC2 reports every copy slipway makes as pending, for ever.
    copies_end(&w, "pending");
    let r = w.run(&["--timeout", "40s"]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert!(r.stderr.contains("--timeout 40.0s passed"), "{}", r.stderr);
    assert!(r.stderr.contains("was deregistered"), "{}", r.stderr);
    assert_eq!(w.proxy.count("DeregisterImage"), 2, "{:?}", w.proxy.mutations());
    let found = w.amis();
    assert!(
        found["us-west-2"].is_empty() && found["eu-west-1"].is_empty(),
        "{found:?}"
    );
    for (region, (_, latest, _)) in w.templates() {
        assert_eq!(latest, 1, "{region}");
    }
}

/// EC2 reports every copy slipway makes (its description says so) in `state`.
fn copies_end(w: &Regional, state: &'static str) {
    w.proxy.rewrite("DescribeImages", move |body| {
        if body.contains("copy of ami-") {
            body.replace(
                "<imageState>available</imageState>",
                &format!("<imageState>{state}</imageState>"),
            )
        } else {
            body.to_string()
        }
    });
}
