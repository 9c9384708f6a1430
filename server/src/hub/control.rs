//! Requests that reach a principal's connections on every node: disconnect
//! (admin, sign-out) and revoke (left a conversation). Carried out here at
//! once, and sent to the other nodes over the bus.

use protocol::{ChannelName, CloseCode};

use super::{Hub, Outbound};
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
        let connections = self.shared.connections.lock().expect("registry lock poisoned");
        for entry in connections.values().filter(|c| &c.principal == principal) {
            if entry.outbox.try_send(Outbound::Revoke(channel.clone())).is_err() {
                // Full or closing: closing the connection revokes everything.
                entry.outbox.kick(CloseCode::Reconnect);
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
        let connections = self.shared.connections.lock().expect("registry lock poisoned");
        let mine = connections.values().filter(|c| &c.principal == principal);
        mine.map(|c| c.outbox.kick(CloseCode::Reconnect)).count()
    }
}
