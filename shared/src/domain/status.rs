//! Order statuses and the one function that says which transitions are allowed.

use super::text_enum::text_enum;

text_enum! {
    pub enum OrderStatus ("status") {
        Pending => "pending",
        Processing => "processing",
        Shipped => "shipped",
        Delivered => "delivered",
        Cancelled => "cancelled",
    }
}

/// Refusal of a status change, shown to clients as `Invalid transition: shipped -> pending`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid transition: {from} -> {to}")]
pub struct InvalidTransition {
    pub from: OrderStatus,
    pub to: OrderStatus,
}

impl OrderStatus {
    /// pending → processing | cancelled; processing → shipped | cancelled; shipped → delivered.
    /// Delivered and cancelled are final.
    pub fn transition(self, to: OrderStatus) -> Result<OrderStatus, InvalidTransition> {
        use OrderStatus::*;
        match (self, to) {
            (Pending, Processing | Cancelled)
            | (Processing, Shipped | Cancelled)
            | (Shipped, Delivered) => Ok(to),
            _ => Err(InvalidTransition { from: self, to }),
        }
    }

    /// The one change a customer may make to its own order: cancel it while pending.
    pub fn customer_may_change(from: OrderStatus, to: OrderStatus) -> bool {
        from == Self::Pending && to == Self::Cancelled
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Delivered | Self::Cancelled)
    }
}

#[cfg(test)]
mod tests {
    use super::OrderStatus::{self, *};

    #[test]
    fn every_transition_is_allowed_or_refused_as_specified() {
        let allowed = [
            (Pending, Processing),
            (Pending, Cancelled),
            (Processing, Shipped),
            (Processing, Cancelled),
            (Shipped, Delivered),
        ];
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = allowed.contains(&(from, to));
                let result = from.transition(to);
                assert_eq!(result.is_ok(), expected, "{from} -> {to}");
                if let Err(e) = result {
                    assert_eq!(e.to_string(), format!("Invalid transition: {from} -> {to}"));
                }
            }
        }
    }

    #[test]
    fn final_states_have_no_way_out_and_names_round_trip() {
        for status in OrderStatus::ALL {
            let exits = OrderStatus::ALL
                .iter()
                .filter(|to| status.transition(**to).is_ok())
                .count();
            assert_eq!(status.is_final(), exits == 0, "{status}");
            assert_eq!(status.as_str().parse::<OrderStatus>().unwrap(), status);
        }
        assert!("lost".parse::<OrderStatus>().is_err());
    }

    #[test]
    fn customers_may_only_cancel_pending_orders() {
        for from in OrderStatus::ALL {
            for to in OrderStatus::ALL {
                let expected = (from, to) == (Pending, Cancelled);
                assert_eq!(
                    OrderStatus::customer_may_change(from, to),
                    expected,
                    "{from} -> {to}"
                );
            }
        }
    }
}
