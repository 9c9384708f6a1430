//! Requests that reach a principal's connections on every node: disconnect
//! (admin, sign-out) and revoke (left a conversation). Carried out here at
//! once, and sent to the other nodes over the bus.

use protocol::{ChannelName, CloseCode};

use super::{Hub, Outbound, Outbox};
use crate::auth::Principal;
use crate::bus::{BusMessage, Control};

impl Hub {
    /// Carries out a request from another node.
    pub(super) fn obey(&self, control: Control) {
        match control {
            Control::Disconnect(principal) => {
                self.disconnect_here(&principal);
            }
            Control::Revoke { principal, channel } => self.revoke_here(&principal, &channel),
        }
    }

    /// Ends `principal`'s subscriptions to `channel` on every node (they lost
    /// access: left the conversation).
    pub async fn revoke(&self, principal: &Principal, channel: &ChannelName) {
        self.revoke_here(principal, channel);
        let control = Control::Revoke { principal: principal.clone(), channel: channel.clone() };
        if let Err(err) = self.shared.bus.publish(BusMessage::Control(control)).await {
            tracing::warn!(error = %err, "revoke not sent to the other nodes");
        }
    }

    fn revoke_here(&self, principal: &Principal, channel: &ChannelName) {
        for outbox in self.outboxes_of(principal) {
            if outbox.try_send(Outbound::Revoke(channel.clone())).is_err() {
                // Full or closing: closing the connection revokes everything.
                outbox.kick(CloseCode::Reconnect);
            }
        }
    }

    /// Asks every connection of `principal`, on every node, to reconnect;
    /// returns how many were on this node.
    pub async fn disconnect_principal(&self, principal: &Principal) -> usize {
        let here = self.disconnect_here(principal);
        let control = Control::Disconnect(principal.clone());
        if let Err(err) = self.shared.bus.publish(BusMessage::Control(control)).await {
            tracing::warn!(error = %err, "disconnect not sent to the other nodes");
        }
        here
    }

    fn disconnect_here(&self, principal: &Principal) -> usize {
        let outboxes = self.outboxes_of(principal);
        outboxes.iter().for_each(|outbox| outbox.kick(CloseCode::Reconnect));
        outboxes.len()
    }

    /// The queues of `principal`'s connections on this node, taken out of the
    /// registry's lock: a queued item or a kick wakes a parked connection,
    /// which starts a task, and the registry's lock is every socket's.
    fn outboxes_of(&self, principal: &Principal) -> Vec<Outbox> {
        let connections = self.shared.connections.lock().expect("registry lock poisoned");
        connections.values().filter(|c| &c.principal == principal).map(|c| c.outbox.clone()).collect()
    }
}
