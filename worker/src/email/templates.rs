//! The emails customers read, rendered from askama templates (`worker/templates/`) checked at
//! compile time. HTML output escapes every value.

use askama::Template;
use orderflow_shared::{
    db::orders::{ItemRow, OrderRow},
    domain::{OrderStatus, money::to_cents},
};
use rust_decimal::Decimal;

/// What every order email shows.
pub struct OrderView {
    pub number: i64,
    pub customer_name: String,
    /// Human label of the status the email speaks of ("Shipped").
    pub status: &'static str,
    pub lines: Vec<LineView>,
    pub total: Decimal,
    pub currency: &'static str,
    pub notes: Option<String>,
    pub support_email: String,
}

pub struct LineView {
    pub name: String,
    pub quantity: i32,
    pub unit_price: Decimal,
    pub line_total: Decimal,
}

impl OrderView {
    /// The view of `order` as of `status`: a confirmation shows the order as placed, a status
    /// email the change it announces, even if the order has moved on since.
    pub fn new(
        order: &OrderRow,
        items: &[ItemRow],
        status: OrderStatus,
        support_email: &str,
    ) -> Self {
        Self {
            number: order.id,
            customer_name: order.customer_name.clone(),
            status: label(status),
            lines: items
                .iter()
                .map(|i| LineView {
                    name: i.product_name.clone(),
                    quantity: i.quantity,
                    unit_price: to_cents(i.unit_price),
                    line_total: to_cents(i.unit_price * Decimal::from(i.quantity)),
                })
                .collect(),
            total: to_cents(order.total),
            currency: "EUR",
            notes: order.notes.clone(),
            support_email: support_email.to_string(),
        }
    }
}

pub fn label(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Pending => "Pending",
        OrderStatus::Processing => "Processing",
        OrderStatus::Shipped => "Shipped",
        OrderStatus::Delivered => "Delivered",
        OrderStatus::Cancelled => "Cancelled",
    }
}

#[derive(Template)]
#[template(path = "order_confirmation.html")]
pub struct ConfirmationHtml<'a> {
    pub order: &'a OrderView,
}

#[derive(Template)]
#[template(path = "order_confirmation.txt")]
pub struct ConfirmationText<'a> {
    pub order: &'a OrderView,
}

#[derive(Template)]
#[template(path = "status_changed.html")]
pub struct StatusHtml<'a> {
    pub order: &'a OrderView,
    pub headline: String,
}

#[derive(Template)]
#[template(path = "status_changed.txt")]
pub struct StatusText<'a> {
    pub order: &'a OrderView,
    pub headline: String,
}

/// A rendered email: subject and both alternatives.
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn confirmation(order: &OrderView) -> askama::Result<Rendered> {
    Ok(Rendered {
        subject: format!("Order #{} received", order.number),
        text: ConfirmationText { order }.render()?,
        html: ConfirmationHtml { order }.render()?,
    })
}

pub fn status_changed(order: &OrderView, status: OrderStatus) -> askama::Result<Rendered> {
    let (subject, headline) = match status {
        OrderStatus::Shipped => ("has shipped", "Good news: your order is on its way."),
        OrderStatus::Delivered => ("was delivered", "Your order has been delivered. Enjoy!"),
        OrderStatus::Cancelled => (
            "was cancelled",
            "Your order has been cancelled. You have not been charged.",
        ),
        OrderStatus::Processing => ("is being prepared", "We are preparing your order."),
        OrderStatus::Pending => ("is pending", "Your order is waiting to be processed."),
    };
    let headline = format!("Order #{}: {headline}", order.number);
    Ok(Rendered {
        subject: format!("Order #{} {subject}", order.number),
        text: StatusText {
            order,
            headline: headline.clone(),
        }
        .render()?,
        html: StatusHtml { order, headline }.render()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn view(name: &str, notes: Option<&str>) -> OrderView {
        OrderView {
            number: 42,
            customer_name: name.into(),
            status: "Pending",
            lines: vec![LineView {
                name: "Keyboard <b>".into(),
                quantity: 2,
                unit_price: Decimal::from_str("89.90").unwrap(),
                line_total: Decimal::from_str("179.80").unwrap(),
            }],
            total: Decimal::from_str("179.80").unwrap(),
            currency: "EUR",
            notes: notes.map(Into::into),
            support_email: "support@orderflow.localhost".into(),
        }
    }

    #[test]
    fn confirmation_shows_items_total_status_and_support_in_both_parts() {
        let email = confirmation(&view("Ada", Some("gift"))).unwrap();
        assert_eq!(email.subject, "Order #42 received");
        for part in [&email.text, &email.html] {
            for expected in [
                "Ada",
                "#42",
                "179.80",
                "89.90",
                "Pending",
                "support@orderflow.localhost",
                "gift",
            ] {
                assert!(part.contains(expected), "{expected} missing from {part}");
            }
        }
        assert!(
            email
                .text
                .contains("- Keyboard <b>: 2 x EUR 89.90 = EUR 179.80"),
            "{}",
            email.text
        );
    }

    #[test]
    fn user_data_is_escaped_in_html_only() {
        let email = confirmation(&view("<script>alert(1)</script>", None)).unwrap();
        assert!(!email.html.contains("<script>"));
        assert!(
            email.html.contains("&#60;script&#62;") || email.html.contains("&lt;script&gt;"),
            "{}",
            email.html
        );
        assert!(
            email.html.contains("Keyboard &#60;b&#62;")
                || email.html.contains("Keyboard &lt;b&gt;")
        );
        assert!(email.text.contains("<script>alert(1)</script>"));
    }

    #[test]
    fn status_emails_name_the_new_status() {
        for (status, words) in [
            (OrderStatus::Shipped, "has shipped"),
            (OrderStatus::Delivered, "was delivered"),
            (OrderStatus::Cancelled, "was cancelled"),
        ] {
            let email = status_changed(&view("Ada", None), status).unwrap();
            assert_eq!(email.subject, format!("Order #42 {words}"));
            assert!(email.text.contains("Order #42:"));
        }
    }
}
