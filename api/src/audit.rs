//! Writing audit rows: called inside the transaction of the change it records.

use orderflow_shared::db::Conn;
use orderflow_shared::db::audit::{self, NewEntry};
use serde::Serialize;
use serde_json::Value;

use crate::{auth::CurrentUser, error::Result};

/// Records `action` on `(entity_type, entity_id)` by `actor`, with the entity's state before
/// and after (as JSON) and the current request id.
pub async fn record<T: Serialize>(
    tx: &mut Conn,
    actor: &CurrentUser,
    action: &str,
    (entity_type, entity_id): (&str, i64),
    before: Option<&T>,
    after: Option<&T>,
) -> Result<()> {
    let json = |state: Option<&T>| state.and_then(|s| serde_json::to_value(s).ok());
    let (before, after): (Option<Value>, Option<Value>) = (json(before), json(after));
    audit::record(
        tx,
        NewEntry {
            actor_user_id: Some(actor.id),
            action,
            entity_type,
            entity_id,
            before,
            after,
            request_id: crate::request_id::current(),
            client_request_id: crate::request_id::current_client(),
        },
    )
    .await?;
    Ok(())
}
