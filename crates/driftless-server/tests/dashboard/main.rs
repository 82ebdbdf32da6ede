//! The vendor dashboard: its login, sessions and CSRF checks over plain HTTP, and a
//! real headless Chromium driven through WebDriver over a fleet whose rollout halts.
#![allow(clippy::unwrap_used, clippy::expect_used)]

// Shared with the other tests, which use more of it.
#[allow(dead_code)]
#[path = "../support/mod.rs"]
mod support;

mod browser;
mod http;
mod plane;
mod session;
mod users;
