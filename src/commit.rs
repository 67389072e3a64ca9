//! Commit ids: the one check every binary applies to `--sha` / `GITHUB_SHA`, the short
//! form of a commit, and the version a ref and commit stand for (the tag, else the short commit).

use crate::config::limits::excerpt;
use crate::error::{Error, Result};

/// How many characters of a commit the short form keeps (as `git rev-parse --short`).
pub const SHORT_LEN: usize = 7;

/// Checks that `sha` is a full git commit id: 40 hex digits (SHA-1) or 64 (SHA-256), not
/// all zeros (git's "no commit"). Returns it in lowercase. `source` names where it came
/// from, for the message (e.g. `--sha`).
pub fn check(sha: &str, source: &str) -> Result<String> {
    let shown = excerpt(sha);
    let fix = "pass the full commit id, e.g. --sha \"$(git rev-parse HEAD)\" (GITHUB_SHA in Actions)";
    if !sha.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(Error::input(
            format!("{source} {shown} is not a git commit id: it has characters other than 0-9 and a-f"),
            fix,
        ));
    }
    if sha.len() != 40 && sha.len() != 64 {
        return Err(Error::input(
            format!(
                "{source} {shown} is not a git commit id: it has {} hex digits, a commit has 40 (or 64 in a SHA-256 repository)",
                sha.len()
            ),
            fix,
        ));
    }
    if sha.bytes().all(|b| b == b'0') {
        return Err(Error::input(
            format!("{source} {shown} is the all-zero id git uses for \"no commit\""),
            "pass the commit being deployed (a deleted ref has none)",
        ));
    }
    Ok(sha.to_ascii_lowercase())
}

/// The first 7 characters of a commit (all of it when shorter); never splits a character.
pub fn short(sha: &str) -> &str {
    match sha.char_indices().nth(SHORT_LEN) {
        Some((end, _)) => &sha[..end],
        None => sha,
    }
}

/// The version a deploy of `sha` from `git_ref` stands for: the tag for `refs/tags/...`,
/// the short commit otherwise.
pub fn version(git_ref: Option<&str>, sha: &str) -> String {
    match git_ref
        .and_then(|r| r.strip_prefix("refs/tags/"))
        .filter(|t| !t.is_empty())
    {
        Some(tag) => tag.to_string(),
        None => short(sha).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn full_commits_pass_in_lowercase() {
        assert_eq!(check(SHA, "--sha").unwrap(), SHA);
        assert_eq!(check(&SHA.to_uppercase(), "--sha").unwrap(), SHA);
        let sha256 = "ab".repeat(32);
        assert_eq!(check(&sha256, "--sha").unwrap(), sha256);
    }

    #[test]
    fn anything_else_is_bad_input_naming_the_source_and_value() {
        let long = "a".repeat(200);
        let zeros = "0".repeat(40);
        let cases = [
            ("abc1234", "7 hex digits"),
            (long.as_str(), "150 more characters"),
            (zeros.as_str(), "all-zero"),
            ("ééééééééééééééééééééééééééééééééééééééé", "other than 0-9"),
            ("not-a-sha", "other than 0-9"),
            ("", "0 hex digits"),
        ];
        for (bad, why) in cases {
            let err = check(bad, "GITHUB_SHA").unwrap_err();
            assert_eq!(err.exit_code(), 2);
            let text = err.render();
            assert!(text.contains("GITHUB_SHA \""), "{text}");
            assert!(text.contains(why), "{bad}: {text}");
            assert!(text.contains("help:"), "{text}");
        }
    }

    #[test]
    fn short_never_splits_a_character() {
        assert_eq!(short(SHA), "0123456");
        assert_eq!(short("abc"), "abc");
        assert_eq!(short("ééééééééé"), "ééééééé");
    }

    #[test]
    fn version_is_the_tag_or_the_short_commit() {
        assert_eq!(version(Some("refs/tags/v1.2.0"), SHA), "v1.2.0");
        assert_eq!(version(Some("refs/heads/main"), SHA), "0123456");
        assert_eq!(version(Some("refs/tags/"), SHA), "0123456");
        assert_eq!(version(None, SHA), "0123456");
    }
}
