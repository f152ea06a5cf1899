//! An in-process Microsoft Graph emulator (under construction).
