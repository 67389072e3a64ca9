//! Checks of the Auto Scaling blue/green settings (`asg.strategy: blue_green`): two
//! distinct groups, one listener or rule, weight steps ascending to 100.

use super::{Problems, MAX_BAKE};
use crate::config::{Asg, Strategy};

pub(super) fn check(p: &mut Problems, name: &str, asg: &Asg) {
    let path = |key: &'static str| ["environments", name, "asg", key];
    if asg.strategy != Strategy::BlueGreen {
        if asg.name.trim().is_empty() {
            p.add(
                &["environments", name, "asg"],
                format!("environment {name:?}: asg.name is missing"),
                "set asg.name to the Auto Scaling group (or `strategy: blue_green` with asg.groups)",
            );
        }
        let stray = [
            ("groups", !asg.groups.is_empty()),
            ("listener", asg.listener.is_some()),
            ("listener_rule", asg.listener_rule.is_some()),
            ("keep_old", asg.keep_old.is_some()),
        ];
        for (key, set) in stray {
            if set {
                p.add(
                    &path(key),
                    format!("environment {name:?}: asg.{key} is set but asg.strategy is not blue_green"),
                    format!("set `strategy: blue_green` or remove asg.{key}"),
                );
            }
        }
        return;
    }
    if !asg.name.is_empty() {
        p.add(
            &path("name"),
            format!(
                "environment {name:?}: asg.name {:?} is set but blue_green rolls the two asg.groups",
                asg.name
            ),
            "remove asg.name and list both groups in asg.groups: [web-a, web-b]",
        );
    }
    let distinct = asg.groups.len() == 2 && asg.groups[0] != asg.groups[1];
    if !distinct || asg.groups.iter().any(|g| g.trim().is_empty()) {
        p.add(
            &path("groups"),
            format!(
                "environment {name:?}: asg.groups {:?} is not two distinct Auto Scaling groups",
                asg.groups
            ),
            "list exactly two groups sharing asg.launch_template, e.g. `groups: [web-a, web-b]`",
        );
    }
    match (&asg.listener, &asg.listener_rule) {
        (Some(_), Some(_)) | (None, None) => p.add(
            &path("strategy"),
            format!(
                "environment {name:?}: blue_green needs exactly one of asg.listener and asg.listener_rule (it has {})",
                if asg.listener.is_some() { "both" } else { "neither" }
            ),
            "give the ARN of the listener (or of the listener rule) whose forward action weighs both groups' target groups",
        ),
        (Some(arn), None) if !arn.starts_with("arn:") || !arn.contains(":listener/") => p.add(
            &path("listener"),
            format!("environment {name:?}: asg.listener {arn:?} is not a listener ARN"),
            "use arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener/app/LB/ID/ID",
        ),
        (None, Some(arn)) if !arn.starts_with("arn:") || !arn.contains(":listener-rule/") => p.add(
            &path("listener_rule"),
            format!("environment {name:?}: asg.listener_rule {arn:?} is not a listener rule ARN"),
            "use arn:aws:elasticloadbalancing:REGION:ACCOUNT:listener-rule/app/LB/ID/ID/ID",
        ),
        _ => {}
    }
    let ascending = asg.steps.windows(2).all(|w| w[0] < w[1]);
    let in_range = asg.steps.iter().all(|s| (1..=100).contains(s));
    if asg.steps.last() != Some(&100) || !ascending || !in_range {
        p.add(
            &path("steps"),
            format!("environment {name:?}: asg.steps {:?} do not climb to 100", asg.steps),
            "list percentages from 1 to 100 in ascending order, ending with 100, e.g. [10, 50, 100] or [100]",
        );
    }
    if asg.step_bake.std() > MAX_BAKE {
        p.add(
            &path("step_bake"),
            format!(
                "environment {name:?}: asg.step_bake {} is longer than 48h",
                asg.step_bake
            ),
            "use 0 to 48h",
        );
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    fn problems(asg: &str) -> String {
        let text = format!(
            "app: web\nenvironments:\n  prod:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: eu-west-1\n    asg:\n{asg}"
        );
        match crate::config::parse(Path::new("slipway.yml"), text) {
            Ok(_) => String::new(),
            Err(e) => e.render(),
        }
    }

    const LISTENER: &str =
        "      listener: arn:aws:elasticloadbalancing:eu-west-1:123456789012:listener/app/web/0123456789abcdef/0123456789abcdef\n";

    #[test]
    fn a_blue_green_environment_names_two_groups_and_one_listener() {
        let ok = format!("      strategy: blue_green\n      groups: [web-a, web-b]\n{LISTENER}      steps: [10, 50, 100]\n      step_bake: 2m\n      keep_old: 30m\n");
        assert_eq!(problems(&ok), "");
        let same = problems(&format!(
            "      strategy: blue_green\n      groups: [web-a, web-a]\n{LISTENER}"
        ));
        assert!(
            same.contains("asg.groups [\"web-a\", \"web-a\"] is not two distinct"),
            "{same}"
        );
        let none = problems("      strategy: blue_green\n      groups: [web-a, web-b]\n");
        assert!(
            none.contains("exactly one of asg.listener and asg.listener_rule (it has neither)"),
            "{none}"
        );
        let named = problems(&format!(
            "      name: web\n      strategy: blue_green\n      groups: [a, b]\n{LISTENER}"
        ));
        assert!(named.contains("asg.name \"web\" is set but blue_green"), "{named}");
    }

    #[test]
    fn weight_steps_climb_to_100() {
        for steps in ["[50, 10, 100]", "[10, 50]", "[0, 100]", "[]", "[10, 10, 100]"] {
            let e = problems(&format!(
                "      strategy: blue_green\n      groups: [a, b]\n{LISTENER}      steps: {steps}\n"
            ));
            assert!(
                e.contains("do not climb to 100") && e.contains("ending with 100"),
                "{steps}: {e}"
            );
        }
    }

    #[test]
    fn blue_green_keys_belong_to_blue_green() {
        let e = problems(&format!("      name: web\n{LISTENER}"));
        assert!(
            e.contains("asg.listener is set but asg.strategy is not blue_green"),
            "{e}"
        );
        let e = problems("      strategy: surge\n      groups: [a, b]\n");
        assert!(
            e.contains("asg.name is missing") && e.contains("asg.groups is set"),
            "{e}"
        );
    }
}
