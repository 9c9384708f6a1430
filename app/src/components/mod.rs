//! Pieces shared by every page.

mod connection_indicator;
mod frame;

pub use connection_indicator::ConnectionIndicator;
pub use frame::Frame;
