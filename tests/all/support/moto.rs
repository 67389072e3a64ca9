//! One moto server per test binary, on a free port, stopped when the tests end.

use std::io::Read;
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::{require, testbed};

pub struct Moto {
    pub endpoint: String,
}

/// The shared moto server (started on first use).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(start)
}

fn start() -> Moto {
    let port = spawn(&[]);
    // Ready when it answers its own API.
    wait_until(port, |s| {
        use std::io::Write;
        let _ = s.write_all(b"GET /moto-api/ HTTP/1.0\r\n\r\n");
        let mut buf = [0u8; 12];
        s.read(&mut buf).is_ok_and(|n| n > 0)
    });
    Moto {
        endpoint: format!("http://127.0.0.1:{port}"),
    }
}

/// Starts a moto server with `env` on a free port, stopped when this test process exits.
pub fn spawn(env: &[(&str, &str)]) -> u16 {
    let server = require(&testbed().join("venv/bin/moto_server"));
    let port = free_port();
    // A watchdog shell stops moto when this test process exits, however it exits.
    let script = format!(
        "{} -H 127.0.0.1 -p {port} >/dev/null 2>&1 & m=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $m",
        server.display(),
        parent = std::process::id()
    );
    let mut watchdog = Command::new("sh")
        .args(["-c", &script])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start moto");
    std::thread::spawn(move || watchdog.wait());
    port
}

/// Waits until `ready` says the server on `port` is up (60s at most: moto starts slowly on a busy machine).
pub fn wait_until(port: u16, ready: impl Fn(&mut TcpStream) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            if ready(&mut s) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "moto did not start on port {port} within 60s"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The environment of a slipway binary run against moto at `endpoint` (any access key,
/// moto's account), its GITHUB_OUTPUT and GITHUB_STEP_SUMMARY in `dir`.
pub fn moto_env(endpoint: &str, dir: &super::Dir) -> Vec<(&'static str, std::ffi::OsString)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "AKIAEXAMPLEKEY000001".into()),
        ("AWS_SECRET_ACCESS_KEY", "example-secret".into()),
        ("AWS_ENDPOINT_URL", endpoint.into()),
        ("GITHUB_OUTPUT", dir.path().join("output").into()),
        ("GITHUB_STEP_SUMMARY", dir.path().join("summary").into()),
    ]
}
