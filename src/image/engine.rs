//! The container engine (Docker or Podman, wherever DOCKER_HOST points) through bollard:
//! build from the streamed context with the engine's output shown as it comes, and push
//! with the registry's credentials.

use std::collections::HashMap;

use bollard::auth::DockerCredentials;
use bollard::query_parameters::{BuildImageOptionsBuilder, PushImageOptionsBuilder};
use bollard::Docker;
use futures_util::StreamExt;

use super::context::Context;
use crate::error::{Error, Result};

/// What to build.
#[derive(Debug, Clone, Default)]
pub struct BuildSpec {
    /// The full reference the image gets, `host/repository:tag`.
    pub reference: String,
    pub labels: HashMap<String, String>,
    pub build_args: HashMap<String, String>,
    pub target: Option<String>,
    pub platform: Option<String>,
}

/// A connected engine.
pub struct Engine {
    docker: Docker,
    /// Where it was found, for messages.
    pub address: String,
}

fn start_help() -> &'static str {
    "start an engine and point DOCKER_HOST at it, e.g. `podman system service --time=0 \
     unix:///run/podman/podman.sock &` and `export DOCKER_HOST=unix:///run/podman/podman.sock`, \
     or start Docker (`sudo systemctl start docker`)"
}

impl Engine {
    /// Connects to DOCKER_HOST (default: the local Docker socket) and checks the engine answers.
    pub async fn connect() -> Result<Engine> {
        let address = std::env::var("DOCKER_HOST")
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "unix:///var/run/docker.sock".to_string());
        let unreachable = |why: String| {
            Error::input(
                format!("no container engine answers at DOCKER_HOST={address}: {why}"),
                start_help(),
            )
        };
        let docker = Docker::connect_with_defaults().map_err(|e| unreachable(e.to_string()))?;
        docker.ping().await.map_err(|e| unreachable(e.to_string()))?;
        Ok(Engine { docker, address })
    }

    /// Builds the image; the engine's output goes to stderr line by line. A failed step
    /// fails the job with that step and the engine's error text.
    pub async fn build(&self, context: Context, spec: &BuildSpec) -> Result<()> {
        let mut options = BuildImageOptionsBuilder::new()
            .dockerfile(&context.dockerfile)
            .t(&spec.reference)
            .rm(true)
            .forcerm(true)
            .labels(&spec.labels)
            .buildargs(&spec.build_args);
        if let Some(target) = &spec.target {
            options = options.target(target);
        }
        if let Some(platform) = &spec.platform {
            options = options.platform(platform);
        }
        let body = bollard::body_try_stream(context.stream());
        let mut stream = self.docker.build_image(options.build(), None, Some(body));
        let mut step = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    let text = info.stream.or(info.status).unwrap_or_default();
                    for line in text.lines().filter(|l| !l.trim().is_empty()) {
                        if line.starts_with("STEP ") || line.starts_with("Step ") {
                            step = line.trim().to_string();
                        }
                        eprintln!("{line}");
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    let at = if step.is_empty() {
                        String::new()
                    } else {
                        format!(" at {step}")
                    };
                    return Err(Error::failed_with_help(
                        format!("the build failed{at}: {}", error.trim()),
                        "the engine's output above shows the failing step",
                    ));
                }
                Err(e) => return Err(self.failed("build", e)),
            }
        }
        Ok(())
    }

    /// Pushes `name:tag` with the credentials; returns the digest the engine reports, if any.
    pub async fn push(&self, name: &str, tag: &str, credentials: DockerCredentials) -> Result<Option<String>> {
        let options = PushImageOptionsBuilder::new().tag(tag).build();
        let mut stream = self.docker.push_image(name, Some(options), Some(credentials));
        let mut digest = None;
        let mut last = String::new();
        while let Some(item) = stream.next().await {
            match item {
                Ok(info) => {
                    let status = info.status.unwrap_or_default();
                    if let Some(d) = status.split("digest: ").nth(1) {
                        digest = d.split_whitespace().next().map(str::to_string);
                    }
                    if !status.is_empty() && status != last {
                        eprintln!("push: {status}");
                        last = status;
                    }
                }
                Err(bollard::errors::Error::DockerStreamError { error }) => {
                    return Err(Error::failed(format!("pushing {name}:{tag} failed: {}", error.trim())))
                }
                Err(e) => return Err(self.failed("push", e)),
            }
        }
        Ok(digest)
    }

    fn failed(&self, what: &str, e: bollard::errors::Error) -> Error {
        Error::failed_with_help(
            format!("the engine at {} failed the {what}: {e}", self.address),
            "check the engine is still running (`docker info` or `podman info`)",
        )
    }
}
