//! A real HTTP proxy in front of moto that records every AWS call that reaches moto and,
//! when asked, answers a share of calls itself with each protocol's own throttling error
//! (JSON ThrottlingException for ECS/ECR, query-protocol Throttling for Auto Scaling and
//! ELBv2, RequestLimitExceeded for EC2) or a bare 503, without forwarding them. It can
//! also refuse one named operation as IAM would (`deny`: each protocol's AccessDenied, or
//! a bare 403 whose body carries no code; `deny_in`: only in one region), lose the reply to a call that moto carried out
//! (`lose_reply`: the connection drops, or a 500 comes back), and run a hook after moto
//! answered a named operation (`after`: e.g. delete a resource in the middle of a wait),
//! and keep every call in one moto account whatever the credentials (`one_account`),
//! and hold a call without ever answering it, as a hung AWS endpoint does (`stall`,
//! `stall_after`: the connection stays open until the client gives up on it).
//! Tests read what reached moto, not what the code says it sent.
//!
//! CloudWatch: the Rust SDK speaks its rpc-v2-cbor protocol, which moto 5.2.5 does not.
//! The proxy forwards such a call as the same operation in JSON 1.0 (which moto speaks)
//! and turns moto's JSON answer back into CBOR (`support::cbor`); every other protocol
//! passes through untouched. A translated call is signed again (SigV4, for the JSON form)
//! with the keys `sign_as` gave for its access key, since moto enforcing IAM checks
//! signatures; without them the client's signature is kept (moto without IAM ignores it).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use rand::{Rng, SeedableRng};

/// One call as the proxy saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// `ecs`, `autoscaling`, `elasticloadbalancing`, `ec2`, `sts`, ...
    pub service: String,
    /// The API action, e.g. `UpdateService`.
    pub action: String,
    /// Whether moto got it (false: the proxy answered with a fault).
    pub forwarded: bool,
    /// Moto carried it out but the client never got moto's answer.
    pub reply_lost: bool,
    /// The proxy held it without an answer until the client hung up (never forwarded).
    pub stalled: bool,
    /// When the call came in and when it was answered, on one counter shared by all
    /// calls: a call arrived after another was answered when `arrived > other.answered`.
    pub arrived: usize,
    pub answered: usize,
    /// The request body as sent (the query protocol's form fields, or JSON).
    pub body: String,
}

/// How the proxy refuses a denied operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denial {
    /// The protocol's own form: JSON AccessDeniedException (ECS, ECR), EC2's
    /// UnauthorizedOperation, the query protocol's AccessDenied (Auto Scaling, ELBv2, STS).
    Protocol,
    /// HTTP 403 with a body that holds no error code (an HTML page).
    Bare403,
}

/// What becomes of the reply to a call moto carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReply {
    /// The connection closes before any answer.
    Drop,
    /// A bare HTTP 500 comes back instead of moto's answer.
    Error500,
}

type Hook = Box<dyn FnOnce() + Send>;
type Rewrite = Arc<dyn Fn(&str) -> String + Send + Sync>;

#[derive(Default)]
struct Rules {
    /// (action, only in this region, how)
    deny: Vec<(String, Option<String>, Denial)>,
    /// (action, how, how many more replies to lose)
    lose: Vec<(String, LostReply, usize)>,
    after: Vec<(String, Hook)>,
    rewrite: Vec<(String, Rewrite)>,
    /// (action, how many more calls to hold without an answer, for how long at most)
    stall: Vec<(String, usize, std::time::Duration)>,
    /// moto's account for every forwarded call (`x-moto-account-id`).
    account: Option<String>,
    /// access key -> (secret key, session token), to sign translated calls again.
    keys: Vec<(String, String, Option<String>)>,
}

impl Rules {
    fn denial(&self, action: &str, region: Option<&str>) -> Option<Denial> {
        self.deny
            .iter()
            .find(|(a, r, _)| a == action && r.as_deref().is_none_or(|r| Some(r) == region))
            .map(|(_, _, d)| *d)
    }

    fn lose(&mut self, action: &str) -> Option<LostReply> {
        let rule = self.lose.iter_mut().find(|(a, _, left)| a == action && *left > 0)?;
        rule.2 -= 1;
        Some(rule.1)
    }

    fn stall(&mut self, action: &str) -> Option<std::time::Duration> {
        let rule = self.stall.iter_mut().find(|(a, left, _)| a == action && *left > 0)?;
        rule.1 -= 1;
        Some(rule.2)
    }

    fn rewriter(&self, action: &str) -> Option<Rewrite> {
        self.rewrite.iter().find(|(a, _)| a == action).map(|(_, f)| f.clone())
    }

    fn hook(&mut self, action: &str) -> Option<Hook> {
        let i = self.after.iter().position(|(a, _)| a == action)?;
        Some(self.after.remove(i).1)
    }
}

impl Call {
    /// Whether the action changes state.
    pub fn is_mutation(&self) -> bool {
        const READ: [&str; 4] = ["Describe", "List", "Get", "Head"];
        !READ.iter().any(|p| self.action.starts_with(p))
    }
}

pub struct Proxy {
    pub endpoint: String,
    calls: Arc<Mutex<Vec<Call>>>,
    rules: Arc<Mutex<Rules>>,
    /// Calls held by `stall` right now.
    holding: Arc<std::sync::atomic::AtomicUsize>,
}

/// The longest a stalled call is held when the client never hangs up.
const STALL_FOR: std::time::Duration = std::time::Duration::from_secs(600);

impl Proxy {
    /// A proxy to `upstream` answering `fault_share` (0.0 to 1.0) of calls with a fault.
    pub fn start(upstream: &str, fault_share: f64, seed: u64) -> Proxy {
        Self::start_with(upstream, fault_share, seed, None)
    }

    /// A proxy to `upstream` (any HTTP server) that removes the header `name` from every answer.
    pub fn dropping_header(upstream: &str, name: &'static str) -> Proxy {
        Self::start_with(upstream, 0.0, 0, Some(name))
    }

    fn start_with(upstream: &str, fault_share: f64, seed: u64, drop: Option<&'static str>) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let upstream = upstream.trim_start_matches("http://").to_string();
        let calls = Arc::new(Mutex::new(Vec::new()));
        let rules = Arc::new(Mutex::new(Rules::default()));
        let (log, shared_rules) = (calls.clone(), rules.clone());
        let rng = Arc::new(Mutex::new(rand::rngs::StdRng::seed_from_u64(seed)));
        let clock = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let holding = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let held = holding.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (upstream, log, rng, rules) = (upstream.clone(), log.clone(), rng.clone(), shared_rules.clone());
                let (clock, held) = (clock.clone(), held.clone());
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    // Keep-alive: serve requests on this connection until it closes.
                    while let Some(request) = read_request(&mut reader) {
                        let arrived = clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let (request, cbor) = from_cbor(request);
                        let request = if cbor {
                            resign(request, &rules.lock().unwrap().keys)
                        } else {
                            request
                        };
                        let (service, action) = identify(&request);
                        let body = String::from_utf8_lossy(&request.body).into_owned();
                        let fault = {
                            let mut r = rng.lock().unwrap();
                            (r.random::<f64>() < fault_share).then(|| r.random_range(0..4u8))
                        };
                        let stall = rules.lock().unwrap().stall(&action);
                        if let Some(longest) = stall {
                            hold(&stream, &held, longest);
                            log.lock().unwrap().push(Call {
                                service,
                                action,
                                forwarded: false,
                                reply_lost: false,
                                stalled: true,
                                arrived,
                                answered: clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                                body,
                            });
                            break;
                        }
                        let denial = rules.lock().unwrap().denial(&action, region(&request).as_deref());
                        let mut lost = None;
                        let forwarded = denial.is_none() && fault.is_none();
                        let response = if let Some(how) = denial {
                            denial_response(&service, &action, &request, how)
                        } else if let Some(kind) = fault {
                            fault_response(&service, &request, kind)
                        } else {
                            let (rewrite, account) = {
                                let rules = rules.lock().unwrap();
                                (rules.rewriter(&action), rules.account.clone())
                            };
                            let answer = forward(&upstream, &request, drop, rewrite.as_deref(), account.as_deref());
                            let hook = rules.lock().unwrap().hook(&action);
                            if let Some(hook) = hook {
                                hook();
                            }
                            lost = rules.lock().unwrap().lose(&action);
                            answer
                        };
                        log.lock().unwrap().push(Call {
                            service,
                            action,
                            forwarded,
                            reply_lost: lost.is_some(),
                            stalled: false,
                            arrived,
                            answered: clock.fetch_add(1, std::sync::atomic::Ordering::SeqCst),
                            body,
                        });
                        let response = match lost {
                            Some(LostReply::Drop) => break,
                            Some(LostReply::Error500) => {
                                http("500 Internal Server Error", "text/plain", "Internal Server Error")
                            }
                            None => response,
                        };
                        let response = if cbor { to_cbor(response) } else { response };
                        let mut out = stream.try_clone().unwrap();
                        if out.write_all(&response).is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Proxy {
            endpoint,
            calls,
            rules,
            holding,
        }
    }

    /// From now on, hold the next `times` calls of `action` without forwarding or
    /// answering them, until the client hangs up (at most ten minutes).
    pub fn stall(&self, action: &str, times: usize) {
        self.stall_for(action, times, STALL_FOR);
    }

    /// Like `stall`, but each held call's connection is closed unanswered after `longest`
    /// (a connection that dies: the client sees no answer and may retry).
    pub fn stall_for(&self, action: &str, times: usize, longest: std::time::Duration) {
        self.rules
            .lock()
            .unwrap()
            .stall
            .push((action.to_string(), times, longest));
    }

    /// Once moto has answered the first call of `trigger`, hold the next `times` calls
    /// of `action` as `stall` does.
    pub fn stall_after(&self, trigger: &str, action: &str, times: usize) {
        let rules = self.rules.clone();
        let action = action.to_string();
        self.after(trigger, move || {
            rules.lock().unwrap().stall.push((action, times, STALL_FOR))
        });
    }

    /// Sign the CloudWatch calls this proxy translates for moto with these keys when they
    /// come signed with `access_key`.
    pub fn sign_as(&self, access_key: &str, secret_key: &str, session_token: Option<&str>) {
        self.rules.lock().unwrap().keys.push((
            access_key.to_string(),
            secret_key.to_string(),
            session_token.map(str::to_string),
        ));
    }

    /// How many calls are held by `stall` right now.
    pub fn holding(&self) -> usize {
        self.holding.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Calls `stall` held, each released only when its client hung up.
    pub fn stalled(&self) -> Vec<Call> {
        self.calls().into_iter().filter(|c| c.stalled).collect()
    }

    /// From now on, refuse every call of `action` as IAM would, without forwarding it.
    pub fn deny(&self, action: &str, how: Denial) {
        self.rules.lock().unwrap().deny.push((action.to_string(), None, how));
    }

    /// From now on, refuse every call of `action` signed for `region` as IAM would.
    pub fn deny_in(&self, action: &str, region: &str, how: Denial) {
        self.rules
            .lock()
            .unwrap()
            .deny
            .push((action.to_string(), Some(region.to_string()), how));
    }

    /// Forward the next `times` calls of `action` to moto, then lose moto's answer.
    pub fn lose_reply(&self, action: &str, how: LostReply, times: usize) {
        self.rules.lock().unwrap().lose.push((action.to_string(), how, times));
    }

    /// Run `hook` once, right after moto answered the first call of `action`, before the
    /// answer goes back to the client.
    pub fn after(&self, action: &str, hook: impl FnOnce() + Send + 'static) {
        self.rules
            .lock()
            .unwrap()
            .after
            .push((action.to_string(), Box::new(hook)));
    }

    /// From now on, change the body of moto's every answer to `action` (e.g. a shorter
    /// session in an STS answer) before it goes back to the client.
    pub fn rewrite(&self, action: &str, f: impl Fn(&str) -> String + Send + Sync + 'static) {
        self.rules
            .lock()
            .unwrap()
            .rewrite
            .push((action.to_string(), Arc::new(f)));
    }

    /// From now on, moto keeps every forwarded call in `account`, whichever account the
    /// caller's credentials belong to (moto's CopyImage only finds a source AMI in the
    /// caller's own account, so a copy across accounts cannot be made in moto otherwise).
    pub fn one_account(&self, account: &str) {
        self.rules.lock().unwrap().account = Some(account.to_string());
    }

    /// How many calls of `action` came in, whatever became of them.
    pub fn count(&self, action: &str) -> usize {
        self.calls().iter().filter(|c| c.action == action).count()
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.lock().unwrap().clone()
    }

    /// Mutating calls that reached moto, in order.
    pub fn mutations(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.forwarded && c.is_mutation())
            .map(|c| c.action)
            .collect()
    }

    /// How many calls the proxy answered with a fault.
    pub fn faults(&self) -> usize {
        self.calls().iter().filter(|c| !c.forwarded).count()
    }
}

/// Holds a connection without answering until the client closes it (or `longest` passed).
fn hold(stream: &TcpStream, holding: &std::sync::atomic::AtomicUsize, longest: std::time::Duration) {
    use std::sync::atomic::Ordering::SeqCst;
    holding.fetch_add(1, SeqCst);
    let mut stream = stream.try_clone().unwrap();
    let until = std::time::Instant::now() + longest;
    let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(200)));
    let mut buf = [0u8; 1024];
    while std::time::Instant::now() < until {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
            Err(_) => break,
        }
    }
    holding.fetch_sub(1, SeqCst);
}

struct Request {
    head: String,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = String::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" || line == "\n" {
            break;
        }
        head.push_str(&line);
    }
    let mut request = Request { head, body: Vec::new() };
    let length: usize = request
        .header("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    request.body = vec![0; length];
    reader.read_exact(&mut request.body).ok()?;
    Some(request)
}

/// (service, action) from the JSON target header, or the query body and the signing scope.
fn identify(r: &Request) -> (String, String) {
    if let Some(target) = r.header("x-amz-target") {
        let (prefix, action) = target.split_once('.').unwrap_or(("", target));
        let service = if prefix.starts_with("AmazonEC2ContainerService") {
            "ecs"
        } else if prefix.starts_with("GraniteServiceVersion") {
            "cloudwatch"
        } else if prefix.starts_with("AmazonEC2ContainerRegistry") {
            "ecr"
        } else {
            prefix
        };
        return (service.to_string(), action.to_string());
    }
    let body = String::from_utf8_lossy(&r.body);
    let action = body
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or("?")
        .to_string();
    let scope = r
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3));
    if scope == Some("s3") {
        return ("s3".into(), s3_action(r));
    }
    let service = r
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(3))
        .unwrap_or("?")
        .to_string();
    (service, action)
}

/// The region a call is signed for (SigV4's credential scope).
fn region(r: &Request) -> Option<String> {
    r.header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .and_then(|c| c.split('/').nth(2))
        .map(str::to_string)
}

/// S3's REST operations by method and path (path-style: /bucket or /bucket/key).
fn s3_action(r: &Request) -> String {
    let mut first = r.head.lines().next().unwrap_or_default().split_whitespace();
    let (method, path) = (first.next().unwrap_or_default(), first.next().unwrap_or_default());
    let path = path.split('?').next().unwrap_or_default();
    let has_key = path.trim_start_matches('/').contains('/');
    match (method, has_key) {
        ("PUT", true) => "PutObject",
        ("PUT", false) => "CreateBucket",
        ("HEAD", true) => "HeadObject",
        ("HEAD", false) => "HeadBucket",
        ("GET", true) => "GetObject",
        ("GET", false) => "ListObjects",
        ("DELETE", true) => "DeleteObject",
        _ => "?",
    }
    .into()
}

fn http(status: &str, content_type: &str, body: &str) -> Vec<u8> {
    format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nx-amzn-RequestId: proxy-fault\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

fn fault_response(service: &str, r: &Request, kind: u8) -> Vec<u8> {
    if kind == 0 {
        return http("503 Service Unavailable", "text/plain", "Service Unavailable");
    }
    if r.header("x-amz-target").is_some() {
        return http(
            "400 Bad Request",
            "application/x-amz-json-1.1",
            r#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#,
        );
    }
    if service == "ec2" {
        return http(
            "503 Service Unavailable",
            "text/xml",
            "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message>\
             </Error></Errors><RequestID>proxy-fault</RequestID></Response>",
        );
    }
    http(
        "400 Bad Request",
        "text/xml",
        "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>\
         <RequestId>proxy-fault</RequestId></ErrorResponse>",
    )
}

/// IAM's refusal of `action`, in the protocol's form or as a bare 403.
fn denial_response(service: &str, action: &str, r: &Request, how: Denial) -> Vec<u8> {
    let who = "arn:aws:sts::123456789012:assumed-role/deploy/slipway";
    let message = format!("User: {who} is not authorized to perform: {service}:{action}");
    match how {
        Denial::Bare403 => http(
            "403 Forbidden",
            "text/html",
            "<html><head><title>403 Forbidden</title></head><body><h1>Forbidden</h1></body></html>",
        ),
        Denial::Protocol if r.header("x-amz-target").is_some() => http(
            "400 Bad Request",
            "application/x-amz-json-1.1",
            &format!(r#"{{"__type":"AccessDeniedException","message":"{message}"}}"#),
        ),
        Denial::Protocol if service == "ec2" => http(
            "403 Forbidden",
            "text/xml",
            "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to \
             perform this operation.</Message></Error></Errors><RequestID>proxy-denial</RequestID></Response>",
        ),
        Denial::Protocol => http(
            "403 Forbidden",
            "text/xml",
            &format!(
                "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message>\
                 </Error><RequestId>proxy-denial</RequestId></ErrorResponse>"
            ),
        ),
    }
}

/// An rpc-v2-cbor call (`POST /service/SERVICE/operation/OP`) as the same call in JSON
/// 1.0; true when it was one.
fn from_cbor(r: Request) -> (Request, bool) {
    let path = r
        .head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or_default();
    let parts: Vec<&str> = path.split('/').collect();
    let ["", "service", service, "operation", operation] = parts.as_slice() else {
        return (r, false);
    };
    let body = serde_json::to_vec(&super::cbor::to_json(&r.body)).unwrap();
    let mut lines = vec!["POST / HTTP/1.1".to_string()];
    for line in r.head.lines().skip(1) {
        let lower = line.to_ascii_lowercase();
        let replaced = ["content-type:", "content-length:", "smithy-protocol:", "accept:"];
        if !replaced.iter().any(|h| lower.starts_with(h)) {
            lines.push(line.to_string());
        }
    }
    lines.push("Content-Type: application/x-amz-json-1.0".into());
    lines.push(format!("X-Amz-Target: {service}.{operation}"));
    lines.push(format!("Content-Length: {}", body.len()));
    let head = format!("{}\r\n", lines.join("\r\n"));
    (Request { head, body }, true)
}

/// The translated request signed again with the keys known for its access key (SigV4 over
/// host, content type, target and date, as the SDK signs a JSON call), or as it is.
fn resign(r: Request, keys: &[(String, String, Option<String>)]) -> Request {
    use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
    let scope = r
        .header("authorization")
        .and_then(|a| a.split("Credential=").nth(1))
        .map(|c| {
            c.split(',')
                .next()
                .unwrap_or_default()
                .split('/')
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    let [access_key, _, region, service, ..] = scope.as_slice() else {
        return r;
    };
    let Some((_, secret, token)) = keys.iter().find(|(k, _, _)| k == access_key) else {
        return r;
    };
    let identity = aws_credential_types::Credentials::new(access_key, secret, token.clone(), None, "proxy").into();
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(std::time::SystemTime::now())
        .settings(SigningSettings::default())
        .build()
        .unwrap()
        .into();
    let host = r.header("host").unwrap_or_default().to_string();
    let content_type = r.header("content-type").unwrap_or_default().to_string();
    let target = r.header("x-amz-target").unwrap_or_default().to_string();
    let headers = [
        ("host", host.as_str()),
        ("content-type", content_type.as_str()),
        ("x-amz-target", target.as_str()),
    ];
    let signable = SignableRequest::new(
        "POST",
        format!("http://{host}/"),
        headers.into_iter(),
        SignableBody::Bytes(&r.body),
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let (signed, _) = instructions.into_parts();
    let replaced: Vec<String> = signed.iter().map(|h| h.name().to_ascii_lowercase()).collect();
    let mut lines: Vec<String> = r
        .head
        .lines()
        .filter(|l| {
            let name = l.split(':').next().unwrap_or_default().trim().to_ascii_lowercase();
            !replaced.contains(&name) && name != "x-amz-content-sha256"
        })
        .map(str::to_string)
        .collect();
    lines.extend(signed.iter().map(|h| format!("{}: {}", h.name(), h.value())));
    Request {
        head: format!("{}\r\n", lines.join("\r\n")),
        body: r.body,
    }
}

/// A JSON answer to a translated call, as rpc-v2-cbor (anything else is passed as it is).
fn to_cbor(response: Vec<u8>) -> Vec<u8> {
    let Some(end) = response.windows(4).position(|w| w == b"\r\n\r\n") else {
        return response;
    };
    let (head, body) = (
        String::from_utf8_lossy(&response[..end]).to_string(),
        &response[end + 4..],
    );
    let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) else {
        return response;
    };
    let body = super::cbor::from_json(&json);
    let mut lines: Vec<String> = head
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("content-type:") && !l.starts_with("content-length:")
        })
        .map(str::to_string)
        .collect();
    lines.push("Content-Type: application/cbor".into());
    lines.push("smithy-protocol: rpc-v2-cbor".into());
    lines.push(format!("Content-Length: {}", body.len()));
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(&body);
    out
}

/// Sends the request to moto on a fresh connection and returns moto's whole answer.
fn forward(
    upstream: &str,
    r: &Request,
    drop: Option<&str>,
    rewrite: Option<&(dyn Fn(&str) -> String + Send + Sync)>,
    account: Option<&str>,
) -> Vec<u8> {
    let mut conn = TcpStream::connect(upstream).expect("moto is up");
    let mut head: Vec<&str> = r
        .head
        .lines()
        .filter(|l| !l.to_ascii_lowercase().starts_with("connection:"))
        .collect();
    head.push("Connection: close");
    let account = account.map(|a| format!("x-moto-account-id: {a}"));
    if let Some(line) = &account {
        head.push(line);
    }
    let mut bytes = head.join("\r\n").into_bytes();
    bytes.extend_from_slice(b"\r\n\r\n");
    bytes.extend_from_slice(&r.body);
    conn.write_all(&bytes).unwrap();
    let mut response = Vec::new();
    conn.read_to_end(&mut response).unwrap();
    // Moto closes the connection; tell the client the length so keep-alive still works.
    let text_end = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| p + 4)
        .unwrap_or(response.len());
    let (head, body) = response.split_at(text_end);
    let rewritten = rewrite.map(|f| f(&String::from_utf8_lossy(body)).into_bytes());
    let body = rewritten.as_deref().unwrap_or(body);
    let head = String::from_utf8_lossy(head);
    let mut lines: Vec<String> = head
        .trim_end()
        .lines()
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            let dropped = drop.is_some_and(|name| l.starts_with(&format!("{}:", name.to_ascii_lowercase())));
            !dropped
                && !l.starts_with("connection:")
                && !l.starts_with("content-length:")
                && !l.starts_with("transfer-encoding:")
        })
        .map(str::to_string)
        .collect();
    lines.push(format!("Content-Length: {}", body.len()));
    let mut out = lines.join("\r\n").into_bytes();
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body);
    out
}
