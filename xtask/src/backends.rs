//! Real backend servers for the conformance suites, started on loopback for one test run.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};

/// Servers started for this run; stopped on drop.
#[derive(Default)]
pub struct Servers {
    env: Vec<(String, String)>,
    postgres: Option<Postgres>,
}

impl Servers {
    /// Environment variables that point the tests at the servers.
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        if let Some(pg) = self.postgres.take() {
            pg.stop();
        }
    }
}

/// Starts every backend whose server is installed; reports the ones that are not.
pub fn start_available() -> anyhow::Result<Servers> {
    let mut servers = Servers::default();
    if let Ok(url) = std::env::var("DZINZA_TEST_POSTGRES_URL") {
        eprintln!("xtask: using PostgreSQL at DZINZA_TEST_POSTGRES_URL");
        servers.env.push(("DZINZA_TEST_POSTGRES_URL".into(), url));
    } else {
        match postgres_bin() {
            Some(bin) => {
                let pg = Postgres::start(&bin).context("starting PostgreSQL")?;
                eprintln!("xtask: PostgreSQL started on 127.0.0.1:{}", pg.port);
                servers.env.push((
                    "DZINZA_TEST_POSTGRES_URL".into(),
                    format!("postgres://dzinza@127.0.0.1:{}/postgres", pg.port),
                ));
                servers.postgres = Some(pg);
            }
            None => eprintln!(
                "xtask: PostgreSQL is not installed; its conformance tests will be skipped \
                 (apt-get install postgresql)"
            ),
        }
    }
    Ok(servers)
}

fn postgres_bin() -> Option<PathBuf> {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("initdb").exists())
        .collect();
    versions.sort();
    versions.pop()
}

fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A throwaway PostgreSQL cluster (trust auth on loopback only, fsync off: test data only).
struct Postgres {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    as_postgres_user: bool,
}

impl Postgres {
    fn start(bin: &Path) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("dzinza-test-pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        // PostgreSQL refuses to run as root; under root it runs as the `postgres` user.
        let as_postgres_user = is_root();
        if as_postgres_user {
            let ok = Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()?
                .success();
            if !ok {
                bail!("cannot hand {} to the postgres user", dir.display());
            }
        }
        let pg = Self {
            bin: bin.to_owned(),
            dir,
            port,
            as_postgres_user,
        };
        let data = pg.dir.join("data");
        pg.run("initdb", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-A", "trust", "-U", "dzinza", "--no-sync"]);
        })?;
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=400",
            pg.dir.display()
        );
        pg.run("pg_ctl", |c| {
            c.arg("-D")
                .arg(&data)
                .args(["-w", "-t", "60", "-o", &options, "-l"])
                .arg(pg.dir.join("log"))
                .arg("start");
        })?;
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                bail!("PostgreSQL did not accept connections on {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(pg)
    }

    fn run(&self, tool: &str, args: impl FnOnce(&mut Command)) -> anyhow::Result<()> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres_user {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        args(&mut cmd);
        let out = cmd.output().with_context(|| format!("running {tool}"))?;
        if !out.status.success() {
            bail!(
                "{tool} failed: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }

    fn stop(self) {
        let data = self.dir.join("data");
        let _ = self.run("pg_ctl", |c| {
            c.arg("-D").arg(&data).args(["-m", "immediate", "stop"]);
        });
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
