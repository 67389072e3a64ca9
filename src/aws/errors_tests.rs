//! Each shape an SDK call fails with, produced by a real SDK client against a local
//! socket that answers as AWS (or a broken network) would, mapped to one readable line.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::Duration;

use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials};
use aws_sdk_autoscaling::config::{Credentials, Region};

use super::to_cloud;
use crate::cloud::{CloudError, ErrorKind};

/// A server answering every request with `answer`; `None` reads the request and never answers.
fn serve(answer: Option<String>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let answer = answer.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 65536];
                let _ = stream.read(&mut buf);
                match answer {
                    Some(a) => {
                        let _ = stream.write_all(a.as_bytes());
                    }
                    // Hold the connection open until the client gives up and closes it.
                    None => while stream.read(&mut buf).is_ok_and(|n| n > 0) {},
                }
            });
        }
    });
    endpoint
}

fn http(status: &str, content_type: &str, body: &str) -> Option<String> {
    Some(format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    ))
}

#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded("no credentials in the environment")))
    }
}

fn config(endpoint: &str) -> aws_sdk_autoscaling::config::Builder {
    aws_sdk_autoscaling::config::Builder::new()
        .behavior_version(aws_sdk_autoscaling::config::BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("AKIDEXAMPLE", "secret", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
}

async fn update(conf: aws_sdk_autoscaling::config::Builder) -> CloudError {
    let client = aws_sdk_autoscaling::Client::from_conf(conf.build());
    let err = client
        .update_auto_scaling_group()
        .auto_scaling_group_name("web")
        .desired_capacity(4)
        .send()
        .await
        .expect_err("the call fails");
    let mapped = to_cloud("autoscaling", "UpdateAutoScalingGroup", &err);
    let text = mapped.to_string();
    for dump in [
        "ServiceError",
        "SdkBody",
        "DispatchFailure",
        "ConnectorError",
        "ErrorMetadata",
        "{ ",
    ] {
        assert!(!text.contains(dump), "a Debug dump leaked ({dump}): {text}");
    }
    assert!(text.starts_with("UpdateAutoScalingGroup failed: "), "{text}");
    assert!(text.len() < 500, "one short line: {text}");
    assert!(!text.contains('\n'), "one line: {text}");
    mapped
}

const DENIED_QUERY: &str = "<ErrorResponse><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>User: \
arn:aws:sts::123456789012:assumed-role/deploy/s is not authorized to perform: autoscaling:UpdateAutoScalingGroup\
</Message></Error><RequestId>r1</RequestId></ErrorResponse>";

#[tokio::test]
async fn a_service_error_keeps_its_code_and_awss_message() {
    let e = update(config(&serve(http("403 Forbidden", "text/xml", DENIED_QUERY)))).await;
    assert_eq!(e.kind, ErrorKind::Denied);
    assert_eq!(e.code.as_deref(), Some("AccessDenied"));
    assert_eq!(
        e.to_string(),
        "UpdateAutoScalingGroup failed: AccessDenied: User: arn:aws:sts::123456789012:assumed-role/deploy/s \
         is not authorized to perform: autoscaling:UpdateAutoScalingGroup"
    );
    assert_eq!(e.iam_action(), "autoscaling:UpdateAutoScalingGroup");
    assert!(!e.is_transient());
}

#[tokio::test]
async fn throttling_is_transient() {
    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message>\
                </Error></ErrorResponse>";
    let e = update(config(&serve(http("400 Bad Request", "text/xml", body)))).await;
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Throttled, Some("Throttling")));
    assert!(e.is_transient());
}

#[tokio::test]
async fn a_403_without_a_code_is_a_denial_and_never_retried() {
    // What moto with IAM enforcement sends an Auto Scaling call: EC2's XML shape, which the
    // query protocol's parser does not read; and a proxy's bare HTML page.
    let ec2_shaped = "<?xml version=\"1.0\"?><Response><Errors><Error><Code>AccessDenied</Code><Message>User: \
                      test is not authorized to perform: autoscaling:UpdateAutoScalingGroup</Message></Error>\
                      </Errors><RequestID>r2</RequestID></Response>";
    let e = update(config(&serve(http("403 Forbidden", "text/xml", ec2_shaped)))).await;
    assert_eq!(
        e.to_string(),
        "UpdateAutoScalingGroup failed: AccessDenied: User: test is not authorized to perform: \
         autoscaling:UpdateAutoScalingGroup"
    );
    let html = "<html><body>Forbidden</body></html>";
    let bare = update(config(&serve(http("403 Forbidden", "text/html", html)))).await;
    assert_eq!(
        bare.to_string(),
        "UpdateAutoScalingGroup failed: HTTP 403 with no error code in the answer (access denied): \
         <html><body>Forbidden</body></html>"
    );
    for e in [e, bare] {
        assert_eq!(e.kind, ErrorKind::Denied, "{e}");
        assert!(!e.is_transient());
        assert!(
            e.help().unwrap().contains("grant autoscaling:UpdateAutoScalingGroup"),
            "{e}"
        );
    }
    let e = update(config(&serve(http("401 Unauthorized", "text/plain", "")))).await;
    assert_eq!(e.kind, ErrorKind::Denied, "{e}");
}

#[tokio::test]
async fn a_bare_5xx_is_transient_and_says_the_status() {
    let e = update(config(&serve(http(
        "502 Bad Gateway",
        "text/html",
        "<h1>bad gateway</h1>",
    ))))
    .await;
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Other, None));
    assert!(e.is_transient());
    assert!(e.to_string().contains("HTTP 502"), "{e}");
    assert!(e.to_string().contains("bad gateway"), "{e}");
}

#[tokio::test]
async fn a_timeout_says_no_answer_came() {
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .operation_attempt_timeout(Duration::from_millis(300))
        .build();
    let e = update(config(&serve(None)).timeout_config(timeouts)).await;
    assert_eq!(e.kind, ErrorKind::Other);
    assert!(e.is_transient());
    assert!(e.message.contains("no answer in time"), "{e}");
}

#[tokio::test]
async fn a_connection_failure_names_the_cause() {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let e = update(config(&format!("http://127.0.0.1:{port}"))).await;
    assert_eq!(e.kind, ErrorKind::Other);
    assert!(e.message.starts_with("could not reach AWS: "), "{e}");
    assert!(e.message.to_lowercase().contains("refused"), "{e}");
}

#[tokio::test]
async fn missing_credentials_are_their_own_kind() {
    let conf = config(&serve(http("200 OK", "text/xml", ""))).credentials_provider(NoCredentials);
    let e = update(conf).await;
    assert_eq!(e.kind, ErrorKind::Credentials, "{e}");
    assert!(e.message.starts_with("no usable AWS credentials"), "{e}");
    assert!(e.message.contains("no credentials in the environment"), "{e}");
    let err: crate::Error = e.into();
    assert_eq!(err.exit_code(), 2);
    assert!(err.help().unwrap().contains("aws sso login"), "{}", err.render());
}

#[tokio::test]
async fn an_unknown_4xx_code_is_a_refusal_not_a_reason_to_retry() {
    // What ELBv2 answers a DeregisterTargets of a target that is no longer registered.
    let body = "<ErrorResponse><Error><Type>Sender</Type><Code>InvalidTarget</Code><Message>The specified target \
                does not exist or is not in the same VPC as the target group.</Message></Error></ErrorResponse>";
    let e = update(config(&serve(http("400 Bad Request", "text/xml", body)))).await;
    assert_eq!((e.kind, e.code.as_deref()), (ErrorKind::Invalid, Some("InvalidTarget")));
    assert!(!e.is_transient(), "{e}");
    let body = "<ErrorResponse><Error><Code>RequestTimeout</Code><Message>slow</Message></Error></ErrorResponse>";
    let e = update(config(&serve(http("400 Bad Request", "text/xml", body)))).await;
    assert!(e.is_transient(), "{e}");
}
