//! One artifact everywhere: an environment in several regions gets its image built (or
//! promoted) once, in its home region (the first of the first wave), and then the same
//! digest in every other region's repository: waited for where the home registry's
//! replication rules copy it, copied through the registry v2 API everywhere else. Every
//! region is checked before anything is pushed; the copies run concurrently (bounded),
//! and a repository this run created in a region is deleted again when its copy fails.

use std::time::Duration;

use futures_util::stream::{self, StreamExt};
use tokio::time::Instant;

use super::copy::{self, Side};
use super::registry::Registry;
use super::report::{How, RegionImage};
use super::{registry_login, registry_override, remove_created, repository_name, Outcome, Request};
use crate::cloud::ecr::{replicates, Ecr, Manifest};
use crate::context::Job;
use crate::error::{Error, Result};
use crate::github::Runner;
use crate::signal::Interrupt;
use crate::wait::{self, Check, Pacing, Progress};

/// How many regions copy at once.
const AT_ONCE: usize = 4;

/// One region of the environment: its job (settings in that region), its ECR and the
/// account its credentials belong to.
pub struct Region {
    pub job: Job,
    pub ecr: Box<dyn Ecr>,
    pub account: String,
}

impl Region {
    pub fn name(&self) -> String {
        self.job.settings.aws.region.clone().unwrap_or_default()
    }
}

/// A region the image goes to, checked before the build.
struct Destination<'a> {
    region: &'a Region,
    repository: String,
    registry: Registry,
    exists: bool,
    replicated: bool,
}

/// Builds or promotes in `home`, then makes the digest present in every one of `others`.
/// `replication_timeout` bounds the wait for each replica.
pub async fn run(
    request: &Request,
    home: &Region,
    others: &[Region],
    runner: &Runner,
    interrupt: &Interrupt,
    replication_timeout: Duration,
) -> Result<Outcome> {
    let home_repository = repository_name(request, &home.job)?;
    let (registry_id, rules) = home
        .ecr
        .replication()
        .await
        .map_err(|e| Error::from(e).with_prefix(&format!("region {} (home)", home.name())))?;
    let home_account = if home.account.is_empty() {
        registry_id
    } else {
        home.account.clone()
    };
    // Every region is checked (and logged in to) before anything is built or pushed.
    let mut destinations = Vec::new();
    for region in others {
        let name = region.name();
        let checked = check(request, region, &home_repository, &home_account, &rules, runner)
            .await
            .map_err(|e| e.with_prefix(&format!("region {name}")))?;
        destinations.push(checked);
    }
    let started = Instant::now();
    let mut outcome = super::run(request, &home.job, runner, home.ecr.as_ref(), interrupt)
        .await
        .map_err(|e| e.with_prefix(&format!("region {} (home)", home.name())))?;
    outcome.regions.push(RegionImage {
        region: home.name(),
        repository: outcome.repository.clone(),
        image_uri: outcome.image_uri.clone(),
        how: How::Home,
        blobs: 0,
        bytes: 0,
        tags: 0,
        seconds: started.elapsed().as_secs_f64(),
        created_repository: outcome.created_repository,
    });
    let source_manifest = match &outcome.digest {
        Some(digest) => {
            let override_host = registry_override(request.registry.as_deref(), &home.job)?;
            let (auth, host, base) = registry_login(home.ecr.as_ref(), runner, override_host.as_ref()).await?;
            let source = Registry::new(&host, &base, &auth.username, auth.password);
            let manifest = source.manifest(&home_repository, digest).await?.ok_or_else(|| {
                Error::failed(format!(
                    "{host}/{home_repository} does not show {digest}, which it just reported"
                ))
            })?;
            Some((source, manifest))
        }
        None => None,
    };
    let tags = outcome.tags.clone();
    // What a second signal says is left to clean up while the copies run.
    let created: Vec<String> = destinations
        .iter()
        .filter(|d| !d.exists && !d.replicated && !request.dry_run)
        .map(|d| {
            format!(
                "delete the ECR repository {} in {} this run created, if it is still empty",
                d.repository,
                d.region.name()
            )
        })
        .collect();
    interrupt.pending().set(created);
    let jobs = destinations.iter().map(|d| {
        let source = source_manifest.as_ref().map(|(r, m)| {
            (
                Side {
                    registry: r,
                    repository: &home_repository,
                },
                m,
            )
        });
        let tags = &tags;
        async move {
            let started = Instant::now();
            let result = match source {
                Some((from, manifest)) => {
                    deliver(d, from, manifest, tags, request, interrupt, replication_timeout).await
                }
                // A dry run that would build: nothing to count yet.
                None => Ok(row(d, None, How::for_plan(d.replicated), Default::default())),
            };
            result
                .map(|mut r| {
                    r.seconds = started.elapsed().as_secs_f64();
                    r
                })
                .map_err(|e| e.with_prefix(&format!("region {}", d.region.name())))
        }
    });
    let results: Vec<Result<RegionImage>> = stream::iter(jobs).buffered(AT_ONCE).collect().await;
    interrupt.pending().set(Vec::new());
    let mut failures = Vec::new();
    for result in results {
        match result {
            Ok(r) => outcome.regions.push(r),
            Err(e) => failures.push(e),
        }
    }
    // The first failure is the job's error; any others are said here.
    for e in failures.iter().skip(1) {
        eprintln!("also: {}", e.render().lines().next().unwrap_or_default());
    }
    match failures.into_iter().next() {
        Some(e) => Err(e),
        None => Ok(outcome),
    }
}

/// Checks a destination before anything is pushed: its repository (exists, or will be
/// created, or replication brings it), whether replication covers it, and a login.
async fn check<'a>(
    request: &Request,
    region: &'a Region,
    home_repository: &str,
    home_account: &str,
    rules: &[crate::cloud::ecr::ReplicationRule],
    runner: &Runner,
) -> Result<Destination<'a>> {
    let repository = repository_name(request, &region.job)?;
    let account = if region.account.is_empty() {
        home_account
    } else {
        region.account.as_str()
    };
    let replicated = repository == home_repository && replicates(rules, home_repository, &region.name(), account);
    let exists = region.ecr.repository(&repository).await?.is_some();
    if !exists && !replicated && !request.create_repository {
        return Err(Error::input(
            format!("ECR repository {repository:?} does not exist"),
            "create it in that region (e.g. with Terraform), or pass --create-repository to create it now",
        ));
    }
    let override_host = registry_override(None, &region.job)?;
    let (auth, host, base) = registry_login(region.ecr.as_ref(), runner, override_host.as_ref()).await?;
    Ok(Destination {
        region,
        repository,
        registry: Registry::new(&host, &base, &auth.username, auth.password),
        exists,
        replicated,
    })
}

fn row(d: &Destination<'_>, digest: Option<&str>, how: How, moved: copy::Moved) -> RegionImage {
    RegionImage {
        region: d.region.name(),
        repository: d.repository.clone(),
        image_uri: digest.map(|digest| format!("{}/{}@{digest}", d.registry.host, d.repository)),
        how,
        blobs: moved.blobs,
        bytes: moved.bytes,
        tags: moved.tags,
        seconds: 0.0,
        created_repository: !d.exists && !d.replicated,
    }
}

/// Makes the digest present in one destination (or, in a dry run, says what that takes).
async fn deliver(
    d: &Destination<'_>,
    from: Side<'_>,
    manifest: &Manifest,
    tags: &[String],
    request: &Request,
    interrupt: &Interrupt,
    replication_timeout: Duration,
) -> Result<RegionImage> {
    let to = Side {
        registry: &d.registry,
        repository: &d.repository,
    };
    let region = d.region.name();
    if request.dry_run {
        // A repository that does not exist yet answers 404 for every blob: all are counted.
        let (moved, present) = counted(from, to, manifest, tags).await?;
        let how = match present {
            true => How::Present,
            false => How::for_plan(d.replicated),
        };
        return Ok(row(d, Some(&manifest.digest), how, moved));
    }
    if d.replicated {
        eprintln!(
            "{region}: {}/{} is replicated from the home region: waiting for {}",
            d.registry.host, d.repository, manifest.digest
        );
        wait_for_replica(d, manifest, interrupt, replication_timeout).await?;
        let moved = copy::copy(from, to, manifest, tags, false).await?;
        return Ok(row(d, Some(&manifest.digest), How::Replicated, moved));
    }
    interrupt.check()?;
    if !d.exists {
        eprintln!("{region}: repository {}: creating it", d.repository);
        d.region.ecr.create_repository(&d.repository).await?;
    }
    let stopped = format!("the copy of {} to {region} was abandoned", manifest.digest);
    let copied = tokio::select! {
        done = copy::copy(from, to, manifest, tags, false) => done,
        stop = interrupt.wait() => Err(stop.error(&stopped)),
    };
    let copied = match copied {
        Ok(moved) => verified(to, manifest, tags).await.map(|_| moved),
        Err(e) => Err(e),
    };
    if copied.is_err() && !d.exists {
        remove_created(d.region.ecr.as_ref(), &d.repository).await;
    }
    let moved = copied?;
    let how = match moved.blobs {
        0 if moved.tags == 0 => How::Present,
        _ => How::Copied,
    };
    match how {
        How::Present => eprintln!(
            "{region}: {} is already there under every tag: nothing copied",
            manifest.digest
        ),
        _ => eprintln!(
            "{region}: copied {} blobs ({} bytes) and {} tags of {}",
            moved.blobs, moved.bytes, moved.tags, manifest.digest
        ),
    }
    Ok(row(d, Some(&manifest.digest), how, moved))
}

/// What a copy would move, and whether the image is already there under every tag.
async fn counted(from: Side<'_>, to: Side<'_>, manifest: &Manifest, tags: &[String]) -> Result<(copy::Moved, bool)> {
    let moved = copy::copy(from, to, manifest, tags, true).await?;
    let present = moved.blobs == 0 && moved.tags == 0;
    Ok((moved, present))
}

/// Every tag in the destination names the source's digest.
async fn verified(to: Side<'_>, manifest: &Manifest, tags: &[String]) -> Result<()> {
    for tag in tags {
        let found = to.registry.manifest(to.repository, tag).await?;
        let digest = found.map(|m| m.digest).unwrap_or_else(|| "nothing".into());
        if digest != manifest.digest {
            return Err(Error::failed(format!(
                "{}/{}:{tag} holds {digest} after the copy, not {}",
                to.registry.host, to.repository, manifest.digest
            )));
        }
    }
    Ok(())
}

/// Waits (the one polling engine) until the replica of `manifest` shows in the destination.
async fn wait_for_replica(
    d: &Destination<'_>,
    manifest: &Manifest,
    interrupt: &Interrupt,
    timeout: Duration,
) -> Result<()> {
    let what = format!(
        "the replica of {} in {} ({}/{})",
        manifest.digest,
        d.region.name(),
        d.registry.host,
        d.repository
    );
    let pacing = Pacing::new(replica_interval(timeout), timeout);
    let mut progress = Progress::stderr();
    wait::until(&what, &pacing, &interrupt.token(), &mut progress, || async {
        // A registry answers 404 for a repository replication has not created yet, too.
        Ok(match d.registry.manifest(&d.repository, &manifest.digest).await? {
            Some(_) => Check::Done(()),
            None => Check::Pending("not replicated yet".into()),
        })
    })
    .await
    .map_err(|e| match interrupt.received() {
        // SIGINT/SIGTERM or --timeout: exit 130 or 3, as for every other step.
        Some(stop) => stop.error(&format!("the wait for {what} was abandoned")),
        None => e.with_help(
            "check the registry's replication rules (ecr describe-registry) and the replication status in the \
             destination; raise --replication-timeout when replication is merely slow",
        ),
    })
}

/// How often a replica is looked for: a thirtieth of the timeout, between 200ms and 15s.
fn replica_interval(timeout: Duration) -> Duration {
    (timeout / 30).clamp(Duration::from_millis(200), Duration::from_secs(15))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replicas_are_looked_for_often_but_not_too_often() {
        assert_eq!(replica_interval(Duration::from_secs(1800)), Duration::from_secs(15));
        assert_eq!(replica_interval(Duration::from_secs(60)), Duration::from_secs(2));
        assert_eq!(replica_interval(Duration::from_secs(1)), Duration::from_millis(200));
    }
}
