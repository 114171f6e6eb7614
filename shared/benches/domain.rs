//! The order rules on the create path, without a database: validating and merging the
//! requested lines, and pricing them from product snapshots.
//! `cargo bench -p orderflow-shared --bench domain` (or `cargo bench --workspace`).

use criterion::{Criterion, criterion_group, criterion_main};
use orderflow_shared::domain::order::{
    ProductSnapshot, RequestedItem, price_lines, validate_items,
};
use rust_decimal::Decimal;
use std::hint::black_box;

fn order_rules(c: &mut Criterion) {
    // Five lines, one product twice (merged), as a client might send them.
    let requested: Vec<RequestedItem> = [(11, 2), (12, 1), (13, 3), (11, 1), (14, 4), (15, 1)]
        .into_iter()
        .map(|(product_id, quantity)| RequestedItem {
            product_id,
            quantity,
        })
        .collect();
    let products: Vec<ProductSnapshot> = (11..=15)
        .map(|id| ProductSnapshot {
            id,
            name: format!("Product {id}"),
            price: Decimal::new(1999 + id * 100, 2),
            is_active: true,
        })
        .collect();
    c.bench_function("validate_items (6 lines -> 5)", |b| {
        b.iter(|| validate_items(black_box(&requested), black_box(Some("Leave at the door"))))
    });
    let merged = validate_items(&requested, None).unwrap();
    c.bench_function("price_lines (5 lines)", |b| {
        b.iter(|| price_lines(black_box(&merged), black_box(&products)))
    });
}

criterion_group!(benches, order_rules);
criterion_main!(benches);
