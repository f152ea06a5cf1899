//! Contacts and calendar events.
