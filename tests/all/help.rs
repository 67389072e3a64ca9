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

/// `--timeout 5` could mean seconds or minutes: every binary refuses it (exit 2) asking
/// for a unit before it does anything, and refuses a timeout of zero.
#[test]
fn a_duration_flag_without_a_unit_or_of_zero_is_refused() {
    for name in ["slipway-build", "slipway-bake", "slipway-roll", "slipway-wait"] {
        let r = run(bin(name).args(["--timeout", "5"]));
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(
            r.stderr
                .contains("\"5\" has no unit: write 5s for seconds or 5m for minutes"),
            "{name}: {}",
            r.stderr
        );
        let r = run(bin(name).args(["--timeout", "0s"]));
        assert_eq!(r.code, 2, "{name}: {}", r.stderr);
        assert!(r.stderr.contains("is zero"), "{name}: {}", r.stderr);
    }
}
