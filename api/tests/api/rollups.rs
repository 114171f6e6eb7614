//! The staff summary and the lists' totals come from rollups kept as orders change
//! (`orderflow_shared::db::stats`): after any mix of creates, transitions, expiries and
//! deletes, folded or not, they equal a full recount of the orders, for any date range.

use chrono::{DateTime, Duration, DurationRound, Utc};
use orderflow_shared::db::{orders, stats};
use rand::{Rng, SeedableRng, rngs::StdRng};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};
use std::str::FromStr;

use crate::helpers::{Session, TestApp, json_ok, spawn_app};

/// What the summary should say for `[from, to)`, counted from the orders themselves.
async fn recount(
    app: &TestApp,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> (Vec<(String, i64, Decimal)>, Vec<(i64, i64, Decimal)>) {
    const RANGE: &str = "($1::timestamptz IS NULL OR o.created_at >= $1) \
                         AND ($2::timestamptz IS NULL OR o.created_at < $2)";
    let by_status = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT s, count(o.id), COALESCE(sum(o.total), 0) \
         FROM unnest(ARRAY['pending', 'processing', 'shipped', 'delivered', 'cancelled']) s \
         LEFT JOIN orders o ON o.status = s AND {RANGE} GROUP BY s ORDER BY s"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(&app.db)
    .await
    .unwrap();
    let top = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT i.product_id, sum(i.quantity)::bigint AS q, sum(i.quantity * i.unit_price) \
         FROM order_items i JOIN orders o ON o.id = i.order_id \
         WHERE o.status <> 'cancelled' AND {RANGE} \
         GROUP BY i.product_id ORDER BY q DESC, i.product_id LIMIT 10"
    )))
    .bind(from)
    .bind(to)
    .fetch_all(&app.db)
    .await
    .unwrap();
    (by_status, top)
}

fn decimal(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap()).unwrap()
}

/// The summary's answer for the range, in the recount's shape.
async fn summary(
    app: &TestApp,
    staff: &Session,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
) -> (Vec<(String, i64, Decimal)>, Vec<(i64, i64, Decimal)>) {
    let mut query = Vec::new();
    for (name, at) in [("created_from", from), ("created_to", to)] {
        if let Some(at) = at {
            let at = at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
            query.push(format!("{name}={at}"));
        }
    }
    let path = format!("/api/v1/orders/summary?{}", query.join("&"));
    let body = json_ok(app.get(&path, &staff.token).await, StatusCode::OK).await;
    let mut by_status: Vec<_> = body["by_status"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            let status = s["status"].as_str().unwrap().to_string();
            (status, s["count"].as_i64().unwrap(), decimal(&s["revenue"]))
        })
        .collect();
    by_status.sort();
    let top = body["top_products"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let id = p["product_id"].as_i64().unwrap();
            (id, p["quantity"].as_i64().unwrap(), decimal(&p["revenue"]))
        })
        .collect();
    (by_status, top)
}

/// `[from, to)`, `None` for an open end.
type Range = (Option<DateTime<Utc>>, Option<DateTime<Utc>>);

/// Ranges with and without ends, whole hours, whole days, partial hours at either end, inside
/// one hour, and empty.
fn ranges(rng: &mut StdRng, now: DateTime<Utc>) -> Vec<Range> {
    let hour = now.duration_trunc(Duration::hours(1)).unwrap();
    let day = now.duration_trunc(Duration::days(1)).unwrap();
    let mut ranges = vec![
        (None, None),
        (Some(hour - Duration::hours(30)), Some(hour)),
        (Some(day - Duration::days(2)), Some(day)),
        (Some(day - Duration::days(2)), None),
        (None, Some(day - Duration::hours(5))),
        (
            Some(hour + Duration::minutes(1)),
            Some(hour + Duration::minutes(59)),
        ),
        (Some(now + Duration::hours(2)), None),
        (Some(hour), Some(hour)),
    ];
    for _ in 0..12 {
        let at = |rng: &mut StdRng| now - Duration::seconds(rng.random_range(-3_600..80 * 3_600));
        let (a, b) = (at(rng), at(rng));
        let (from, to) = (a.min(b), a.max(b));
        ranges.push((Some(from), rng.random_bool(0.8).then_some(to)));
    }
    ranges
}

async fn check(app: &TestApp, staff: &Session, rng: &mut StdRng, when: &str) {
    let now = Utc::now();
    for (from, to) in ranges(rng, now) {
        assert_eq!(
            summary(app, staff, from, to).await,
            recount(app, from, to).await,
            "{when}: summary of [{from:?}, {to:?})"
        );
    }
    for status in ["pending", "processing", "shipped", "delivered", "cancelled"] {
        let path = format!("/api/v1/orders?status={status}&page_size=1");
        let page = json_ok(app.get(&path, &staff.token).await, StatusCode::OK).await;
        let counted: i64 = sqlx::query_scalar("SELECT count(*) FROM orders WHERE status = $1")
            .bind(status)
            .fetch_one(&app.db)
            .await
            .unwrap();
        assert_eq!(page["total"], counted, "{when}: total of {status} orders");
        assert_eq!(page["total_exact"], true);
    }
}

async fn fold(app: &TestApp) {
    stats::fold_orders(&app.db).await.unwrap();
    stats::fold_products(&app.db).await.unwrap();
}

#[tokio::test]
async fn the_rollups_equal_a_recount_after_a_random_mix_of_changes() {
    let app = spawn_app().await;
    let admin = app.admin().await;
    let ada = app.customer("ada@example.com").await;
    let bob = app.customer("bob@example.com").await;
    let mut products = Vec::new();
    for n in 0..14 {
        let price = format!("{}.{:02}", 1 + n * 3, (n * 37) % 100);
        products.push(
            app.product(&admin, &format!("P-{n}"), &price).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    // Three days of history written behind the service's back, then the rollups rebuilt (as
    // after a bulk load).
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SELECT setseed(0.18);
         INSERT INTO orders (customer_id, status, total, created_at, updated_at)
           SELECT (ARRAY[{a}, {b}])[1 + g % 2],
                  (ARRAY['pending', 'processing', 'shipped', 'delivered', 'cancelled'])[1 + (g * 7) % 5],
                  0, t, t
           FROM generate_series(1, 300) g, LATERAL (SELECT now() - random() * interval '72 hours' AS t) x;
         INSERT INTO order_items (order_id, product_id, product_name, quantity, unit_price)
           SELECT o.id, p.id, p.name, 1 + (o.id + k) % 3, p.price
           FROM orders o CROSS JOIN generate_series(0, o.id % 3) k
           JOIN products p ON p.id = (ARRAY[{ps}])[1 + (o.id * 5 + k * 3) % 14];
         UPDATE orders o SET total = s.total
           FROM (SELECT order_id, sum(quantity * unit_price) AS total FROM order_items GROUP BY 1) s
           WHERE s.order_id = o.id;
         SELECT rebuild_order_stats();",
        a = ada.customer_id.unwrap(),
        b = bob.customer_id.unwrap(),
        ps = products.iter().map(i64::to_string).collect::<Vec<_>>().join(", "),
    )))
    .execute(&app.db)
    .await
    .unwrap();
    let mut rng = StdRng::seed_from_u64(18);
    check(&app, &admin, &mut rng, "after the rebuild").await;

    let (mut created, mut moved, mut expired, mut deleted, mut folds) = (0, 0, 0, 0, 0);
    for step in 0..160 {
        let pick = |rng: &mut StdRng, statuses: &str| {
            let sql = format!(
                "SELECT id, status FROM orders WHERE status IN ({statuses}) \
                 ORDER BY md5(id::text || $1::text) LIMIT 1"
            );
            let seed = rng.random::<u32>();
            let db = app.db.clone();
            async move {
                sqlx::query_as::<_, (i64, String)>(sqlx::AssertSqlSafe(sql))
                    .bind(seed.to_string())
                    .fetch_optional(&db)
                    .await
                    .unwrap()
            }
        };
        match rng.random_range(0..10) {
            0..=2 => {
                let who = if rng.random_bool(0.5) { &ada } else { &bob };
                let items: Vec<(i64, i64)> = (0..rng.random_range(1..4))
                    .map(|k| (products[(step * 3 + k * 5) % 14], rng.random_range(1..5)))
                    .collect();
                let mut items = items;
                items.sort();
                items.dedup_by_key(|i| i.0);
                app.order(who, who.customer_id.unwrap(), &items).await;
                created += 1;
            }
            3..=5 => {
                let statuses = "'pending', 'processing', 'shipped'";
                if let Some((id, status)) = pick(&mut rng, statuses).await {
                    let next = match (status.as_str(), rng.random_range(0..3)) {
                        ("pending", 0) | ("processing", 0) => "cancelled",
                        ("pending", _) => "processing",
                        ("processing", _) => "shipped",
                        _ => "delivered",
                    };
                    let path = format!("/api/v1/orders/{id}/status");
                    let body = json!({"status": next});
                    json_ok(app.patch(&path, &admin.token, &body).await, StatusCode::OK).await;
                    moved += 1;
                }
            }
            6 => {
                // What the worker's expiry job does with an order left pending.
                if let Some((id, _)) = pick(&mut rng, "'pending'").await {
                    assert!(orders::cancel_if_pending(&app.db, id).await.unwrap());
                    expired += 1;
                }
            }
            7 => {
                let any = "'pending', 'processing', 'shipped', 'delivered', 'cancelled'";
                if let Some((id, _)) = pick(&mut rng, any).await {
                    let response = app
                        .delete(&format!("/api/v1/orders/{id}"), &admin.token)
                        .await;
                    assert_eq!(response.status(), StatusCode::NO_CONTENT);
                    deleted += 1;
                }
            }
            8 => {
                fold(&app).await;
                folds += 1;
            }
            _ => check(&app, &admin, &mut rng, &format!("step {step}")).await,
        }
    }
    assert!(
        created > 20 && moved > 20 && expired > 5 && deleted > 5 && folds > 5,
        "a real mix: {created} created, {moved} moved, {expired} expired, {deleted} deleted, \
         {folds} folds"
    );
    app.order(&ada, ada.customer_id.unwrap(), &[(products[0], 2)])
        .await;
    let deltas: i64 = sqlx::query_scalar("SELECT count(*) FROM order_stats_deltas")
        .fetch_one(&app.db)
        .await
        .unwrap();
    assert!(deltas > 0, "the last checks read unfolded deltas");
    check(&app, &admin, &mut rng, "with deltas unfolded").await;
    fold(&app).await;
    check(&app, &admin, &mut rng, "all folded").await;
    let left: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM order_stats_deltas) + (SELECT count(*) FROM product_stats_deltas)",
    )
    .fetch_one(&app.db)
    .await
    .unwrap();
    assert_eq!(left, 0, "a fold leaves no deltas");
}
