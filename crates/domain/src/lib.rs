//! The spendlens domain: what an event is, what money and periods are, and
//! what a model costs. Everything here is pure: no I/O, no clock reads (the
//! caller passes "now"), so it can be tested exhaustively.

pub mod event;
pub mod insights;
pub mod money;
pub mod prices;
pub mod time;

pub use event::{ErrorCode, Event, EventError};
pub use money::{Markup, MoneyError, Nanos};
pub use prices::{Catalog, Price};
