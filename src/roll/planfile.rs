//! Plan files, the approval gate, for any target: `--plan-out` writes the plan with the
//! app, environment and target it is for and a sha256 digest over its canonical JSON;
//! `--apply` reads it back, refuses a file that is not a plan, was edited or is for
//! something else, and refuses with a readable diff (`drifted`, which each target's drift
//! check uses) when discovery no longer sees what the plan assumed.
//!
//! The digest catches edits and corruption; it is not a signature. Keep the file where
//! only the planning job can write it (a workflow artifact).

use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::outcome::Target;
use super::watch::Watch;
use crate::error::{Error, Result};

/// The plan file format version (2: the plan is the target's own, ECS environment
/// values are kept out of it).
pub const FILE_FORMAT: u32 = 2;

/// What `--plan-out` writes.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    pub slipway_plan: u32,
    pub app: String,
    pub environment: String,
    pub target: Target,
    /// The target's plan.
    pub plan: Value,
    /// The alarms watched (as they were when planned) and the bake, when there are any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<Value>,
    /// `sha256:` over the canonical JSON of every other field.
    pub digest: String,
}

/// Keys sorted at every level, no whitespace.
fn canonical(v: &Value) -> String {
    match v {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical(&map[k])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => format!("[{}]", items.iter().map(canonical).collect::<Vec<_>>().join(",")),
        other => other.to_string(),
    }
}

fn digest_of(v: &Value) -> String {
    let mut unsigned = v.clone();
    if let Value::Object(map) = &mut unsigned {
        map.remove("digest");
    }
    let sum = Sha256::digest(canonical(&unsigned).as_bytes());
    format!("sha256:{}", sum.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn to_json(v: &impl Serialize) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| Error::failed(format!("plan to JSON: {e}")))
}

/// The plan file's JSON for this plan.
pub fn render(app: &str, environment: &str, target: Target, plan: &impl Serialize) -> Result<String> {
    render_watched(app, environment, target, plan, &Watch::default())
}

/// The plan file's JSON for this plan, with its alarms and bake.
pub fn render_watched(
    app: &str,
    environment: &str,
    target: Target,
    plan: &impl Serialize,
    watch: &Watch,
) -> Result<String> {
    sealed(&PlanFile {
        slipway_plan: FILE_FORMAT,
        app: app.to_string(),
        environment: environment.to_string(),
        target,
        plan: to_json(plan)?,
        watch: if watch.is_empty() { None } else { Some(to_json(watch)?) },
        digest: String::new(),
    })
}

/// The file's JSON text with its `digest` over everything else.
fn sealed(file: &impl Serialize) -> Result<String> {
    let mut value = to_json(file)?;
    value["digest"] = digest_of(&value).into();
    let mut text = serde_json::to_string_pretty(&value).map_err(|e| Error::failed(format!("plan to JSON: {e}")))?;
    text.push('\n');
    Ok(text)
}

/// Writes a plan file's text.
pub fn write_text(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| {
        Error::input(
            format!("cannot write the plan to {}: {e}", path.display()),
            "pass --plan-out a path in a writable directory",
        )
    })
}

/// Reads a plan file's text.
fn read_text(path: &Path) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| {
        Error::input(
            format!("cannot read the plan {}: {e}", path.display()),
            "pass --apply the file --plan-out wrote",
        )
    })
}

/// Writes the plan file, with its alarms and bake.
pub fn write_watched(
    path: &Path,
    app: &str,
    environment: &str,
    target: Target,
    plan: &impl Serialize,
    watch: &Watch,
) -> Result<()> {
    write_text(path, &render_watched(app, environment, target, plan, watch)?)
}

/// Reads a plan file and checks it is an unedited plan for this app, environment and
/// target; with its alarms and bake.
pub fn read_watched<P: DeserializeOwned>(
    path: &Path,
    app: &str,
    environment: &str,
    target: Target,
) -> Result<(P, Watch)> {
    let text = read_text(path)?;
    parse_watched(&text, &path.display().to_string(), app, environment, target)
}

/// Checks a plan file's text (see `read_watched`).
pub fn parse<P: DeserializeOwned>(text: &str, name: &str, app: &str, environment: &str, target: Target) -> Result<P> {
    parse_watched(text, name, app, environment, target).map(|(plan, _)| plan)
}

/// Checks a plan file's text; the plan with its alarms and bake.
pub fn parse_watched<P: DeserializeOwned>(
    text: &str,
    name: &str,
    app: &str,
    environment: &str,
    target: Target,
) -> Result<(P, Watch)> {
    let not_a_plan = |why: String| {
        Error::input(
            format!("{name} is not a slipway plan: {why}"),
            "pass --apply the file slipway-roll --plan-out wrote",
        )
    };
    let value: Value = serde_json::from_str(text).map_err(|e| not_a_plan(format!("not JSON ({e})")))?;
    let Some(fields) = value.as_object() else {
        return Err(not_a_plan("not a JSON object".into()));
    };
    if fields.contains_key("slipway_plans") {
        return Err(Error::input(
            format!("{name} holds the plans of every region of the environment"),
            "apply it without --region (slipway-roll then applies each region's plan, wave after wave)",
        ));
    }
    match fields.get("slipway_plan").and_then(Value::as_u64) {
        Some(v) if v == FILE_FORMAT as u64 => {}
        Some(v) => {
            return Err(Error::input(
                format!("{name} is a plan of format {v}; this slipway-roll reads format {FILE_FORMAT}"),
                "make the plan and apply it with the same slipway version",
            ))
        }
        None => return Err(not_a_plan("it has no slipway_plan field".into())),
    }
    let recorded = fields.get("digest").and_then(Value::as_str).unwrap_or_default();
    if recorded != digest_of(&value) {
        return Err(Error::input(
            format!("{name} was changed after it was written: its digest does not match its content"),
            "a plan is applied exactly as it was approved: make a new plan with --plan-out and approve that",
        ));
    }
    let file: PlanFile = serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))?;
    if file.app != app || file.environment != environment || file.target != target {
        return Err(Error::input(
            format!(
                "{name} is a plan for app {:?}, environment {:?}, target {}; this is app {app:?}, environment {environment:?}, target {}",
                file.app,
                file.environment,
                file.target.as_str(),
                target.as_str()
            ),
            "apply the plan with the --environment (and --target) it was made for, or make a new one",
        ));
    }
    let watch = match file.watch {
        Some(w) => serde_json::from_value(w).map_err(|e| not_a_plan(format!("its alarms do not parse: {e}")))?,
        None => Watch::default(),
    };
    let plan = serde_json::from_value(file.plan)
        .map_err(|e| not_a_plan(format!("its {} plan does not parse: {e}", target.as_str())))?;
    Ok((plan, watch))
}

/// What `--plan-out` writes for an environment in several regions: every region's plan
/// file, with the waves they were planned in, under one digest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanSet {
    pub slipway_plans: u32,
    pub app: String,
    pub environment: String,
    pub waves: Vec<Vec<String>>,
    /// Region -> its plan file (as `render_watched` writes it).
    pub regions: std::collections::BTreeMap<String, Value>,
    pub digest: String,
}

/// The JSON of the plans of every region (`files`: region -> its plan file's text).
pub fn render_set(
    app: &str,
    environment: &str,
    waves: &[Vec<String>],
    files: std::collections::BTreeMap<String, String>,
) -> Result<String> {
    let mut regions = std::collections::BTreeMap::new();
    for (region, text) in files {
        let value = serde_json::from_str(&text).map_err(|e| Error::failed(format!("plan of {region}: {e}")))?;
        regions.insert(region, value);
    }
    sealed(&PlanSet {
        slipway_plans: FILE_FORMAT,
        app: app.to_string(),
        environment: environment.to_string(),
        waves: waves.to_vec(),
        regions,
        digest: String::new(),
    })
}

/// Reads the plans of every region: refuses a file that is not one, was edited, is for
/// another app or environment, or was planned in other waves than slipway.yml's now.
/// Region -> its plan file's text (each checked again when applied).
pub fn read_set(
    path: &Path,
    app: &str,
    environment: &str,
    waves: &[Vec<String>],
) -> Result<std::collections::BTreeMap<String, String>> {
    let name = path.display().to_string();
    let not_a_plan = |why: String| {
        Error::input(
            format!("{name} is not the plan of every region: {why}"),
            "pass --apply the file slipway-roll --plan-out wrote without --region (or pass --region with a one-region plan)",
        )
    };
    let text = read_text(path)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| not_a_plan(format!("not JSON ({e})")))?;
    if value.get("slipway_plans").and_then(Value::as_u64) != Some(FILE_FORMAT as u64) {
        return Err(not_a_plan(format!(
            "it has no slipway_plans field of format {FILE_FORMAT}"
        )));
    }
    if value.get("digest").and_then(Value::as_str).unwrap_or_default() != digest_of(&value) {
        return Err(Error::input(
            format!("{name} was changed after it was written: its digest does not match its content"),
            "a plan is applied exactly as it was approved: make a new plan with --plan-out and approve that",
        ));
    }
    let set: PlanSet = serde_json::from_value(value).map_err(|e| not_a_plan(e.to_string()))?;
    if set.app != app || set.environment != environment {
        return Err(Error::input(
            format!(
                "{name} is a plan for app {:?}, environment {:?}; this is app {app:?}, environment {environment:?}",
                set.app, set.environment
            ),
            "apply the plan with the --environment it was made for, or make a new one",
        ));
    }
    if set.waves != waves {
        let show = |w: &[Vec<String>]| w.iter().map(|r| r.join(", ")).collect::<Vec<_>>().join("; ");
        return Err(Error::input(
            format!(
                "{name} was planned for the waves {}, and slipway.yml now has {}",
                show(&set.waves),
                show(waves)
            ),
            "make a new plan with --plan-out for the waves as they are now",
        ));
    }
    let mut files = std::collections::BTreeMap::new();
    for region in waves.iter().flatten() {
        let plan = set
            .regions
            .get(region)
            .ok_or_else(|| not_a_plan(format!("it has no plan for {region}")))?;
        let text = serde_json::to_string_pretty(plan).map_err(|e| Error::failed(e.to_string()))?;
        files.insert(region.clone(), text);
    }
    Ok(files)
}

fn show(v: &Value) -> String {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => "none".into(),
        other => other.to_string(),
    };
    if text.chars().count() > 160 {
        format!("{}...", text.chars().take(157).collect::<String>())
    } else {
        text
    }
}

/// The differences between two JSON values, one readable line each (`path: planned X, now Y`).
pub fn diff(path: &str, planned: &Value, now: &Value, out: &mut Vec<String>) {
    match (planned, now) {
        (Value::Object(a), Value::Object(b)) => {
            let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
            keys.sort();
            keys.dedup();
            for k in keys {
                let p = format!("{path}.{k}");
                diff(
                    &p,
                    a.get(k).unwrap_or(&Value::Null),
                    b.get(k).unwrap_or(&Value::Null),
                    out,
                );
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (n, (x, y)) in a.iter().zip(b).enumerate() {
                diff(&format!("{path}[{n}]"), x, y, out);
            }
        }
        (a, b) if a != b => out.push(format!(
            "{}: planned {}, now {}",
            path.trim_start_matches('.'),
            show(a),
            show(b)
        )),
        _ => {}
    }
}

/// The refusal when the cloud drifted from the plan: what changed, then the diff.
pub(crate) fn drifted(what: &str, reasons: Vec<String>, planned: &impl Serialize, now: &impl Serialize) -> Error {
    let mut lines = Vec::new();
    let (a, b) = (
        serde_json::to_value(planned).unwrap_or(Value::Null),
        serde_json::to_value(now).unwrap_or(Value::Null),
    );
    diff("", &a, &b, &mut lines);
    Error::input(
        format!(
            "{what} no longer matches the plan: {}\n{}",
            reasons.join("; "),
            lines.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n")
        ),
        "the cloud changed since the plan was made: make a new plan with --plan-out and approve that",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys_at_every_level() {
        let v: Value = serde_json::from_str(r#"{"b": [ {"z": 1, "a": "x"} ], "a": null}"#).unwrap();
        assert_eq!(canonical(&v), r#"{"a":null,"b":[{"a":"x","z":1}]}"#);
    }

    #[test]
    fn the_diff_names_each_changed_field() {
        let a: Value = serde_json::json!({"capacity": {"min": 1, "desired": 2}, "ids": ["i-1"]});
        let b: Value = serde_json::json!({"capacity": {"min": 1, "desired": 3}, "ids": ["i-1", "i-2"]});
        let mut out = Vec::new();
        diff("", &a, &b, &mut out);
        assert_eq!(
            out,
            vec![
                "capacity.desired: planned 2, now 3".to_string(),
                r#"ids: planned ["i-1"], now ["i-1","i-2"]"#.to_string()
            ]
        );
    }

    #[test]
    fn long_values_are_cut_on_a_character_boundary() {
        let long = Value::String("é".repeat(200));
        let shown = show(&long);
        assert_eq!(shown.chars().count(), 160);
        assert!(shown.ends_with("é..."), "{shown}");
    }

    #[test]
    fn not_a_plan_is_bad_input() {
        for text in ["", "[]", "{\"hello\": 1}", "plan: yes"] {
            let err = parse::<crate::roll::ecs::EcsPlan>(text, "plan.json", "web", "stage", Target::Ecs).unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains("plan.json is not a slipway plan"), "{err}");
        }
    }
}
