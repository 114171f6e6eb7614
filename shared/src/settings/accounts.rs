//! Account emails: where their links point, how long their tokens live, how often they may be
//! asked for.

use anyhow::{Context, bail};
use std::time::Duration;

use super::AppEnv;

#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// The address people open links at (`APP_PUBLIC_URL`, no trailing slash): a
    /// verification link is `{public_url}/verify-email?token=…`.
    pub public_url: String,
    pub verify_email_ttl: Duration,
    pub password_reset_ttl: Duration,
    pub unlock_ttl: Duration,
    /// Account emails (verification resends, password resets) one account, or one address,
    /// may cause per hour.
    pub emails_per_hour: u32,
    /// Self-registered addresses must be verified before any other email goes to them
    /// (`EMAIL_VERIFICATION_REQUIRED`, default true; false registers them as verified, for
    /// closed deployments whose addresses are known, and for tests of other things).
    pub verification_required: bool,
}

fn seconds(
    get: &dyn Fn(&str) -> Option<String>,
    key: &str,
    default: u64,
) -> anyhow::Result<Duration> {
    let value = match get(key) {
        None => default,
        Some(v) => v
            .trim()
            .parse()
            .with_context(|| format!("{key} must be a whole number of seconds, got {v:?}"))?,
    };
    if !(1..=30 * 24 * 3600).contains(&value) {
        bail!("{key} must be between 1 and 2592000 seconds, got {value}");
    }
    Ok(Duration::from_secs(value))
}

impl AccountSettings {
    pub fn from_lookup(get: &dyn Fn(&str) -> Option<String>, env: AppEnv) -> anyhow::Result<Self> {
        let public_url = match get("APP_PUBLIC_URL") {
            Some(url) => url.trim().trim_end_matches('/').to_string(),
            None if env == AppEnv::Production => bail!(
                "APP_PUBLIC_URL is not set: production needs the address people open the \
                 links of account emails at (e.g. https://shop.example.com)"
            ),
            None => "http://127.0.0.1:8000".to_string(),
        };
        if !(public_url.starts_with("https://") || public_url.starts_with("http://")) {
            bail!("APP_PUBLIC_URL must be an http(s):// address, got {public_url:?}");
        }
        if env == AppEnv::Production && !public_url.starts_with("https://") {
            bail!("APP_PUBLIC_URL must be https:// in production (links carry tokens)");
        }
        let emails_per_hour = match get("ACCOUNT_EMAILS_PER_HOUR") {
            None => 5,
            Some(v) => v
                .trim()
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1000).contains(n))
                .with_context(|| {
                    format!("ACCOUNT_EMAILS_PER_HOUR must be between 1 and 1000, got {v:?}")
                })?,
        };
        let verification_required =
            match get("EMAIL_VERIFICATION_REQUIRED").as_deref().map(str::trim) {
                None | Some("true" | "1" | "yes") => true,
                Some("false" | "0" | "no") => false,
                Some(v) => bail!("EMAIL_VERIFICATION_REQUIRED must be true or false, got {v:?}"),
            };
        Ok(Self {
            verification_required,
            public_url,
            verify_email_ttl: seconds(get, "VERIFY_EMAIL_TTL_SECONDS", 24 * 3600)?,
            password_reset_ttl: seconds(get, "PASSWORD_RESET_TTL_SECONDS", 30 * 60)?,
            unlock_ttl: seconds(get, "UNLOCK_LINK_TTL_SECONDS", 3600)?,
            emails_per_hour,
        })
    }
}
