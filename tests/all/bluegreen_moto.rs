//! Auto Scaling blue/green against moto: the listener port (weights read and set through
//! ModifyListener / ModifyRule, stickiness and conditions kept, the exact request moto
//! got), and slipway-roll between two real groups behind a real listener: every weight
//! step in the order ModifyListener reached moto, an alarm at 10% rolling back, bad input.

use aws_sdk_autoscaling::types::LaunchTemplateSpecification;
use aws_sdk_ec2::types::RequestLaunchTemplateData;
use aws_sdk_elasticloadbalancingv2::types::{
    Action, ActionTypeEnum, ForwardActionConfig, ProtocolEnum, RuleCondition, TargetGroupStickinessConfig,
    TargetGroupTuple,
};
use slipway::cloud::{Forward, LoadBalancing, Weighted};

use crate::roll_moto::sdk;
use crate::support::moto::moto;
use crate::support::proxy::Proxy;

/// Two groups on one launch template (`{name}`, versions 1 and 2) behind one listener.
pub struct Pair {
    pub groups: [String; 2],
    pub target_groups: [String; 2],
    pub listener: String,
    pub rule: String,
}

fn forward(tgs: &[(&str, i32)], sticky: Option<i32>) -> Action {
    let tuples = tgs
        .iter()
        .map(|(arn, w)| TargetGroupTuple::builder().target_group_arn(*arn).weight(*w).build())
        .collect();
    let stickiness = sticky.map(|d| {
        TargetGroupStickinessConfig::builder()
            .enabled(true)
            .duration_seconds(d)
            .build()
    });
    Action::builder()
        .r#type(ActionTypeEnum::Forward)
        .forward_config(
            ForwardActionConfig::builder()
                .set_target_groups(Some(tuples))
                .set_target_group_stickiness_config(stickiness)
                .build(),
        )
        .build()
}

/// `{name}-a` live (desired `desired`, min 1, max 4) at weight 100, `{name}-b` empty at 0;
/// a listener forwarding to both (sticky for 300s) and a rule on /api forwarding to both.
/// `attach_b`: whether `{name}-b` is attached to its target group.
pub async fn pair(name: &str, desired: i32, attach_b: bool) -> Pair {
    pair_on(&sdk(&moto().endpoint).await, name, desired, attach_b).await
}

/// The same, through the SDK configuration given (another moto).
pub async fn pair_on(config: &aws_config::SdkConfig, name: &str, desired: i32, attach_b: bool) -> Pair {
    let config = config.clone();
    let ec2 = aws_sdk_ec2::Client::new(&config);
    let data = RequestLaunchTemplateData::builder()
        .image_id("ami-03cf127a")
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .build();
    ec2.create_launch_template()
        .launch_template_name(name)
        .launch_template_data(data.clone())
        .send()
        .await
        .expect("create the launch template");
    ec2.create_launch_template_version()
        .launch_template_name(name)
        .launch_template_data(data)
        .send()
        .await
        .expect("create version 2");
    let vpc = ec2.describe_vpcs().send().await.expect("vpcs").vpcs()[0]
        .vpc_id()
        .unwrap()
        .to_string();
    let subnets: Vec<String> = ec2
        .describe_subnets()
        .send()
        .await
        .expect("subnets")
        .subnets()
        .iter()
        .filter(|s| s.vpc_id() == Some(vpc.as_str()))
        .filter_map(|s| s.subnet_id().map(str::to_string))
        .take(2)
        .collect();
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let mut tgs = Vec::new();
    for side in ["a", "b"] {
        let tg = elb
            .create_target_group()
            .name(format!("{name}-{side}"))
            .protocol(ProtocolEnum::Http)
            .port(80)
            .vpc_id(&vpc)
            .send()
            .await
            .expect("create a target group");
        tgs.push(tg.target_groups()[0].target_group_arn().unwrap().to_string());
    }
    let lb = elb
        .create_load_balancer()
        .name(name)
        .set_subnets(Some(subnets))
        .send()
        .await
        .expect("create the load balancer");
    let lb_arn = lb.load_balancers()[0].load_balancer_arn().unwrap().to_string();
    let listener = elb
        .create_listener()
        .load_balancer_arn(&lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(80)
        .default_actions(forward(&[(&tgs[0], 100), (&tgs[1], 0)], Some(300)))
        .send()
        .await
        .expect("create the listener");
    let listener = listener.listeners()[0].listener_arn().unwrap().to_string();
    let rule = elb
        .create_rule()
        .listener_arn(&listener)
        .priority(10)
        .conditions(RuleCondition::builder().field("path-pattern").values("/api/*").build())
        .actions(forward(&[(&tgs[0], 100), (&tgs[1], 0)], None))
        .send()
        .await
        .expect("create the rule");
    let rule = rule.rules()[0].rule_arn().unwrap().to_string();
    let asg = aws_sdk_autoscaling::Client::new(&config);
    for (side, tg, size) in [("a", &tgs[0], desired), ("b", &tgs[1], 0)] {
        let mut create = asg
            .create_auto_scaling_group()
            .auto_scaling_group_name(format!("{name}-{side}"))
            .launch_template(
                LaunchTemplateSpecification::builder()
                    .launch_template_name(name)
                    .version("1")
                    .build(),
            )
            .min_size(size.min(1))
            .max_size(4)
            .desired_capacity(size)
            .availability_zones("us-east-1a")
            .health_check_type("ELB");
        if side == "a" || attach_b {
            create = create.target_group_arns(tg);
        }
        create.send().await.expect("create a group");
    }
    Pair {
        groups: [format!("{name}-a"), format!("{name}-b")],
        target_groups: [tgs[0].clone(), tgs[1].clone()],
        listener,
        rule,
    }
}

/// A query-protocol body as `key=value` lines, decoded.
pub fn form(body: &str) -> String {
    url::form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| format!("{k}={v}\n"))
        .collect()
}

fn weights(p: &Pair, a: i32, b: i32) -> Vec<Weighted> {
    vec![
        Weighted {
            arn: p.target_groups[0].clone(),
            weight: a,
        },
        Weighted {
            arn: p.target_groups[1].clone(),
            weight: b,
        },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_weights_are_read_and_set_through_moto() {
    let p = pair("bg-port", 1, true).await;
    let proxy = Proxy::start(&moto().endpoint, 0.0, 1);
    let elb = slipway::aws::elb::ElbAdapter::new(&sdk(&proxy.endpoint).await);
    let before = elb.forward(&p.listener).await.unwrap().expect("the listener");
    assert_eq!(
        before,
        Forward {
            target_groups: weights(&p, 100, 0),
            stickiness: Some(300)
        }
    );
    elb.set_weights(&p.listener, &weights(&p, 90, 10)).await.unwrap();
    let after = elb.forward(&p.listener).await.unwrap().unwrap();
    assert_eq!(after.target_groups, weights(&p, 90, 10));
    assert_eq!(after.stickiness, Some(300), "stickiness kept");
    assert_eq!(after.percent(&p.target_groups[1]), 10);
    // The request moto got: the listener, both groups with their weights, stickiness.
    let sent = proxy
        .calls()
        .into_iter()
        .find(|c| c.action == "ModifyListener")
        .expect("a ModifyListener call");
    let body = form(&sent.body);
    for field in [
        format!("ListenerArn={}", p.listener),
        "DefaultActions.member.1.Type=forward".to_string(),
        format!(
            "DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.TargetGroupArn={}",
            p.target_groups[1]
        ),
        "DefaultActions.member.1.ForwardConfig.TargetGroups.member.2.Weight=10".into(),
        "DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.Enabled=true".into(),
        "DefaultActions.member.1.ForwardConfig.TargetGroupStickinessConfig.DurationSeconds=300".into(),
    ] {
        assert!(body.contains(&field), "{field} missing from {body}");
    }
    assert!(!body.contains("DefaultActions.member.1.TargetGroupArn"), "{body}");

    // A rule: its weights change, its condition stays.
    elb.set_weights(&p.rule, &weights(&p, 0, 100)).await.unwrap();
    let rule = elb.forward(&p.rule).await.unwrap().unwrap();
    assert_eq!(rule.target_groups, weights(&p, 0, 100));
    assert_eq!(rule.stickiness, None);
    let sent = proxy.calls().into_iter().find(|c| c.action == "ModifyRule").unwrap();
    assert!(
        !sent.body.contains("Conditions"),
        "conditions are left alone: {}",
        sent.body
    );
    let config = sdk(&moto().endpoint).await;
    let rules = aws_sdk_elasticloadbalancingv2::Client::new(&config)
        .describe_rules()
        .rule_arns(&p.rule)
        .send()
        .await
        .unwrap();
    let values = rules.rules()[0].conditions()[0].values().to_vec();
    assert_eq!(values, vec!["/api/*".to_string()]);

    // Missing: None, not an error.
    let missing = p.listener.replace(&p.listener[p.listener.len() - 4..], "ffff");
    assert_eq!(elb.forward(&missing).await.unwrap(), None);
}

const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

fn yaml(p: &Pair, template: &str, listener: &str, extra: &str) -> String {
    format!(
        "app: web\nenvironments:\n  stage:\n    aws:\n      role_arn: arn:aws:iam::123456789012:role/deploy\n      region: us-east-1\n    asg:\n      strategy: blue_green\n      groups: [{}, {}]\n      launch_template: {template}\n      listener: {listener}\n      steps: [10, 50, 100]\n      step_bake: 1s\n{extra}",
        p.groups[0], p.groups[1]
    )
}

fn roll(dir: &crate::support::Dir, yaml: &str, endpoint: &str, extra: &[&str]) -> crate::support::Run {
    let mut cmd = crate::support::bin("slipway-roll");
    cmd.args(["--environment", "stage", "--sha", SHA, "--poll-interval", "1s"])
        .args(["--timeout", "60s", "--output", "json"])
        .arg("--config")
        .arg(dir.write("slipway.yml", yaml))
        .args(extra)
        .args(if extra.contains(&"--launch-template-version") {
            &[][..]
        } else {
            &["--launch-template-version", "2"][..]
        })
        .envs(crate::support::moto::moto_env(endpoint, dir));
    crate::support::run(&mut cmd)
}

/// The new group's weight in each ModifyListener that reached moto, in order.
fn weight_steps(proxy: &Proxy, p: &Pair) -> Vec<(i32, i32)> {
    proxy
        .calls()
        .into_iter()
        .filter(|c| c.forwarded && c.action == "ModifyListener")
        .map(|c| {
            let body = form(&c.body);
            let weight = |arn: &str| -> i32 {
                let n = body
                    .lines()
                    .find(|l| l.ends_with(&format!("TargetGroupArn={arn}")))
                    .and_then(|l| l.split(".TargetGroupArn").next())
                    .unwrap_or_else(|| panic!("{arn} missing from {body}"))
                    .to_string();
                body.lines()
                    .find_map(|l| l.strip_prefix(&format!("{n}.Weight=")))
                    .and_then(|w| w.parse().ok())
                    .unwrap_or_else(|| panic!("no weight for {arn} in {body}"))
            };
            (weight(&p.target_groups[0]), weight(&p.target_groups[1]))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_moves_a_real_listener_from_one_real_group_to_the_other() {
    let p = pair("bg-roll", 2, true).await;
    let proxy = Proxy::start(&moto().endpoint, 0.0, 21);
    let dir = crate::support::Dir::new();
    let r = roll(&dir, &yaml(&p, "bg-roll", &p.listener, ""), &proxy.endpoint, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(json["result"], "succeeded", "{json}");
    assert_eq!(json["blue_green"]["live_group_before"], "bg-roll-a");
    assert_eq!(json["blue_green"]["live_group_after"], "bg-roll-b");
    assert_eq!(json["blue_green"]["weight_reached"], 100);
    assert_eq!(json["blue_green"]["stickiness"], 300, "stickiness reported");
    assert_eq!(
        weight_steps(&proxy, &p),
        vec![(90, 10), (50, 50), (0, 100)],
        "each step, in order"
    );
    let forward = slipway::aws::elb::ElbAdapter::new(&sdk(&moto().endpoint).await)
        .forward(&p.listener)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(forward.target_groups, weights(&p, 0, 100));
    assert_eq!(forward.stickiness, Some(300), "stickiness kept");
    let (a, b) = (
        crate::roll_moto::state("bg-roll-a").await,
        crate::roll_moto::state("bg-roll-b").await,
    );
    assert_eq!((a.0, a.2), (0, 0), "the old group at zero: {a:?}");
    assert_eq!((b.0, b.1, b.2, b.3.as_str()), (1, 4, 2, "2"), "the new group: {b:?}");
    assert_eq!(b.4.len(), 2);
    let outputs: std::collections::BTreeMap<String, String> =
        slipway::github::files::parse_outputs(&dir.read("output"))
            .into_iter()
            .collect();
    assert_eq!(outputs["live-group-before"], "bg-roll-a");
    assert_eq!(outputs["live-group-after"], "bg-roll-b");
    assert_eq!(outputs["weight-reached"], "100");
    assert_eq!(outputs["rolled-back"], "false");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alarm_at_the_first_step_puts_the_weights_back_and_the_new_group_to_zero() {
    use aws_sdk_cloudwatch::types::StateValue;
    let p = pair("bg-alarm", 2, true).await;
    let proxy = Proxy::start(&moto().endpoint, 0.0, 22);
    crate::alarms_moto::alarm(&proxy.endpoint, "bg-alarm-5xx", StateValue::Ok).await;
    // Right after the first weight change reached moto, the alarm goes off (through the
    // proxy: it speaks CloudWatch's CBOR to moto as JSON).
    let endpoint = proxy.endpoint.clone();
    proxy.after("ModifyListener", move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(crate::alarms_moto::set_state(
            &endpoint,
            "bg-alarm-5xx",
            StateValue::Alarm,
            "5xx above 10",
        ));
    });
    let dir = crate::support::Dir::new();
    let extra = "    health:\n      alarms: [bg-alarm-5xx]\n";
    let yaml = yaml(&p, "bg-alarm", &p.listener, extra).replace("step_bake: 1s", "step_bake: 30s");
    let r = roll(&dir, &yaml, &proxy.endpoint, &[]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let json: serde_json::Value = serde_json::from_str(&r.stdout).expect("JSON on stdout");
    assert_eq!(json["result"], "rolled_back", "{json}");
    assert_eq!(json["alarm"], "bg-alarm-5xx");
    assert_eq!(json["blue_green"]["live_group_after"], "bg-alarm-a");
    assert_eq!(json["blue_green"]["weight_reached"], 10);
    assert_eq!(weight_steps(&proxy, &p), vec![(90, 10), (100, 0)], "10%, then back");
    let forward = slipway::aws::elb::ElbAdapter::new(&sdk(&moto().endpoint).await)
        .forward(&p.listener)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(forward.target_groups, weights(&p, 100, 0));
    let (a, b) = (
        crate::roll_moto::state("bg-alarm-a").await,
        crate::roll_moto::state("bg-alarm-b").await,
    );
    assert_eq!(
        (a.0, a.1, a.2, a.3.as_str()),
        (1, 4, 2, "1"),
        "the old group untouched: {a:?}"
    );
    assert_eq!(
        (b.0, b.2, b.3.as_str()),
        (0, 0, "1"),
        "the new group at zero, on version 1 again: {b:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_blue_green_input_exits_2_with_nothing_changed() {
    let p = pair("bg-bad", 2, false).await;
    let config = sdk(&moto().endpoint).await;
    // A listener whose forward action holds one target group only.
    let elb = aws_sdk_elasticloadbalancingv2::Client::new(&config);
    let lb = elb
        .describe_listeners()
        .listener_arns(&p.listener)
        .send()
        .await
        .unwrap();
    let lb_arn = lb.listeners()[0].load_balancer_arn().unwrap().to_string();
    let single = elb
        .create_listener()
        .load_balancer_arn(lb_arn)
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .default_actions(forward(&[(&p.target_groups[0], 1)], None))
        .send()
        .await
        .unwrap();
    let single = single.listeners()[0].listener_arn().unwrap().to_string();
    let cases = [
        (single.clone(), "holds 1 target group(s)"),
        // bg-bad-b is not attached to its target group.
        (p.listener.clone(), "bg-bad-b is attached to 0 of the target groups"),
    ];
    for (listener, message) in cases {
        let proxy = Proxy::start(&moto().endpoint, 0.0, 23);
        let dir = crate::support::Dir::new();
        let r = roll(&dir, &yaml(&p, "bg-bad", &listener, ""), &proxy.endpoint, &[]);
        assert_eq!(r.code, 2, "{}", r.stderr);
        assert!(r.stderr.contains(message), "{message}: {}", r.stderr);
        assert!(r.stderr.contains("help:"), "{}", r.stderr);
        assert_eq!(proxy.mutations(), Vec::<String>::new(), "nothing changed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_through_a_listener_rule_sets_the_rule_and_leaves_the_listener() {
    let p = pair("bg-rule", 1, true).await;
    let proxy = Proxy::start(&moto().endpoint, 0.0, 24);
    let dir = crate::support::Dir::new();
    let yaml = yaml(&p, "bg-rule", &p.rule, "").replace("listener: ", "listener_rule: ");
    let r = roll(
        &dir,
        &yaml.replace("steps: [10, 50, 100]", "steps: [100]"),
        &proxy.endpoint,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(proxy.count("ModifyListener"), 0);
    let rules: Vec<String> = proxy
        .calls()
        .into_iter()
        .filter(|c| c.forwarded && c.action == "ModifyRule")
        .map(|c| form(&c.body))
        .collect();
    assert_eq!(rules.len(), 1, "{rules:?}");
    assert!(rules[0].contains(&format!("RuleArn={}", p.rule)), "{}", rules[0]);
    let elb = slipway::aws::elb::ElbAdapter::new(&sdk(&moto().endpoint).await);
    assert_eq!(
        elb.forward(&p.rule).await.unwrap().unwrap().target_groups,
        weights(&p, 0, 100)
    );
    assert_eq!(
        elb.forward(&p.listener).await.unwrap().unwrap().target_groups,
        weights(&p, 100, 0),
        "the listener's default action is left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_old_schedules_the_scale_down_and_the_next_roll_deletes_it() {
    let p = pair("bg-keep", 1, true).await;
    let proxy = Proxy::start(&moto().endpoint, 0.0, 25);
    let dir = crate::support::Dir::new();
    let yaml = yaml(&p, "bg-keep", &p.listener, "").replace("step_bake: 1s\n", "step_bake: 1s\n      keep_old: 30m\n");
    let r = roll(
        &dir,
        &yaml.replace("steps: [10, 50, 100]", "steps: [100]"),
        &proxy.endpoint,
        &[],
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let config = sdk(&moto().endpoint).await;
    let asg = aws_sdk_autoscaling::Client::new(&config);
    let scheduled = |group: &'static str| {
        let asg = asg.clone();
        async move {
            asg.describe_scheduled_actions()
                .auto_scaling_group_name(group)
                .send()
                .await
                .unwrap()
                .scheduled_update_group_actions()
                .to_vec()
        }
    };
    let actions = scheduled("bg-keep-a").await;
    assert_eq!(actions.len(), 1, "{actions:?}");
    let a = &actions[0];
    assert_eq!(a.scheduled_action_name(), Some("slipway-keep-old"));
    assert_eq!((a.min_size(), a.desired_capacity()), (Some(0), Some(0)), "{a:?}");
    let start = a.start_time().unwrap().secs();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        (now + 1700..=now + 1810).contains(&start),
        "in 30 minutes: {start} vs {now}"
    );
    let warm = crate::roll_moto::state("bg-keep-a").await;
    assert_eq!(warm.2, 1, "the old group is still warm: {warm:?}");
    // Rolling again (back onto version 1) makes bg-keep-a live: its scale-down goes first.
    let back = roll(
        &dir,
        &yaml.replace("steps: [10, 50, 100]", "steps: [100]"),
        &proxy.endpoint,
        &["--launch-template-version", "1"],
    );
    assert_eq!(back.code, 0, "{}", back.stderr);
    let mutations = proxy.mutations();
    // The first roll ends with the schedule; the second starts by deleting it.
    let first = mutations
        .iter()
        .position(|m| m == "PutScheduledUpdateGroupAction")
        .expect("scheduled");
    assert_eq!(mutations[first + 1], "DeleteScheduledAction", "{mutations:?}");
    assert!(scheduled("bg-keep-a").await.is_empty());
    assert_eq!(scheduled("bg-keep-b").await.len(), 1, "now bg-keep-b is kept warm");
}

/// A rule that authenticates with OIDC before it forwards: a weight change sends every
/// action back, and the OIDC one keeps the secret the listener has
/// (UseExistingClientSecret, elbv2 model AuthenticateOidcActionConfig.ClientSecret),
/// never a secret that Describe does not return.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_weight_change_keeps_an_oidc_action_and_its_secret() {
    use aws_sdk_elasticloadbalancingv2::types::AuthenticateOidcActionConfig;
    let p = pair("bg-oidc", 1, true).await;
    let config = sdk(&moto().endpoint).await;
    let oidc = Action::builder()
        .r#type(ActionTypeEnum::AuthenticateOidc)
        .order(1)
        .authenticate_oidc_config(
            AuthenticateOidcActionConfig::builder()
                .issuer("https://idp.example.com")
                .authorization_endpoint("https://idp.example.com/authorize")
                .token_endpoint("https://idp.example.com/token")
                .user_info_endpoint("https://idp.example.com/userinfo")
                .client_id("web")
                .client_secret("the-client-secret")
                .build(),
        )
        .build();
    let mut fwd = forward(&[(&p.target_groups[0], 100), (&p.target_groups[1], 0)], None);
    fwd.order = Some(2);
    let actions = vec![oidc, fwd];
    let rule = aws_sdk_elasticloadbalancingv2::Client::new(&config)
        .create_rule()
        .listener_arn(&p.listener)
        .priority(20)
        .conditions(
            RuleCondition::builder()
                .field("path-pattern")
                .values("/admin/*")
                .build(),
        )
        .set_actions(Some(actions))
        .send()
        .await
        .expect("create the rule");
    let rule = rule.rules()[0].rule_arn().unwrap().to_string();
    let proxy = Proxy::start(&moto().endpoint, 0.0, 7);
    let elb = slipway::aws::elb::ElbAdapter::new(&sdk(&proxy.endpoint).await);
    elb.set_weights(&rule, &weights(&p, 50, 50)).await.unwrap();
    let sent = proxy.calls().into_iter().find(|c| c.action == "ModifyRule").unwrap();
    let body = form(&sent.body);
    for field in [
        "Actions.member.1.Type=authenticate-oidc",
        "Actions.member.1.AuthenticateOidcConfig.ClientId=web",
        "Actions.member.1.AuthenticateOidcConfig.UseExistingClientSecret=true",
        "Actions.member.2.Type=forward",
        "Actions.member.2.ForwardConfig.TargetGroups.member.2.Weight=50",
    ] {
        assert!(body.contains(field), "{field} missing from {body}");
    }
    assert!(
        !body.contains("AuthenticateOidcConfig.ClientSecret="),
        "no client secret is sent: {body}"
    );
    let after = elb.forward(&rule).await.unwrap().unwrap();
    assert_eq!(after.target_groups, weights(&p, 50, 50));
}
