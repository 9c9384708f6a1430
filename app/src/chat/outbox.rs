//! Messages this tab wrote that the conversation has not shown yet: written
//! offline or in flight. One is sent at a time, in the order they were
//! written, so they arrive in that order; each keeps its client id for every
//! attempt, so a resend after a lost ack stores nothing twice. Pure state,
//! tested on the host; the page drives it.

/// Where an outgoing message stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Waiting for a connection (or for its turn).
    Pending,
    /// Sent; waiting for the server's answer.
    Sending,
    /// Stored at this seq; shown as sent until its event arrives.
    Sent(u64),
    /// Refused; `retryable` when trying again may work (rate limited).
    Failed { reason: String, retryable: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub client_id: String,
    pub text: String,
    pub delivery: Delivery,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outbox {
    items: Vec<Outgoing>,
}

impl Outbox {
    pub fn items(&self) -> &[Outgoing] {
        &self.items
    }

    pub fn push(&mut self, client_id: String, text: String) {
        self.items.push(Outgoing { client_id, text, delivery: Delivery::Pending });
    }

    /// The next message to send: the first pending one, unless one is in flight.
    pub fn next_to_send(&self) -> Option<&Outgoing> {
        if self.items.iter().any(|o| o.delivery == Delivery::Sending) {
            return None;
        }
        self.items.iter().find(|o| o.delivery == Delivery::Pending)
    }

    fn set(&mut self, client_id: &str, delivery: Delivery) {
        if let Some(item) = self.items.iter_mut().find(|o| o.client_id == client_id) {
            item.delivery = delivery;
        }
    }

    pub fn sending(&mut self, client_id: &str) {
        self.set(client_id, Delivery::Sending);
    }

    pub fn acked(&mut self, client_id: &str, seq: u64) {
        self.set(client_id, Delivery::Sent(seq));
    }

    /// The connection went away before an answer: it goes out again, first.
    pub fn disconnected(&mut self, client_id: &str) {
        self.set(client_id, Delivery::Pending);
    }

    pub fn refused(&mut self, client_id: &str, reason: String, retryable: bool) {
        self.set(client_id, Delivery::Failed { reason, retryable });
    }

    /// The person asked to try a failed message again.
    pub fn retry(&mut self, client_id: &str) {
        self.set(client_id, Delivery::Pending);
    }

    /// The conversation now shows the message: it leaves the outbox.
    pub fn delivered(&mut self, client_id: &str) {
        self.items.retain(|o| o.client_id != client_id);
    }

    /// Messages not yet stored (for the "n waiting" hint).
    pub fn waiting(&self) -> usize {
        self.items.iter().filter(|o| matches!(o.delivery, Delivery::Pending | Delivery::Sending)).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox_of(n: usize) -> Outbox {
        let mut outbox = Outbox::default();
        for i in 0..n {
            outbox.push(format!("c{i}"), format!("message {i}"));
        }
        outbox
    }

    #[test]
    fn one_at_a_time_in_the_order_written() {
        let mut outbox = outbox_of(3);
        assert_eq!(outbox.next_to_send().unwrap().client_id, "c0");
        outbox.sending("c0");
        assert_eq!(outbox.next_to_send(), None, "wait for the answer");
        outbox.acked("c0", 7);
        assert_eq!(outbox.next_to_send().unwrap().client_id, "c1");
        outbox.delivered("c0");
        assert_eq!(outbox.items().len(), 2);
    }

    #[test]
    fn a_lost_connection_resends_the_same_message_first() {
        let mut outbox = outbox_of(2);
        outbox.sending("c0");
        outbox.disconnected("c0");
        let next = outbox.next_to_send().unwrap();
        assert_eq!((next.client_id.as_str(), next.text.as_str()), ("c0", "message 0"));
        assert_eq!(outbox.waiting(), 2);
    }

    #[test]
    fn a_refused_message_does_not_block_the_rest_and_can_be_retried() {
        let mut outbox = outbox_of(2);
        outbox.sending("c0");
        outbox.refused("c0", "too long".into(), false);
        assert_eq!(outbox.next_to_send().unwrap().client_id, "c1");
        outbox.sending("c1");
        outbox.acked("c1", 3);
        outbox.retry("c0");
        assert_eq!(outbox.next_to_send().unwrap().client_id, "c0");
    }
}
