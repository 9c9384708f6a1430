//! Pieces shared by every page: the frame (header with navigation, bell and
//! connection state; toasts), and what it is made of.

mod bell;
mod connection_indicator;
mod frame;
mod nav;
mod toasts;

pub use bell::Bell;
pub use connection_indicator::ConnectionIndicator;
pub use frame::Frame;
pub use nav::Nav;
pub use toasts::Toasts;
