//! The dispatcher against the real APNs and FCM clients, the mock servers and a real
//! database (SQLite and PostgreSQL).

mod support;

mod crash;
mod jobs;
mod nodes;
mod quarantine;
mod retries;
mod sending;
