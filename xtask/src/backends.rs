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
    // Stopped by their own drop.
    smtp: Option<ChildServer>,
    mongodb: Option<ChildServer>,
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
    if let Ok(url) = std::env::var("DZINZA_TEST_SMTP_URL") {
        eprintln!("xtask: using the SMTP server at DZINZA_TEST_SMTP_URL");
        servers.env.push(("DZINZA_TEST_SMTP_URL".into(), url));
        if let Ok(dir) = std::env::var("DZINZA_TEST_SMTP_MAILDIR") {
            servers.env.push(("DZINZA_TEST_SMTP_MAILDIR".into(), dir));
        }
    } else if aiosmtpd_installed() {
        let smtp = start_smtp().context("starting aiosmtpd")?;
        eprintln!("xtask: SMTP (aiosmtpd) started on 127.0.0.1:{}", smtp.port);
        servers.env.push((
            "DZINZA_TEST_SMTP_URL".into(),
            format!("smtp://127.0.0.1:{}", smtp.port),
        ));
        servers.env.push((
            "DZINZA_TEST_SMTP_MAILDIR".into(),
            smtp.dir.join("maildir").display().to_string(),
        ));
        servers.smtp = Some(smtp);
    } else {
        eprintln!(
            "xtask: aiosmtpd is not installed; the SMTP delivery tests will be skipped \
             (pip install aiosmtpd)"
        );
    }
    if let Ok(url) = std::env::var("DZINZA_TEST_MONGODB_URL") {
        eprintln!("xtask: using MongoDB at DZINZA_TEST_MONGODB_URL");
        servers.env.push(("DZINZA_TEST_MONGODB_URL".into(), url));
    } else if secantus_installed() {
        let mongodb = start_secantus().context("starting SecantusDB")?;
        eprintln!(
            "xtask: MongoDB stand-in (SecantusDB) started on 127.0.0.1:{}",
            mongodb.port
        );
        servers.env.push((
            "DZINZA_TEST_MONGODB_URL".into(),
            format!("mongodb://127.0.0.1:{}/", mongodb.port),
        ));
        servers.mongodb = Some(mongodb);
    } else {
        eprintln!(
            "xtask: SecantusDB is not installed; the MongoDB conformance tests will be skipped \
             (pip install secantusdb==0.7.0b3)"
        );
    }
    Ok(servers)
}

/// The launcher of SecantusDB, the MongoDB-wire-compatible server CI uses (ARCHITECTURE.md).
const SECANTUS: &str = "secantusd-py";

fn secantus_installed() -> bool {
    succeeds(Command::new(SECANTUS).arg("--help"))
}

/// A throwaway SecantusDB server (a single-node replica set, so transactions work) holding its
/// data in memory.
fn start_secantus() -> anyhow::Result<ChildServer> {
    ChildServer::start(SECANTUS, "mongodb", Duration::from_secs(60), |port, _| {
        let mut c = Command::new(SECANTUS);
        c.args(["--host", "127.0.0.1", "--port"])
            .arg(port.to_string())
            .args(["--storage-path", ":memory:", "--log-level", "WARNING"]);
        c
    })
}

fn aiosmtpd_installed() -> bool {
    succeeds(Command::new("python3").args(["-c", "import aiosmtpd"]))
}

/// A throwaway SMTP server (aiosmtpd) that stores every message it accepts in a Maildir
/// (`<dir>/maildir/new/`), where the tests read what was delivered.
fn start_smtp() -> anyhow::Result<ChildServer> {
    ChildServer::start("aiosmtpd", "smtp", Duration::from_secs(30), |port, dir| {
        let mut c = Command::new("python3");
        c.args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(dir.join("maildir"));
        c
    })
}

fn succeeds(c: &mut Command) -> bool {
    c.stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A server process on a free loopback port with a scratch directory (its output goes to
/// `<dir>/log`); stopped, and the directory removed, on drop.
struct ChildServer {
    child: std::process::Child,
    dir: PathBuf,
    port: u16,
}

impl ChildServer {
    /// Runs the command `command(port, dir)` builds and waits until the port accepts.
    fn start(
        name: &str,
        kind: &str,
        timeout: Duration,
        command: impl FnOnce(u16, &Path) -> Command,
    ) -> anyhow::Result<Self> {
        let port = free_port()?;
        let dir = std::env::temp_dir().join(format!("dzinza-test-{kind}-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let log = std::fs::File::create(dir.join("log"))?;
        let child = command(port, &dir)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("running {name}"))?;
        let mut server = Self { child, dir, port };
        let deadline = Instant::now() + timeout;
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(status) = server.child.try_wait()? {
                let log = std::fs::read_to_string(server.dir.join("log")).unwrap_or_default();
                bail!("{name} exited with {status}: {log}");
            }
            if Instant::now() > deadline {
                bail!("{name} did not accept connections on {port}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        // SIGTERM first: on it SecantusDB removes its `:memory:` data directory; SIGKILL would
        // leave it behind in the temporary directory.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
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
