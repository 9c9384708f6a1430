//! Live dashboards in the browser: the op queue and optimistic view
//! ([`queue`], pure and tested on the host), the HTTP calls ([`api`]), the
//! queue kept in localStorage and shared by the browser's tabs ([`local`]),
//! the sender that drains the queue (`sync`), and the grid with its editor
//! and conflict panel ([`grid`], [`panel`]).

pub mod api;
pub mod grid;
pub mod layout;
#[cfg(feature = "hydrate")]
pub mod local;
pub mod panel;
pub mod queue;
#[cfg(feature = "hydrate")]
pub mod sync;
