//! Unit tests of the trigger table: the default rules row by row, and custom rules.

use super::*;

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";
const KNOWN: &[&str] = &["dev", "stage", "prod", "qa"];

fn event(name: &str, git_ref: &str) -> Event {
    Event {
        name: name.into(),
        git_ref: git_ref.into(),
        sha: SHA.into(),
        ..Event::default()
    }
}

fn resolve_default(e: &Event) -> Resolution {
    resolve(&default_rules(), e, KNOWN).unwrap()
}

#[test]
fn default_push_to_feature_branch_is_test_and_plan_only() {
    for branch in ["feature/login", "fix-1", "release/2.0", "mainline"] {
        let r = resolve_default(&event("push", &format!("refs/heads/{branch}")));
        assert!(!r.deploy, "{branch}");
        assert_eq!(r.environment, None);
        assert_eq!(r.version, "0123456");
        assert!(r.reason.contains("test and plan only"), "{}", r.reason);
    }
}

#[test]
fn default_workflow_dispatch_is_dev() {
    let r = resolve_default(&event("workflow_dispatch", "refs/heads/feature/x"));
    assert!(r.deploy);
    assert_eq!(r.environment.as_deref(), Some("dev"));
    assert_eq!(r.version, "0123456");
}

#[test]
fn default_workflow_dispatch_honours_the_environment_input() {
    let mut e = event("workflow_dispatch", "refs/heads/main");
    e.inputs.insert("environment".into(), "qa".into());
    let r = resolve_default(&e);
    assert_eq!(r.environment.as_deref(), Some("qa"));
    assert!(r.reason.contains("input environment=qa"), "{}", r.reason);
    // An empty input falls back to the rule's environment.
    e.inputs.insert("environment".into(), " ".into());
    assert_eq!(resolve_default(&e).environment.as_deref(), Some("dev"));
}

#[test]
fn default_workflow_dispatch_with_unknown_environment_is_bad_input() {
    let mut e = event("workflow_dispatch", "refs/heads/main");
    e.inputs.insert("environment".into(), "prdo".into());
    let err = resolve(&default_rules(), &e, KNOWN).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("\"prdo\""), "{err}");
    assert!(err.help().unwrap().contains("dev, stage, prod, qa"));
}

#[test]
fn default_push_to_main_is_stage() {
    let r = resolve_default(&event("push", "refs/heads/main"));
    assert!(r.deploy);
    assert_eq!(r.environment.as_deref(), Some("stage"));
    assert_eq!(r.version, "0123456");
    assert_eq!(r.rule, Some(2));
}

/// A pre-release tag (semver's `-`) is a release candidate: it goes to stage, never prod.
#[test]
fn default_pre_release_tags_go_to_stage_not_prod() {
    for tag in ["v1.2.3-rc1", "v2.0.0-beta.2"] {
        let r = resolve_default(&event("push", &format!("refs/tags/{tag}")));
        assert!(r.deploy, "{tag}");
        assert_eq!(r.environment.as_deref(), Some("stage"), "{tag}");
        assert_eq!(r.version, tag);
    }
}

#[test]
fn default_tag_v_is_prod_with_the_tag_as_version() {
    let r = resolve_default(&event("push", "refs/tags/v1.2.0"));
    assert!(r.deploy);
    assert_eq!(r.environment.as_deref(), Some("prod"));
    assert_eq!(r.version, "v1.2.0");
}

#[test]
fn default_other_tags_do_not_deploy() {
    let r = resolve_default(&event("push", "refs/tags/release-3"));
    assert!(!r.deploy);
    assert_eq!(r.version, "release-3");
    assert!(r.reason.contains("matches no trigger rule"), "{}", r.reason);
}

#[test]
fn default_pull_request_is_plan_only() {
    let mut e = event("pull_request", "refs/pull/7/merge");
    e.base_ref = Some("main".into());
    let r = resolve_default(&e);
    assert!(!r.deploy);
    assert_eq!(r.rule, Some(5));
    assert!(r.reason.starts_with("pull_request into main"), "{}", r.reason);
}

#[test]
fn unknown_events_do_not_deploy() {
    let r = resolve_default(&event("issue_comment", "refs/heads/main"));
    assert!(!r.deploy);
    assert_eq!(r.rule, None);
}

fn rule(event: EventName, branches: &[&str], tags: &[&str], env: Option<&str>) -> TriggerRule {
    TriggerRule {
        event,
        branches: branches.iter().map(|s| s.to_string()).collect(),
        tags: tags.iter().map(|s| s.to_string()).collect(),
        environment: env.map(str::to_string),
        input: None,
    }
}

#[test]
fn custom_rules_match_in_order_with_github_glob_semantics() {
    let rules = vec![
        rule(EventName::Push, &["release/*", "!release/old*"], &[], Some("stage")),
        rule(EventName::Push, &["hotfix/**"], &[], Some("qa")),
        rule(EventName::Push, &[], &["v[0-9]*.*.*", "!*-rc*"], Some("prod")),
        rule(EventName::Push, &[], &["v*-rc*"], Some("stage")),
    ];
    let env = |r: &str| resolve(&rules, &event("push", r), KNOWN).unwrap().environment;
    assert_eq!(env("refs/heads/release/2.0").as_deref(), Some("stage"));
    // `*` stops at a slash; `**` does not.
    assert_eq!(env("refs/heads/release/2.0/x"), None);
    assert_eq!(env("refs/heads/hotfix/a/b").as_deref(), Some("qa"));
    // `!` excludes.
    assert_eq!(env("refs/heads/release/old-1"), None);
    assert_eq!(env("refs/tags/v2.0.1").as_deref(), Some("prod"));
    assert_eq!(env("refs/tags/v2.0.1-rc1").as_deref(), Some("stage"));
    // Branch globs never match tags and the other way round.
    assert_eq!(env("refs/tags/release/2.0"), None);
    assert_eq!(env("refs/heads/v2.0.1"), None);
}

#[test]
fn pull_request_rules_match_the_base_branch() {
    let rules = vec![rule(EventName::PullRequest, &["main"], &[], Some("dev"))];
    let mut e = event("pull_request", "refs/pull/9/merge");
    e.base_ref = Some("main".into());
    assert_eq!(resolve(&rules, &e, KNOWN).unwrap().environment.as_deref(), Some("dev"));
    e.base_ref = Some("develop".into());
    assert!(!resolve(&rules, &e, KNOWN).unwrap().deploy);
}

#[test]
fn a_bad_glob_is_bad_input() {
    let rules = vec![rule(EventName::Push, &["feature/[abc"], &[], Some("dev"))];
    let err = resolve(&rules, &event("push", "refs/heads/x"), KNOWN).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(err.to_string().contains("feature/[abc"), "{err}");
}

#[test]
fn version_is_tag_or_short_sha() {
    assert_eq!(event("push", "refs/tags/2024.1").version(), "2024.1");
    assert_eq!(event("workflow_dispatch", "refs/heads/main").version(), "0123456");
}

#[test]
fn a_deleted_ref_never_deploys_whatever_the_rules_say() {
    let catch_all = vec![TriggerRule {
        event: EventName::Push,
        branches: vec!["**".into()],
        tags: vec!["**".into()],
        environment: Some("prod".into()),
        input: None,
    }];
    for git_ref in ["refs/tags/v1.2.0", "refs/heads/main"] {
        let mut e = event("push", git_ref);
        assert!(resolve_default(&e).deploy, "{git_ref} deploys while it exists");
        e.deleted = true;
        for rules in [default_rules(), catch_all.clone()] {
            let r = resolve(&rules, &e, KNOWN).unwrap();
            assert!(!r.deploy, "{git_ref}");
            assert_eq!(r.environment, None);
            assert!(r.reason.ends_with("deletes the ref: no deploy"), "{}", r.reason);
        }
    }
}
