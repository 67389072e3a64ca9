//! The commands as one program, as rustup ships its tools: started as `slipway-roll`
//! (any of the command names, a link to the one binary) it is that command; started as
//! `slipway` it takes the command as its first argument (`slipway roll --dry-run`). The
//! release ships one binary and the names as links, so the archive holds one copy.

use std::ffi::OsString;
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;

use crate::cli;
use crate::github::Runner;

/// One of slipway's commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Program {
    Env,
    Build,
    Bake,
    Roll,
    Wait,
}

impl Program {
    pub const ALL: [Program; 5] = [
        Program::Env,
        Program::Build,
        Program::Bake,
        Program::Roll,
        Program::Wait,
    ];

    /// The binary's name.
    pub fn name(self) -> &'static str {
        match self {
            Program::Env => "slipway-env",
            Program::Build => "slipway-build",
            Program::Bake => "slipway-bake",
            Program::Roll => "slipway-roll",
            Program::Wait => "slipway-wait",
        }
    }

    /// The command a binary name (or `slipway`'s first argument) stands for.
    pub fn named(name: &str) -> Option<Program> {
        let name = name.strip_suffix(".exe").unwrap_or(name);
        let name = name.strip_prefix("slipway-").unwrap_or(name);
        Program::ALL
            .into_iter()
            .find(|p| p.name().strip_prefix("slipway-") == Some(name))
    }

    /// Runs the command with `args` (the first is the program's name, as clap expects).
    pub fn run(self, args: Vec<OsString>) -> ExitCode {
        cli::init_logging();
        // Roll and bake run on one thread: `--simulate` pauses tokio's clock, which only a
        // current-thread runtime allows.
        let mut builder = match self {
            Program::Env | Program::Roll | Program::Bake => tokio::runtime::Builder::new_current_thread(),
            Program::Build | Program::Wait => tokio::runtime::Builder::new_multi_thread(),
        };
        let runtime = match builder.enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("{}: error: cannot start the async runtime: {e}", self.name());
                return ExitCode::from(1);
            }
        };
        runtime.block_on(async move {
            let runner = Runner::from_env();
            let done = match self {
                Program::Env => crate::env::command::run(EnvCli::parse_from(args).args, &runner).await,
                Program::Build => crate::image::command::run(BuildCli::parse_from(args).args, &runner).await,
                Program::Bake => crate::ami::command::run(BakeCli::parse_from(args).args, &runner).await,
                Program::Roll => crate::roll::command::run(RollCli::parse_from(args).args, &runner).await,
                Program::Wait => match crate::wait::command::run_tracked(WaitCli::parse_from(args).args, &runner).await
                {
                    Ok(report) => return ExitCode::from(report.outcome.exit_code()),
                    Err(e) => Err(e),
                },
            };
            match done {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => cli::fail(self.name(), &err, &runner),
            }
        })
    }
}

/// `slipway`'s own entry: the command from the name it was started as, or from its first
/// argument.
pub fn main() -> ExitCode {
    let mut args: Vec<OsString> = std::env::args_os().collect();
    let started_as = args
        .first()
        .and_then(|a| Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    if let Some(program) = Program::named(&started_as).filter(|_| started_as.starts_with("slipway-")) {
        return program.run(args);
    }
    let first = args.get(1).map(|a| a.to_string_lossy().into_owned());
    match first.as_deref().map(|f| (f, Program::named(f))) {
        Some((_, Some(program))) => {
            args.remove(0);
            args[0] = program.name().into();
            program.run(args)
        }
        Some(("--version" | "-V", None)) => {
            println!("slipway {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        Some(("--help" | "-h" | "help", None)) => {
            print!("{}", usage());
            ExitCode::SUCCESS
        }
        Some((other, None)) => {
            eprintln!("slipway: error: no command {other:?}\n\n{}", usage());
            ExitCode::from(2)
        }
        None => {
            eprint!("{}", usage());
            ExitCode::from(2)
        }
    }
}

fn usage() -> String {
    let mut out = String::from(
        "slipway ships web applications to AWS from GitHub Actions and from a terminal.\n\n\
         Usage: slipway <COMMAND> [ARGS]... (or run the command by its own name, e.g. slipway-roll)\n\nCommands:\n",
    );
    for p in Program::ALL {
        out.push_str(&format!(
            "  {:<6} {}\n",
            p.name().trim_start_matches("slipway-"),
            p.about()
        ));
    }
    out.push_str("\n`slipway <COMMAND> --help` explains a command's flags.\n");
    out
}

impl Program {
    /// One line for `slipway --help`.
    fn about(self) -> &'static str {
        match self {
            Program::Env => "say which environment a GitHub event deploys to, and with what settings",
            Program::Build => "build a container image and push it to ECR, or promote the one built for this commit",
            Program::Bake => "bake an AMI with Packer and put it into a launch template version",
            Program::Roll => "roll an Auto Scaling group or ECS service onto the new artifact, rolling back on failure",
            Program::Wait => "wait until targets, instances, ECS deployments and URLs are healthy, or say why not",
        }
    }
}

/// Maps the GitHub event to an environment and prints that environment's settings.
///
/// Inside GitHub Actions the event comes from the runner (GITHUB_EVENT_NAME, GITHUB_REF,
/// GITHUB_SHA, GITHUB_EVENT_PATH) and the result goes to GITHUB_OUTPUT (environment,
/// deploy, reason, version, role-arn, region) and the step summary. On a terminal pass the
/// event with flags, e.g. `--event push --ref refs/tags/v1.2.0`.
#[derive(Parser)]
#[command(name = "slipway-env", version, about, long_about)]
struct EnvCli {
    #[command(flatten)]
    args: crate::env::command::Args,
}

/// Builds the image for this commit through the engine at DOCKER_HOST and pushes it to the
/// environment's ECR repository, tagged sha-<short>, sha-<commit>, the version, the
/// environment and any --tag. When the repository already holds an image for this commit,
/// it is promoted instead: the new tags are added to its manifest, and nothing is built or
/// pushed again.
///
/// Outputs (GITHUB_OUTPUT): image-uri (repo@sha256:...), digest, tags, action
/// (built|promoted), dry-run.
#[derive(Parser)]
#[command(name = "slipway-build", version, about, long_about)]
struct BuildCli {
    #[command(flatten)]
    args: crate::image::command::Args,
}

/// Bakes an AMI with Packer for the environment and puts it into its launch template.
///
/// Runs `packer validate`, then `packer build` with the variables commit, version,
/// environment, app and region (as PKR_VAR_*, used when the template declares them),
/// tags the AMI with the commit, version and workflow run, and creates a launch template
/// version from the default one with only the image changed. A rerun for a commit that
/// already has an AMI bakes nothing and reuses it. An environment in several regions
/// without --region: Packer bakes in the first region, every other region gets a copy
/// (CopyImage; a region in another account after the AMI and its snapshots are shared
/// with that account) before every region's launch template gets a version.
#[derive(Parser)]
#[command(name = "slipway-bake", version, about, long_about)]
struct BakeCli {
    #[command(flatten)]
    args: crate::ami::command::Args,
}

/// Rolls the environment's Auto Scaling group onto a launch template version with zero
/// downtime: `surge` doubles the group, waits until the new half is healthy in every
/// target group, then drains and terminates the old half; `refresh` runs an instance
/// refresh with auto rollback. A failure, timeout or SIGINT/SIGTERM restores what was
/// changed before exiting (1 failed and rolled back, 3 timed out, 130 interrupted).
///
/// With an ECS service (the environment's `ecs` section), it registers a revision of the
/// service's task definition with `--image` for the configured container, updates the
/// service and waits until the new revision is stable; a failed deployment (the circuit
/// breaker included) or a timeout points the service back at the previous revision.
///
/// `--plan-out plan.json` writes the plan and changes nothing; `--apply plan.json`
/// carries out exactly that plan, refusing (exit 2, with a diff) when the cloud changed.
///
/// `--simulate` rehearses the roll against a simulated cloud built from slipway.yml, on
/// virtual time, with no AWS account.
#[derive(Parser)]
#[command(name = "slipway-roll", version, about, long_about)]
struct RollCli {
    #[command(flatten)]
    args: crate::roll::command::Args,
}

/// Waits until everything named is healthy: every probe must pass.
///
/// Probes come from flags, from an environment's `health` section in slipway.yml
/// (`--environment prod`: its URLs and target groups, its Auto Scaling group and its ECS
/// service), or both. Exit codes: 0 healthy, 1 failed, 2 bad input, 3 timed out,
/// 130 interrupted.
#[derive(Parser)]
#[command(name = "slipway-wait", version, about, long_about)]
struct WaitCli {
    #[command(flatten)]
    args: crate::wait::command::Args,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn every_command_parses_its_flags_consistently() {
        EnvCli::command().debug_assert();
        BuildCli::command().debug_assert();
        BakeCli::command().debug_assert();
        RollCli::command().debug_assert();
        WaitCli::command().debug_assert();
    }

    #[test]
    fn names_map_to_commands() {
        assert_eq!(Program::named("slipway-roll"), Some(Program::Roll));
        assert_eq!(Program::named("slipway-roll.exe"), Some(Program::Roll));
        assert_eq!(Program::named("roll"), Some(Program::Roll));
        assert_eq!(Program::named("slipway"), None);
        assert_eq!(Program::named("deploy"), None);
        for p in Program::ALL {
            assert_eq!(Program::named(p.name()), Some(p));
        }
    }
}
