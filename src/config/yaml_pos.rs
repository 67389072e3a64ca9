//! Finds the line of a key in block-style YAML text, so checks made after parsing
//! (an environment without a role, a bad glob) can still point at a line.

/// The 1-based line where the value at `path` is written, or the line of the deepest
/// ancestor that was found. Segments are mapping keys, or sequence indices written as numbers.
pub fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    let mut found: Option<usize> = None;
    let mut depth = 0;
    // Indentation of the block whose children we are scanning; None at the top.
    let mut parent_indent: Option<usize> = None;
    let mut seq_index: usize = 0;
    let mut seq_indent: Option<usize> = None;
    for (number, raw) in text.lines().enumerate() {
        if depth == path.len() {
            break;
        }
        let content = raw.trim_start();
        if content.is_empty() || content.starts_with('#') || content.starts_with("---") {
            continue;
        }
        let indent = raw.len() - content.len();
        if let Some(parent) = parent_indent {
            if indent <= parent && !(content.starts_with("- ") && indent == parent) {
                break;
            }
        }
        let want = path[depth];
        if let Ok(index) = want.parse::<usize>() {
            if let Some(item) = content.strip_prefix("- ").or((content == "-").then_some("")) {
                let level = *seq_indent.get_or_insert(indent);
                if indent != level {
                    continue;
                }
                if seq_index == index {
                    found = Some(number + 1);
                    depth += 1;
                    parent_indent = Some(indent);
                    seq_indent = None;
                    seq_index = 0;
                    // The item's first key may sit on this same line: `- event: push`.
                    if depth < path.len() && key_of(item) == Some(path[depth]) {
                        found = Some(number + 1);
                        depth += 1;
                    }
                } else {
                    seq_index += 1;
                }
            }
            continue;
        }
        let item = content.strip_prefix("- ").unwrap_or(content);
        if key_of(item) == Some(want) {
            found = Some(number + 1);
            depth += 1;
            parent_indent = Some(indent);
        }
    }
    found
}

fn key_of(content: &str) -> Option<&str> {
    let colon = content.find(':')?;
    let after = &content[colon + 1..];
    if !(after.is_empty() || after.starts_with(' ')) {
        return None;
    }
    let key = content[..colon].trim();
    Some(key.trim_matches(|c| c == '"' || c == '\''))
}

#[cfg(test)]
mod tests {
    use super::line_of;

    const DOC: &str = "\
app: web
# comment
environments:
  dev:
    aws:
      region: us-east-1
  prod:
    aws:
      region: eu-west-1
      role_arn: arn
triggers:
  - event: push
    tags: [v*]
  - event: workflow_dispatch
    environment: dev
";

    #[test]
    fn finds_nested_keys() {
        assert_eq!(line_of(DOC, &["app"]), Some(1));
        assert_eq!(line_of(DOC, &["environments", "prod", "aws", "role_arn"]), Some(10));
        assert_eq!(line_of(DOC, &["environments", "dev", "aws", "region"]), Some(6));
    }

    #[test]
    fn does_not_wander_into_a_sibling_block() {
        // dev has no role_arn: the answer is the deepest ancestor, not prod's role_arn.
        assert_eq!(line_of(DOC, &["environments", "dev", "aws", "role_arn"]), Some(5));
    }

    #[test]
    fn finds_sequence_items() {
        assert_eq!(line_of(DOC, &["triggers", "0", "tags"]), Some(13));
        assert_eq!(line_of(DOC, &["triggers", "1", "environment"]), Some(15));
        assert_eq!(line_of(DOC, &["triggers", "1"]), Some(14));
    }
}
