//! `cargo xtask bench gateway`: requests/s and latency of client → upstream directly,
//! client → gateway (JWT validated) → upstream, and client → nginx → upstream, in one run.

use std::fmt::Write as _;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use dzinza_kit::testing::TestIssuer;

struct Run {
    name: &'static str,
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    /// CPU time (user + system) the proxy process spent per request, where we own that process.
    cpu_us_per_req: Option<f64>,
}

/// User + system CPU seconds of process `pid` so far (Linux `/proc/PID/stat`).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    let hz = Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .trim()
                .parse::<f64>()
                .ok()
        })
        .unwrap_or(100.0);
    Some(ticks / hz)
}

/// CPU seconds of process `pid` and its direct children (nginx's master and workers).
fn tree_cpu_seconds(pid: u32) -> Option<f64> {
    let own = cpu_seconds(pid)?;
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).ok()?;
    let workers: Option<f64> = children
        .split_whitespace()
        .map(|c| c.parse().ok().and_then(cpu_seconds))
        .sum();
    Some(own + workers?)
}

struct Killer(Vec<Child>);

impl Drop for Killer {
    fn drop(&mut self) {
        // SIGTERM, not SIGKILL: nginx's master stops its workers only when asked politely.
        for c in &mut self.0 {
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for c in &mut self.0 {
            let _ = c.wait();
        }
    }
}

fn port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn need(tool: &str, package: &str) -> anyhow::Result<()> {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()?
        .success();
    if !found {
        bail!("{tool} is not installed (apt-get install {package})");
    }
    Ok(())
}

fn wait_for(port: u16) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("nothing listens on {port} after 20 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(())
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("target"))
}

/// Runs the gateway benchmark and prints a Markdown table.
pub fn gateway(args: &[&str]) -> anyhow::Result<std::process::ExitCode> {
    let mut duration = "10s".to_owned();
    let mut connections = "64".to_owned();
    let mut build = true;
    let mut dzinza = None;
    let mut threads = None;
    let mut shared_upstream = false;
    let mut rounds = 1usize;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match *a {
            "--duration" => duration = it.next().context("--duration needs a value")?.to_string(),
            "--connections" => {
                connections = it
                    .next()
                    .context("--connections needs a value")?
                    .to_string()
            }
            "--no-build" => build = false,
            "--dzinza" => dzinza = Some(PathBuf::from(it.next().context("--dzinza needs a path")?)),
            "--gateway-threads" => {
                threads = Some(
                    it.next()
                        .context("--gateway-threads needs a value")?
                        .to_string(),
                );
            }
            "--nginx-shared-upstream" => shared_upstream = true,
            "--rounds" => {
                rounds = it
                    .next()
                    .context("--rounds needs a value")?
                    .parse()
                    .context("--rounds needs a whole number")?;
                if rounds == 0 {
                    bail!("--rounds must be at least 1");
                }
            }
            other => bail!("unknown option {other}"),
        }
    }
    need("wrk", "wrk")?;
    need("nginx", "nginx-light")?;

    if build {
        eprintln!("bench: building dzinza (release)");
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        for args in [
            &["build", "--release", "-p", "dzinza"][..],
            &[
                "build",
                "--release",
                "-p",
                "dzinza-gateway",
                "--example",
                "bare_proxy",
            ],
        ] {
            if !Command::new(&cargo).args(args).status()?.success() {
                bail!("release build failed: cargo {}", args.join(" "));
            }
        }
    }
    let dzinza = dzinza.unwrap_or_else(|| target_dir().join("release/dzinza"));
    let bare_proxy = target_dir().join("release/examples/bare_proxy");

    let dir = std::env::temp_dir().join(format!("dzinza-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let (upstream, proxy, gateway, bare) = (port()?, port()?, port()?, port()?);
    let issuer = TestIssuer::new("bench");
    for d in ["upstream", "proxy"] {
        std::fs::create_dir_all(dir.join(d).join("logs"))?;
        std::fs::write(dir.join(d).join("jwks.json"), issuer.jwks().to_string())?;
    }
    let token = issuer.sign(&{
        let mut c = issuer.claims("bench-user", &["USER"]);
        c["exp"] = serde_json::json!(dzinza_kit::testing::now() + 3600);
        c
    });
    // By default the upstream is an nginx of its own, so the reference proxy, like the
    // gateway, hands every request to another process. With `--nginx-shared-upstream` one
    // nginx serves both (the layout of the runs before 2026-12-07): a proxied request can
    // then be answered by the worker that forwarded it, without waking another process, a
    // shortcut no separate proxy has.
    let upstream_conf = dir.join("upstream");
    let proxy_conf = dir.join("proxy");
    if shared_upstream {
        write_nginx_conf(&proxy_conf, upstream, true, Some(proxy))?;
    } else {
        write_nginx_conf(&upstream_conf, upstream, true, None)?;
        write_nginx_conf(&proxy_conf, upstream, false, Some(proxy))?;
    }
    std::fs::write(
        dir.join("gateway.yaml"),
        "rate_limits:\n  anonymous: {per_minute: 600000000, burst: 10000000}\n  \
         authenticated: {per_minute: 600000000, burst: 10000000}\n  \
         credentials: {per_minute: 600000000, burst: 10000000}\n",
    )?;

    let mut procs = Killer(Vec::new());
    let nginxes: &[&Path] = match shared_upstream {
        true => &[&proxy_conf],
        false => &[&upstream_conf, &proxy_conf],
    };
    for conf in nginxes {
        procs.0.push(
            Command::new("nginx")
                .arg("-p")
                .arg(conf)
                .arg("-c")
                .arg(conf.join("nginx.conf"))
                .args(["-g", "daemon off;"])
                .stderr(Stdio::null())
                .spawn()
                .context("starting nginx")?,
        );
    }
    // nginx's own CPU per request is only its proxying when the upstream lives elsewhere.
    let nginx_pid = (!shared_upstream)
        .then(|| procs.0.last().map(Child::id))
        .flatten();
    let mut gateway_cmd = Command::new(&dzinza);
    if let Some(threads) = &threads {
        gateway_cmd.env("DZINZA_GATEWAY_THREADS", threads);
    }
    procs.0.push(
        gateway_cmd
            .args(["serve", "--target", "gateway"])
            .env("DZINZA_LISTEN", format!("127.0.0.1:{gateway}"))
            .env("DZINZA_DATA_DIR", dir.join("data"))
            .env(
                "DZINZA_UPSTREAM_GENEALOGY",
                format!("http://127.0.0.1:{upstream}"),
            )
            .env(
                "DZINZA_JWKS_URL",
                format!("http://127.0.0.1:{upstream}/jwks.json"),
            )
            .env("DZINZA_GATEWAY_CONFIG", dir.join("gateway.yaml"))
            .env("DZINZA_LOG_LEVEL", "error")
            .stdout(Stdio::null())
            .spawn()
            .context("starting the gateway")?,
    );
    let gateway_pid = procs.0.last().map(Child::id);
    procs.0.push(
        Command::new(&bare_proxy)
            .arg(format!("127.0.0.1:{bare}"))
            .arg(format!("http://127.0.0.1:{upstream}"))
            .spawn()
            .context("starting the bare proxy (cargo build --release -p dzinza-gateway --example bare_proxy)")?,
    );
    let bare_pid = procs.0.last().map(Child::id);
    for p in [upstream, proxy, gateway, bare] {
        wait_for(p)?;
    }

    let auth = format!("Authorization: Bearer {token}");
    let scenarios = [
        (
            "client → upstream (direct)",
            format!("http://127.0.0.1:{upstream}/v1/trees/42"),
            None,
        ),
        (
            "client → dzinza gateway → upstream",
            format!("http://127.0.0.1:{gateway}/api/v1/trees/42"),
            gateway_pid,
        ),
        (
            "client → nginx → upstream",
            format!("http://127.0.0.1:{proxy}/api/v1/trees/42"),
            nginx_pid,
        ),
        (
            "client → bare axum + hyper proxy (floor) → upstream",
            format!("http://127.0.0.1:{bare}/v1/trees/42"),
            bare_pid,
        ),
    ];
    let load_before = loadavg();
    // Each round measures every path; the proxies' order is reversed every other round, so a
    // slow spell of the machine does not always fall on the same one.
    let mut by_path: Vec<Vec<Run>> = scenarios.iter().map(|_| Vec::new()).collect();
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let order: [usize; 4] = match round % 2 {
            0 => [0, 1, 2, 3],
            _ => [0, 3, 2, 1],
        };
        for i in order {
            let (name, url, pid) = &scenarios[i];
            // A short warm-up fills connection pools and the JWKS cache.
            wrk(url, &auth, "2s", &connections)?;
            let cpu_before = pid.and_then(tree_cpu_seconds);
            let out = wrk(url, &auth, &duration, &connections)?;
            let cpu_after = pid.and_then(tree_cpu_seconds);
            let mut run = parse_wrk(name, &out)?;
            if let (Some(a), Some(b), Some(n)) = (cpu_before, cpu_after, requests(&out)) {
                run.cpu_us_per_req = Some((b - a) * 1e6 / n);
            }
            eprintln!(
                "bench: round {}: {name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms",
                round + 1,
                run.rps,
                run.p50_ms,
                run.p99_ms
            );
            by_path[i].push(run);
        }
        let (gw, ngx) = (&by_path[1][round], &by_path[2][round]);
        ratios.push((gw.rps / ngx.rps, gw.p99_ms / ngx.p99_ms));
    }
    let runs: Vec<Run> = by_path.iter().map(|r| median_run(r)).collect();
    let load_after = loadavg();
    drop(procs);
    let _ = std::fs::remove_dir_all(&dir);

    let mut md = String::new();
    let _ = writeln!(
        md,
        "| path | requests/s | p50 ms | p99 ms | proxy CPU µs/request |\n|---|---:|---:|---:|---:|"
    );
    for r in &runs {
        let cpu = r
            .cpu_us_per_req
            .map_or_else(|| "–".to_owned(), |c| format!("{c:.1}"));
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.2} | {:.2} | {cpu} |",
            r.name, r.rps, r.p50_ms, r.p99_ms
        );
    }
    if rounds == 1 {
        let (throughput, p99) = ratios[0];
        let _ = writeln!(
            md,
            "\ngateway/nginx throughput: {throughput:.2}× (target ≥ 0.8×); p99 ratio: {p99:.2}× (target ≤ 1.5×)"
        );
    } else {
        let _ = writeln!(
            md,
            "\nEach column is the median of {rounds} rounds.\n\n| round | gateway/nginx throughput | p99 ratio |\n|---|---:|---:|"
        );
        for (k, (throughput, p99)) in ratios.iter().enumerate() {
            let _ = writeln!(md, "| {} | {throughput:.2}× | {p99:.2}× |", k + 1);
        }
        let throughput = median(ratios.iter().map(|r| r.0).collect());
        let p99 = median(ratios.iter().map(|r| r.1).collect());
        let throughput_met = ratios.iter().filter(|r| r.0 >= 0.8).count();
        let p99_met = ratios.iter().filter(|r| r.1 <= 1.5).count();
        let _ = writeln!(
            md,
            "\ngateway/nginx throughput, median of rounds: {throughput:.2}× (target ≥ 0.8×, met in \
             {throughput_met} of {rounds}); p99 ratio, median of rounds: {p99:.2}× (target ≤ 1.5×, \
             met in {p99_met} of {rounds})"
        );
    }
    let _ = writeln!(
        md,
        "wrk -t1 -c{connections} -d{duration} --latency; gateway threads: {}; nginx upstream: {}; \
         machine: {}; load average (1/5/15 min) before: {load_before}, after: {load_after}",
        threads.as_deref().unwrap_or("default"),
        match shared_upstream {
            true => "shared with the reference proxy (2 workers)",
            false => "separate (2 workers each)",
        },
        machine()
    );
    println!("{md}");
    Ok(std::process::ExitCode::SUCCESS)
}

fn wrk(url: &str, header: &str, duration: &str, connections: &str) -> anyhow::Result<String> {
    let out = Command::new("wrk")
        .args([
            "-t1",
            "-c",
            connections,
            "-d",
            duration,
            "--latency",
            "-H",
            header,
            url,
        ])
        .output()
        .context("running wrk")?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if !out.status.success() || text.contains("Non-2xx") {
        bail!("wrk against {url} failed or saw errors:\n{text}");
    }
    Ok(text)
}

/// The total request count of a wrk run ("N requests in ...").
fn requests(out: &str) -> Option<f64> {
    out.lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

fn parse_ms(v: &str) -> Option<f64> {
    let (num, unit) = v
        .trim()
        .split_at(v.trim().find(|c: char| c.is_ascii_alphabetic())?);
    let n: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => return None,
    })
}

/// The median of `values` (the mean of the middle two for an even count); NaN for none.
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => values[n / 2],
        _ => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// One path's runs as one: the median of each figure, taken separately.
fn median_run(runs: &[Run]) -> Run {
    let cpu: Vec<f64> = runs.iter().filter_map(|r| r.cpu_us_per_req).collect();
    Run {
        name: runs.first().map_or("", |r| r.name),
        rps: median(runs.iter().map(|r| r.rps).collect()),
        p50_ms: median(runs.iter().map(|r| r.p50_ms).collect()),
        p99_ms: median(runs.iter().map(|r| r.p99_ms).collect()),
        cpu_us_per_req: (!cpu.is_empty()).then(|| median(cpu)),
    }
}

fn parse_wrk(name: &'static str, out: &str) -> anyhow::Result<Run> {
    let field = |prefix: &str| {
        out.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix).map(str::trim).map(str::to_owned))
    };
    let rps: f64 = field("Requests/sec:")
        .and_then(|v| v.parse().ok())
        .context("no Requests/sec in wrk output")?;
    let p50 = field("50%").and_then(|v| parse_ms(&v)).context("no p50")?;
    let p99 = field("99%").and_then(|v| parse_ms(&v)).context("no p99")?;
    Ok(Run {
        cpu_us_per_req: None,
        name,
        rps,
        p50_ms: p50,
        p99_ms: p99,
    })
}

/// The 1, 5 and 15 minute load averages (Linux `/proc/loadavg`).
fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| "unknown".into())
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    format!("{cores} cores, {cpu}")
}

/// Writes `DIR/nginx.conf` for an nginx serving the upstream, the reference proxy, or both.
fn write_nginx_conf(
    dir: &Path,
    upstream: u16,
    serves_upstream: bool,
    proxy: Option<u16>,
) -> anyhow::Result<()> {
    let d = dir.display();
    let mut servers = String::new();
    if serves_upstream {
        // The upstream every scenario reaches: a small JSON answer, plus the JWKS file.
        let _ = write!(
            servers,
            r#"
    server {{
        listen 127.0.0.1:{upstream};
        location = /jwks.json {{ root {d}; }}
        location / {{ default_type application/json; return 200 '{{"id":"42","name":"Tree"}}'; }}
    }}"#
        );
    }
    if let Some(proxy) = proxy {
        // The reference reverse proxy, to the upstream port the proxied scenarios share.
        let _ = write!(
            servers,
            r#"
    server {{
        listen 127.0.0.1:{proxy};
        location / {{
            proxy_pass http://app;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}"#
        );
    }
    let conf = format!(
        r#"worker_processes 2;
error_log {d}/logs/error.log warn;
pid {d}/nginx.pid;
user root;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    keepalive_requests 1000000;
    upstream app {{ server 127.0.0.1:{upstream}; keepalive 256; }}{servers}
}}
"#
    );
    std::fs::write(dir.join("nginx.conf"), conf)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(rps: f64, p99_ms: f64, cpu: Option<f64>) -> Run {
        Run {
            name: "path",
            rps,
            p50_ms: p99_ms / 2.0,
            p99_ms,
            cpu_us_per_req: cpu,
        }
    }

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), 2.5);
        assert!(median(Vec::new()).is_nan());
    }

    #[test]
    fn a_paths_median_takes_each_figure_on_its_own() {
        let runs = [
            run(100.0, 9.0, Some(30.0)),
            run(300.0, 1.0, None),
            run(200.0, 5.0, Some(10.0)),
        ];
        let m = median_run(&runs);
        assert_eq!(m.rps, 200.0);
        assert_eq!(m.p99_ms, 5.0);
        assert_eq!(m.p50_ms, 2.5);
        // Only the runs that measured CPU count.
        assert_eq!(m.cpu_us_per_req, Some(20.0));
        assert_eq!(median_run(&[run(1.0, 1.0, None)]).cpu_us_per_req, None);
    }
}
