//! One docker-registry (htpasswd accepting moto's ECR token) and one Podman API service
//! per test binary, on a free port and a private socket, with their own storage and
//! registries.conf under a temp dir; a watchdog shell stops both and removes the dir
//! when the tests end.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use super::moto::free_port;
use super::{require, testbed};

/// The password moto's GetAuthorizationToken hands out for its default account.
pub const ECR_PASSWORD: &str = "123456789012-auth-token";

pub struct Containers {
    /// `unix:///.../podman.sock`, for DOCKER_HOST.
    pub docker_host: String,
    /// `127.0.0.1:PORT`, for --registry.
    pub registry: String,
    registry_log: PathBuf,
}

/// The shared registry and engine (started on first use).
pub fn containers() -> &'static Containers {
    static CONTAINERS: OnceLock<Containers> = OnceLock::new();
    CONTAINERS.get_or_init(start)
}

fn start() -> Containers {
    let registry_bin = require(Path::new("/usr/bin/docker-registry"));
    let podman = require(Path::new("/usr/bin/podman"));
    let python = require(&testbed().join("venv/bin/python"));
    let dir = tempfile::Builder::new()
        .prefix("slipway-containers-")
        .tempdir()
        .expect("a temp dir")
        .keep();
    let registry = format!("127.0.0.1:{}", free_port());
    write_registry_config(&dir, &registry, &python);
    // Podman reads the insecure entry for the plain-HTTP registry when its service starts.
    std::fs::write(
        dir.join("registries.conf"),
        format!("[[registry]]\nlocation = \"{registry}\"\ninsecure = true\n"),
    )
    .unwrap();
    let socket = dir.join("podman.sock");
    let d = dir.display();
    let script = format!(
        "{reg} serve {d}/registry.yml >{d}/registry.log 2>&1 & r=$!; \
         CONTAINERS_REGISTRIES_CONF={d}/registries.conf {podman} --root {d}/storage --runroot {d}/run \
           system service --time=0 unix://{sock} >{d}/podman.log 2>&1 & p=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; \
         kill $p $r; wait $p $r; {podman} --root {d}/storage --runroot {d}/run system prune -af >/dev/null 2>&1; \
         umount {d}/storage/overlay 2>/dev/null; rm -rf {d}",
        reg = registry_bin.display(),
        podman = podman.display(),
        sock = socket.display(),
        parent = std::process::id()
    );
    watchdog(&script);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !(registry_answers(&registry) && engine_answers(&socket)) {
        assert!(
            Instant::now() < deadline,
            "the registry ({registry}) or podman ({}) did not start within 60s; logs in {}",
            socket.display(),
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Containers {
        docker_host: format!("unix://{}", socket.display()),
        registry,
        registry_log: dir.join("registry.log"),
    }
}

/// Another docker-registry with the same login (another region's registry), no engine;
/// stopped when the tests end.
pub fn another_registry() -> Containers {
    let registry_bin = require(Path::new("/usr/bin/docker-registry"));
    let python = require(&testbed().join("venv/bin/python"));
    let dir = tempfile::Builder::new()
        .prefix("slipway-registry-")
        .tempdir()
        .expect("a temp dir")
        .keep();
    let registry = format!("127.0.0.1:{}", free_port());
    write_registry_config(&dir, &registry, &python);
    let d = dir.display();
    watchdog(&format!(
        "{reg} serve {d}/registry.yml >{d}/registry.log 2>&1 & r=$!; \
         while kill -0 {parent} 2>/dev/null; do sleep 0.5; done; kill $r; wait $r; rm -rf {d}",
        reg = registry_bin.display(),
        parent = std::process::id()
    ));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !registry_answers(&registry) {
        assert!(
            Instant::now() < deadline,
            "the registry ({registry}) did not start within 60s; logs in {d}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    Containers {
        docker_host: String::new(),
        registry,
        registry_log: dir.join("registry.log"),
    }
}

/// Runs a watchdog shell script in the background (it stops its servers when the tests end).
fn watchdog(script: &str) {
    let mut watchdog = Command::new("sh")
        .args(["-c", script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start a testbed server");
    std::thread::spawn(move || watchdog.wait());
}

/// htpasswd (moto's ECR login) and the registry's config, in `dir`.
fn write_registry_config(dir: &Path, registry: &str, python: &Path) {
    let hash = Command::new(python)
        .args([
            "-c",
            &format!("import bcrypt; print(bcrypt.hashpw(b'{ECR_PASSWORD}', bcrypt.gensalt(rounds=4)).decode())"),
        ])
        .output()
        .expect("run the testbed's python");
    assert!(
        hash.status.success(),
        "the testbed's python has no bcrypt module: run scripts/testbed.sh ({})",
        String::from_utf8_lossy(&hash.stderr)
    );
    std::fs::write(
        dir.join("htpasswd"),
        format!("AWS:{}\n", String::from_utf8_lossy(&hash.stdout).trim()),
    )
    .unwrap();
    std::fs::write(
        dir.join("registry.yml"),
        format!(
            "version: 0.1\nlog: {{level: info, accesslog: {{disabled: false}}}}\n\
             storage: {{filesystem: {{rootdirectory: {d}/data}}}}\n\
             http: {{addr: {registry}}}\n\
             auth: {{htpasswd: {{realm: testbed, path: {d}/htpasswd}}}}\n",
            d = dir.display()
        ),
    )
    .unwrap();
}

fn registry_answers(addr: &str) -> bool {
    http_status(std::net::TcpStream::connect(addr).ok(), "/v2/").is_some()
}

fn engine_answers(socket: &Path) -> bool {
    http_status(UnixStream::connect(socket).ok(), "/_ping") == Some(200)
}

fn http_status(stream: Option<impl Read + Write>, path: &str) -> Option<u16> {
    let mut s = stream?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").as_bytes())
        .ok()?;
    let mut buf = [0u8; 16];
    let n = s.read(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n])
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

impl Containers {
    /// How many blob uploads the registry has started for a repository (layers and configs pushed).
    pub fn blob_uploads(&self, repository: &str) -> usize {
        let needle = format!("\"POST /v2/{repository}/blobs/uploads/");
        std::fs::read_to_string(&self.registry_log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&needle))
            .count()
    }

    /// GET from the registry with moto's ECR credentials: (status, head, body).
    pub fn get(&self, path: &str) -> (u16, String, Vec<u8>) {
        self.request("GET", path, &[], &[])
    }

    /// A request to the registry with moto's ECR credentials: (status, head, body).
    pub fn request(&self, method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> (u16, String, Vec<u8>) {
        use base64::Engine as _;
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("AWS:{ECR_PASSWORD}"));
        let accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, \
                      application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json";
        let mut s = std::net::TcpStream::connect(&self.registry).expect("connect to the registry");
        let mut head = format!(
            "{method} {path} HTTP/1.0\r\nHost: {}\r\nAuthorization: Basic {auth}\r\nAccept: {accept}\r\nContent-Length: {}\r\n",
            self.registry,
            body.len()
        );
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut text = Vec::new();
        s.read_to_end(&mut text).expect("read the answer");
        let split = text.windows(4).position(|w| w == b"\r\n\r\n").expect("an HTTP answer") + 4;
        let head = String::from_utf8_lossy(&text[..split]).to_string();
        let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, head, text[split..].to_vec())
    }

    /// Copies `tag` from repository `from` to `to` (blobs mounted, the manifest's bytes put
    /// under the same tag only); returns its digest.
    pub fn copy_tag(&self, from: &str, tag: &str, to: &str) -> String {
        let (status, head, body) = self.get(&format!("/v2/{from}/manifests/{tag}"));
        assert_eq!(status, 200, "{from}:{tag}: {head}");
        let content_type = header(&head, "content-type").expect("a content type");
        let manifest: serde_json::Value = serde_json::from_slice(&body).unwrap();
        let mut blobs = vec![manifest["config"]["digest"].as_str().unwrap().to_string()];
        for layer in manifest["layers"].as_array().unwrap() {
            blobs.push(layer["digest"].as_str().unwrap().to_string());
        }
        for digest in blobs {
            let (status, head, _) = self.request(
                "POST",
                &format!("/v2/{to}/blobs/uploads/?mount={digest}&from={from}"),
                &[],
                &[],
            );
            assert_eq!(status, 201, "mount {digest}: {head}");
        }
        let (status, head, _) = self.request(
            "PUT",
            &format!("/v2/{to}/manifests/{tag}"),
            &[("Content-Type", &content_type)],
            &body,
        );
        assert_eq!(status, 201, "put {to}:{tag}: {head}");
        header(&head, "docker-content-digest").expect("a digest")
    }

    /// The manifest a tag points at, parsed, with the digest the registry reports.
    pub fn manifest(&self, repository: &str, tag: &str) -> Option<(String, serde_json::Value)> {
        let (status, head, body) = self.get(&format!("/v2/{repository}/manifests/{tag}"));
        if status != 200 {
            return None;
        }
        let digest = header(&head, "docker-content-digest").expect("a Docker-Content-Digest header");
        Some((digest, serde_json::from_slice(&body).expect("a JSON manifest")))
    }
}

/// A header's value from an HTTP answer's head.
fn header(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}
