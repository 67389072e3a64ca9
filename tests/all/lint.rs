//! action.yml, .github/workflows and workflows-templates pass actionlint, zizmor (pedantic
//! persona) and check-jsonschema against GitHub's vendored schemas; the scripts pass
//! shellcheck. scripts/lint-workflows.sh runs them all (as .ci/run does).

use std::process::Command;

use crate::support::{root, run, testbed};

#[test]
fn workflows_and_the_action_pass_every_linter() {
    let r = run(Command::new(root().join("scripts/lint-workflows.sh")).env("SLIPWAY_TESTBED", testbed()));
    assert!(
        !r.stderr.contains("is missing"),
        "a linter is missing: run scripts/testbed.sh\n{}",
        r.stderr
    );
    assert_eq!(r.code, 0, "findings:\n{}\n{}", r.stdout, r.stderr);
    // Nothing but the script's own progress lines: no finding, no warning.
    let text = r.all_text();
    let other: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with("lint-workflows: "))
        // zizmor's closing line; the ignored findings are the self-test's `uses: ./`.
        .filter(|l| !l.starts_with("No findings to report."))
        .collect();
    assert!(other.is_empty(), "the linters printed: {other:?}");
}
