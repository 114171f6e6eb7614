//! The dashboards and alert rules against a real Prometheus (the Debian `prometheus` package,
//! which scripts/test.sh installs): it scrapes the API's metrics listener and a worker process
//! while the test makes traffic, jobs, a 429, a lockout and one dead job; then EVERY PromQL
//! expression of grafana/dashboards/*.json and prometheus/alerts.yml is evaluated through
//! Prometheus' HTTP API. Any error, or any expression without a series, fails the test: the
//! dashboards cannot drift from the metrics again.
//!
//! Grafana variables are substituted as Grafana would: `$__rate_interval` → 1m,
//! `$__interval` → 15s, `$__range` → 5m, any other `$var` → `.*` (all instances). An alert's
//! expression (`lhs > 5`) is evaluated whole for errors and its left-hand side for series,
//! since a healthy system rightly makes most alert expressions empty.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::helpers::{Killed, Stack, free_port};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Grafana's substitutions for the variables a dashboard query may hold.
fn substitute(expr: &str) -> String {
    let mut out = String::new();
    let mut rest = expr;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let (name, len) = if let Some(inner) = after.strip_prefix('{') {
            let end = inner.find('}').map_or(inner.len(), |e| e + 1);
            let name = inner[..end.saturating_sub(1)]
                .split(':')
                .next()
                .unwrap_or("");
            (name.to_string(), end + 1)
        } else {
            let end = after
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(after.len());
            (after[..end].to_string(), end)
        };
        out.push_str(match name.as_str() {
            "__rate_interval" => "1m",
            "__interval" => "15s",
            "__range" => "5m",
            _ => ".*",
        });
        rest = &after[len..];
    }
    out.push_str(rest);
    out
}

/// `label_values(metric{…}, label)` (a Grafana variable query) as PromQL; other queries as is.
fn variable_query(query: &str) -> Option<String> {
    let inner = query
        .trim()
        .strip_prefix("label_values(")?
        .strip_suffix(')')?;
    let (metric, label) = inner.rsplit_once(',')?;
    Some(format!("count by ({}) ({})", label.trim(), metric.trim()))
}

/// The left-hand side of `lhs <op> number`, if the expression ends that way.
fn left_of_threshold(expr: &str) -> Option<&str> {
    let trimmed = expr.trim_end();
    let number_start = trimmed
        .rfind(|c: char| !(c.is_ascii_digit() || c == '.' || c == 'e' || c == '-' || c == '+'))?
        + 1;
    if number_start == trimmed.len() {
        return None;
    }
    let before = trimmed[..number_start].trim_end();
    let before = before.strip_suffix("bool").unwrap_or(before).trim_end();
    for op in ["==", "!=", ">=", "<=", ">", "<"] {
        if let Some(lhs) = before.strip_suffix(op) {
            return Some(lhs.trim_end());
        }
    }
    None
}

/// `expr` without its `or vector(0)` fallbacks (a panel shows 0 rather than "no data" while
/// a series is missing; the test wants the series).
fn without_fallbacks(expr: &str) -> String {
    expr.replace(" or vector(0)", "")
}

/// Every `expr` in the dashboards (panels and rows, at any depth) and every variable query.
fn dashboard_exprs() -> Vec<(String, String)> {
    fn walk(value: &Value, source: &str, out: &mut Vec<(String, String)>) {
        match value {
            Value::Object(map) => {
                if let Some(Value::String(expr)) = map.get("expr")
                    && !expr.trim().is_empty()
                {
                    let title = map.get("refId").and_then(Value::as_str).unwrap_or("?");
                    out.push((format!("{source} target {title}"), expr.clone()));
                }
                for v in map.values() {
                    walk(v, source, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, source, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    let dir = repo().join("grafana/dashboards");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "dashboards missing in {}", dir.display());
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().to_string();
        let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(&file).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        for panel in dashboard["panels"].as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or("?");
            walk(panel, &format!("{name} panel {title:?}"), &mut out);
        }
        for var in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let query = var["query"]
                .as_str()
                .or_else(|| var["query"]["query"].as_str())
                .or_else(|| var["definition"].as_str());
            if var["type"] == "query"
                && let Some(q) = query.and_then(variable_query)
            {
                out.push((format!("{name} variable {}", var["name"]), q));
            }
        }
    }
    out
}

struct Prometheus {
    url: String,
    client: reqwest::Client,
    _process: Killed,
    _dir: TempDir,
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

impl Prometheus {
    /// Starts Prometheus scraping `api` and `worker` every second and loading the alert rules.
    async fn start(api: &str, worker: &str) -> Self {
        let binary = std::env::var("PROMETHEUS_BIN").unwrap_or_else(|_| "prometheus".into());
        let dir = TempDir(std::env::temp_dir().join(format!(
            "orderflow-prometheus-{}",
            uuid::Uuid::new_v4().simple()
        )));
        std::fs::create_dir_all(&dir.0).unwrap();
        let rules = repo().join("prometheus/alerts.yml").canonicalize().unwrap();
        let config = format!(
            "global: {{scrape_interval: 1s, evaluation_interval: 1s}}\n\
             rule_files: [{rules:?}]\n\
             scrape_configs:\n\
             - job_name: orderflow-api\n  static_configs: [{{targets: [{api:?}]}}]\n\
             - job_name: orderflow-worker\n  static_configs: [{{targets: [{worker:?}]}}]\n"
        );
        let config_file = dir.0.join("prometheus.yml");
        std::fs::write(&config_file, config).unwrap();
        let port = free_port();
        let process = Command::new(&binary)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.0.join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "{binary} does not start ({e}): scripts/test.sh installs it (Debian package \
                     `prometheus`), or set PROMETHEUS_BIN"
                )
            });
        let prometheus = Self {
            url: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::new(),
            _process: Killed(process),
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(r) = prometheus
                .client
                .get(prometheus.api("/-/ready"))
                .send()
                .await
                && r.status() == StatusCode::OK
            {
                break;
            }
            assert!(Instant::now() < deadline, "Prometheus never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        prometheus
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.url)
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Value {
        self.client
            .get(self.api(path))
            .query(query)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The instant vector of `expr`: Ok(series count) or Err(Prometheus' error).
    async fn series(&self, expr: &str) -> Result<usize, String> {
        let answer = self.get("/api/v1/query", &[("query", expr)]).await;
        if answer["status"] != "success" {
            return Err(answer["error"].as_str().unwrap_or("?").to_string());
        }
        Ok(match &answer["data"]["result"] {
            Value::Array(series) => series.len(),
            // A scalar or string result is one value.
            _ => 1,
        })
    }

    async fn wait_until_up(&self, job: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        let expr = format!("up{{job={job:?}}} == 1");
        while self.series(&expr).await != Ok(1) {
            assert!(Instant::now() < deadline, "{job} never scraped");
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

/// Requests of every kind the dashboards show: six orders (each posted twice with the same
/// Idempotency-Key: a replay), reads (cache misses and hits), 404s.
async fn traffic(
    stack: &Stack,
    round: u32,
    (admin, token): (&str, &str),
    customer: i64,
    product: i64,
) {
    let body = json!({"customer_id": customer, "items": [{"product_id": product, "quantity": 1}]});
    for i in 0..6 {
        let key = format!("monitoring-{round}-{i}");
        for _ in 0..2 {
            let (status, order) = stack
                .call_at(
                    &stack.api,
                    Method::POST,
                    "/api/v1/orders",
                    token,
                    Some(body.clone()),
                    Some(&key),
                )
                .await
                .unwrap();
            assert_eq!(status, StatusCode::CREATED, "{order}");
            let id = order["id"].as_i64().unwrap();
            for _ in 0..2 {
                let (status, _) = stack
                    .call(Method::GET, &format!("/api/v1/orders/{id}"), token, None)
                    .await;
                assert_eq!(status, StatusCode::OK);
            }
        }
        let (status, _) = stack
            .call(Method::GET, "/api/v1/orders/999999999", admin, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[tokio::test]
async fn dashboards_and_alert_rules_run_against_a_real_prometheus() {
    // A small credentials quota, so one client meets a 429 below; one password hash at a
    // time and hardly any wait for it, so concurrent sign-ins meet a 503 (a 5xx to count).
    let stack = Stack::start(&[
        ("AUTH_RATE_LIMIT_BURST", "20"),
        ("LOGIN_LOCKOUT_THRESHOLD", "3"),
        ("PASSWORD_HASH_CONCURRENCY", "1"),
        ("PASSWORD_HASH_QUEUE", "1"),
        ("PASSWORD_HASH_WAIT_MS", "1"),
    ])
    .await;
    let worker_port = free_port();
    let _worker = Killed(stack.worker_process_with(&[("WORKER_PORT", worker_port.to_string())]));
    let worker_addr = format!("127.0.0.1:{worker_port}");
    let prometheus = Prometheus::start(&stack.api_metrics, &worker_addr).await;
    prometheus.wait_until_up("orderflow-api").await;
    prometheus.wait_until_up("orderflow-worker").await;

    let admin = stack.admin().await;
    let product = stack.product(&admin, "MON-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("mon@example.com", "Mona").await;
    traffic(&stack, 1, (&admin, &token), customer, product).await;

    // One dead job: the SMTP server refuses the recipient (5xx, permanent).
    stack.smtp.wait_for(6, Duration::from_secs(20)).await;
    stack.smtp.reject_recipients(true);
    let (dead_token, dead_customer) = stack.customer("dead@example.com", "Dee").await;
    stack
        .order(&dead_token, dead_customer, &[(product, 1)])
        .await;
    stack
        .wait_scalar("SELECT count(*) FROM dead_jobs", 1, Duration::from_secs(20))
        .await;
    stack.smtp.reject_recipients(false);

    let logins = (0..6).map(|_| {
        stack
            .client
            .post(stack.url("/api/v1/auth/login"))
            .form(&[
                ("username", "mon@example.com"),
                ("password", crate::helpers::PASSWORD),
            ])
            .send()
    });
    let statuses: Vec<u16> = futures::future::join_all(logins)
        .await
        .into_iter()
        .map(|r| r.unwrap().status().as_u16())
        .collect();
    assert!(statuses.contains(&503), "{statuses:?}");

    // Failed logins until the account locks and the credentials quota runs out (429).
    let mut statuses = Vec::new();
    for _ in 0..14 {
        let r = stack
            .client
            .post(stack.url("/api/v1/auth/login"))
            .form(&[
                ("username", "mon@example.com"),
                ("password", "wrong-password-1"),
            ])
            .send()
            .await
            .unwrap();
        statuses.push(r.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    traffic(&stack, 2, (&admin, &token), customer, product).await;
    stack.smtp.wait_for(12, Duration::from_secs(20)).await;
    // Two scrapes and a gauge sample after the last event.
    tokio::time::sleep(Duration::from_secs(6)).await;

    let mut problems = Vec::new();
    let mut checked = 0;
    for (source, raw) in dashboard_exprs() {
        let expr = substitute(&raw);
        checked += 1;
        if let Err(e) = prometheus.series(&expr).await {
            problems.push(format!("{source}: {e} in {expr}"));
            continue;
        }
        // `… or vector(0)` always has a series: what it falls back from must have one too.
        let bare = without_fallbacks(&expr);
        match prometheus.series(&bare).await {
            Ok(0) => problems.push(format!("{source}: no series for {bare}")),
            Ok(_) => {}
            Err(e) => problems.push(format!("{source}: {e} in {bare}")),
        }
    }
    let rules = prometheus.get("/api/v1/rules", &[]).await;
    let groups = rules["data"]["groups"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!groups.is_empty(), "no rule groups loaded: {rules}");
    let mut alerts = 0;
    for rule in groups
        .iter()
        .flat_map(|g| g["rules"].as_array().unwrap().iter())
    {
        let name = rule["name"].as_str().unwrap();
        let query = rule["query"].as_str().unwrap();
        checked += 1;
        if rule["health"] != "ok" && rule["health"] != "unknown" {
            problems.push(format!(
                "rule {name}: health {} {}",
                rule["health"], rule["lastError"]
            ));
        }
        if let Err(e) = prometheus.series(query).await {
            problems.push(format!("rule {name}: {e} in {query}"));
            continue;
        }
        let lhs = without_fallbacks(if rule["type"] == "alerting" {
            alerts += 1;
            left_of_threshold(query).unwrap_or(query)
        } else {
            query
        });
        match prometheus.series(&lhs).await {
            Ok(0) => problems.push(format!("rule {name}: no series for {lhs}")),
            Ok(_) => {}
            Err(e) => problems.push(format!("rule {name}: {e} in {lhs}")),
        }
    }
    assert!(alerts >= 10, "only {alerts} alerting rules loaded");
    assert!(
        problems.is_empty(),
        "{} of {checked} expressions failed:\n{}",
        problems.len(),
        problems.join("\n")
    );

    // The dead job is seen by the rule that pages for it.
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let active = prometheus.get("/api/v1/alerts", &[]).await;
        let names: Vec<&str> = active["data"]["alerts"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|a| a["labels"]["alertname"].as_str())
            .collect();
        if names.contains(&"OrderFlowDeadJobs") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "OrderFlowDeadJobs not active: {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "monitoring: {checked} expressions (dashboards and rules, {alerts} alerts) evaluated by \
         a real Prometheus, all with series"
    );
}

#[test]
fn grafana_variables_and_thresholds_are_read_as_intended() {
    assert_eq!(
        substitute("rate(x{instance=~\"$instance\"}[$__rate_interval])"),
        "rate(x{instance=~\".*\"}[1m])"
    );
    assert_eq!(
        substitute("y{job=~\"${job:regex}\"}[${__range}]"),
        "y{job=~\".*\"}[5m]"
    );
    assert_eq!(
        variable_query("label_values(orderflow_build_info{binary=\"api\"}, instance)").unwrap(),
        "count by (instance) (orderflow_build_info{binary=\"api\"})"
    );
    assert_eq!(
        left_of_threshold("sum(rate(a[5m])) > 0.05"),
        Some("sum(rate(a[5m]))")
    );
    assert_eq!(left_of_threshold("x >= 1e3"), Some("x"));
    assert_eq!(left_of_threshold("x > bool 1"), Some("x"));
    assert_eq!(left_of_threshold("(x > 1) or vector(0)"), None);
    assert_eq!(
        without_fallbacks("(sum(rate(a[1m])) or vector(0)) / sum(b) or vector(0)"),
        "(sum(rate(a[1m]))) / sum(b)"
    );
}
