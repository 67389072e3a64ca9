//! `.dockerignore` with Docker's semantics: patterns relative to the context root, `*`
//! and `?` within one path element, `**` across any number of them, `!` exceptions, the
//! last matching line wins, and a pattern that matches a directory matches all below it.

use regex::Regex;

use crate::error::{Error, Result};

/// One line of a .dockerignore.
#[derive(Debug, Clone)]
struct Pattern {
    text: String,
    regex: Regex,
    /// A `!` line: re-includes what earlier lines excluded.
    exception: bool,
}

/// The parsed .dockerignore of a context.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

impl Ignore {
    /// Parses the file's text. `source` names it in errors.
    pub fn parse(text: &str, source: &str) -> Result<Self> {
        let mut patterns = Vec::new();
        for (n, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let mut line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let exception = line.starts_with('!');
            if exception {
                line = line[1..].trim();
            }
            if line.is_empty() {
                continue;
            }
            let text = clean(line);
            let regex = compile(&text).map_err(|e| {
                Error::input(
                    format!("{source} line {}: pattern {line:?} is not valid: {e}", n + 1),
                    "fix the pattern; see https://docs.docker.com/build/concepts/context/#dockerignore-files",
                )
            })?;
            patterns.push(Pattern { text, regex, exception });
        }
        Ok(Ignore { patterns })
    }

    /// True when there are `!` lines, so an excluded directory may still hold included files.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exception)
    }

    /// Whether the path (relative to the context, `/`-separated) is left out of the context.
    pub fn excludes(&self, path: &str) -> bool {
        let path = path.trim_start_matches("./").trim_matches('/');
        let parents: Vec<&str> = path.split('/').collect();
        let mut excluded = false;
        for pattern in &self.patterns {
            let mut matched = pattern.regex.is_match(path);
            if !matched && parents.len() > 1 {
                // A pattern that matches a parent directory matches everything below it.
                matched = (1..parents.len()).any(|i| pattern.regex.is_match(&parents[..i].join("/")));
            }
            if matched {
                excluded = !pattern.exception;
            }
        }
        excluded
    }

    /// The patterns, cleaned as Docker cleans them (for messages and tests).
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| format!("{}{}", if p.exception { "!" } else { "" }, p.text))
            .collect()
    }
}

/// Go's `filepath.Clean` as Docker applies it, then the leading `/` dropped.
fn clean(pattern: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for part in pattern.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !pattern.starts_with('/') {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return ".".to_string();
    }
    parts.join("/")
}

/// The pattern as an anchored regular expression, the way Docker's pattern matcher builds it.
fn compile(pattern: &str) -> std::result::Result<Regex, regex::Error> {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    i += 1;
                }
                if i + 1 >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => {
                i += 1;
                match chars.get(i) {
                    Some(next) => re.push_str(&regex::escape(&next.to_string())),
                    None => re.push_str(r"\\"),
                }
            }
            '[' | ']' | '-' | '^' => re.push(c),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    Regex::new(&re)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> Ignore {
        Ignore::parse(text, ".dockerignore").unwrap()
    }

    // The example file from Docker's documentation, line by line.
    #[test]
    fn docker_docs_example_file() {
        let i = ignore("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert_eq!(i.patterns(), ["*/temp*", "*/*/temp*", "temp?"]);
        assert!(i.excludes("somedir/temporary.txt"));
        assert!(i.excludes("somedir/temp"));
        assert!(i.excludes("somedir/subdir/temporary.txt"));
        assert!(i.excludes("tempa"));
        assert!(i.excludes("tempb"));
        assert!(!i.excludes("temp"), "? needs exactly one character");
        assert!(!i.excludes("temporary.txt"), "*/temp* needs one directory level");
        assert!(!i.excludes("a/b/c/temporary.txt"));
        assert!(!i.excludes("# comment"));
    }

    #[test]
    fn double_star_matches_any_number_of_directories() {
        let i = ignore("**/*.go");
        assert!(i.excludes("main.go"), "** matches zero directories");
        assert!(i.excludes("cmd/main.go"));
        assert!(i.excludes("a/b/c/d.go"));
        assert!(!i.excludes("main.rs"));
        let i = ignore("a/**/z");
        assert!(i.excludes("a/z"));
        assert!(i.excludes("a/b/c/z"));
        assert!(!i.excludes("b/z"));
        let i = ignore("build/**");
        assert!(i.excludes("build/x"));
        assert!(i.excludes("build/x/y"));
    }

    #[test]
    fn exceptions_re_include_and_the_last_line_wins() {
        // "*.md / !README.md": all markdown files except README.md.
        let i = ignore("*.md\n!README.md");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        // "*.md / !README*.md / README-secret.md": no markdown files except README files
        // other than README-secret.md.
        let i = ignore("*.md\n!README*.md\nREADME-secret.md");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README-public.md"));
        assert!(i.excludes("README-secret.md"));
        // Reversed: the exception comes last, so README-secret.md is included again.
        let i = ignore("*.md\nREADME-secret.md\n!README*.md");
        assert!(!i.excludes("README-secret.md"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn a_matched_directory_excludes_everything_below_it_unless_excepted() {
        let i = ignore("node_modules\n.git/\n");
        assert!(i.excludes("node_modules"));
        assert!(i.excludes("node_modules/left-pad/index.js"));
        assert!(i.excludes(".git/HEAD"));
        assert!(!i.excludes("src/node_modules_list.txt"));
        let i = ignore("docs\n!docs/README.md");
        assert!(i.excludes("docs/guide.md"));
        assert!(!i.excludes("docs/README.md"));
    }

    #[test]
    fn patterns_are_cleaned_and_rooted() {
        let i = ignore("\u{feff}/secret.txt\n./tmp//cache/\n  spaced  \n! keep\nx/../y\n");
        assert_eq!(i.patterns(), ["secret.txt", "tmp/cache", "spaced", "!keep", "y"]);
        assert!(i.excludes("secret.txt"));
        assert!(!i.excludes("sub/secret.txt"), "patterns are relative to the root");
        assert!(i.excludes("tmp/cache/a"));
        assert!(i.excludes("y"));
    }

    #[test]
    fn character_classes_and_escapes() {
        let i = ignore("log[0-9].txt\nfile\\*\n*.t?t");
        assert!(i.excludes("log1.txt"));
        assert!(!ignore("log[0-9].txt").excludes("logx.txt"));
        assert!(i.excludes("file*"));
        assert!(!i.excludes("files"));
        assert!(i.excludes("notes.tet"));
        let i = ignore("a.b");
        assert!(!i.excludes("axb"), "dots are literal");
    }

    #[test]
    fn an_empty_file_excludes_nothing() {
        let i = ignore("\n# only a comment\n\n");
        assert!(!i.excludes("anything"));
        assert!(!i.has_exceptions());
    }
}
