//! Creating the first admin from `FIRST_ADMIN_EMAIL` / `FIRST_ADMIN_PASSWORD`.

use anyhow::Context;
use orderflow_shared::{
    db::{self, Pool},
    domain::{Email, Role, password},
    settings::ApiSettings,
};
use secrecy::ExposeSecret;

use crate::auth::password::Passwords;

/// What `ensure_first_admin` did.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    NotConfigured,
    AlreadyExists,
    Created(i64),
}

/// Creates the configured admin unless a user with that email exists. Safe to run on every
/// start and from several instances at once (the unique email decides).
pub async fn ensure_first_admin(
    db: &Pool,
    passwords: &Passwords,
    settings: &ApiSettings,
) -> anyhow::Result<Outcome> {
    let (Some(email), Some(secret)) = (&settings.first_admin_email, &settings.first_admin_password)
    else {
        return Ok(Outcome::NotConfigured);
    };
    let email = Email::parse(email).map_err(|e| anyhow::anyhow!("FIRST_ADMIN_EMAIL {e}"))?;
    password::check_policy(secret.expose_secret())
        .map_err(|e| anyhow::anyhow!("FIRST_ADMIN_PASSWORD {e}"))?;
    if let Some(existing) = db::users::find_by_email(db, email.as_str()).await? {
        if existing.role != Role::Admin {
            tracing::warn!(
                user_id = existing.id,
                "FIRST_ADMIN_EMAIL belongs to a non-admin user; left unchanged"
            );
        }
        return Ok(Outcome::AlreadyExists);
    }
    let hash = passwords.hash(secret.clone()).await?;
    match db::users::insert(
        db,
        email.as_str(),
        "Administrator",
        &hash,
        (Role::Admin, None),
        true,
    )
    .await
    {
        Ok(user) => {
            tracing::info!(user_id = user.id, "first admin created");
            Ok(Outcome::Created(user.id))
        }
        Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(Outcome::AlreadyExists),
        Err(e) => Err(e).context("creating the first admin"),
    }
}
