//! A container engine that never finishes: it answers `/_ping` like Docker and Podman
//! do, accepts a build and then says nothing, as an engine stuck pulling a base image
//! would. It records whether the client hung up on the build (how a client cancels one).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub struct StalledEngine {
    /// `unix:///.../engine.sock`, for DOCKER_HOST.
    pub docker_host: String,
    hung_up: Arc<AtomicBool>,
    build_started: Arc<AtomicBool>,
    _dir: tempfile::TempDir,
}

impl StalledEngine {
    pub fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let socket: PathBuf = dir.path().join("engine.sock");
        let listener = UnixListener::bind(&socket).expect("bind the engine socket");
        let hung_up = Arc::new(AtomicBool::new(false));
        let build_started = Arc::new(AtomicBool::new(false));
        let (h, b) = (hung_up.clone(), build_started.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (h, b) = (h.clone(), b.clone());
                std::thread::spawn(move || serve(stream, &h, &b));
            }
        });
        StalledEngine {
            docker_host: format!("unix://{}", socket.display()),
            hung_up,
            build_started,
            _dir: dir,
        }
    }

    /// Whether a build request arrived.
    pub fn build_started(&self) -> bool {
        self.build_started.load(Ordering::SeqCst)
    }

    /// Whether the client closed the connection of a build it had started.
    pub fn hung_up(&self) -> bool {
        self.hung_up.load(Ordering::SeqCst)
    }
}

fn serve(stream: UnixStream, hung_up: &AtomicBool, build_started: &AtomicBool) {
    use std::io::Write;
    let mut reader = BufReader::new(stream.try_clone().expect("clone the stream"));
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line.split_whitespace().nth(1).unwrap_or_default().to_string();
        while reader.read_line(&mut line).unwrap_or(0) > 0 && !line.ends_with("\r\n\r\n") {}
        if path.contains("/_ping") {
            let mut out = stream.try_clone().expect("clone the stream");
            let _ = out.write_all(
                b"HTTP/1.1 200 OK\r\nApi-Version: 1.41\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nOK",
            );
            continue;
        }
        if path.contains("/build") {
            build_started.store(true, Ordering::SeqCst);
            // Read (and drop) whatever the client sends until it hangs up; answer nothing.
            let mut sink = [0u8; 8192];
            while matches!(reader.read(&mut sink), Ok(n) if n > 0) {}
            hung_up.store(true, Ordering::SeqCst);
        }
        return;
    }
}
