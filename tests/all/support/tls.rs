//! An HTTPS server with a certificate from a throwaway CA (made with openssl), served by
//! Python's ssl module: a real TLS peer the client does not trust unless given the CA.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::moto::free_port;

pub struct TlsServer {
    pub url: String,
    /// The CA certificate (PEM) that signed the server's certificate.
    pub ca: PathBuf,
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("run sh");
    assert!(
        out.status.success(),
        "{script} failed (openssl comes with scripts/testbed.sh): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl TlsServer {
    pub fn start(dir: &Path) -> TlsServer {
        sh(
            dir,
            "openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=slipway-test-ca \
             -keyout ca.key -out ca.pem 2>/dev/null && \
             openssl req -newkey rsa:2048 -nodes -subj /CN=127.0.0.1 -keyout server.key -out server.csr 2>/dev/null && \
             printf 'subjectAltName=IP:127.0.0.1\\nbasicConstraints=CA:FALSE\\n' > ext.cnf && \
             openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 \
             -extfile ext.cnf -out server.pem 2>/dev/null",
        );
        let port = free_port();
        let script = format!(
            "import http.server, ssl\n\
             class H(http.server.BaseHTTPRequestHandler):\n\
             \x20   def do_GET(self):\n\
             \x20       self.send_response(200); self.send_header('Content-Length', '2'); self.end_headers(); self.wfile.write(b'ok')\n\
             \x20   def log_message(self, *a): pass\n\
             s = http.server.ThreadingHTTPServer(('127.0.0.1', {port}), H)\n\
             c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); c.load_cert_chain('server.pem', 'server.key')\n\
             s.socket = c.wrap_socket(s.socket, server_side=True)\n\
             s.serve_forever()\n"
        );
        std::fs::write(dir.join("server.py"), script).unwrap();
        let watchdog = format!(
            "python3 server.py & p=$!; while kill -0 {} 2>/dev/null && kill -0 $p 2>/dev/null; do sleep 0.5; done; kill $p 2>/dev/null",
            std::process::id()
        );
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(watchdog)
            .current_dir(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start python3");
        std::thread::spawn(move || child.wait());
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the TLS test server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer {
            url: format!("https://127.0.0.1:{port}/healthz"),
            ca: dir.join("ca.pem"),
        }
    }
}
