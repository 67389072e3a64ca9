//! What a poll makes of a failed cloud call, the same for every AWS probe: throttling, 5xx
//! and transport failures are retried at the next poll; a denial, missing credentials, an
//! invalid request or a vanished resource end the wait at once, naming the call and (for a
//! denial) the IAM action to grant. Denied is not pending.

use super::engine::Check;
use crate::cloud::CloudError;

/// The poll's result after `e`: `Pending` when another poll may succeed, `Failed` otherwise.
pub fn after_error<T>(e: &CloudError) -> Check<T> {
    if e.is_transient() {
        Check::Pending(format!("{e}; retrying"))
    } else {
        Check::Failed(e.explain())
    }
}

/// Why a resource that was there at an earlier poll is gone.
pub fn vanished<T>(what: &str) -> Check<T> {
    Check::Failed(format!("{what} was deleted during the wait"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::ErrorKind;

    fn err(kind: ErrorKind, code: Option<&str>) -> CloudError {
        CloudError::new(kind, "DescribeTargetHealth", code, "the message").in_service("elasticloadbalancing")
    }

    #[test]
    fn throttling_and_5xx_are_pending() {
        for (kind, code) in [(ErrorKind::Throttled, Some("Throttling")), (ErrorKind::Other, None)] {
            assert!(matches!(after_error::<()>(&err(kind, code)), Check::Pending(_)));
        }
    }

    #[test]
    fn a_denial_fails_naming_the_call_and_the_action() {
        let Check::Failed(why) = after_error::<()>(&err(ErrorKind::Denied, Some("AccessDenied"))) else {
            panic!("a denial must fail");
        };
        assert!(
            why.starts_with("DescribeTargetHealth failed: AccessDenied: the message"),
            "{why}"
        );
        assert!(why.contains("grant elasticloadbalancing:DescribeTargetHealth"), "{why}");
    }

    #[test]
    fn credentials_invalid_and_missing_fail() {
        for kind in [ErrorKind::Credentials, ErrorKind::Invalid, ErrorKind::NotFound] {
            assert!(
                matches!(after_error::<()>(&err(kind, None)), Check::Failed(_)),
                "{kind:?}"
            );
        }
    }
}
