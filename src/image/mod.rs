//! Container images: build once through the engine and push to ECR, or promote the
//! image already built for this commit by re-tagging its manifest (no rebuild, no layer
//! moves), so a tag push to prod ships byte for byte what was tested on stage.

pub mod command;
pub mod context;
pub mod copy;
pub mod engine;
pub mod ignore;
pub mod reference;
pub mod regions;
pub mod registry;
pub mod report;
pub mod tags;

use std::path::PathBuf;
use std::time::Instant;

use base64::Engine as _;
use bollard::auth::DockerCredentials;

use crate::cloud::ecr::{Authorization, Ecr, Manifest};
use crate::context::Job;
use crate::error::{Error, Result};
use crate::github::{commands, Runner};
use crate::signal::Interrupt;
use registry::Registry;
pub use report::{Action, Outcome, Seconds};

/// What slipway-build was asked to do.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile; default `Dockerfile` in the context.
    pub dockerfile: Option<PathBuf>,
    /// `KEY=VALUE`.
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub platform: Option<String>,
    /// Extra tags.
    pub tags: Vec<String>,
    /// Overrides the environment's `ecr.repository`.
    pub repository: Option<String>,
    /// Overrides the registry host from the ECR token (private endpoints, test registries).
    pub registry: Option<String>,
    pub create_repository: bool,
    /// Build even when an image for this commit exists.
    pub rebuild: bool,
    pub dry_run: bool,
}

/// Where the image's manifests are read and written: ECR's API, or a registry's v2 API
/// when `--registry` names one.
enum Store<'a> {
    Ecr(&'a dyn Ecr),
    Registry(Registry),
}

impl Store<'_> {
    async fn find(&self, repository: &str, tag: &str) -> Result<Option<Manifest>> {
        match self {
            Store::Ecr(ecr) => Ok(ecr.image(repository, tag).await?),
            Store::Registry(r) => r.manifest(repository, tag).await,
        }
    }

    /// The commit the image's revision label names (only a registry's v2 API serves the
    /// image config; through ECR's API it is unknown).
    async fn revision(&self, repository: &str, manifest: &Manifest) -> Result<Option<String>> {
        match self {
            Store::Ecr(_) => Ok(None),
            Store::Registry(r) => r.revision(repository, manifest).await,
        }
    }

    async fn put(&self, repository: &str, tag: &str, manifest: &Manifest) -> Result<()> {
        match self {
            Store::Ecr(ecr) => Ok(ecr.put_image(repository, tag, manifest).await?),
            Store::Registry(r) => r.put_manifest(repository, tag, manifest).await.map(|_| ()),
        }
    }
}

/// Builds and pushes, or promotes; with `dry_run` only decides which. A stop (signal or
/// deadline) ends the engine's build or push by hanging up on it, and a repository this
/// run created is deleted again while it is still empty.
pub async fn run(
    request: &Request,
    job: &Job,
    runner: &Runner,
    ecr: &dyn Ecr,
    interrupt: &Interrupt,
) -> Result<Outcome> {
    // Everything that can be checked locally is checked before the first call.
    let context = context::Context::open(&request.context, request.dockerfile.as_deref())?;
    let build_args = tags::build_args(&request.build_args)?;
    let full_tag = tags::commit_tag(&job.sha);
    let all_tags = tags::tags(
        &[&job.sha_tag(), &full_tag],
        &job.version,
        Some(&job.environment),
        &request.tags,
    )?;
    let repository = repository_name(request, job)?;
    let override_host = registry_override(request.registry.as_deref(), job)?;

    let (auth, host, base) = interrupt
        .race("the ECR login", registry_login(ecr, runner, override_host.as_ref()))
        .await?;
    let store = match override_host {
        Some(_) => Store::Registry(Registry::new(&host, &base, &auth.username, auth.password.clone())),
        None => Store::Ecr(ecr),
    };

    let mut outcome = Outcome::new(job, &repository, &host, all_tags.clone(), request.dry_run);
    let exists = interrupt
        .race("the look for the repository", async {
            Ok(ecr.repository(&repository).await?.is_some())
        })
        .await?;
    if !exists && !request.create_repository {
        return Err(Error::input(
            format!("ECR repository {repository:?} does not exist"),
            "create it (e.g. with Terraform), or pass --create-repository to create it now",
        ));
    }

    let sha_tag = &all_tags[0];
    // A registry is always asked, even for a new repository: wrong credentials then fail
    // here, before a build, with the registry's own message.
    let existing = match (exists, &store) {
        (true, _) | (false, Store::Registry(_)) => {
            interrupt
                .race(
                    "the look for this commit's image",
                    this_commits_image(&store, &repository, sha_tag, &full_tag, &job.sha),
                )
                .await?
        }
        (false, Store::Ecr(_)) => None,
    };
    outcome.action = match (&existing, request.rebuild) {
        (Some(_), false) => Action::Promoted,
        _ => Action::Built,
    };
    if let Some(found) = &existing {
        outcome.set_digest(&found.digest);
    }
    outcome.created_repository = !exists;
    if request.dry_run {
        return Ok(outcome);
    }
    // Bad input ends the job before it changes anything: the engine a build needs is
    // found before the repository is created.
    let engine = match outcome.action {
        Action::Built => Some(engine::Engine::connect().await?),
        Action::Promoted => None,
    };
    interrupt.check()?;
    if !exists {
        eprintln!("repository {repository}: creating it");
        interrupt
            .race("the repository's creation", async {
                Ok(ecr.create_repository(&repository).await?)
            })
            .await?;
        interrupt.pending().set(vec![format!(
            "delete the ECR repository {repository} this run created, if it is still empty"
        )]);
    }
    let abandoned = format!(
        "the {} of {repository} was abandoned (the engine drops a build or push when slipway hangs up)",
        match outcome.action {
            Action::Built => "build",
            Action::Promoted => "promotion",
        }
    );
    let finished = tokio::select! {
        done = produce(
            request, job, runner, ecr, &store, existing, engine, context, build_args, &all_tags, &host, &repository,
            &auth, &mut outcome,
        ) => done,
        stop = interrupt.wait() => Err(stop.error(&abandoned)),
    };
    if finished.is_err() && !exists {
        remove_created(ecr, &repository).await;
    }
    interrupt.pending().set(Vec::new());
    finished?;
    Ok(outcome)
}

/// An ECR login and the registry it is for: `(host, base URL)` of the override when
/// there is one, else of the endpoint ECR names.
pub(crate) async fn registry_login(
    ecr: &dyn Ecr,
    runner: &Runner,
    override_host: Option<&(String, String)>,
) -> Result<(Authorization, String, String)> {
    let auth = login(ecr, runner).await?;
    let (host, base) = match override_host {
        Some(pair) => pair.clone(),
        None => registry::parse_host(&auth.proxy_endpoint).map_err(|_| {
            Error::failed(format!(
                "ECR returned the endpoint {:?}, which is not a registry host",
                auth.proxy_endpoint
            ))
        })?,
    };
    Ok((auth, host, base))
}

/// Deletes the repository this run created, when nothing was pushed into it.
pub(crate) async fn remove_created(ecr: &dyn Ecr, repository: &str) {
    match ecr.delete_empty_repository(repository).await {
        Ok(true) => eprintln!("repository {repository}: deleted again (this run created it and pushed nothing)"),
        Ok(false) => eprintln!("repository {repository}: kept, it holds an image"),
        Err(e) => {
            eprintln!("repository {repository}: this run created it and cannot delete it ({e}); delete it by hand")
        }
    }
}

/// Builds and pushes the image, or takes the existing one, then adds every tag.
#[allow(clippy::too_many_arguments)]
async fn produce(
    request: &Request,
    job: &Job,
    runner: &Runner,
    ecr: &dyn Ecr,
    store: &Store<'_>,
    existing: Option<Manifest>,
    engine: Option<engine::Engine>,
    context: context::Context,
    build_args: std::collections::HashMap<String, String>,
    all_tags: &[String],
    host: &str,
    repository: &str,
    auth: &Authorization,
    outcome: &mut Outcome,
) -> Result<()> {
    let sha_tag = &all_tags[0];
    let renewed_store;
    let mut store = store;
    let manifest = match (existing, engine) {
        (Some(found), None) => {
            eprintln!(
                "{repository}:{sha_tag} exists ({}): promoting it, no build",
                found.digest
            );
            found
        }
        (_, engine) => {
            let engine = match engine {
                Some(engine) => engine,
                None => engine::Engine::connect().await?,
            };
            let labels = tags::oci_labels(&job.app, &job.sha, &job.version, source_url(runner).as_deref());
            outcome.labels = labels.clone().into_iter().collect();
            let spec = engine::BuildSpec {
                reference: format!("{host}/{repository}:{sha_tag}"),
                labels,
                build_args,
                target: request.target.clone(),
                platform: request.platform.clone(),
            };
            let (seconds, renewed) =
                build_and_push(&engine, context, &spec, host, repository, sha_tag, auth, ecr, runner).await?;
            outcome.seconds = seconds;
            if let (Some(fresh), Store::Registry(registry)) = (renewed, store) {
                renewed_store = Store::Registry(registry.with_password(fresh.password));
                store = &renewed_store;
            }
            store.find(repository, sha_tag).await?.ok_or_else(|| {
                Error::failed(format!(
                    "the engine pushed {repository}:{sha_tag}, but the registry at {host} does not show it"
                ))
            })?
        }
    };
    let started = Instant::now();
    for tag in &all_tags[1..] {
        eprintln!("tag {repository}:{tag} -> {}", manifest.digest);
        store.put(repository, tag, &manifest).await?;
    }
    outcome.seconds.tag = Some(started.elapsed().as_secs_f64());
    outcome.set_digest(&manifest.digest);
    Ok(())
}

/// The image built for this commit, when the registry proves it is this commit's: the
/// full-commit tag, or the `sha-<short>` image's revision label naming the full commit.
/// Two commits sharing a short prefix never promote each other's image.
async fn this_commits_image(
    store: &Store<'_>,
    repository: &str,
    sha_tag: &str,
    full_tag: &str,
    sha: &str,
) -> Result<Option<Manifest>> {
    // A short --sha gives no full-commit tag: only the label can prove it then.
    if full_tag != sha_tag {
        if let Some(found) = store.find(repository, full_tag).await? {
            return Ok(Some(found));
        }
    }
    let Some(found) = store.find(repository, sha_tag).await? else {
        return Ok(None);
    };
    match store.revision(repository, &found).await? {
        Some(revision) if revision.eq_ignore_ascii_case(sha) => Ok(Some(found)),
        Some(revision) => {
            eprintln!(
                "{repository}:{sha_tag} was built from commit {revision}, not {sha} (the short commits \
                 collide): building this commit's image"
            );
            Ok(None)
        }
        None => {
            eprintln!(
                "{repository}:{sha_tag} exists, but neither a tag {full_tag} nor its revision label proves \
                 it is commit {sha}: building this commit's image"
            );
            Ok(None)
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn build_and_push(
    engine: &engine::Engine,
    context: context::Context,
    spec: &engine::BuildSpec,
    host: &str,
    repository: &str,
    sha_tag: &str,
    auth: &Authorization,
    ecr: &dyn Ecr,
    runner: &Runner,
) -> Result<(Seconds, Option<Authorization>)> {
    let grouped = |title: &str| {
        if runner.actions {
            eprintln!("{}", commands::group(title));
        }
    };
    let end = || {
        if runner.actions {
            eprintln!("{}", commands::endgroup());
        }
    };
    grouped(&format!("build {}", spec.reference));
    let started = Instant::now();
    let built = engine.build(context, spec).await;
    let build = Some(started.elapsed().as_secs_f64());
    end();
    built?;
    // A long build may outlast the login: renew it first when it ends within the hour.
    let renewed = match auth.ends_within(RENEW_LOGIN_BEFORE) {
        true => {
            let fresh = login(ecr, runner).await?;
            eprintln!("renewed the ECR login (the first one ends within the hour)");
            Some(fresh)
        }
        false => None,
    };
    let auth = renewed.as_ref().unwrap_or(auth);
    let started = Instant::now();
    grouped(&format!("push {host}/{repository}:{sha_tag}"));
    let credentials = DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.expose().to_string()),
        serveraddress: Some(host.to_string()),
        ..Default::default()
    };
    let pushed = engine.push(&format!("{host}/{repository}"), sha_tag, credentials).await;
    end();
    pushed?;
    let seconds = Seconds {
        build,
        push: Some(started.elapsed().as_secs_f64()),
        tag: None,
    };
    Ok((seconds, renewed))
}

/// How long before the ECR login ends a push renews it.
pub const RENEW_LOGIN_BEFORE: std::time::Duration = std::time::Duration::from_secs(3600);

/// An ECR login (GetAuthorizationToken), its password masked in both forms.
async fn login(ecr: &dyn Ecr, runner: &Runner) -> Result<Authorization> {
    let auth = ecr.authorization().await?;
    runner.mask(auth.password.expose());
    runner.mask(&base64::engine::general_purpose::STANDARD.encode(format!(
        "{}:{}",
        auth.username,
        auth.password.expose()
    )));
    Ok(auth)
}

/// The registry host to use instead of the one ECR's login names: `--registry`, else the
/// environment's `ecr.registry` (in this job's region).
pub fn registry_override(flag: Option<&str>, job: &Job) -> Result<Option<(String, String)>> {
    match flag {
        Some(value) => registry::parse_host(value).map(Some),
        None => job
            .settings
            .ecr
            .as_ref()
            .and_then(|e| e.registry.as_deref())
            .map(|value| {
                registry::parse_host(value).map_err(|_| {
                    Error::input(
                        format!(
                            "environment {:?}: ecr.registry {value:?} is not a registry host",
                            job.environment
                        ),
                        "write host[:port], https://host[:port] or http://host:port",
                    )
                })
            })
            .transpose(),
    }
}

pub(crate) fn repository_name(request: &Request, job: &Job) -> Result<String> {
    let name = request
        .repository
        .clone()
        .or_else(|| job.settings.ecr.as_ref().map(|e| e.repository.clone()))
        .ok_or_else(|| {
            Error::input(
                format!("environment {:?} has no ecr.repository", job.environment),
                "add `ecr: { repository: NAME }` to the environment in slipway.yml, or pass --repository NAME",
            )
        })?;
    let valid = regex::Regex::new(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*$")
        .map(|re| re.is_match(&name) && name.len() <= 256)
        .unwrap_or(false);
    if !valid {
        return Err(Error::input(
            format!("{name:?} is not a valid ECR repository name"),
            "use lowercase letters, digits and `._-/`, e.g. `web` or `team/web`",
        ));
    }
    Ok(name)
}

/// The repository URL for the source label: GitHub's, when running in Actions.
fn source_url(runner: &Runner) -> Option<String> {
    runner
        .repository
        .as_ref()
        .map(|repo| format!("{}/{repo}", runner.server_url))
}
