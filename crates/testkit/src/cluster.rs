//! A private PostgreSQL cluster for tests that stop and start the server
//! (the shared cluster of `make test` must stay up for everyone else). Uses
//! the binaries `scripts/with-postgres.sh` found (`PG_BIN`).

use std::path::{Path, PathBuf};
use std::process::Command;

pub struct PrivateCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub port: u16,
    pub url: String,
}

fn pg_bin() -> PathBuf {
    if let Ok(bin) = std::env::var("PG_BIN") {
        return bin.into();
    }
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .ok()
        .and_then(|versions| versions.flatten().map(|v| v.path().join("bin")).find(|b| b.join("initdb").exists()));
    found.unwrap_or_else(|| panic!("no PostgreSQL binaries: run the tests with `make test`"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("free port")
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (the
/// server refuses to run as root).
fn run(bin: &Path, tool: &str, args: &[&str]) {
    let program = bin.join(tool);
    let mut command = if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(&program);
        c
    } else {
        Command::new(&program)
    };
    let output = command.args(args).output().unwrap_or_else(|e| panic!("{tool}: {e}"));
    assert!(
        output.status.success(),
        "{tool} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

impl PrivateCluster {
    /// initdb into a temporary directory and start on a free loopback port.
    pub fn start() -> PrivateCluster {
        let dir = tempfile::Builder::new().prefix("icu-private-pg").tempdir().expect("temp dir");
        if is_root() {
            let status = Command::new("chown").arg("postgres").arg(dir.path()).status().expect("chown");
            assert!(status.success(), "chown postgres {}", dir.path().display());
        }
        let bin = pg_bin();
        let data = dir.path().join("data");
        run(&bin, "initdb", &["-D", path(&data), "-A", "trust", "-U", "postgres", "--no-sync"]);
        let port = free_port();
        let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
        let cluster = PrivateCluster { dir, bin, port, url };
        cluster.up();
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn up(&self) {
        let log = self.dir.path().join("log");
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {}", self.port, self.dir.path().display());
        run(&self.bin, "pg_ctl", &["-D", path(&self.data()), "-w", "-l", path(&log), "-o", &options, "start"]);
    }

    /// Stops the server the way an orchestrator would (fast: connections are
    /// cut, in-flight transactions roll back).
    pub fn down(&self) {
        run(&self.bin, "pg_ctl", &["-D", path(&self.data()), "-w", "-m", "fast", "stop"]);
    }
}

impl Drop for PrivateCluster {
    fn drop(&mut self) {
        let data = self.data();
        // Best effort: an immediate stop so the temp dir can go.
        let program = self.bin.join("pg_ctl");
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            Command::new(&program)
        };
        let _ = command.args(["-D", path(&data), "-m", "immediate", "stop"]).output();
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}
