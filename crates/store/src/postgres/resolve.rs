//! Get-or-create of the things an event names.
