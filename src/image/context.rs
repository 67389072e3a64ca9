//! The build context: the directory as a tar stream that honours .dockerignore. The tar
//! is written on a blocking thread into a bounded channel, so a large context streams to
//! the engine in 64 KiB chunks and is never held whole in memory.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::Stream;
use tokio::sync::mpsc;

use super::ignore::Ignore;
use crate::error::{Error, Result};

/// The name a Dockerfile from outside the context gets inside the tar.
const OUTSIDE_DOCKERFILE: &str = ".slipway.Dockerfile";
const CHUNK: usize = 64 * 1024;

/// A checked build context, ready to stream.
#[derive(Debug, Clone)]
pub struct Context {
    pub root: PathBuf,
    /// The Dockerfile's path inside the tar (what the engine's `dockerfile` parameter names).
    pub dockerfile: String,
    /// A Dockerfile from outside the context, added to the tar under `dockerfile`.
    outside: Option<PathBuf>,
    ignore: Ignore,
}

impl Context {
    /// Checks the directory and the Dockerfile (default: `Dockerfile` in the context; a
    /// given path is relative to the current directory, as with `docker build -f`).
    pub fn open(root: &Path, dockerfile: Option<&Path>) -> Result<Self> {
        if !root.is_dir() {
            return Err(Error::input(
                format!("the build context {} is not a directory", root.display()),
                "pass the directory to build as the context argument (default: the current directory)",
            ));
        }
        let path = match dockerfile {
            Some(p) => p.to_path_buf(),
            None => root.join("Dockerfile"),
        };
        if !path.is_file() {
            return Err(Error::input(
                format!("Dockerfile {} not found", path.display()),
                "write a Dockerfile in the context directory, or pass --file PATH",
            ));
        }
        let canonical_root = root.canonicalize().map_err(|e| io_input(root, e))?;
        let canonical_file = path.canonicalize().map_err(|e| io_input(&path, e))?;
        let (name, outside) = match canonical_file.strip_prefix(&canonical_root) {
            Ok(rel) => (slash(rel), None),
            Err(_) => (OUTSIDE_DOCKERFILE.to_string(), Some(canonical_file)),
        };
        let ignore_path = canonical_root.join(".dockerignore");
        let ignore = match std::fs::read_to_string(&ignore_path) {
            Ok(text) => Ignore::parse(&text, &ignore_path.display().to_string())?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ignore::default(),
            Err(e) => return Err(io_input(&ignore_path, e)),
        };
        Ok(Context {
            root: canonical_root,
            dockerfile: name,
            outside,
            ignore,
        })
    }

    /// Whether a path (relative, `/`-separated) goes into the context. The Dockerfile and
    /// .dockerignore always do: the engine needs them (COPY still honours the exclusion).
    pub fn includes(&self, rel: &str) -> bool {
        rel == self.dockerfile || rel == ".dockerignore" || !self.ignore.excludes(rel)
    }

    /// Every path the tar will hold, in order (directories included).
    pub fn paths(&self) -> io::Result<Vec<String>> {
        let mut out = Vec::new();
        self.walk(&self.root, "", &mut |rel, _| {
            out.push(rel.to_string());
            Ok(())
        })?;
        if self.outside.is_some() {
            out.push(self.dockerfile.clone());
        }
        Ok(out)
    }

    fn walk(&self, dir: &Path, prefix: &str, visit: &mut dyn FnMut(&str, &Path) -> io::Result<()>) -> io::Result<()> {
        let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<io::Result<_>>()?;
        entries.sort_by_key(|e| e.file_name());
        for entry in entries {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = if prefix.is_empty() {
                name
            } else {
                format!("{prefix}/{name}")
            };
            let path = entry.path();
            let kind = entry.file_type()?;
            let included = self.includes(&rel);
            if kind.is_dir() {
                if included {
                    visit(&rel, &path)?;
                }
                // An excluded directory is entered only when a `!` line could re-include something in it.
                if included || self.ignore.has_exceptions() {
                    self.walk(&path, &rel, visit)?;
                }
            } else if (kind.is_file() || kind.is_symlink()) && included {
                visit(&rel, &path)?;
            }
        }
        Ok(())
    }

    /// Writes the tar to `out` (deterministic headers: no owners, fixed times).
    pub fn write_tar(&self, out: impl Write) -> io::Result<()> {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        tar.follow_symlinks(false);
        self.walk(&self.root, "", &mut |rel, path| tar.append_path_with_name(path, rel))?;
        if let Some(file) = &self.outside {
            tar.append_path_with_name(file, &self.dockerfile)?;
        }
        tar.into_inner()?.flush()
    }

    /// The tar as a stream of chunks, produced on a blocking thread as the engine reads.
    pub fn stream(self) -> impl Stream<Item = io::Result<Bytes>> + Send + 'static {
        let (tx, rx) = mpsc::channel::<io::Result<Bytes>>(8);
        tokio::task::spawn_blocking(move || {
            let sender = tx.clone();
            let writer = io::BufWriter::with_capacity(CHUNK, ChannelWriter { tx });
            if let Err(e) = self.write_tar(writer) {
                let _ = sender.blocking_send(Err(e));
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
    }
}

/// A `Write` that hands each buffer to the channel (blocking while the engine is behind).
struct ChannelWriter {
    tx: mpsc::Sender<io::Result<Bytes>>,
}

impl Write for ChannelWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tx
            .blocking_send(Ok(Bytes::copy_from_slice(buf)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading the context"))?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn slash(p: &Path) -> String {
    p.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

fn io_input(path: &Path, e: io::Error) -> Error {
    Error::input(
        format!("cannot read {}: {e}", path.display()),
        "check the path and its permissions",
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    #[test]
    fn the_tar_honours_dockerignore_but_keeps_the_dockerfile() {
        let dir = tree(&[
            ("Dockerfile", "FROM scratch"),
            (
                ".dockerignore",
                "Dockerfile\n.dockerignore\nnode_modules\n*.log\n!keep.log\nsecret/**\n",
            ),
            ("app.js", ""),
            ("debug.log", ""),
            ("keep.log", ""),
            ("node_modules/x/index.js", ""),
            ("secret/key", ""),
            ("src/main.js", ""),
        ]);
        let ctx = Context::open(dir.path(), None).unwrap();
        assert_eq!(
            ctx.paths().unwrap(),
            [
                ".dockerignore",
                "Dockerfile",
                "app.js",
                "keep.log",
                "secret",
                "src",
                "src/main.js"
            ]
        );
    }

    #[tokio::test]
    async fn the_stream_is_a_tar_of_the_included_files() {
        let big = "x".repeat(300 * 1024);
        let dir = tree(&[("Dockerfile", "FROM scratch"), ("big.bin", &big), ("a/b.txt", "b")]);
        let ctx = Context::open(dir.path(), None).unwrap();
        let mut stream = Box::pin(ctx.stream());
        let mut data = Vec::new();
        let mut chunks = 0;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.unwrap();
            assert!(chunk.len() <= CHUNK);
            data.extend_from_slice(&chunk);
            chunks += 1;
        }
        assert!(chunks > 4, "streamed in chunks, not one buffer ({chunks})");
        let mut archive = tar::Archive::new(&data[..]);
        let names: Vec<String> = archive
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, ["Dockerfile", "a", "a/b.txt", "big.bin"]);
    }

    #[test]
    fn a_dockerfile_outside_the_context_is_added_under_its_own_name() {
        let ctx_dir = tree(&[("a.txt", "")]);
        let other = tree(&[("build.Dockerfile", "FROM scratch")]);
        let ctx = Context::open(ctx_dir.path(), Some(&other.path().join("build.Dockerfile"))).unwrap();
        assert_eq!(ctx.dockerfile, OUTSIDE_DOCKERFILE);
        assert_eq!(ctx.paths().unwrap(), ["a.txt", OUTSIDE_DOCKERFILE]);
    }

    #[test]
    fn a_missing_dockerfile_is_bad_input() {
        let dir = tree(&[("a.txt", "")]);
        let err = Context::open(dir.path(), None).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("Dockerfile"), "{err}");
    }
}
