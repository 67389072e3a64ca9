//! One image from one registry into another through the registry v2 API: the blobs the
//! destination lacks (each streamed from the source into one upload), an index's child
//! manifests, then the manifest's exact bytes under every tag, so the destination's
//! digest is the source's.

use serde::Serialize;

use super::registry::Registry;
use crate::cloud::ecr::Manifest;
use crate::error::{Error, Result};

/// What a copy moved (or, counted without copying, would move).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Moved {
    /// Blobs (layers and configs) uploaded.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Tags put (or moved) onto the manifest.
    pub tags: usize,
}

/// One side of a copy: a registry and a repository in it.
#[derive(Clone, Copy)]
pub struct Side<'a> {
    pub registry: &'a Registry,
    pub repository: &'a str,
}

/// The blobs an image manifest references (its config and layers; foreign layers, which
/// registries do not store, left out). None for an index.
fn blobs_of(doc: &serde_json::Value) -> Vec<String> {
    let mut out: Vec<String> = doc["config"]["digest"]
        .as_str()
        .map(str::to_string)
        .into_iter()
        .collect();
    for layer in doc["layers"].as_array().into_iter().flatten() {
        let media = layer["mediaType"].as_str().unwrap_or_default();
        if media.contains("foreign") || media.contains("nondistributable") {
            continue;
        }
        if let Some(d) = layer["digest"].as_str() {
            out.push(d.to_string());
        }
    }
    out
}

/// The child manifests of an index (empty for an image manifest).
fn children_of(doc: &serde_json::Value) -> Vec<String> {
    doc["manifests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m["digest"].as_str().map(str::to_string))
        .collect()
}

fn parse(manifest: &Manifest) -> Result<serde_json::Value> {
    serde_json::from_str(&manifest.body)
        .map_err(|e| Error::failed(format!("the manifest {} is not JSON: {e}", manifest.digest)))
}

/// Copies `manifest` (and, for an index, its children) with every blob `to` lacks; with
/// `count_only` it only counts what would move. Then puts it under each of `tags` that
/// does not point at it yet, checking the destination reports the same digest.
pub async fn copy(
    from: Side<'_>,
    to: Side<'_>,
    manifest: &Manifest,
    tags: &[String],
    count_only: bool,
) -> Result<Moved> {
    let mut moved = Moved::default();
    // A registry accepts a manifest only once its blobs are there: a manifest present
    // by digest needs no blobs.
    if to.registry.manifest(to.repository, &manifest.digest).await?.is_none() {
        let doc = parse(manifest)?;
        for child in children_of(&doc) {
            if to.registry.manifest(to.repository, &child).await?.is_some() {
                continue;
            }
            let found = from.registry.manifest(from.repository, &child).await?.ok_or_else(|| {
                Error::failed(format!(
                    "{}/{} lists the manifest {child}, which the registry does not have",
                    from.registry.host, from.repository
                ))
            })?;
            copy_blobs(from, to, &parse(&found)?, count_only, &mut moved).await?;
            if !count_only {
                put(to, &child, &found).await?;
            }
        }
        copy_blobs(from, to, &doc, count_only, &mut moved).await?;
    }
    for tag in tags {
        let current = to.registry.manifest(to.repository, tag).await?;
        if current.is_some_and(|m| m.digest == manifest.digest) {
            continue;
        }
        moved.tags += 1;
        if !count_only {
            put(to, tag, manifest).await?;
        }
    }
    Ok(moved)
}

async fn copy_blobs(
    from: Side<'_>,
    to: Side<'_>,
    doc: &serde_json::Value,
    count_only: bool,
    moved: &mut Moved,
) -> Result<()> {
    for digest in blobs_of(doc) {
        if to.registry.has_blob(to.repository, &digest).await? {
            continue;
        }
        moved.blobs += 1;
        if count_only {
            continue;
        }
        let source = from.registry.open_blob(from.repository, &digest).await?;
        moved.bytes += to.registry.upload_blob(to.repository, &digest, source).await?;
    }
    Ok(())
}

/// Puts the manifest's bytes under `reference` and checks the digest the registry reports.
async fn put(to: Side<'_>, reference: &str, manifest: &Manifest) -> Result<()> {
    let digest = to.registry.put_manifest(to.repository, reference, manifest).await?;
    if digest != manifest.digest {
        return Err(Error::failed(format!(
            "{}/{}:{reference} holds {digest} after the copy, not {} (the registry changed the manifest's bytes)",
            to.registry.host, to.repository, manifest.digest
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_image_names_its_config_and_layers_an_index_its_children() {
        let image = serde_json::json!({
            "config": {"digest": "sha256:c"},
            "layers": [
                {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "sha256:l1"},
                {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "digest": "sha256:win"},
            ]
        });
        assert_eq!(blobs_of(&image), vec!["sha256:c", "sha256:l1"]);
        assert!(children_of(&image).is_empty());
        let index = serde_json::json!({"manifests": [{"digest": "sha256:a"}, {"digest": "sha256:b"}]});
        assert_eq!(children_of(&index), vec!["sha256:a", "sha256:b"]);
        assert!(blobs_of(&index).is_empty());
    }
}
