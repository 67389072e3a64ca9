//! The parser on real outputs of Packer 1.6.6 building against moto (tests/fixtures/packer).

use super::*;

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/packer")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn artifact(build: &str, region: &str, ami: &str) -> Artifact {
    Artifact {
        build: build.into(),
        builder_id: "mitchellh.amazonebs".into(),
        region: region.into(),
        ami_id: ami.into(),
    }
}

#[test]
fn one_build_gives_one_ami() {
    let s = summarize(&fixture("build-one.out"));
    assert_eq!(
        s.artifacts,
        vec![artifact("amazon-ebs.web", "us-east-1", "ami-ccfd0d5d02d68684b")]
    );
    assert!(s.messages().is_empty());
}

#[test]
fn two_builds_and_a_copied_region_give_three_amis() {
    // The id of a copied AMI is `us-east-1:ami-..%!(PACKER_COMMA)us-west-2:ami-..`.
    let s = summarize(&fixture("build-two-builds-two-regions.out"));
    assert_eq!(
        s.artifacts,
        vec![
            artifact("amazon-ebs.worker", "us-east-1", "ami-0af633169d7bfbb80"),
            artifact("amazon-ebs.web", "us-east-1", "ami-75f9200402a0d30c4"),
            artifact("amazon-ebs.web", "us-west-2", "ami-eb4b9bece1dc7863b"),
        ]
    );
}

#[test]
fn escaped_commas_and_newlines_are_restored() {
    let text = fixture("build-one.out");
    let tag = text
        .lines()
        .filter_map(Line::parse)
        .find_map(|l| l.ui().map(|(_, t)| t.to_string()).filter(|t| t.contains("\"Note\"")))
        .unwrap();
    assert_eq!(tag, "    amazon-ebs.web: Adding tag: \"Note\": \"a, b, and c\"");
    let last = text.lines().rev().find_map(Line::parse).unwrap();
    assert_eq!(
        last.ui(),
        Some((
            UiLevel::Say,
            "--> amazon-ebs.web: AMIs were created:\nus-east-1: ami-ccfd0d5d02d68684b\n"
        ))
    );
    assert_eq!(
        readable(last.ui().unwrap().1).collect::<Vec<_>>(),
        vec![
            "--> amazon-ebs.web: AMIs were created:",
            "us-east-1: ami-ccfd0d5d02d68684b"
        ]
    );
}

#[test]
fn a_failing_provisioner_gives_packers_message_and_no_ami() {
    let s = summarize(&fixture("build-provisioner-fails.out"));
    assert!(s.artifacts.is_empty());
    assert_eq!(
        s.messages(),
        vec!["amazon-ebs.web: Script exited with non-zero exit status: 3.Allowed exit codes are: [0]"]
    );
    // The script's stderr and the build's end are annotated; Packer's recap is not.
    assert_eq!(s.ui_errors.len(), 2, "{:?}", s.ui_errors);
    assert_eq!(s.ui_errors[0], "==> amazon-ebs.web: disk full");
    assert!(s.ui_errors[1].starts_with("Build 'amazon-ebs.web' errored after"));
}

#[test]
fn a_missing_source_ami_keeps_the_multiline_aws_error() {
    let s = summarize(&fixture("build-source-ami-missing.out"));
    assert!(s.artifacts.is_empty());
    assert_eq!(
        s.messages(),
        vec![
            "amazon-ebs.web: Error querying AMI: InvalidAMIID.NotFound: The image id '[ami-00000000]' does not \
             exist\n\tstatus code: 400, request id: request-id"
        ]
    );
}

#[test]
fn validate_errors_come_from_ui_lines() {
    let s = summarize(&fixture("validate-syntax-error.out"));
    let messages = s.messages();
    assert_eq!(messages.len(), 1);
    assert!(
        messages[0].starts_with("Error: Missing newline after argument"),
        "{messages:?}"
    );
    assert!(messages[0].contains("on bad.pkr.hcl line 26, in build:"));

    let s = summarize(&fixture("validate-missing-template.out"));
    assert!(s.messages()[0].contains("stat missing.pkr.hcl: no such file or directory"));
}

#[test]
fn an_interrupted_build_has_no_artifact() {
    let s = summarize(&fixture("build-interrupted.out"));
    assert!(s.artifacts.is_empty());
    let last = fixture("build-interrupted.out")
        .lines()
        .rev()
        .find_map(Line::parse)
        .unwrap();
    assert_eq!(
        last.ui().unwrap().1,
        "Cleanly cancelled builds after being interrupted."
    );
}

#[test]
fn lines_that_are_not_machine_readable_are_left_alone() {
    assert_eq!(Line::parse("panic: runtime error"), None);
    assert_eq!(Line::parse(""), None);
    assert_eq!(Line::parse("12,,"), None);
    let l = Line::parse("12,,ui,say,\r\n").unwrap();
    assert_eq!(l.ui(), Some((UiLevel::Say, "")));
}

#[test]
fn artifacts_that_are_not_amis_are_ignored() {
    let text = "1,manifest,artifact,0,builder-id,packer.post-processor.manifest\n\
                1,manifest,artifact,0,id,packer-manifest.json\n1,manifest,artifact,0,end\n";
    assert!(summarize(text).artifacts.is_empty());
}

#[test]
fn versions_from_machine_readable_and_plain_output() {
    assert_eq!(
        version("1795333535,,version,1.6.6\n1795333535,,version-prelease,\n"),
        Some((1, 6, 6))
    );
    assert_eq!(version("Packer v1.11.2\n"), Some((1, 11, 2)));
    assert_eq!(version("Packer v1.4.5-dev\n"), Some((1, 4, 5)));
    assert_eq!(version("nonsense"), None);
}
