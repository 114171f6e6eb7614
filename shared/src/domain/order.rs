//! The rules of a new order: item lines, quantities, notes, and pricing from a snapshot of the
//! products. Pure functions; the HTTP layer maps the errors to 422s.

use rust_decimal::Decimal;
use std::collections::HashMap;

use super::{FieldError, money::to_cents};

/// Most units one order may hold, across all its lines.
pub const MAX_TOTAL_QUANTITY: i64 = 20;
pub const MAX_NOTES_CHARS: usize = 500;

/// A line as the client sent it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestedItem {
    pub product_id: i64,
    pub quantity: i64,
}

/// A line after merging: one per product, with the index of its first appearance in the
/// request so errors can point at `items[i]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MergedItem {
    pub product_id: i64,
    pub quantity: i32,
    pub first_index: usize,
}

/// Checks item and notes rules and merges lines of the same product (quantities summed, in
/// first-seen order). Returns every problem found.
pub fn validate_items(
    items: &[RequestedItem],
    notes: Option<&str>,
) -> Result<Vec<MergedItem>, Vec<FieldError>> {
    let mut errors = Vec::new();
    if items.is_empty() {
        errors.push(FieldError::new("items", "must contain at least one item"));
    }
    for (i, item) in items.iter().enumerate() {
        if item.quantity < 1 {
            errors.push(FieldError::new(
                format!("items[{i}].quantity"),
                "must be at least 1",
            ));
        }
        if item.product_id < 1 {
            errors.push(FieldError::new(
                format!("items[{i}].product_id"),
                "must be a positive id",
            ));
        }
    }
    if let Some(Err(problem)) = notes.map(check_notes) {
        errors.push(FieldError::new("notes", problem));
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    let mut merged: Vec<MergedItem> = Vec::new();
    let mut position: HashMap<i64, usize> = HashMap::new();
    let mut total: i64 = 0;
    for (i, item) in items.iter().enumerate() {
        total = total.saturating_add(item.quantity);
        match position.get(&item.product_id) {
            Some(&at) => {
                merged[at].quantity = merged[at].quantity.saturating_add(clamp(item.quantity));
            }
            None => {
                position.insert(item.product_id, merged.len());
                merged.push(MergedItem {
                    product_id: item.product_id,
                    quantity: clamp(item.quantity),
                    first_index: i,
                });
            }
        }
    }
    if total > MAX_TOTAL_QUANTITY {
        return Err(vec![FieldError::new(
            "items",
            format!("Order item limit exceeded: {total} units, at most {MAX_TOTAL_QUANTITY}"),
        )]);
    }
    Ok(merged)
}

/// Notes: at most `MAX_NOTES_CHARS` characters, storable (no NUL).
pub fn check_notes(notes: &str) -> Result<(), String> {
    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(format!("must be at most {MAX_NOTES_CHARS} characters"));
    }
    super::text::storable(notes).map(|_| ())
}

fn clamp(quantity: i64) -> i32 {
    i32::try_from(quantity).unwrap_or(i32::MAX)
}

/// What the order needs to know about a product at order time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductSnapshot {
    pub id: i64,
    pub name: String,
    pub price: Decimal,
    pub is_active: bool,
}

/// A priced line, ready to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub product_id: i64,
    pub product_name: String,
    pub quantity: i32,
    pub unit_price: Decimal,
}

impl PricedLine {
    pub fn line_total(&self) -> Decimal {
        to_cents(self.unit_price * Decimal::from(self.quantity))
    }
}

/// Prices each line from the products' current name and price. Every product must exist and
/// be active; errors name `items[i].product_id`.
pub fn price_lines(
    items: &[MergedItem],
    products: &[ProductSnapshot],
) -> Result<(Vec<PricedLine>, Decimal), Vec<FieldError>> {
    let by_id: HashMap<i64, &ProductSnapshot> = products.iter().map(|p| (p.id, p)).collect();
    let mut errors = Vec::new();
    let mut lines = Vec::with_capacity(items.len());
    for item in items {
        let field = format!("items[{}].product_id", item.first_index);
        match by_id.get(&item.product_id) {
            None => errors.push(FieldError::new(field, "product not found")),
            Some(p) if !p.is_active => errors.push(FieldError::new(field, "product is not active")),
            Some(p) => lines.push(PricedLine {
                product_id: p.id,
                product_name: p.name.clone(),
                quantity: item.quantity,
                unit_price: p.price,
            }),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let total = to_cents(lines.iter().map(PricedLine::line_total).sum());
    Ok((lines, total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn item(product_id: i64, quantity: i64) -> RequestedItem {
        RequestedItem {
            product_id,
            quantity,
        }
    }

    fn fields(result: Result<Vec<MergedItem>, Vec<FieldError>>) -> Vec<String> {
        result.unwrap_err().into_iter().map(|e| e.field).collect()
    }

    /// Items, notes, then the merged lines `(product, quantity, first index)` or the error fields.
    type Case<'a> = (
        Vec<RequestedItem>,
        Option<&'a str>,
        Result<Vec<(i64, i32, usize)>, Vec<&'a str>>,
    );

    #[test]
    fn item_rules_table() {
        let long_notes = "n".repeat(501);
        let max_notes = "n".repeat(500);
        let cases: Vec<Case> = vec![
            (vec![item(1, 1)], None, Ok(vec![(1, 1, 0)])),
            (
                vec![item(1, 20)],
                Some(max_notes.as_str()),
                Ok(vec![(1, 20, 0)]),
            ),
            (
                vec![item(1, 2), item(2, 3), item(1, 4)],
                None,
                Ok(vec![(1, 6, 0), (2, 3, 1)]),
            ),
            (vec![], None, Err(vec!["items"])),
            (vec![item(1, 0)], None, Err(vec!["items[0].quantity"])),
            (
                vec![item(1, 1), item(2, -5)],
                None,
                Err(vec!["items[1].quantity"]),
            ),
            (vec![item(0, 1)], None, Err(vec!["items[0].product_id"])),
            (vec![item(1, 21)], None, Err(vec!["items"])),
            (vec![item(1, 10), item(1, 11)], None, Err(vec!["items"])),
            (
                vec![item(1, 1)],
                Some(long_notes.as_str()),
                Err(vec!["notes"]),
            ),
            (
                vec![item(1, 0)],
                Some(long_notes.as_str()),
                Err(vec!["items[0].quantity", "notes"]),
            ),
            (
                vec![item(1, i64::MAX), item(1, i64::MAX)],
                None,
                Err(vec!["items"]),
            ),
            (vec![item(1, 1)], Some("a\u{0}b"), Err(vec!["notes"])),
        ];
        for (items, notes, expected) in cases {
            let result = validate_items(&items, notes);
            match expected {
                Ok(lines) => {
                    let got: Vec<_> = result
                        .unwrap()
                        .into_iter()
                        .map(|m| (m.product_id, m.quantity, m.first_index))
                        .collect();
                    assert_eq!(got, lines, "{items:?}");
                }
                Err(expected_fields) => assert_eq!(fields(result), expected_fields, "{items:?}"),
            }
        }
    }

    #[test]
    fn limit_message_is_the_documented_one() {
        let err = validate_items(&[item(1, 21)], None).unwrap_err();
        assert!(err[0].message.starts_with("Order item limit exceeded"));
    }

    fn product(id: i64, price: &str, is_active: bool) -> ProductSnapshot {
        ProductSnapshot {
            id,
            name: format!("P{id}"),
            price: Decimal::from_str(price).unwrap(),
            is_active,
        }
    }

    #[test]
    fn pricing_is_exact_and_checks_every_product() {
        let items = validate_items(&[item(1, 3), item(2, 1)], None).unwrap();
        let (lines, total) = price_lines(
            &items,
            &[product(1, "0.10", true), product(2, "19.99", true)],
        )
        .unwrap();
        assert_eq!(lines[0].line_total().to_string(), "0.30");
        assert_eq!(total.to_string(), "20.29");

        let items = validate_items(&[item(1, 1), item(7, 1), item(2, 1)], None).unwrap();
        let errors = price_lines(
            &items,
            &[product(1, "1.00", true), product(2, "1.00", false)],
        )
        .unwrap_err();
        let got: Vec<_> = errors
            .iter()
            .map(|e| (e.field.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("items[1].product_id", "product not found"),
                ("items[2].product_id", "product is not active"),
            ]
        );
    }
}
