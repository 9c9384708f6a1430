//! Live dashboards in the browser: the op queue and optimistic view
//! ([`queue`], pure and tested on the host), the HTTP calls ([`api`]), the
//! queue kept in localStorage and shared by the browser's tabs ([`local`]),
//! and the grid with its editor and conflict panel ([`grid`], [`panel`]).

pub mod api;
#[cfg(feature = "hydrate")]
pub mod local;
pub mod queue;
