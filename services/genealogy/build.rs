//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the files at compile
//! time and would otherwise keep the old set.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
