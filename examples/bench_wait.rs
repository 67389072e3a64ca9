//! Benchmark of slipway-wait's detection delay (run with scripts/bench-wait.sh).
//!
//! HTTP: a local server turns healthy at a random moment; slipway-wait (default settings)
//! runs against it; the delay from "healthy" to slipway-wait's exit is measured over 20
//! trials, with the HTTP requests made per minute.
//! AWS: a target group turns healthy at a random virtual moment; the gate runs with the
//! default AWS interval on tokio's paused clock; the delay and the describe calls per
//! minute are measured over 20 trials.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use rand::Rng;
use slipway::cloud::{CloudResult, LoadBalancing, TargetGroup, TargetHealth};
use slipway::wait::target_group::TargetGroupProbe;
use slipway::wait::{gate, Progress};

const TRIALS: usize = 20;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn p90(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[(v.len() * 9 / 10).min(v.len() - 1)]
}

/// A server that answers 503 until `healthy_at` after it starts, then 200.
fn server(healthy_at: Duration, requests: Arc<AtomicU32>) -> (String, Instant) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/healthz", listener.local_addr().unwrap());
    let start = Instant::now();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 2048];
            let _ = stream.read(&mut buf);
            requests.fetch_add(1, Ordering::SeqCst);
            let (status, body) = if start.elapsed() >= healthy_at {
                ("200 OK", "ok")
            } else {
                ("503 X", "no")
            };
            let _ = write!(
                stream,
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, start)
}

fn http_trials() {
    let exe = std::env::current_exe().unwrap();
    let wait = exe.parent().unwrap().parent().unwrap().join("slipway-wait");
    assert!(wait.exists(), "build the binaries first: cargo build --bins");
    let mut delays = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..TRIALS {
        let healthy_at = Duration::from_millis(rand::rng().random_range(500..2500));
        let requests = Arc::new(AtomicU32::new(0));
        let (url, start) = server(healthy_at, requests.clone());
        let status = std::process::Command::new(&wait)
            .args(["--url", &url, "--timeout", "30s"])
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        let total = start.elapsed();
        assert!(status.success());
        delays.push((total - healthy_at).as_secs_f64());
        rates.push(requests.load(Ordering::SeqCst) as f64 / total.as_secs_f64() * 60.0);
    }
    println!(
        "http  (defaults: 500ms interval, 2 in a row): detection median {:.3}s, p90 {:.3}s over {TRIALS} trials; \
         {:.0} HTTP requests/minute",
        median(delays.clone()),
        p90(delays),
        median(rates)
    );
}

struct TurnsHealthy {
    at: tokio::time::Instant,
    calls: Mutex<u32>,
}

#[async_trait]
impl LoadBalancing for TurnsHealthy {
    async fn describe_target_group(&self, arn: &str) -> CloudResult<Option<TargetGroup>> {
        Ok(Some(TargetGroup {
            arn: arn.into(),
            name: "bench".into(),
            deregistration_delay: 30,
            healthy_threshold: 3,
            health_check_interval: 10,
        }))
    }
    async fn target_health(&self, _arn: &str) -> CloudResult<Vec<TargetHealth>> {
        *self.calls.lock().unwrap() += 1;
        let state = if tokio::time::Instant::now() >= self.at {
            "healthy"
        } else {
            "initial"
        };
        Ok(vec![TargetHealth {
            id: "i-1".into(),
            port: Some(80),
            state: state.into(),
            reason: None,
            description: None,
        }])
    }
    async fn deregister(&self, _arn: &str, _t: &[(String, Option<i32>)]) -> CloudResult<()> {
        Ok(())
    }
}

fn aws_trials() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap();
    let interval = slipway::config::Health::default().aws_interval.std();
    let mut delays = Vec::new();
    let mut rates = Vec::new();
    for _ in 0..TRIALS {
        let healthy_after = Duration::from_millis(rand::rng().random_range(10_000..120_000));
        let (delay, rate) = rt.block_on(async {
            let start = tokio::time::Instant::now();
            let elb = Arc::new(TurnsHealthy {
                at: start + healthy_after,
                calls: Mutex::new(0),
            });
            let arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/bench/0123456789abcdef";
            let probe = TargetGroupProbe::new(elb.clone(), arn, 1, Duration::from_secs(300), interval);
            let cancel = tokio_util::sync::CancellationToken::new();
            let report = gate(
                vec![Box::new(probe)],
                Duration::from_secs(900),
                &cancel,
                &mut Progress::hidden(),
            )
            .await
            .unwrap();
            let took = report.probes[0].time_to_healthy.unwrap();
            let calls = *elb.calls.lock().unwrap() as f64;
            ((took - healthy_after).as_secs_f64(), calls / took.as_secs_f64() * 60.0)
        });
        delays.push(delay);
        rates.push(rate);
    }
    let max = delays.iter().cloned().fold(0.0, f64::max);
    println!(
        "aws   (target group, {}s interval, virtual time): detection median {:.2}s, max {:.2}s (one interval is {}s); \
         {:.1} describe calls/minute per resource (limit 20; AWS CLI waiters: 4/min, 7.5s mean delay)",
        interval.as_secs(),
        median(delays),
        max,
        interval.as_secs(),
        median(rates)
    );
}

fn main() {
    http_trials();
    aws_trials();
}
