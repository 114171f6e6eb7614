//! Every metric the provisioned Grafana dashboard queries is exported by the API or the worker
//! once traffic has flowed, so a rename cannot silently blank a panel. (In this test both run
//! in one process and so share one recorder; the names are what is checked.)

use std::{collections::BTreeSet, time::Duration};

use crate::helpers::Stack;

fn dashboard_metrics() -> BTreeSet<String> {
    let json = include_str!("../../../grafana/dashboards/orderflow.json");
    let mut names = BTreeSet::new();
    for (i, _) in json.match_indices("orderflow_") {
        let name: String = json[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        names.insert(name.trim_end_matches("_bucket").to_string());
    }
    names
}

#[tokio::test]
async fn the_dashboard_only_queries_metrics_that_exist() {
    let stack = Stack::start(&[]).await;
    let worker = orderflow_worker::Worker::build(stack.settings())
        .await
        .unwrap();
    let worker_addr = worker.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(worker.run_until(async {
        let _ = stopped.await;
    }));
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    stack.order(&token, customer, &[(p, 1)]).await;
    stack.smtp.wait_for(1, Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let api = stack
        .client
        .get(stack.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let health = stack
        .client
        .get(format!("http://{worker_addr}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let worker = stack
        .client
        .get(format!("http://{worker_addr}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let exported = format!("{api}\n{worker}");
    let names = dashboard_metrics();
    assert!(names.len() >= 7, "{names:?}");
    for name in names {
        assert!(
            exported.lines().any(|l| l.starts_with(&name)),
            "{name} is on the dashboard but not exported"
        );
    }
    let _ = stop.send(());
}
