//! Rebuilds the crate when a migration is added, changed or removed: `sqlx::migrate!`
//! embeds the migrations at compile time, and without this an incremental build would keep
//! the old set.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
