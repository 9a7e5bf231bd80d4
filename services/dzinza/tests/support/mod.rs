//! Runs the real `dzinza` binary as a child process for end-to-end tests.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support: a failed setup step should panic"
)]

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::body::Body;
use http_body_util::BodyExt;

/// A running `dzinza` process, terminated on drop.
pub struct Dzinza {
    pub child: Child,
    pub addr: SocketAddr,
    pub data_dir: tempfile::TempDir,
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

impl Dzinza {
    /// Starts `dzinza serve` with `args` and `env`, and waits until `/healthz` answers.
    pub async fn start(args: &[&str], env: &[(&str, String)]) -> Self {
        Self::start_in(tempfile::tempdir().unwrap(), args, env).await
    }

    /// Like [`Dzinza::start`], in a data directory the test prepared first (e.g. with users).
    pub async fn start_in(
        data_dir: tempfile::TempDir,
        args: &[&str],
        env: &[(&str, String)],
    ) -> Self {
        let addr = free_port();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dzinza"));
        cmd.arg("serve")
            .args(args)
            .env("DZINZA_LISTEN", addr.to_string())
            .env("DZINZA_DATA_DIR", data_dir.path())
            .env("DZINZA_LOG_LEVEL", "warn")
            .env("DZINZA_LOG_FORMAT", "json")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap();
        let d = Self {
            child,
            addr,
            data_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = dzinza_kit::http_client::build(Duration::from_millis(200));
        loop {
            let req = http::Request::get(d.url("/healthz"))
                .body(Body::empty())
                .unwrap();
            if let Ok(r) = client.request(req).await
                && r.status() == 200
            {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "dzinza did not start within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Sends a JSON request (with a bearer token unless `token` is empty) and returns the
    /// status and the JSON body (`Null` when the body is not JSON).
    pub async fn call(
        &self,
        method: http::Method,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> (http::StatusCode, serde_json::Value) {
        let client = dzinza_kit::http_client::build(Duration::from_secs(5));
        let mut req = http::Request::builder().method(method).uri(self.url(path));
        if !token.is_empty() {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let req = match body {
            Some(b) => req
                .header("content-type", "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        }
        .unwrap();
        let resp = client.request(req).await.unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
        )
    }

    /// Peak resident memory of the process so far, in bytes (Linux `VmHWM`).
    pub fn peak_rss(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap();
        kb * 1024
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "dzinza did not stop within 30 s");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Dzinza {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// GET returning status and body text.
pub async fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let client = dzinza_kit::http_client::build(Duration::from_secs(2));
    let mut b = http::Request::get(url);
    if let Some(t) = token {
        b = b.header("authorization", format!("Bearer {t}"));
    }
    let r = client
        .request(b.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Serves `router` on a loopback port for the rest of the test.
pub async fn spawn(router: axum::Router) -> SocketAddr {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(l, router).await });
    addr
}
