//! Limits checked on the text of slipway.yml before the YAML parser sees it, so that any
//! file is refused or accepted at once: its size, and how deep it nests (the YAML parser
//! slows down quadratically with nesting depth, and a real config nests about 8 levels).

use std::path::Path;

use crate::error::{Error, Location, Result};

/// The largest config read: real ones are a few kilobytes.
pub const MAX_BYTES: usize = 1 << 20;
/// The deepest nesting read: mappings and sequences, block and flow, counted together.
pub const MAX_DEPTH: usize = 64;

/// Refuses a config that is too large or nests too deep, naming the line.
pub fn check_text(path: &Path, text: &str) -> Result<()> {
    check_size(path, text.len())?;
    if let Some(line) = too_deep(text) {
        return Err(Error::input(
            format!(
                "config {} nests deeper than {MAX_DEPTH} levels of mappings and sequences",
                path.display()
            ),
            "slipway.yml needs about 8 levels (see examples/slipway.yml); remove the extra nesting",
        )
        .at(Some(Location {
            file: path.to_path_buf(),
            line,
            column: None,
        })));
    }
    Ok(())
}

/// Refuses a config of more than [`MAX_BYTES`] (`len` may be a count that stopped past it).
pub fn check_size(path: &Path, len: usize) -> Result<()> {
    if len > MAX_BYTES {
        return Err(Error::input(
            format!(
                "config {} is larger than {MAX_BYTES} bytes (1 MiB), the most slipway reads",
                path.display()
            ),
            "a slipway.yml holds a few kilobytes of settings; check that --config names the right file",
        ));
    }
    Ok(())
}

/// A value as a message shows it: quoted, and cut after 50 characters.
pub fn excerpt(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(50).collect();
    match chars.count() {
        0 => format!("{head:?}"),
        more => format!("{head:?}... ({more} more characters)"),
    }
}

/// Quoting state while scanning, carried across lines (quoted scalars may span lines).
#[derive(Clone, Copy, PartialEq)]
enum Quote {
    None,
    Single,
    Double,
}

/// The 1-based line where the nesting first exceeds [`MAX_DEPTH`], if it does. One pass:
/// block depth from indentation and `- `/`? ` indicators, flow depth from brackets outside
/// quotes and comments. It may count a bracket inside a block scalar, never less than the
/// parser would nest.
fn too_deep(text: &str) -> Option<usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    let mut quote = Quote::None;
    for (number, line) in text.lines().enumerate() {
        let content = line.trim_start_matches([' ', '\t']);
        let mut block = indents.len();
        if quote == Quote::None && flow == 0 {
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            let indent = line.len() - content.len();
            while indents.last().is_some_and(|&top| top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            block = indents.len();
        }
        // A scalar may start here: a quote opens a quoted scalar only at such a place.
        let mut at_start = true;
        let mut previous = ' ';
        let mut chars = content.chars().peekable();
        while let Some(c) = chars.next() {
            match quote {
                Quote::Single => {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            quote = Quote::None;
                        }
                    }
                }
                Quote::Double => match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => quote = Quote::None,
                    _ => {}
                },
                Quote::None => match c {
                    '#' if previous == ' ' || previous == '\t' => break,
                    '\'' | '"' if at_start => {
                        quote = if c == '"' { Quote::Double } else { Quote::Single };
                        at_start = false;
                    }
                    '[' | '{' => {
                        flow += 1;
                        at_start = true;
                    }
                    ']' | '}' => flow = flow.saturating_sub(1),
                    ',' => at_start = true,
                    '-' | '?' | ':' if at_start || chars.peek().is_none_or(|n| *n == ' ') => {
                        if chars.peek().is_none_or(|n| *n == ' ') {
                            if c != ':' && flow == 0 {
                                block += 1;
                            }
                            at_start = true;
                        } else {
                            at_start = false;
                        }
                    }
                    ' ' | '\t' => {}
                    _ => at_start = false,
                },
            }
            if block + flow > MAX_DEPTH {
                return Some(number + 1);
            }
            previous = c;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth_error(text: &str) -> Option<usize> {
        too_deep(text)
    }

    #[test]
    fn the_example_config_passes() {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/slipway.yml")).unwrap();
        assert_eq!(depth_error(&text), None);
        assert!(check_text(Path::new("slipway.yml"), &text).is_ok());
    }

    #[test]
    fn flow_nesting_is_counted_outside_quotes_and_comments() {
        let deep = format!("app: web\nx: {}{}\n", "[".repeat(70), "]".repeat(70));
        assert_eq!(depth_error(&deep), Some(2));
        let shallow = format!("app: web\nx: {}{}\n", "[".repeat(60), "]".repeat(60));
        assert_eq!(depth_error(&shallow), None);
        let quoted = format!(
            "a: \"{}\"\nb: '{}'\nc: 1 # {}\nd: it's [x]\n",
            "[".repeat(70),
            "{".repeat(70),
            "[".repeat(70)
        );
        assert_eq!(depth_error(&quoted), None);
        // A quote inside a plain scalar opens nothing: the brackets after it still count.
        let apostrophe = format!("d: it's {}\n", "[".repeat(70));
        assert_eq!(depth_error(&apostrophe), Some(1));
        // Flow nesting carries across lines.
        let lines = "x:\n".to_string() + &"  [\n".repeat(70);
        assert!(depth_error(&lines).is_some());
    }

    #[test]
    fn block_nesting_by_indentation_and_compact_sequences() {
        let indented: String = (0..70).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert_eq!(depth_error(&indented), Some(65));
        let compact = format!("x:\n  {}y\n", "- ".repeat(70));
        assert_eq!(depth_error(&compact), Some(2));
        let siblings: String = (0..500).map(|i| format!("k{i}:\n  - a: 1\n    b: [1, 2]\n")).collect();
        assert_eq!(depth_error(&siblings), None);
    }

    #[test]
    fn size_is_limited() {
        let big = format!("app: web\n#{}\n", "x".repeat(MAX_BYTES));
        let err = check_text(Path::new("slipway.yml"), &big).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("larger than 1048576 bytes (1 MiB)"), "{err}");
    }
}
