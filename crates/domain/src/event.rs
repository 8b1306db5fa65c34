//! The event: one LLM call, parsed and validated at the edge (API.md §2).
pub struct Event;
pub struct EventError;
pub enum ErrorCode {}
