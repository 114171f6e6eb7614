//! Listening for the API's outbox wake-ups (Redis pub/sub on `dispatch::wake_channel`) and
//! passing them to this process's sweep. Reconnects with a growing pause; while Redis is
//! away the sweep's own tick keeps dispatching.

use futures::StreamExt;
use std::{sync::Arc, time::Duration};
use tokio::sync::{Notify, watch};

pub async fn listen(
    client: redis::Client,
    channel: String,
    sweep: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
) {
    let mut pause = Duration::from_millis(100);
    loop {
        let subscribed = async {
            let mut pubsub = client.get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        match tokio::time::timeout(Duration::from_secs(5), subscribed).await {
            Ok(Ok(mut pubsub)) => {
                pause = Duration::from_millis(100);
                // Anything committed while we were not listening is swept now.
                sweep.notify_one();
                let mut messages = pubsub.on_message();
                loop {
                    tokio::select! {
                        message = messages.next() => match message {
                            Some(_) => sweep.notify_one(),
                            None => break,
                        },
                        _ = stop.changed() => return,
                    }
                }
                tracing::debug!("outbox wake-up subscription lost; reconnecting");
            }
            Ok(Err(e)) => tracing::debug!(error = %e, "outbox wake-ups not subscribed"),
            Err(_) => tracing::debug!("outbox wake-up subscription timed out"),
        }
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.changed() => return,
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
