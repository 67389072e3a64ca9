//! Workflow commands: `::group::`, `::error::`/`::warning::` annotations with file and
//! line, and `::add-mask::`, escaped the way the runner expects.

use crate::error::Location;

/// Escapes a command's message: `%`, CR and LF.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25").replace('\r', "%0D").replace('\n', "%0A")
}

/// Escapes a command property value: also `:` and `,`.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// The severity of an annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Error,
    Warning,
    Notice,
}

/// `::error file=...,line=...,col=...,title=...::message`.
pub fn annotation(level: Level, message: &str, title: Option<&str>, location: Option<&Location>) -> String {
    let name = match level {
        Level::Error => "error",
        Level::Warning => "warning",
        Level::Notice => "notice",
    };
    let mut props = Vec::new();
    if let Some(loc) = location {
        props.push(format!("file={}", escape_property(&loc.file.to_string_lossy())));
        props.push(format!("line={}", loc.line));
        if let Some(col) = loc.column {
            props.push(format!("col={col}"));
        }
    }
    if let Some(title) = title {
        props.push(format!("title={}", escape_property(title)));
    }
    let props = if props.is_empty() {
        String::new()
    } else {
        format!(" {}", props.join(","))
    };
    format!("::{name}{props}::{}", escape_data(message))
}

/// `::add-mask::` lines for a secret. A multi-line secret is masked line by line as
/// well as whole, since the runner masks per line.
pub fn add_mask(secret: &str) -> Vec<String> {
    let mut out = Vec::new();
    if secret.trim().is_empty() {
        return out;
    }
    out.push(format!("::add-mask::{}", escape_data(secret)));
    if secret.contains('\n') {
        for line in secret.lines().filter(|l| !l.trim().is_empty()) {
            out.push(format!("::add-mask::{}", escape_data(line)));
        }
    }
    out
}

/// `::group::title`.
pub fn group(title: &str) -> String {
    format!("::group::{}", escape_data(title))
}

/// `::endgroup::`.
pub fn endgroup() -> &'static str {
    "::endgroup::"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn annotations_escape_messages_and_properties() {
        let loc = Location {
            file: "conf/slip,way.yml".into(),
            line: 7,
            column: Some(3),
        };
        assert_eq!(
            annotation(
                Level::Error,
                "bad: 100%\nsecond line",
                Some("slipway: config"),
                Some(&loc)
            ),
            "::error file=conf/slip%2Cway.yml,line=7,col=3,title=slipway%3A config::bad: 100%25%0Asecond line"
        );
        assert_eq!(annotation(Level::Warning, "w", None, None), "::warning::w");
    }

    #[test]
    fn masks_every_line_of_a_multiline_secret() {
        assert_eq!(
            add_mask("a\nb"),
            vec!["::add-mask::a%0Ab", "::add-mask::a", "::add-mask::b"]
        );
        assert!(add_mask("  ").is_empty());
    }
}
