//! Keeping the messages a durable's member holds from going to another member. The server
//! redelivers a message that is not acked within `ack_wait`; a keeper task on the source's
//! runtime sends `+WPI` (work in progress) for every message this process holds, each third
//! of `ack_wait`. So `ack_wait` can be short, and a crashed member's messages come back within
//! it, while a live member's batch is never handed to another during a slow sink commit.

use async_nats::{Client, Subject};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;

/// The keeper task and the reply subjects it keeps alive.
pub(crate) struct Progress {
    held: Arc<Mutex<Vec<Subject>>>,
    task: JoinHandle<()>,
}

impl Progress {
    /// Starts the keeper for a consumer whose `ack_wait` is this.
    pub(crate) fn start(rt: &Runtime, client: Client, ack_wait: Duration) -> Self {
        let held: Arc<Mutex<Vec<Subject>>> = Arc::default();
        let every = (ack_wait / 3).max(Duration::from_millis(100));
        let shared = held.clone();
        let task = rt.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                let replies = shared.lock().map(|h| h.clone()).unwrap_or_default();
                if replies.is_empty() {
                    continue;
                }
                for r in replies {
                    // A failed publish is retried at the next tick; a lost connection
                    // redelivers after ack_wait, which is at-least-once anyway.
                    let _ = client.publish(r, "+WPI".into()).await;
                }
                let _ = client.flush().await;
            }
        });
        Self { held, task }
    }

    /// The messages held now (every delivered message not yet acked or nacked).
    pub(crate) fn hold<'a>(&self, replies: impl Iterator<Item = &'a Subject>) {
        if let Ok(mut h) = self.held.lock() {
            h.clear();
            h.extend(replies.cloned());
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.task.abort();
    }
}
