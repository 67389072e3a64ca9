//! GITHUB_OUTPUT (step outputs, with safe multi-line delimiters) and GITHUB_STEP_SUMMARY.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;

use rand::Rng;

use super::Runner;
use crate::error::{Error, Result};

/// Formats outputs for GITHUB_OUTPUT. Every value uses a heredoc with a random
/// delimiter that does not occur in it, so no value can inject another output.
pub fn format_outputs(outputs: &[(&str, String)]) -> Result<String> {
    let mut text = String::new();
    for (name, value) in outputs {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(Error::input(
                format!("output name {name:?} is not valid"),
                "use letters, digits, `_` and `-`",
            ));
        }
        let delimiter = loop {
            let candidate = format!("ghadelimiter_{:016x}", rand::rng().random::<u64>());
            if !value.contains(&candidate) {
                break candidate;
            }
        };
        text.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    Ok(text)
}

fn append(path: &Path, variable: &str, text: &str) -> Result<()> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| {
            Error::input(
                format!("{variable} points at {}, which cannot be written: {e}", path.display()),
                format!("point {variable} at a writable file, or unset it outside GitHub Actions"),
            )
        })
}

impl Runner {
    /// Appends step outputs to GITHUB_OUTPUT; does nothing when it is not set.
    pub fn set_outputs(&self, outputs: &[(&str, String)]) -> Result<()> {
        match &self.output_file {
            Some(path) => append(path, "GITHUB_OUTPUT", &format_outputs(outputs)?),
            None => Ok(()),
        }
    }

    /// Appends markdown to GITHUB_STEP_SUMMARY; does nothing when it is not set.
    pub fn add_summary(&self, markdown: &str) -> Result<()> {
        match &self.summary_file {
            Some(path) => {
                let mut text = markdown.to_string();
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                append(path, "GITHUB_STEP_SUMMARY", &text)
            }
            None => Ok(()),
        }
    }
}

/// Reads a GITHUB_OUTPUT file back into name/value pairs (heredoc and `name=value` forms).
pub fn parse_outputs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if let Some((name, delimiter)) = line.split_once("<<") {
            let mut value = Vec::new();
            for l in lines.by_ref() {
                if l == delimiter {
                    break;
                }
                value.push(l);
            }
            out.push((name.to_string(), value.join("\n")));
        } else if let Some((name, value)) = line.split_once('=') {
            out.push((name.to_string(), value.to_string()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multiline_values_cannot_inject_outputs() {
        let evil = "line1\nghadelimiter_x\ndeploy<<EOF\ntrue\nEOF".to_string();
        let text = format_outputs(&[("note", evil.clone()), ("deploy", "false".into())]).unwrap();
        assert_eq!(
            parse_outputs(&text),
            vec![("note".into(), evil), ("deploy".into(), "false".into())]
        );
    }

    #[test]
    fn bad_output_names_are_refused() {
        assert_eq!(format_outputs(&[("a=b", "x".into())]).unwrap_err().exit_code(), 2);
    }

    #[test]
    fn unwritable_files_are_bad_input_naming_the_variable() {
        let runner = Runner {
            output_file: Some("/nonexistent-dir/out".into()),
            ..Runner::default()
        };
        let err = runner.set_outputs(&[("a", "b".into())]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(
            err.to_string()
                .starts_with("GITHUB_OUTPUT points at /nonexistent-dir/out"),
            "{err}"
        );
    }
}
