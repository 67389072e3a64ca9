//! Snapshots of every binary's `--help`, so a changed or undocumented flag shows up in review.

use crate::support::{bin, run};

#[test]
fn every_binary_explains_its_flags() {
    for name in [
        "slipway-env",
        "slipway-build",
        "slipway-bake",
        "slipway-roll",
        "slipway-wait",
    ] {
        let r = run(bin(name).arg("--help").env("COLUMNS", "100"));
        assert_eq!(r.code, 0, "{name}: {}", r.stderr);
        assert!(
            r.stdout.contains("--config"),
            "{name} --help names --config:\n{}",
            r.stdout
        );
        insta::assert_snapshot!(format!("help_{name}"), r.stdout);
    }
}
