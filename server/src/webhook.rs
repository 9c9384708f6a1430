//! Identity-platform webhooks: who may send them ([`verify`]) and what they say
//! ([`normalize`]). What they do to a session is [`crate::flow`]'s business.

pub mod normalize;
pub mod verify;

pub use normalize::{Observation, RecordKind, normalize};
