//! Tags and labels of a build: `sha-<short>`, the version, the environment and extra
//! tags (checked against the registry's tag grammar), build args, and the OCI labels.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// A tag as registries accept it: `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub fn valid_tag(tag: &str) -> bool {
    let mut chars = tag.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && tag.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// A derived name (version, environment) made into a valid tag: other characters become `-`.
pub fn sanitize(name: &str) -> String {
    let mut tag: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect();
    if tag.starts_with(['.', '-']) {
        tag.replace_range(0..1, "_");
    }
    tag
}

/// `sha-<full commit>`: the tag that proves an image is this commit's (a short commit
/// can be shared by two commits; the full one cannot).
pub fn commit_tag(sha: &str) -> String {
    sanitize(&format!("sha-{}", sha.to_ascii_lowercase()))
}

/// The tags in order, without repeats: the commit's (`sha-<short>` first, then the full
/// commit's), then version, environment, extras.
pub fn tags(commit: &[&str], version: &str, environment: Option<&str>, extra: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |t: String| {
        if !t.is_empty() && !out.contains(&t) {
            out.push(t);
        }
    };
    for tag in commit {
        push(tag.to_string());
    }
    push(sanitize(version));
    if let Some(env) = environment {
        push(sanitize(env));
    }
    for tag in extra {
        if !valid_tag(tag) {
            return Err(Error::input(
                format!("--tag {tag:?} is not a valid image tag"),
                "a tag is up to 128 letters, digits, `_`, `.` and `-`, and does not start with `.` or `-`",
            ));
        }
        push(tag.clone());
    }
    Ok(out)
}

/// `KEY=VALUE` build args.
pub fn build_args(args: &[String]) -> Result<HashMap<String, String>> {
    let mut out = HashMap::new();
    for arg in args {
        match arg.split_once('=') {
            Some((key, value)) if !key.trim().is_empty() => {
                out.insert(key.trim().to_string(), value.to_string());
            }
            _ => {
                return Err(Error::input(
                    format!("--build-arg {arg:?} is not KEY=VALUE"),
                    "write it as KEY=VALUE, e.g. --build-arg NODE_ENV=production",
                ))
            }
        }
    }
    Ok(out)
}

/// The OCI standard labels: revision, source, created (now, or SOURCE_DATE_EPOCH), version (and title).
pub fn oci_labels(app: &str, sha: &str, version: &str, source: Option<&str>) -> HashMap<String, String> {
    // SOURCE_DATE_EPOCH (reproducible builds) pins the time, so a rebuild is the same image.
    let created = match std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
    {
        Some(secs) => aws_sdk_ecr::primitives::DateTime::from_secs(secs),
        None => aws_sdk_ecr::primitives::DateTime::from(std::time::SystemTime::now()),
    }
    .fmt(aws_sdk_ecr::primitives::DateTimeFormat::DateTime)
    .unwrap_or_default();
    let mut labels = HashMap::from([
        ("org.opencontainers.image.revision".to_string(), sha.to_string()),
        ("org.opencontainers.image.created".to_string(), created),
        ("org.opencontainers.image.version".to_string(), version.to_string()),
        ("org.opencontainers.image.title".to_string(), app.to_string()),
    ]);
    if let Some(source) = source {
        labels.insert("org.opencontainers.image.source".to_string(), source.to_string());
    }
    labels
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_are_ordered_deduplicated_and_checked() {
        let full = commit_tag("0123456789ABCDEF0123456789abcdef01234567");
        assert_eq!(full, "sha-0123456789abcdef0123456789abcdef01234567");
        let t = tags(
            &["sha-0123456", &full],
            "v1.2.0",
            Some("prod"),
            &["latest".into(), "prod".into()],
        )
        .unwrap();
        assert_eq!(t, ["sha-0123456", full.as_str(), "v1.2.0", "prod", "latest"]);
        let t = tags(&["sha-0123456"], "0123456", Some("dev"), &[]).unwrap();
        assert_eq!(t, ["sha-0123456", "0123456", "dev"]);
        let err = tags(&["sha-0123456"], "v1", None, &["bad tag".into()]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("\"bad tag\""), "{err}");
        assert!(!valid_tag(".hidden"));
        assert!(!valid_tag(&"x".repeat(129)));
        assert!(valid_tag("v1.2.0_rc-1"));
    }

    #[test]
    fn derived_names_are_made_valid() {
        assert_eq!(sanitize("release/1.0"), "release-1.0");
        assert_eq!(sanitize("-x"), "_x");
    }

    #[test]
    fn build_args_need_an_equals_sign() {
        let args = build_args(&["A=1".into(), "B=x=y".into(), "C=".into()]).unwrap();
        assert_eq!(args["B"], "x=y");
        assert_eq!(args["C"], "");
        assert_eq!(build_args(&["NOPE".into()]).unwrap_err().exit_code(), 2);
        assert_eq!(build_args(&["=v".into()]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn labels_follow_the_oci_names() {
        let l = oci_labels("web", "abc", "v1", Some("https://github.com/o/web"));
        assert_eq!(l["org.opencontainers.image.revision"], "abc");
        assert_eq!(l["org.opencontainers.image.source"], "https://github.com/o/web");
        assert!(l["org.opencontainers.image.created"].ends_with('Z'));
    }
}
