//! Traces across the queue, end to end: the API and a worker as child processes (this
//! build's debug binaries) exporting OTLP/HTTP to a receiver in this process that decodes the
//! real protobuf. One test follows an order with a `traceparent` from the HTTP request to the
//! SMTP reply; one shows that a dead collector costs spans, not orders or emails; one that the
//! sampling decision is taken once, at the request, and followed by its job.

use orderflow_chaos::{
    proc::free_port,
    redis_server::RedisServer,
    stack::{Run, Stack},
};
use orderflow_testkit::otlp::{OtlpReceiver, ReceivedSpan};
use serde_json::{Value, json};
use std::{
    collections::HashMap,
    path::PathBuf,
    time::{Duration, Instant},
};

/// This build's binaries: `target/debug`, beside this test's own executable (`deps/`).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/debug")
        .to_path_buf();
    for bin in ["orderflow-api", "orderflow-worker"] {
        assert!(
            dir.join(bin).exists(),
            "{} missing: run `cargo build --workspace` first (scripts/test.sh does)",
            dir.join(bin).display()
        );
    }
    dir
}

fn run(name: &str) -> Run {
    let dir = std::env::temp_dir().join(format!(
        "orderflow-tracing-{name}-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).expect("log dir");
    let redis = RedisServer::start(dir.join("redis")).expect("redis-server");
    Run {
        bin_dir: bin_dir(),
        log_dir: dir,
        pg_base: orderflow_testkit::pg_base(),
        pg_cluster: (String::new(), String::new()),
        redis_url: redis.url(),
        redis: std::sync::Mutex::new(redis),
        orders: 0,
        smtp_down: Duration::ZERO,
    }
}

/// Export quickly, so the test does not wait for the default 5 s batch delay.
fn otel_env(endpoint: String) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".into()),
        ("OTEL_EXPORTER_OTLP_TIMEOUT", "2000".into()),
    ]
}

/// Whether `span` is `ancestor` or below it.
fn descends(span: &ReceivedSpan, ancestor: &str, by_id: &HashMap<String, ReceivedSpan>) -> bool {
    let mut current = Some(span);
    while let Some(s) = current {
        if s.span_id == ancestor {
            return true;
        }
        current = by_id.get(&s.parent_span_id);
    }
    false
}

/// The trace as a tree (`--nocapture` shows it): service, span, duration.
fn print_tree(spans: &[ReceivedSpan]) {
    fn walk(spans: &[ReceivedSpan], parent: &str, depth: usize) {
        let mut children: Vec<_> = spans
            .iter()
            .filter(|s| s.parent_span_id == parent)
            .collect();
        children.sort_by_key(|s| s.start_unix_nano);
        for s in children {
            let ms = s.end_unix_nano.saturating_sub(s.start_unix_nano) as f64 / 1e6;
            println!(
                "{}{} [{}] {ms:.2} ms",
                "  ".repeat(depth),
                s.name,
                s.service
            );
            walk(spans, &s.span_id, depth + 1);
        }
    }
    let ids: std::collections::HashSet<_> = spans.iter().map(|s| s.span_id.as_str()).collect();
    let roots: std::collections::BTreeSet<_> = spans
        .iter()
        .filter(|s| !ids.contains(s.parent_span_id.as_str()))
        .map(|s| s.parent_span_id.as_str())
        .collect();
    for root in roots {
        println!("(remote parent {root})");
        walk(spans, root, 1);
    }
}

/// Places an order (with the client's `traceparent` and `tracestate`, if given): its id and
/// the `traceresponse` header.
async fn place_order(stack: &Stack, trace: Option<(&str, &str)>) -> (i64, String) {
    let mut request = stack
        .client
        .post(stack.url("/api/v1/orders"))
        .bearer_auth(&stack.customer.0)
        .json(&json!({
            "customer_id": stack.customer.1,
            "items": [{"product_id": stack.product, "quantity": 2}]
        }));
    if let Some((traceparent, tracestate)) = trace {
        request = request
            .header("traceparent", traceparent)
            .header("tracestate", tracestate);
    }
    let response = request.send().await.expect("order request");
    assert_eq!(response.status(), 201);
    let traceresponse = response
        .headers()
        .get("traceresponse")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .expect("traceresponse header");
    let order = response.json::<Value>().await.unwrap()["id"]
        .as_i64()
        .expect("order id");
    (order, traceresponse)
}

/// The receiver's spans of `trace_id`, once `done` holds for them (30 s at most).
async fn spans_of(
    receiver: &OtlpReceiver,
    trace_id: &str,
    done: impl Fn(&[ReceivedSpan]) -> bool,
) -> Vec<ReceivedSpan> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let spans: Vec<ReceivedSpan> = receiver
            .spans()
            .into_iter()
            .filter(|s| s.trace_id == trace_id)
            .collect();
        if done(&spans) {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "trace incomplete after 30 s: {:#?}",
            spans.iter().map(|s| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_trace_runs_from_the_request_through_the_queue_to_the_smtp_reply() {
    let receiver = OtlpReceiver::start().await;
    let run = run("trace");
    let stack = Stack::start(&run, "trace", &otel_env(receiver.endpoint()), 1)
        .await
        .expect("stack starts");
    let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
    let client_span = "00f067aa0ba902b7";
    let (order, traceresponse) = place_order(
        &stack,
        Some((&format!("00-{trace_id}-{client_span}-01"), "shop=checkout")),
    )
    .await;
    assert!(
        traceresponse.starts_with(&format!("00-{trace_id}-")),
        "{traceresponse}"
    );
    stack
        .wait_confirmed(&[order], Duration::from_secs(60))
        .await
        .expect("confirmation email sent");

    // Spans arrive in batches every 100 ms: wait for the worker's SMTP span.
    let spans = spans_of(&receiver, trace_id, |spans| {
        ["smtp.send", "job order_confirmation", "POST /api/v1/orders"]
            .iter()
            .all(|name| spans.iter().any(|s| s.name == *name))
    })
    .await;
    let by_id: HashMap<String, ReceivedSpan> = spans
        .iter()
        .map(|s| (s.span_id.clone(), s.clone()))
        .collect();
    print_tree(&spans);
    let one = |name: &str| -> &ReceivedSpan {
        let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
        assert_eq!(found.len(), 1, "spans named {name}: {found:#?}");
        found[0]
    };

    let http = one("POST /api/v1/orders");
    assert_eq!(http.service, "orderflow-api");
    assert_eq!(
        http.parent_span_id, client_span,
        "continues the client's span"
    );
    assert_eq!(http.kind, 2, "server span");
    assert_eq!(http.attribute("http.response.status_code"), Some("201"));
    assert_eq!(http.attribute("route"), Some("/api/v1/orders"));
    assert_eq!(http.attribute("user.role"), Some("customer"));
    assert!(traceresponse.contains(&http.span_id), "{traceresponse}");

    let api_statements: Vec<_> = spans
        .iter()
        .filter(|s| {
            s.service == "orderflow-api" && s.attribute("db.system.name") == Some("postgresql")
        })
        .collect();
    assert!(!api_statements.is_empty(), "the API's statements are spans");
    for s in &api_statements {
        assert!(descends(s, &http.span_id, &by_id), "{s:#?}");
        assert_eq!(s.kind, 3, "client span");
        assert!(s.attribute("db.operation.name").is_some());
    }
    assert!(
        api_statements
            .iter()
            .any(|s| s.attribute("db.operation.name") == Some("WITH")),
        "the statement that places the order: {api_statements:#?}"
    );

    let outbox_wait = one("outbox.wait");
    assert!(descends(outbox_wait, &http.span_id, &by_id));
    assert_eq!(
        outbox_wait.attribute("orderflow.job.kind"),
        Some("send_order_confirmation")
    );

    let job = one("job order_confirmation");
    assert_eq!(job.service, "orderflow-worker");
    assert_eq!(job.kind, 5, "consumer span");
    assert!(
        descends(job, &http.span_id, &by_id),
        "the job continues the request's trace"
    );
    assert_eq!(job.attribute("attempt"), Some("1"));
    assert_eq!(job.attribute("outcome"), Some("success"));
    assert!(job.start_unix_nano >= http.start_unix_nano);

    let queue_wait = one("queue.wait");
    assert_eq!(queue_wait.parent_span_id, job.span_id);
    let smtp = one("smtp.send");
    assert_eq!(smtp.service, "orderflow-worker");
    assert!(descends(smtp, &job.span_id, &by_id));
    assert_eq!(smtp.attribute("smtp.reply"), Some("2xx"));
    assert!(
        spans.iter().any(|s| s.service == "orderflow-worker"
            && s.attribute("db.system.name") == Some("postgresql")
            && s.parent_span_id == job.span_id),
        "the worker's statements are children of the job span"
    );
    for service in ["orderflow-api", "orderflow-worker"] {
        assert!(spans.iter().any(|s| s.service == service), "{service}");
    }

    // Nothing secret or personal in any span of any trace: no address, token or password.
    let token = stack.customer.0.clone();
    for span in receiver.spans() {
        let texts = span
            .attributes
            .iter()
            .chain(&span.resource)
            .map(|(k, v)| format!("{k}={v}"))
            .chain(span.events.iter().cloned());
        for text in texts {
            assert!(
                !text.contains('@'),
                "an address in span {}: {text}",
                span.name
            );
            assert!(!text.contains(&token), "a token in span {}", span.name);
            assert!(
                !text.to_lowercase().contains("password"),
                "{}: {text}",
                span.name
            );
            assert!(
                !text.to_lowercase().contains("bearer"),
                "{}: {text}",
                span.name
            );
        }
    }

    // Logs and traces joined: the worker's "email sent" line carries the trace id.
    let worker_log = std::fs::read_to_string(run.log_dir.join("trace-worker-1.log")).unwrap();
    let sent = worker_log
        .lines()
        .find(|l| l.contains("\"email sent\""))
        .expect("an \"email sent\" log line");
    let line: Value = serde_json::from_str(sent).expect("JSON log line");
    assert_eq!(line["trace_id"], trace_id, "{sent}");
    assert!(
        line["span_id"].as_str().is_some_and(|s| s.len() == 16),
        "{sent}"
    );
    stack.finish().await.expect("clean up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_collector_costs_spans_not_orders_or_emails() {
    // Nothing listens on this port.
    let dead = format!("http://127.0.0.1:{}", free_port());
    let metrics_port = free_port();
    let mut env = otel_env(dead);
    env.push(("API_METRICS_PORT", metrics_port.to_string()));
    let run = run("down");
    let stack = Stack::start(&run, "down", &env, 1)
        .await
        .expect("stack starts");
    let orders = stack
        .orderer()
        .place_many(20, 4)
        .await
        .expect("every order answered 201");
    stack
        .wait_confirmed(&orders, Duration::from_secs(60))
        .await
        .expect("every confirmation sent");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = reqwest::get(format!("http://127.0.0.1:{metrics_port}/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let failed: f64 = text
            .lines()
            .find(|l| {
                l.starts_with("orderflow_trace_spans_total{")
                    && l.contains("outcome=\"dropped_export_failed\"")
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if failed > 0.0 {
            assert!(
                text.contains("orderflow_trace_spans_total{outcome=\"exported\"} 0"),
                "nothing can have been exported"
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no failed export counted:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.finish().await.expect("clean up");
}

/// With `parentbased_traceidratio` at 0: a request that comes with a sampled `traceparent` is
/// traced (the client's decision is followed), one without is left out. The left-out request
/// exports no span, answers `traceresponse` with its trace id and the "not sampled" flag, and
/// passes that decision through the outbox: the worker's job joins the same (unsampled) trace,
/// as its log line shows, rather than sampling on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sampling_decision_is_taken_once_and_travels_with_the_job() {
    let receiver = OtlpReceiver::start().await;
    let run = run("sampling");
    let mut env = otel_env(receiver.endpoint());
    env.push(("OTEL_TRACES_SAMPLER", "parentbased_traceidratio".into()));
    env.push(("OTEL_TRACES_SAMPLER_ARG", "0".into()));
    let stack = Stack::start(&run, "sampling", &env, 1)
        .await
        .expect("stack starts");
    let sampled_trace = "0af7651916cd43dd8448eb211c80319c";
    let (sampled, _) = place_order(
        &stack,
        Some((&format!("00-{sampled_trace}-b7ad6b7169203331-01"), "")),
    )
    .await;
    let (left_out, traceresponse) = place_order(&stack, None).await;
    let parts: Vec<&str> = traceresponse.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceresponse}");
    assert_eq!(parts[3], "00", "not sampled: {traceresponse}");
    let left_out_trace = parts[1];
    stack
        .wait_confirmed(&[sampled, left_out], Duration::from_secs(60))
        .await
        .expect("both confirmations sent");

    // The client's sampled trace arrives whole, its job included.
    spans_of(&receiver, sampled_trace, |spans| {
        spans.iter().any(|s| s.name == "smtp.send")
            && spans.iter().any(|s| s.name == "POST /api/v1/orders")
    })
    .await;
    // The worker logged the left-out order's email within the left-out request's trace…
    let worker_log = std::fs::read_to_string(run.log_dir.join("sampling-worker-1.log")).unwrap();
    let sent: Value = worker_log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "email sent" && l["span"]["order_id"] == left_out)
        .expect("the left-out order's \"email sent\" line");
    assert_eq!(sent["trace_id"], left_out_trace, "{sent}");
    // …and nothing of it was exported, by either process.
    let exported: Vec<String> = receiver
        .spans()
        .into_iter()
        .filter(|s| s.trace_id == left_out_trace)
        .map(|s| s.name)
        .collect();
    assert!(
        exported.is_empty(),
        "spans of a left-out trace: {exported:?}"
    );
    stack.finish().await.expect("clean up");
}
