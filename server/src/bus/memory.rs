//! The single-node bus: a bounded channel from publishers to this node's hub.

use std::sync::Mutex;

use tokio::sync::mpsc;

use super::{Bus, BusError, BusFuture, BusMessage, BusStatus};

/// Room for bursts of publishes while the hub fans out. When full, publishers
/// wait (backpressure on the publish API), rather than the bus dropping events.
pub const CAPACITY: usize = 4096;

pub struct MemoryBus {
    sender: mpsc::Sender<BusMessage>,
    receiver: Mutex<Option<mpsc::Receiver<BusMessage>>>,
}

impl MemoryBus {
    pub fn new() -> Self {
        let (sender, receiver) = mpsc::channel(CAPACITY);
        Self { sender, receiver: Mutex::new(Some(receiver)) }
    }
}

impl Default for MemoryBus {
    fn default() -> Self {
        Self::new()
    }
}

impl Bus for MemoryBus {
    fn publish(&self, message: BusMessage) -> BusFuture<'_> {
        Box::pin(async move {
            if matches!(message, BusMessage::Control(_)) {
                return Ok(()); // no other node to tell
            }
            self.sender.send(message).await.map_err(|_| BusError::Closed)
        })
    }

    fn subscribe(&self) -> mpsc::Receiver<BusMessage> {
        self.receiver
            .lock()
            .expect("bus lock poisoned")
            .take()
            .expect("the memory bus has one subscriber: this node's hub")
    }

    fn status(&self) -> BusStatus {
        BusStatus { kind: "memory", connected: true, dropped: 0 }
    }
}
