//! Job payloads the API enqueues (through the outbox) and the worker consumes, and the Redis
//! queue names. Every job carries the id of its outbox row: the durable record of its attempts
//! and outcome.

use serde::{Deserialize, Serialize};

use crate::{
    domain::{OrderStatus, account_email::Purpose},
    telemetry::TraceHeaders,
};

/// Sends the "order received" email.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendOrderConfirmation {
    pub order_id: i64,
    pub outbox_id: i64,
    pub request_id: Option<String>,
    /// The trace of the request (or job) that wrote the outbox row (docs/tracing.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceHeaders>,
}

/// Sends the "your order is now …" email (shipped, delivered, cancelled).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendOrderStatusChanged {
    pub order_id: i64,
    pub status: OrderStatus,
    pub outbox_id: i64,
    pub request_id: Option<String>,
    /// The trace of the request (or job) that wrote the outbox row (docs/tracing.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceHeaders>,
}

/// Cancels the order if it is still pending when it runs (scheduled `PENDING_ORDER_TTL` after
/// creation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExpirePendingOrder {
    pub order_id: i64,
    pub outbox_id: i64,
    /// The trace of the request (or job) that wrote the outbox row (docs/tracing.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceHeaders>,
}

/// Sends an account email (verification, password reset, unlock link) with a single-use
/// token the worker makes. Addressed by user, or by address for a password reset (the API
/// writes the same row whether or not an account has it; the worker looks).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SendAccountEmail {
    pub purpose: Purpose,
    pub user_id: Option<i64>,
    pub email: Option<String>,
    pub outbox_id: i64,
    pub request_id: Option<String>,
    /// The trace of the request (or job) that wrote the outbox row (docs/tracing.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace: Option<TraceHeaders>,
}

/// A job's trace context, for the worker's spans (every job type has one).
pub trait Traced {
    fn trace(&self) -> Option<&TraceHeaders>;
    fn trace_mut(&mut self) -> Option<&mut TraceHeaders>;
}

macro_rules! traced {
    ($($job:ty),*) => {$(
        impl Traced for $job {
            fn trace(&self) -> Option<&TraceHeaders> {
                self.trace.as_ref()
            }
            fn trace_mut(&mut self) -> Option<&mut TraceHeaders> {
                self.trace.as_mut()
            }
        }
    )*};
}

traced!(
    SendOrderConfirmation,
    SendOrderStatusChanged,
    ExpirePendingOrder,
    SendAccountEmail
);

/// The kinds of outbox rows, one Redis queue each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    OrderConfirmation,
    OrderStatusChanged,
    ExpirePendingOrder,
    AccountEmail,
}

impl JobKind {
    pub const ALL: [JobKind; 4] = [
        Self::OrderConfirmation,
        Self::OrderStatusChanged,
        Self::ExpirePendingOrder,
        Self::AccountEmail,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderConfirmation => "send_order_confirmation",
            Self::OrderStatusChanged => "send_order_status_changed",
            Self::ExpirePendingOrder => "expire_pending_order",
            Self::AccountEmail => "send_account_email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// `{namespace}:jobs:{kind}`; tests use their own namespace.
    pub fn queue(self, namespace: &str) -> String {
        format!("{namespace}:jobs:{}", self.as_str())
    }
}

/// Which status changes email the customer.
pub fn status_change_emails(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::Shipped | OrderStatus::Delivered | OrderStatus::Cancelled
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_round_trip_and_name_their_queues() {
        for kind in JobKind::ALL {
            assert_eq!(JobKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(
            JobKind::OrderConfirmation.queue("orderflow"),
            "orderflow:jobs:send_order_confirmation"
        );
        assert_eq!(JobKind::parse("nope"), None);
    }

    #[test]
    fn only_shipped_delivered_and_cancelled_send_email() {
        let emailing: Vec<_> = OrderStatus::ALL
            .into_iter()
            .filter(|s| status_change_emails(*s))
            .collect();
        assert_eq!(
            emailing,
            [
                OrderStatus::Shipped,
                OrderStatus::Delivered,
                OrderStatus::Cancelled
            ]
        );
    }
}
