//! Human durations in slipway.yml and on the command line: `500ms`, `90s`, `10m`, `1h30m`, or plain seconds.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration written the way people write them: `500ms`, `90s`, `10m`, `1h30m`; a bare number is seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub std::time::Duration);

/// The longest duration accepted anywhere (30 days): longer ones are typos, and would
/// overflow deadlines and the APIs' second counts.
pub const MAX: Duration = Duration::from_secs(30 * 24 * 3600);

impl Duration {
    pub const fn from_secs(secs: u64) -> Self {
        Duration(std::time::Duration::from_secs(secs))
    }
    pub const fn from_millis(ms: u64) -> Self {
        Duration(std::time::Duration::from_millis(ms))
    }
    pub fn std(self) -> std::time::Duration {
        self.0
    }
}

impl From<Duration> for std::time::Duration {
    fn from(d: Duration) -> Self {
        d.0
    }
}

impl FromStr for Duration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let text = s.trim();
        let bad = || format!("{s:?} is not a duration: write a number with a unit, like 500ms, 30s, 10m or 1h30m");
        if text.is_empty() {
            return Err(bad());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            return within_max(s, text.parse::<u128>().ok().and_then(|secs| secs.checked_mul(1000)));
        }
        let mut total_ms: u128 = 0;
        let mut rest = text;
        while !rest.is_empty() {
            let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            if digits == 0 {
                return Err(bad());
            }
            // Only digits: a number that does not parse is too large.
            let Ok(value) = rest[..digits].parse::<u128>() else {
                return within_max(s, None);
            };
            rest = &rest[digits..];
            let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
            let factor = match &rest[..unit_len] {
                "ms" => 1,
                "s" => 1_000,
                "m" => 60_000,
                "h" => 3_600_000,
                _ => return Err(bad()),
            };
            rest = &rest[unit_len..];
            let Some(sum) = value.checked_mul(factor).and_then(|ms| total_ms.checked_add(ms)) else {
                return within_max(s, None);
            };
            total_ms = sum;
        }
        within_max(s, Some(total_ms))
    }
}

/// A duration on the command line (flags and their SLIPWAY_* variables): like slipway.yml,
/// but a bare number is refused, since `--timeout 5` is as likely meant as minutes as seconds.
pub fn flag(s: &str) -> Result<Duration, String> {
    let text = s.trim();
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{s:?} has no unit: write {text}s for seconds or {text}m for minutes (units: ms, s, m, h)"
        ));
    }
    text.parse()
}

/// A flag's duration that must be longer than zero (timeouts, poll intervals).
pub fn positive_flag(s: &str) -> Result<Duration, String> {
    let d = flag(s)?;
    if d.0.is_zero() {
        return Err(format!(
            "{s:?} is zero: this waits for something, so give it time, like 30s or 10m"
        ));
    }
    Ok(d)
}

/// `ms` as a duration when it is at most [`MAX`]; None stands for a number too large to hold.
fn within_max(text: &str, ms: Option<u128>) -> Result<Duration, String> {
    match ms.and_then(|ms| u64::try_from(ms).ok()) {
        Some(ms) if ms <= MAX.0.as_millis() as u64 => Ok(Duration::from_millis(ms)),
        _ => Err(format!(
            "{text:?} is longer than {MAX}, the longest duration slipway accepts: write a shorter one, like 10m or 2h"
        )),
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return write!(f, "0s");
        }
        if !ms.is_multiple_of(1000) && ms < 60_000 {
            return if ms >= 1000 {
                write!(f, "{:.1}s", ms as f64 / 1000.0)
            } else {
                write!(f, "{ms}ms")
            };
        }
        let secs = ms / 1000;
        let (h, m, s) = (secs / 3600, (secs % 3600) / 60, secs % 60);
        let mut out = String::new();
        if h > 0 {
            out.push_str(&format!("{h}h"));
        }
        if m > 0 {
            out.push_str(&format!("{m}m"));
        }
        if s > 0 || out.is_empty() {
            out.push_str(&format!("{s}s"));
        }
        f.write_str(&out)
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Duration;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a duration like 500ms, 30s, 10m or 1h30m, or a number of seconds")
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Duration, E> {
                within_max(&v.to_string(), Some(u128::from(v) * 1000)).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Duration, E> {
                match u64::try_from(v) {
                    Ok(v) => self.visit_u64(v),
                    Err(_) => Err(E::custom(format!("{v} is negative: a duration must be 0 or more"))),
                }
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Duration, E> {
                Err(E::custom(format!(
                    "{v} is not a whole number of seconds: write 1500ms rather than 1.5"
                )))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Duration, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl schemars::JsonSchema for Duration {
    fn schema_name() -> Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A duration: a number with a unit (500ms, 30s, 10m, 1h30m) or a number of seconds; at most 720h.",
            "oneOf": [
                { "type": "string", "pattern": "^([0-9]+(ms|s|m|h))+$" },
                { "type": "integer", "minimum": 0, "maximum": 2_592_000 }
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!("500ms".parse::<Duration>().unwrap(), Duration::from_millis(500));
        assert_eq!("90".parse::<Duration>().unwrap(), Duration::from_secs(90));
        assert_eq!("1h30m".parse::<Duration>().unwrap(), Duration::from_secs(5400));
        assert_eq!("2m5s".parse::<Duration>().unwrap(), Duration::from_secs(125));
    }

    #[test]
    fn rejects_garbage_with_a_hint() {
        for bad in ["", "ten", "5 minutes", "m5", "5d", "-3s"] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert!(err.contains("like 500ms"), "{bad}: {err}");
        }
    }

    #[test]
    fn refuses_what_is_longer_than_the_maximum_without_overflowing() {
        let digits35 = "9".repeat(35);
        for bad in [
            format!("{digits35}h"),
            format!("{digits35}ms"),
            digits35.clone(),
            "9".repeat(60),
            format!("{}m", "9".repeat(60)),
            "721h".to_string(),
            "2592001".to_string(),
            "720h1ms".to_string(),
            "1h".repeat(721),
        ] {
            let err = bad.parse::<Duration>().unwrap_err();
            assert!(err.contains("is longer than 720h"), "{bad}: {err}");
        }
        assert_eq!("720h".parse::<Duration>().unwrap(), MAX);
        assert_eq!("2592000".parse::<Duration>().unwrap(), MAX);
    }

    /// On the command line a bare number has no unit to guess (`--timeout 5`), and a
    /// timeout or poll interval of zero waits for nothing.
    #[test]
    fn flags_want_a_unit_and_timeouts_more_than_zero() {
        let err = flag("5").unwrap_err();
        assert!(
            err.contains("has no unit") && err.contains("5s") && err.contains("5m"),
            "{err}"
        );
        assert_eq!(flag("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(flag("0s").unwrap(), Duration::from_secs(0));
        assert!(flag("ten").unwrap_err().contains("is not a duration"));
        for zero in ["0s", "0ms", "0m"] {
            assert!(positive_flag(zero).unwrap_err().contains("is zero"), "{zero}");
        }
        assert!(positive_flag("0").unwrap_err().contains("has no unit"));
        assert_eq!(positive_flag("1ms").unwrap(), Duration::from_millis(1));
    }

    #[test]
    fn displays_compactly() {
        assert_eq!(Duration::from_secs(600).to_string(), "10m");
        assert_eq!(Duration::from_secs(5430).to_string(), "1h30m30s");
        assert_eq!(Duration::from_millis(250).to_string(), "250ms");
        assert_eq!(Duration::from_millis(1500).to_string(), "1.5s");
        for d in ["10m", "1h30m30s", "250ms", "45s"] {
            assert_eq!(d.parse::<Duration>().unwrap().to_string(), d);
        }
    }
}
