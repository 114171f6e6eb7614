//! Writing audit rows: called inside the transaction of the change it records.

use orderflow_shared::db::audit::{self, NewEntry};
use serde::Serialize;
use serde_json::Value;
use sqlx::PgConnection;

use crate::{auth::CurrentUser, error::Result, middleware::request_context};

/// An entity's state as JSON, for the `before`/`after` columns.
pub fn snapshot(value: &impl Serialize) -> Option<Value> {
    serde_json::to_value(value).ok()
}

/// Records `action` on `(entity_type, entity_id)` by `actor`, with the current request id.
pub async fn record(
    tx: &mut PgConnection,
    actor: &CurrentUser,
    action: &str,
    (entity_type, entity_id): (&str, i64),
    before: Option<Value>,
    after: Option<Value>,
) -> Result<()> {
    audit::record(
        tx,
        NewEntry {
            actor_user_id: Some(actor.id),
            action,
            entity_type,
            entity_id,
            before,
            after,
            request_id: request_context::current_request_id(),
        },
    )
    .await?;
    Ok(())
}
