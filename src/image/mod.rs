//! Container images: build once through the engine and push to ECR, or promote the
//! image already built for this commit by re-tagging its manifest (no rebuild, no layer
//! moves), so a tag push to prod ships byte for byte what was tested on stage.

pub mod context;
pub mod engine;
pub mod ignore;
pub mod reference;
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

    async fn put(&self, repository: &str, tag: &str, manifest: &Manifest) -> Result<()> {
        match self {
            Store::Ecr(ecr) => Ok(ecr.put_image(repository, tag, manifest).await?),
            Store::Registry(r) => r.put_manifest(repository, tag, manifest).await.map(|_| ()),
        }
    }
}

/// Builds and pushes, or promotes; with `dry_run` only decides which.
pub async fn run(request: &Request, job: &Job, runner: &Runner, ecr: &dyn Ecr) -> Result<Outcome> {
    // Everything that can be checked locally is checked before the first call.
    let context = context::Context::open(&request.context, request.dockerfile.as_deref())?;
    let build_args = tags::build_args(&request.build_args)?;
    let all_tags = tags::tags(&job.sha_tag(), &job.version, Some(&job.environment), &request.tags)?;
    let repository = repository_name(request, job)?;
    let override_host = request.registry.as_deref().map(registry::parse_host).transpose()?;

    let auth = ecr.authorization().await?;
    runner.mask(&auth.password);
    runner.mask(&base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", auth.username, auth.password)));
    let (host, base) = match &override_host {
        Some(pair) => pair.clone(),
        None => registry::parse_host(&auth.proxy_endpoint).map_err(|_| {
            Error::failed(format!(
                "ECR returned the endpoint {:?}, which is not a registry host",
                auth.proxy_endpoint
            ))
        })?,
    };
    let store = match override_host {
        Some(_) => Store::Registry(Registry::new(&host, &base, &auth.username, &auth.password)),
        None => Store::Ecr(ecr),
    };

    let mut outcome = Outcome::new(job, &repository, &host, all_tags.clone(), request.dry_run);
    let exists = ecr.repository(&repository).await?.is_some();
    if !exists {
        if !request.create_repository {
            return Err(Error::input(
                format!("ECR repository {repository:?} does not exist"),
                "create it (e.g. with Terraform), or pass --create-repository to create it now",
            ));
        }
        outcome.created_repository = true;
        if !request.dry_run {
            eprintln!("repository {repository}: creating it");
            ecr.create_repository(&repository).await?;
        }
    }

    let sha_tag = &all_tags[0];
    // A registry is always asked, even for a new repository: wrong credentials then fail
    // here, before a build, with the registry's own message.
    let existing = match (exists, &store) {
        (true, _) | (false, Store::Registry(_)) => store.find(&repository, sha_tag).await?,
        (false, Store::Ecr(_)) => None,
    };
    outcome.action = match (&existing, request.rebuild) {
        (Some(_), false) => Action::Promoted,
        _ => Action::Built,
    };
    if let Some(found) = &existing {
        outcome.set_digest(&found.digest);
    }
    if request.dry_run {
        return Ok(outcome);
    }

    let manifest = match (existing, request.rebuild) {
        (Some(found), false) => {
            eprintln!(
                "{repository}:{sha_tag} exists ({}): promoting it, no build",
                found.digest
            );
            found
        }
        _ => {
            let labels = tags::oci_labels(&job.app, &job.sha, &job.version, source_url(runner).as_deref());
            outcome.labels = labels.clone().into_iter().collect();
            let spec = engine::BuildSpec {
                reference: format!("{host}/{repository}:{sha_tag}"),
                labels,
                build_args,
                target: request.target.clone(),
                platform: request.platform.clone(),
            };
            outcome.seconds = build_and_push(context, &spec, &host, &repository, sha_tag, &auth, runner).await?;
            store.find(&repository, sha_tag).await?.ok_or_else(|| {
                Error::failed(format!(
                    "the engine pushed {repository}:{sha_tag}, but the registry at {host} does not show it"
                ))
            })?
        }
    };
    let started = Instant::now();
    for tag in &all_tags[1..] {
        eprintln!("tag {repository}:{tag} -> {}", manifest.digest);
        store.put(&repository, tag, &manifest).await?;
    }
    outcome.seconds.tag = Some(started.elapsed().as_secs_f64());
    outcome.set_digest(&manifest.digest);
    Ok(outcome)
}

async fn build_and_push(
    context: context::Context,
    spec: &engine::BuildSpec,
    host: &str,
    repository: &str,
    sha_tag: &str,
    auth: &Authorization,
    runner: &Runner,
) -> Result<Seconds> {
    let engine = engine::Engine::connect().await?;
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
    let started = Instant::now();
    grouped(&format!("push {host}/{repository}:{sha_tag}"));
    let credentials = DockerCredentials {
        username: Some(auth.username.clone()),
        password: Some(auth.password.clone()),
        serveraddress: Some(host.to_string()),
        ..Default::default()
    };
    let pushed = engine.push(&format!("{host}/{repository}"), sha_tag, credentials).await;
    end();
    pushed?;
    Ok(Seconds {
        build,
        push: Some(started.elapsed().as_secs_f64()),
        tag: None,
    })
}

fn repository_name(request: &Request, job: &Job) -> Result<String> {
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
