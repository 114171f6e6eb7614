//! Pure work on the API's hot paths, without a database: verifying an access token (in full,
//! and remembered) and serialising a 5-item order response.
//! `cargo bench -p orderflow-api --bench hot_paths` (or `cargo bench --workspace`).

use chrono::Utc;
use criterion::{Criterion, criterion_group, criterion_main};
use orderflow_api::{
    auth::jwt::JwtKeys,
    routes::orders::{OrderItemResponse, OrderResponse},
};
use orderflow_shared::{
    domain::{OrderStatus, Role},
    settings::ApiSettings,
};
use rust_decimal::Decimal;
use std::hint::black_box;

fn tokens(c: &mut Criterion) {
    let settings = ApiSettings::from_lookup(|k| (k == "APP_ENV").then(|| "development".into()))
        .expect("development defaults");
    let token = JwtKeys::new(&settings.jwt)
        .issue(42, uuid::Uuid::new_v4(), Role::Customer)
        .unwrap();
    c.bench_function("jwt verify (in full)", |b| {
        let keys = JwtKeys::new(&settings.jwt);
        b.iter(|| keys.verify(black_box(&token)).unwrap())
    });
    let keys = JwtKeys::new(&settings.jwt);
    c.bench_function("jwt bearer (remembered)", |b| {
        b.iter(|| keys.bearer(black_box(&token)).unwrap())
    });
}

fn serialise(c: &mut Criterion) {
    let now = Utc::now();
    let order = OrderResponse {
        id: 123_456,
        customer_id: 789,
        customer_name: "Ada Lovelace".into(),
        status: OrderStatus::Pending,
        total: Decimal::new(31_950, 2),
        notes: Some("Leave at the door".into()),
        items: (1..=5)
            .map(|i| OrderItemResponse {
                id: 1_000 + i,
                product_id: i,
                product_name: format!("Product {i}"),
                quantity: i as i32,
                unit_price: Decimal::new(1999, 2),
                line_total: Decimal::new(1999 * i, 2),
            })
            .collect(),
        created_at: now,
        updated_at: now,
    };
    c.bench_function("serialise a 5-item order", |b| {
        b.iter(|| serde_json::to_vec(black_box(&order)).unwrap())
    });
}

criterion_group!(benches, tokens, serialise);
criterion_main!(benches);
