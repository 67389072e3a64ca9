//! Sharing the home AMI with the accounts of other regions: a region whose role is in
//! another account can only copy the AMI once the home account lets it launch the image
//! (ModifyImageAttribute launchPermission) and create volumes from its EBS snapshots
//! (ModifySnapshotAttribute createVolumePermission). What is shared already is read first,
//! so a rerun adds nothing. A snapshot encrypted with the default EBS key cannot be shared
//! at all: that stops the bake (exit 2) before anything is shared or copied.

use std::collections::BTreeMap;

use serde::Serialize;

use super::Destination;
use crate::cloud::{CloudError, Ec2, ErrorKind, Snapshot};
use crate::error::{Error, Result};

/// The AMI shared (or to be shared) with one account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Share {
    pub account: String,
    /// The regions of the environment in that account.
    pub regions: Vec<String>,
    /// The home region's AMI (None in a dry run that would bake it).
    pub ami_id: Option<String>,
    /// Its EBS snapshots.
    pub snapshots: Vec<String>,
    /// What this run added: false when all of it was shared already (or in a dry run).
    pub added: bool,
}

/// The other accounts of the destinations, each with its regions, in the order listed.
pub(super) fn accounts(destinations: &[Destination]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for d in destinations {
        let Some(account) = &d.share_with else { continue };
        match out.iter_mut().find(|(a, _)| a == account) {
            Some((_, regions)) => regions.push(d.region.clone()),
            None => out.push((account.clone(), vec![d.region.clone()])),
        }
    }
    out
}

/// Whether EC2 names the default EBS key (the AWS managed `aws/ebs`), or no key at all.
fn default_key(s: &Snapshot) -> bool {
    s.encrypted && s.kms_key_id.as_deref().is_none_or(|k| k.ends_with("alias/aws/ebs"))
}

/// The refusal for an encrypted snapshot that cannot be shared with `account`.
fn unshareable(ami: &str, snapshot: &str, account: &str, regions: &[String], why: &str) -> Error {
    Error::input(
        format!(
            "snapshot {snapshot} of {ami} is encrypted with {why}, which cannot be shared with account \
             {account} (region {}): no region got a copy",
            regions.join(", ")
        ),
        format!(
            "bake with a customer managed KMS key (the amazon-ebs builder's `kms_key_id` with `encrypt_boot`) \
             whose key policy lets account {account} use it (kms:DescribeKey, kms:CreateGrant, kms:Decrypt, \
             kms:ReEncrypt*, kms:GenerateDataKey*), then run slipway-bake --rebake"
        ),
    )
}

/// The home AMI's snapshots, refused (exit 2) when one is encrypted with the default key.
async fn shareable(ec2: &dyn Ec2, ami: &str, accounts: &[(String, Vec<String>)]) -> Result<Vec<Snapshot>> {
    let snapshots = ec2.image_snapshots(ami).await?;
    if let Some(s) = snapshots.iter().find(|s| default_key(s)) {
        let all: Vec<String> = accounts.iter().map(|(a, _)| a.clone()).collect();
        let regions: Vec<String> = accounts.iter().flat_map(|(_, r)| r.clone()).collect();
        let why = "the default EBS key (aws/ebs)";
        return Err(unshareable(ami, &s.id, &all.join(", "), &regions, why));
    }
    Ok(snapshots)
}

/// Shares `ami` (in the home region, with the home credentials) and its snapshots with
/// every account of `accounts`, adding only what is not shared yet. Nothing is shared
/// when EC2 names the default key for a snapshot; a refused share stops before any copy.
pub(super) async fn share(ec2: &dyn Ec2, ami: &str, accounts: &[(String, Vec<String>)]) -> Result<Vec<Share>> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let snapshots = shareable(ec2, ami, accounts).await?;
    let mut snapshot_users = BTreeMap::new();
    for s in &snapshots {
        snapshot_users.insert(s.id.clone(), ec2.snapshot_shared_with(&s.id).await?);
    }
    let image_users = ec2.image_shared_with(ami).await?;
    let mut out = Vec::new();
    for (account, regions) in accounts {
        let mut added = false;
        // The snapshots first: a refused one leaves the image unshared.
        for s in &snapshots {
            if snapshot_users[&s.id].contains(account) {
                continue;
            }
            ec2.share_snapshot(&s.id, account)
                .await
                .map_err(|e| refused(e, ami, s, account, regions))?;
            added = true;
        }
        if !image_users.contains(account) {
            ec2.share_image(ami, account)
                .await
                .map_err(|e| Error::from(e).with_prefix(&format!("sharing {ami} with account {account}")))?;
            added = true;
        }
        eprintln!(
            "{}: {ami} {} account {account} ({})",
            regions.join(", "),
            if added { "shared with" } else { "already shared with" },
            snapshot_words(&snapshots)
        );
        out.push(Share {
            account: account.clone(),
            regions: regions.clone(),
            ami_id: Some(ami.to_string()),
            snapshots: snapshots.iter().map(|s| s.id.clone()).collect(),
            added,
        });
    }
    Ok(out)
}

/// A dry run's shares: what is not shared yet of the home AMI (when it exists), checked
/// as a bake would check it.
pub(super) async fn plan(ec2: &dyn Ec2, ami: Option<&str>, accounts: &[(String, Vec<String>)]) -> Result<Vec<Share>> {
    let mut out = Vec::new();
    let (snapshots, image_users) = match ami {
        Some(ami) if !accounts.is_empty() => (shareable(ec2, ami, accounts).await?, ec2.image_shared_with(ami).await?),
        _ => (Vec::new(), Vec::new()),
    };
    for (account, regions) in accounts {
        let mut done = ami.is_some() && image_users.contains(account);
        for s in &snapshots {
            done &= ec2.snapshot_shared_with(&s.id).await?.contains(account);
        }
        let what = ami.unwrap_or("the new AMI");
        match done {
            true => eprintln!(
                "{}: {what} is already shared with account {account}",
                regions.join(", ")
            ),
            false => eprintln!("{}: would share {what} with account {account}", regions.join(", ")),
        }
        if !done {
            out.push(Share {
                account: account.clone(),
                regions: regions.clone(),
                ami_id: ami.map(str::to_string),
                snapshots: snapshots.iter().map(|s| s.id.clone()).collect(),
                added: false,
            });
        }
    }
    Ok(out)
}

fn snapshot_words(snapshots: &[Snapshot]) -> String {
    match snapshots.len() {
        0 => "no EBS snapshot".to_string(),
        1 => format!("and its snapshot {}", snapshots[0].id),
        _ => format!(
            "and its snapshots {}",
            snapshots.iter().map(|s| s.id.as_str()).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// A refused ModifySnapshotAttribute: for an encrypted snapshot (its key an ARN slipway
/// cannot tell from the default key's without KMS), what EC2 says plus the fix.
fn refused(e: CloudError, ami: &str, s: &Snapshot, account: &str, regions: &[String]) -> Error {
    let retried_or_denied = matches!(
        e.kind,
        ErrorKind::Denied | ErrorKind::Throttled | ErrorKind::Credentials
    );
    if s.encrypted && !retried_or_denied {
        let key = s.kms_key_id.as_deref().unwrap_or("an unnamed key");
        return unshareable(ami, &s.id, account, regions, &format!("the KMS key {key} ({e})"));
    }
    Error::from(e).with_prefix(&format!("sharing {} of {ami} with account {account}", s.id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap(encrypted: bool, key: Option<&str>) -> Snapshot {
        Snapshot {
            id: "snap-1".into(),
            encrypted,
            kms_key_id: key.map(str::to_string),
        }
    }

    #[test]
    fn only_the_default_ebs_key_or_no_key_is_refused_up_front() {
        assert!(!default_key(&snap(false, None)));
        assert!(default_key(&snap(true, None)));
        assert!(default_key(&snap(
            true,
            Some("arn:aws:kms:us-east-1:123456789012:alias/aws/ebs")
        )));
        assert!(default_key(&snap(true, Some("alias/aws/ebs"))));
        assert!(!default_key(&snap(
            true,
            Some("arn:aws:kms:us-east-1:123456789012:key/0b6c2a3e-1f2d-4c5b-9a8e-7d6c5b4a3f21")
        )));
    }

    #[test]
    fn a_refused_share_of_an_encrypted_snapshot_is_bad_input_and_a_denial_stays_a_denial() {
        let regions = ["eu-west-1".to_string()];
        let key = Some("arn:aws:kms:us-east-1:123456789012:key/0b6c2a3e-1f2d-4c5b-9a8e-7d6c5b4a3f21");
        let invalid = || {
            CloudError::new(
                ErrorKind::Invalid,
                "ModifySnapshotAttribute",
                Some("InvalidParameter"),
                "no",
            )
        };
        let e = refused(invalid(), "ami-1", &snap(true, key), "210987654321", &regions);
        assert_eq!(e.exit_code(), 2, "{e}");
        assert!(e.to_string().contains("encrypted with the KMS key arn:aws:kms:"), "{e}");
        let e = refused(invalid(), "ami-1", &snap(false, None), "210987654321", &regions);
        assert_eq!(e.exit_code(), 1, "{e}");
        let denied = CloudError::new(
            ErrorKind::Denied,
            "ModifySnapshotAttribute",
            Some("UnauthorizedOperation"),
            "no",
        );
        let e = refused(denied, "ami-1", &snap(true, key), "210987654321", &regions);
        assert_eq!(e.exit_code(), 1, "{e}");
        assert!(
            e.to_string()
                .contains("sharing snap-1 of ami-1 with account 210987654321"),
            "{e}"
        );
    }

    #[test]
    fn a_refusal_names_the_snapshot_the_account_and_the_fix() {
        let e = unshareable(
            "ami-1",
            "snap-1",
            "210987654321",
            &["eu-west-1".into()],
            "the default EBS key (aws/ebs)",
        );
        assert_eq!(e.exit_code(), 2);
        let text = format!("{e}");
        assert!(text.contains("snapshot snap-1 of ami-1"), "{text}");
        assert!(text.contains("account 210987654321 (region eu-west-1)"), "{text}");
    }
}
