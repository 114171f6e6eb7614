//! Worker processes: several on one queue, one killed mid-job, one stopped with SIGTERM.

use std::{process::Child, time::Duration};

use crate::helpers::Stack;

async fn orders(stack: &Stack, n: usize) -> Vec<i64> {
    let admin = stack.admin().await;
    let p = stack.product(&admin, "P-1", "Lamp", "20.00").await;
    let (token, customer) = stack.customer("ada@example.com", "Ada").await;
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(
            stack.order(&token, customer, &[(p, 1)]).await["id"]
                .as_i64()
                .unwrap(),
        );
    }
    ids
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn sigterm(child: &Child) {
    let status = std::process::Command::new("kill")
        .arg("-TERM")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test]
async fn two_worker_processes_on_one_queue_send_each_email_once() {
    let stack = Stack::start(&[]).await;
    let (a, b) = (stack.worker_process(), stack.worker_process());
    let ids = orders(&stack, 12).await;
    let messages = stack.smtp.wait_for(12, Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut subjects: Vec<String> = stack.smtp.messages().iter().map(|m| m.subject()).collect();
    subjects.sort();
    let mut expected: Vec<String> = ids
        .iter()
        .map(|id| format!("Order #{id} received"))
        .collect();
    expected.sort();
    assert_eq!(subjects, expected, "{} messages", messages.len());
    stop(a);
    stop(b);
}

#[tokio::test]
async fn a_job_of_a_killed_worker_is_recovered_by_another() {
    let stack = Stack::start(&[]).await;
    // The first worker will hang in DATA and be killed there.
    stack.smtp.delay_data(Duration::from_secs(60));
    let doomed = stack.worker_process();
    orders(&stack, 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stack.smtp.sessions() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the first worker never reached SMTP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop(doomed);
    stack.smtp.delay_data(Duration::ZERO);
    let killed_at = std::time::Instant::now();
    let rescuer = stack.worker_process();
    let messages = stack.smtp.wait_for(1, Duration::from_secs(15)).await;
    // Measured from the kill to the SMTP server accepting the rescued email.
    let recovered_in = messages[0].at.duration_since(killed_at);
    assert!(recovered_in < Duration::from_secs(15), "{recovered_in:?}");
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(stack.smtp.messages().len(), 1);
    assert_eq!(
        stack
            .scalar("SELECT attempts::bigint FROM outbox WHERE kind = 'send_order_confirmation'")
            .await,
        2
    );
    stop(rescuer);
}

#[tokio::test]
async fn sigterm_lets_the_in_flight_job_finish_and_exits_zero() {
    let stack = Stack::start(&[]).await;
    stack.smtp.delay_data(Duration::from_secs(2));
    let mut worker = stack.worker_process();
    orders(&stack, 1).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while stack.smtp.sessions() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the worker never reached SMTP"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    sigterm(&worker);
    let status = tokio::task::spawn_blocking(move || worker.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert_eq!(
        stack.smtp.messages().len(),
        1,
        "the in-flight email completed before exit"
    );
    assert_eq!(stack.scalar("SELECT count(*) FROM outbox WHERE kind = 'send_order_confirmation' AND outcome = 'done'").await, 1);
}
