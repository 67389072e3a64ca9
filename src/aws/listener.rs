//! The weights of a listener's (or listener rule's) forward action, over
//! aws-sdk-elasticloadbalancingv2: DescribeListeners / DescribeRules to read them,
//! ModifyListener / ModifyRule to set them with every other action, the stickiness and
//! the rule's conditions kept as they are.

use aws_sdk_elasticloadbalancingv2::types::{Action, ActionTypeEnum, ForwardActionConfig, TargetGroupTuple};
use aws_sdk_elasticloadbalancingv2::Client;

use super::{absent_as_none, to_cloud};
use crate::cloud::{CloudError, CloudResult, ErrorKind, Forward, Weighted};

const SERVICE: &str = "elasticloadbalancing";

/// A listener rule's ARN names `listener-rule/`; a listener's `listener/`.
fn is_rule(arn: &str) -> bool {
    arn.contains(":listener-rule/")
}

fn not_found(e: CloudError) -> CloudError {
    match e.code.as_deref() {
        Some("ListenerNotFound" | "RuleNotFound") => CloudError {
            kind: ErrorKind::NotFound,
            ..e
        },
        _ => e,
    }
}

/// The listener's default actions or the rule's actions; None when it does not exist.
async fn actions(client: &Client, arn: &str) -> CloudResult<Option<Vec<Action>>> {
    if is_rule(arn) {
        let op = "DescribeRules";
        let out = absent_as_none(
            client
                .describe_rules()
                .rule_arns(arn)
                .send()
                .await
                .map_err(|e| not_found(to_cloud(SERVICE, op, &e))),
        )?;
        Ok(out.and_then(|o| o.rules().first().map(|r| r.actions().to_vec())))
    } else {
        let op = "DescribeListeners";
        let out = absent_as_none(
            client
                .describe_listeners()
                .listener_arns(arn)
                .send()
                .await
                .map_err(|e| not_found(to_cloud(SERVICE, op, &e))),
        )?;
        Ok(out.and_then(|o| o.listeners().first().map(|l| l.default_actions().to_vec())))
    }
}

fn is_forward(a: &Action) -> bool {
    a.r#type() == Some(&ActionTypeEnum::Forward)
}

/// The forward action as the port sees it: a plain `TargetGroupArn` is one group at weight 1.
fn view(actions: &[Action]) -> Forward {
    let Some(forward) = actions.iter().find(|a| is_forward(a)) else {
        return Forward {
            target_groups: Vec::new(),
            stickiness: None,
        };
    };
    let config = forward.forward_config();
    let mut target_groups: Vec<Weighted> = config
        .map(|c| c.target_groups())
        .unwrap_or_default()
        .iter()
        .map(|t| Weighted {
            arn: t.target_group_arn().unwrap_or_default().to_string(),
            weight: t.weight().unwrap_or(1),
        })
        .collect();
    if target_groups.is_empty() {
        if let Some(arn) = forward.target_group_arn() {
            target_groups.push(Weighted {
                arn: arn.to_string(),
                weight: 1,
            });
        }
    }
    let stickiness = config
        .and_then(|c| c.target_group_stickiness_config())
        .filter(|s| s.enabled() == Some(true))
        .map(|s| s.duration_seconds().unwrap_or(0));
    Forward {
        target_groups,
        stickiness,
    }
}

pub(super) async fn forward(client: &Client, arn: &str) -> CloudResult<Option<Forward>> {
    Ok(actions(client, arn).await?.map(|a| view(&a)))
}

pub(super) async fn set_weights(client: &Client, arn: &str, weights: &[Weighted]) -> CloudResult<()> {
    let op = if is_rule(arn) { "ModifyRule" } else { "ModifyListener" };
    let Some(mut actions) = actions(client, arn).await? else {
        return Err(CloudError::not_found(op, format!("listener or rule {arn} not found")));
    };
    let Some(forward) = actions.iter_mut().find(|a| is_forward(a)) else {
        return Err(CloudError::new(
            ErrorKind::Invalid,
            op,
            Some("ValidationError"),
            format!("{arn} has no forward action"),
        ));
    };
    let stickiness = forward
        .forward_config()
        .and_then(|c| c.target_group_stickiness_config())
        .cloned();
    let tuples = weights
        .iter()
        .map(|w| {
            TargetGroupTuple::builder()
                .target_group_arn(&w.arn)
                .weight(w.weight)
                .build()
        })
        .collect();
    forward.forward_config = Some(
        ForwardActionConfig::builder()
            .set_target_groups(Some(tuples))
            .set_target_group_stickiness_config(stickiness)
            .build(),
    );
    // A forward action with several target groups names them in ForwardConfig only.
    forward.target_group_arn = None;
    // Every other action goes back as it is, but an OIDC action's client secret never
    // comes back from Describe, and a modify needs it "unless you set
    // UseExistingClientSecret to true" (elbv2 2015-12-01 model,
    // AuthenticateOidcActionConfig.ClientSecret): keep the secret the listener has.
    for action in actions.iter_mut() {
        if let Some(oidc) = action.authenticate_oidc_config.as_mut() {
            oidc.client_secret = None;
            oidc.use_existing_client_secret = Some(true);
        }
    }
    let sent = if is_rule(arn) {
        client
            .modify_rule()
            .rule_arn(arn)
            .set_actions(Some(actions))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| not_found(to_cloud(SERVICE, op, &e)))
    } else {
        client
            .modify_listener()
            .listener_arn(arn)
            .set_default_actions(Some(actions))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| not_found(to_cloud(SERVICE, op, &e)))
    };
    sent
}
