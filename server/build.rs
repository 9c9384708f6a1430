//! The SQLite and Postgres migrations are embedded at compile time
//! (`sqlx::migrate!`); without this, adding a migration file would not rebuild
//! the server, and it would start with the migrations it was built with.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
