//! Composing an order's email (confirmation, status change) for `deliver::run`.

use orderflow_shared::{
    db::{deliveries::Recipient, orders},
    domain::OrderStatus,
    jobs::JobKind,
};

use super::{
    Failure,
    deliver::{Composed, Email, Message},
};
use crate::{
    context::JobContext,
    email::templates::{OrderView, Rendered},
};

/// The delivery of the `kind` email of `order_id`, recorded once per (order, kind).
pub fn email(job: JobKind, outbox_id: i64, order_id: i64, kind: &str) -> Email {
    Email {
        job,
        outbox_id,
        target: (order_id, kind.to_string()),
        recipient: Recipient::Order(order_id),
    }
}

/// The order as of `status`, rendered with `render`; nothing for an order gone or an address
/// its owner has not verified.
pub async fn compose(
    ctx: &JobContext,
    (order_id, kind): (i64, &str),
    status: OrderStatus,
    render: fn(&OrderView, OrderStatus) -> askama::Result<Rendered>,
) -> Result<Composed, Failure> {
    let Some((order, to)) = orders::for_email(&ctx.db, order_id).await? else {
        return Ok(Composed::Skip("order no longer exists".into()));
    };
    if !to.verified {
        return Ok(Composed::Skip(
            "the customer has not verified the address".into(),
        ));
    }
    let view = OrderView::new(
        &order.order,
        &order.items,
        status,
        &ctx.mailer.support_email(),
    );
    let rendered =
        render(&view, status).map_err(|e| Failure::permanent(format!("template: {e}")))?;
    Ok(Composed::Send(Message {
        to: to.email,
        to_name: order.order.customer_name.clone(),
        message_id: ctx
            .mailer
            .message_id(kind, order.order.id, order.order.created_at),
        order: Some(order.order.id),
        rendered,
    }))
}
