//! Running Packer as a child process: the version check, `packer validate`, and
//! `packer build -machine-readable` with its UI streamed as readable lines, its errors
//! annotated, and SIGINT/SIGTERM forwarded so Packer cleans up before slipway exits.

use std::path::PathBuf;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;

use super::machine::{self, Line, Summary, UiLevel};
use crate::error::{Error, Result};
use crate::github::commands::{self, Level};
use crate::secret::Secret;
use crate::signal::Interrupt;

/// The oldest Packer that builds HCL2 templates (`source` and `build` blocks).
pub const MIN_VERSION: (u64, u64, u64) = (1, 5, 0);

const INSTALL_HELP: &str = "install Packer 1.5 or newer: in a workflow add a step \
    `uses: hashicorp/setup-packer@v3` before slipway-bake; on a terminal see \
    https://developer.hashicorp.com/packer/install (Debian: apt-get install packer); \
    or pass --packer PATH";

/// How to run Packer for one template.
#[derive(Debug, Clone)]
pub struct Packer {
    /// The program (`packer`, looked up on PATH, or a path).
    pub program: PathBuf,
    /// Where Packer runs; the template path is relative to it.
    pub working_directory: PathBuf,
    /// A `.pkr.hcl` / `.pkr.json` file or a directory of them.
    pub template: PathBuf,
    /// `-var NAME=VALUE`, in order.
    pub vars: Vec<(String, String)>,
    /// `-var-file FILE`, in order.
    pub var_files: Vec<PathBuf>,
    /// `-only` builds, when not all.
    pub only: Vec<String>,
    /// Extra environment for Packer: `PKR_VAR_*`, region.
    pub env: Vec<(String, String)>,
    /// The job's AWS credentials for Packer (`AWS_ACCESS_KEY_ID`, ...): Packer acts as the
    /// account slipway's guard checked, never through a credential chain of its own.
    pub credentials: Vec<(String, Secret)>,
    /// Inside GitHub Actions: groups and annotations.
    pub actions: bool,
}

impl Packer {
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(args)
            .current_dir(&self.working_directory)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .envs(self.credentials.iter().map(|(k, v)| (k, v.expose())))
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    fn template_args(&self, cmd: &mut Command) {
        for (name, value) in &self.vars {
            cmd.arg("-var").arg(format!("{name}={value}"));
        }
        for file in &self.var_files {
            cmd.arg("-var-file").arg(file);
        }
        if !self.only.is_empty() {
            cmd.arg(format!("-only={}", self.only.join(",")));
        }
        cmd.arg(&self.template);
    }

    fn spawn_error(&self, err: std::io::Error) -> Error {
        if err.kind() == std::io::ErrorKind::NotFound {
            Error::input(
                format!("packer is not installed: {} was not found", self.program.display()),
                INSTALL_HELP,
            )
        } else {
            Error::input(format!("cannot run {}: {err}", self.program.display()), INSTALL_HELP)
        }
    }

    /// Checks Packer is there and new enough for HCL templates; returns its version.
    pub async fn check_version(&self) -> Result<String> {
        let out = self
            .command(&["version", "-machine-readable"])
            .output()
            .await
            .map_err(|e| self.spawn_error(e))?;
        let text = String::from_utf8_lossy(&out.stdout);
        let found = machine::version(&text).ok_or_else(|| {
            Error::input(
                format!(
                    "{} does not look like Packer: `packer version` printed {:?}",
                    self.program.display(),
                    text.trim()
                ),
                INSTALL_HELP,
            )
        })?;
        let shown = format!("{}.{}.{}", found.0, found.1, found.2);
        if found < MIN_VERSION {
            return Err(Error::input(
                format!("packer {shown} is too old for HCL templates (slipway needs 1.5.0 or newer)"),
                INSTALL_HELP,
            ));
        }
        Ok(shown)
    }

    /// `packer validate`: a template Packer refuses is bad input, in Packer's own words.
    pub async fn validate(&self) -> Result<()> {
        let mut cmd = self.command(&["validate", "-machine-readable"]);
        self.template_args(&mut cmd);
        let out = cmd.output().await.map_err(|e| self.spawn_error(e))?;
        if out.status.success() {
            return Ok(());
        }
        let mut messages = machine::summarize(&String::from_utf8_lossy(&out.stdout)).messages();
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        if !stderr.is_empty() {
            messages.push(stderr);
        }
        Err(Error::input(
            format!(
                "packer validate refused {}: {}",
                self.template.display(),
                joined(&messages, out.status)
            ),
            format!(
                "fix the template (or --template, --working-directory, --var); run `packer validate {}` to check",
                self.template.display()
            ),
        ))
    }

    /// `packer build`: streams the UI to stderr and returns what the build said. A
    /// failed build is `Error::Failed` with Packer's messages; an interrupt is forwarded
    /// to Packer's process group, and after Packer has cleaned up `Error::Interrupted`.
    pub async fn build(&self, interrupt: &Interrupt) -> Result<Summary> {
        let mut cmd = self.command(&["build", "-machine-readable", "-color=false"]);
        self.template_args(&mut cmd);
        // Its own process group, so a terminal's Ctrl-C reaches slipway only and slipway
        // forwards it once, to Packer and whatever Packer started (as a terminal would).
        cmd.process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| self.spawn_error(e))?;
        let pid = child.id();
        let stdout = child.stdout.take().expect("piped stdout");
        let stderr = child.stderr.take().expect("piped stderr");
        let actions = self.actions;
        let reader = tokio::spawn(async move { stream(stdout, actions).await });
        let errors = tokio::spawn(async move { passthrough(stderr).await });

        let mut forwarded = None;
        let status = loop {
            tokio::select! {
                status = child.wait() => break status,
                stop = interrupt.wait(), if forwarded.is_none() => {
                    forwarded = Some(stop);
                    let signal = stop.signal();
                    eprintln!(
                        "slipway-bake: {}: sending {} to packer and waiting for it to clean up",
                        stop.describe(),
                        signal.name()
                    );
                    if let Some(pid) = pid {
                        interrupt.pending().set(vec![format!(
                            "packer (process group {pid}) is deleting what it created (instance, key pair, \
                             security group); slipway exits when it has"
                        )]);
                        signal.send_to_group(pid);
                    }
                }
            }
        };
        interrupt.pending().set(Vec::new());
        let summary = reader.await.unwrap_or_default();
        let _ = errors.await;
        let status = status.map_err(|e| Error::failed(format!("waiting for packer failed: {e}")))?;
        if let Some(stop) = forwarded {
            return Err(stop.error(&format!("packer stopped ({status}) after cleaning up")));
        }
        if !status.success() {
            return Err(Error::failed_with_help(
                format!(
                    "packer build of {} failed: {}",
                    self.template.display(),
                    joined(&summary.messages(), status)
                ),
                "Packer's log above shows the failing step; no launch template version was created",
            ));
        }
        Ok(summary)
    }
}

fn joined(messages: &[String], status: std::process::ExitStatus) -> String {
    if messages.is_empty() {
        format!("packer exited with {status} and printed no error")
    } else {
        messages.join("; ")
    }
}

/// Reads Packer's machine-readable stdout: UI lines become log lines on stderr, error
/// lines annotations (in Actions), and everything is gathered into a summary.
async fn stream(stdout: impl AsyncRead + Unpin, actions: bool) -> Summary {
    let mut summary = Summary::default();
    let mut lines = LossyLines::new(stdout);
    while let Some(raw) = lines.next().await {
        let Some(line) = Line::parse(&raw) else {
            eprintln!("{raw}");
            continue;
        };
        summary.add(&line);
        if let Some((level, text)) = line.ui() {
            for l in machine::readable(text) {
                eprintln!("{l}");
            }
            if actions && level == UiLevel::Error && !machine::is_recap(text) {
                eprintln!(
                    "{}",
                    commands::annotation(Level::Error, text.trim(), Some("packer"), None)
                );
            }
        }
    }
    summary
}

async fn passthrough(stderr: impl AsyncRead + Unpin) {
    let mut lines = LossyLines::new(stderr);
    while let Some(line) = lines.next().await {
        eprintln!("{line}");
    }
}

/// Lines of a child's output as bytes, decoded lossily: a byte that is not UTF-8 becomes
/// U+FFFD instead of ending the reading (which would close the pipe under Packer, killing
/// it mid-build without cleanup, or losing its artifact lines). A read error ends it.
struct LossyLines<R> {
    reader: BufReader<R>,
    buf: Vec<u8>,
}

impl<R: AsyncRead + Unpin> LossyLines<R> {
    fn new(reader: R) -> Self {
        LossyLines {
            reader: BufReader::new(reader),
            buf: Vec::new(),
        }
    }

    async fn next(&mut self) -> Option<String> {
        self.buf.clear();
        match self.reader.read_until(b'\n', &mut self.buf).await {
            Ok(0) | Err(_) => None,
            Ok(_) => {
                let mut line = self.buf.as_slice();
                if let Some(rest) = line.strip_suffix(b"\n") {
                    line = rest;
                }
                if let Some(rest) = line.strip_suffix(b"\r") {
                    line = rest;
                }
                Some(String::from_utf8_lossy(line).into_owned())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_that_are_not_utf8_do_not_end_the_reading() {
        let input: &[u8] = b"first\nbad \xff\xfe bytes\r\nlast,artifact,0,id,us-east-1:ami-1\nno newline";
        let mut lines = LossyLines::new(input);
        let mut seen = Vec::new();
        while let Some(line) = lines.next().await {
            seen.push(line);
        }
        assert_eq!(
            seen,
            [
                "first",
                "bad \u{fffd}\u{fffd} bytes",
                "last,artifact,0,id,us-east-1:ami-1",
                "no newline"
            ]
        );
    }
}
