//! URLs as slipway shows them: credentials in the userinfo and every query value are
//! replaced by `***`, so a health URL such as `https://user:pass@host/health?token=t`
//! never reaches a log, a summary, JSON or an annotation whole.

/// What stands in for a hidden part.
pub const HIDDEN: &str = "***";

/// `raw` with its userinfo and query values hidden. Works on text that does not parse
/// as a URL too (an error message about a bad URL must not print its password either).
pub fn url(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), raw),
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rfind('@') {
        Some(at) => format!("{HIDDEN}@{}", &authority[at + 1..]),
        None => authority.to_string(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((before, fragment)) => (before, Some(fragment)),
        None => (tail, None),
    };
    let mut out = format!("{scheme}{authority}");
    match before_fragment.split_once('?') {
        Some((path, query)) => {
            out.push_str(path);
            out.push('?');
            out.push_str(&query_values_hidden(query));
        }
        None => out.push_str(before_fragment),
    }
    if let Some(fragment) = fragment {
        out.push('#');
        out.push_str(&query_values_hidden(fragment));
    }
    out
}

/// Replaces every occurrence of `raw` in `text` (e.g. an HTTP library's error message
/// quoting the URL) with its redacted form.
pub fn in_text(text: &str, raw: &str) -> String {
    if raw.is_empty() {
        return text.to_string();
    }
    text.replace(raw, &url(raw))
}

fn query_values_hidden(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, value)) if !value.is_empty() => format!("{key}={HIDDEN}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_and_query_values_are_hidden() {
        assert_eq!(
            url("https://user:pa55@web.example.com:8443/health?token=s3cret&x=&flag#k=v"),
            "https://***@web.example.com:8443/health?token=***&x=&flag#k=***"
        );
        assert_eq!(url("https://user@host?a=1"), "https://***@host?a=***");
        assert_eq!(url("http://127.0.0.1:8080/healthz"), "http://127.0.0.1:8080/healthz");
        // The last @ ends the userinfo: a password may hold an @ of its own.
        assert_eq!(url("http://u:p@ss@host/x"), "http://***@host/x");
        // Text that is no URL still loses what looks like credentials.
        assert_eq!(url("not a url?key=v"), "not a url?key=***");
        assert_eq!(url("user:pw@host/x"), "***@host/x");
    }

    #[test]
    fn quoted_urls_in_messages_are_replaced() {
        let raw = "https://u:p@h/x?t=1";
        assert_eq!(
            in_text(&format!("error sending request for url ({raw})"), raw),
            "error sending request for url (https://***@h/x?t=***)"
        );
    }
}
