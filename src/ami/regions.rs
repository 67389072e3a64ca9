//! One AMI everywhere: after the bake in the home region, every other region of the
//! environment gets that AMI: the one Packer already put there (`ami_regions`), a copy an
//! earlier run made (found by slipway's tags), or a new CopyImage, waited for until it is
//! available. A copy that fails or is interrupted is deregistered. Every region gets its
//! AMI before any launch template changes, so a failed copy changes no template.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use serde::Serialize;
use tokio::time::Instant;

use super::{identity, tags, Artifact, Interrupt, Request, TemplateChange};
use crate::cloud::{CopyImage, Ec2, Image, LaunchTemplate};
use crate::error::{Error, Result};
use crate::wait::cloud::after_error;
use crate::wait::engine::{until, Check, Pacing};
use crate::wait::progress::Progress;

/// How many regions are worked on at once.
pub const CONCURRENCY: usize = 4;
/// Time between looks at a copy in progress.
const COPY_POLL: Duration = Duration::from_secs(15);
/// The longest a copy is waited for (`--timeout` stops the job sooner).
const COPY_LIMIT: Duration = Duration::from_secs(3 * 3600);

/// Another region of the environment: EC2 there (with that region's credentials) and
/// the launch template that gets the AMI.
pub struct Destination {
    pub region: String,
    pub ec2: Box<dyn Ec2>,
    /// Name or id of the region's launch template; None: copy only.
    pub launch_template: Option<String>,
    /// The region's account when it is not the home region's: the home AMI is shared with
    /// it before the copy.
    pub share_with: Option<String>,
}

/// How a region got its AMI.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// Packer made it there (the home region, or one of the template's `ami_regions`).
    Baked,
    /// An AMI of this commit was there already.
    Reused,
    /// slipway copied it there from the home region.
    Copied,
    /// Dry run: Packer would bake it.
    WouldBake,
    /// Dry run: it would be copied from the home region.
    WouldCopy,
}

impl How {
    pub fn as_str(self) -> &'static str {
        match self {
            How::Baked => "baked",
            How::Reused => "reused",
            How::Copied => "copied",
            How::WouldBake => "would bake",
            How::WouldCopy => "would copy",
        }
    }
}

/// One region of the bake: its AMI, how it got there, and its launch template change.
#[derive(Debug, Clone, Serialize)]
pub struct RegionResult {
    pub region: String,
    pub ami_id: Option<String>,
    pub how: How,
    /// Seconds spent getting the AMI there (the copy and its wait).
    pub seconds: f64,
    pub launch_template: Option<TemplateChange>,
}

/// The AMI a region already has: one Packer made in this run, else the newest of this
/// commit (and build) copied from `source`, or (unless `--rebake`) one that is no copy:
/// Packer's `ami_regions` copy from an earlier run.
pub(super) async fn existing(
    req: &Request,
    ec2: &dyn Ec2,
    region: &str,
    build: &str,
    source: &str,
    made: &[Artifact],
) -> Result<Option<(String, How)>> {
    if let Some(a) = made.iter().find(|a| a.region == region && a.build == build) {
        return Ok(Some((a.ami_id.clone(), How::Baked)));
    }
    let mut wanted = identity(req);
    if !build.is_empty() && req.build.is_none() {
        wanted.push((tags::BUILD.to_string(), build.to_string()));
    }
    let images = ec2.images_by_tags(&wanted).await?;
    let fits = |i: &Image| {
        let usable = !matches!(
            i.state.as_deref(),
            Some("failed" | "deregistered" | "error" | "invalid")
        );
        let of_source = match i.tags.get(tags::SOURCE_AMI) {
            Some(from) => from == source,
            None => !req.rebake,
        };
        usable && of_source
    };
    Ok(images.iter().find(|i| fits(i)).map(|i| (i.id.clone(), How::Reused)))
}

/// The AMI in `dest`: reused when there is one, else copied from `source` in the home
/// region and waited for. Errors name the region.
pub(super) async fn ensure(
    req: &Request,
    dest: &Destination,
    source: &Image,
    build: &str,
    made: &[Artifact],
    interrupt: &Interrupt,
) -> Result<RegionResult> {
    let started = Instant::now();
    let region = dest.region.as_str();
    let done = |ami: String, how| RegionResult {
        region: region.to_string(),
        ami_id: Some(ami),
        how,
        seconds: started.elapsed().as_secs_f64(),
        launch_template: None,
    };
    let found = existing(req, dest.ec2.as_ref(), region, build, &source.id, made).await;
    match found.map_err(|e| e.with_prefix(&format!("region {region}")))? {
        Some((ami, how)) => {
            eprintln!("{region}: {ami} is already there ({}): no copy", how.as_str());
            available(dest, &ami, interrupt).await?;
            return Ok(done(ami, how));
        }
        None => interrupt.check()?,
    }
    let copy = CopyImage {
        source_region: req.region.clone(),
        source_image_id: source.id.clone(),
        name: source
            .name
            .clone()
            .unwrap_or_else(|| format!("{}-{}-{}", req.app, crate::commit::short(&req.commit), source.id)),
        description: Some(format!(
            "slipway: {} {} ({}), copy of {} from {}",
            req.app,
            req.version,
            crate::commit::short(&req.commit),
            source.id,
            req.region
        )),
        tags: copy_tags(req, source),
    };
    let ami = dest.ec2.copy_image(&copy).await.map_err(|e| {
        Error::from(e).with_prefix(&format!("region {region}: copying {} from {}", source.id, req.region))
    })?;
    eprintln!("{region}: copying {} from {} as {ami}", source.id, req.region);
    let step = format!("deregister {ami} in {region} (a copy not finished)");
    interrupt.pending().push(step.clone());
    let waited = async {
        available(dest, &ami, interrupt).await?;
        // Tags the copy did not get with it (CopyImage's tag specification is all or nothing).
        let have = dest.ec2.image(&ami).await?.map(|i| i.tags).unwrap_or_default();
        let missing: Vec<_> = copy
            .tags
            .iter()
            .filter(|(k, _)| !have.contains_key(k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            dest.ec2.create_tags(std::slice::from_ref(&ami), &missing).await?;
        }
        Ok::<_, Error>(())
    };
    let result = waited.await;
    let result = match result {
        Ok(()) => Ok(done(ami.clone(), How::Copied)),
        Err(e) => {
            // Cleanup always: the copy must not stay half made.
            let cleanup = match dest.ec2.deregister_image(&ami).await {
                Ok(()) => format!("the unfinished copy {ami} was deregistered"),
                Err(d) => format!("could not deregister the unfinished copy {ami} ({d}): deregister it by hand"),
            };
            Err(e.with_prefix(&format!("region {region}")).with_suffix(&cleanup))
        }
    };
    interrupt.pending().remove(&step);
    result
}

/// The source's own tags (not AWS's) and where the copy came from.
fn copy_tags(req: &Request, source: &Image) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = source
        .tags
        .iter()
        .filter(|(k, _)| !k.starts_with("aws:"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.retain(|(k, _)| k != tags::SOURCE_AMI && k != tags::SOURCE_REGION);
    out.push((tags::SOURCE_AMI.to_string(), source.id.clone()));
    out.push((tags::SOURCE_REGION.to_string(), req.region.clone()));
    out
}

/// Waits (the one polling engine) until `ami` in `dest` is available.
async fn available(dest: &Destination, ami: &str, interrupt: &Interrupt) -> Result<()> {
    let what = format!("the copy {ami}");
    let pacing = Pacing::new(COPY_POLL, COPY_LIMIT);
    let mut progress = Progress::lines();
    let waited = until(&what, &pacing, &interrupt.token(), &mut progress, || async {
        Ok(match dest.ec2.image(ami).await {
            Ok(Some(image)) => state_check(image.state.as_deref()),
            // Just made: DescribeImages may not show it yet.
            Ok(None) => Check::Pending("not visible yet".into()),
            Err(e) => after_error(&e),
        })
    })
    .await;
    match (waited, interrupt.received()) {
        (Ok(()), _) => Ok(()),
        (Err(_), Some(stop)) => Err(stop.error(&format!("while waiting for {what}"))),
        (Err(e), None) => Err(e),
    }
}

/// What an image's state means for a wait.
fn state_check(state: Option<&str>) -> Check<()> {
    match state {
        Some("available") => Check::Done(()),
        Some("pending" | "transient") | None => Check::Pending(state.unwrap_or("no state yet").to_string()),
        Some(bad @ ("failed" | "error" | "invalid" | "deregistered" | "disabled")) => {
            Check::Failed(format!("the copy ended {bad}"))
        }
        // A state AWS adds later: keep looking, and say which.
        Some(other) => Check::Pending(format!("state {other}")),
    }
}

/// Every region's work (at most `CONCURRENCY` at once), results in the given order. All
/// run to their end (each cleans up after itself); the first error, in order, names the
/// other failed regions.
pub(super) async fn each<T, Fut>(work: Vec<(String, Fut)>) -> Result<Vec<T>>
where
    Fut: std::future::Future<Output = Result<T>>,
{
    let results: Vec<(String, Result<T>)> = stream::iter(work)
        .map(|(region, fut)| async move { (region, fut.await) })
        .buffered(CONCURRENCY)
        .collect()
        .await;
    let failed: Vec<String> = results
        .iter()
        .filter(|(_, r)| r.is_err())
        .map(|(region, _)| region.clone())
        .collect();
    let mut out = Vec::new();
    let mut first = None;
    for (_, r) in results {
        match r {
            Ok(v) => out.push(v),
            Err(e) => {
                first.get_or_insert(e);
            }
        }
    }
    match first {
        None => Ok(out),
        Some(e) if failed.len() > 1 => Err(e.with_suffix(&format!("failed in {}", failed.join(", ")))),
        Some(e) => Err(e),
    }
}

/// A dry run's rows for the other regions: the AMI each already has (when the home
/// region's is known), else a copy, and the launch template that would get a version.
pub(super) async fn plan(
    req: &Request,
    destinations: &[Destination],
    templates: &[Option<(LaunchTemplate, i64)>],
    home: Option<&Artifact>,
) -> Result<Vec<RegionResult>> {
    let mut out = Vec::new();
    for (dest, template) in destinations.iter().zip(templates) {
        let found = match home {
            Some(a) => existing(req, dest.ec2.as_ref(), &dest.region, &a.build, &a.ami_id, &[])
                .await
                .map_err(|e| e.with_prefix(&format!("region {}", dest.region)))?,
            None => None,
        };
        out.push(RegionResult {
            region: dest.region.clone(),
            ami_id: found.as_ref().map(|(ami, _)| ami.clone()),
            how: found.map(|(_, how)| how).unwrap_or(How::WouldCopy),
            seconds: 0.0,
            launch_template: super::planned(template),
        });
    }
    Ok(out)
}

/// Puts each region's AMI into its launch template (`rows` and `templates` in the order
/// of `destinations`); None for a region without one.
pub(super) async fn put_everywhere(
    req: &Request,
    destinations: &[Destination],
    templates: &[Option<(LaunchTemplate, i64)>],
    rows: &[RegionResult],
) -> Result<Vec<Option<TemplateChange>>> {
    let work = destinations
        .iter()
        .zip(templates)
        .zip(rows)
        .map(|((dest, template), row)| {
            let put = async move {
                match (template, &row.ami_id) {
                    (Some((template, source)), Some(ami)) => {
                        super::put_in_template(req, dest.ec2.as_ref(), template, *source, ami)
                            .await
                            .map(Some)
                            .map_err(|e| e.with_prefix(&format!("region {}", dest.region)))
                    }
                    _ => Ok(None),
                }
            };
            (dest.region.clone(), put)
        })
        .collect();
    each(work).await
}

/// The destination's launch template, checked before anything is built.
pub(super) async fn find_template(req: &Request, dest: &Destination) -> Result<Option<(LaunchTemplate, i64)>> {
    match &dest.launch_template {
        Some(name) => super::find_template(req, dest.ec2.as_ref(), name, &dest.region)
            .await
            .map(Some)
            .map_err(|e| e.with_prefix(&format!("region {}", dest.region))),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_states_end_or_continue_a_wait() {
        assert_eq!(state_check(Some("available")), Check::Done(()));
        assert!(matches!(state_check(Some("pending")), Check::Pending(_)));
        assert!(matches!(state_check(None), Check::Pending(_)));
        assert!(matches!(state_check(Some("failed")), Check::Failed(_)));
        assert!(matches!(state_check(Some("deregistered")), Check::Failed(_)));
        assert_eq!(state_check(Some("shiny")), Check::Pending("state shiny".into()));
    }

    #[tokio::test]
    async fn each_keeps_the_order_runs_everything_and_names_every_failed_region() {
        let work = |fail: &'static [&'static str]| {
            ["us-west-2", "eu-west-1", "ap-south-1"]
                .into_iter()
                .map(move |r| {
                    let job = async move {
                        match fail.contains(&r) {
                            true => Err(Error::failed(format!("{r} broke"))),
                            false => Ok(r.to_string()),
                        }
                    };
                    (r.to_string(), job)
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(
            each(work(&[])).await.unwrap(),
            vec!["us-west-2", "eu-west-1", "ap-south-1"]
        );
        let err = each(work(&["ap-south-1", "eu-west-1"])).await.unwrap_err();
        assert_eq!(err.exit_code(), 1);
        assert_eq!(err.to_string(), "eu-west-1 broke (failed in eu-west-1, ap-south-1)");
        let err = each(work(&["us-west-2"])).await.unwrap_err();
        assert_eq!(err.to_string(), "us-west-2 broke");
    }
}
