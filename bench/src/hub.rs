//! The hub child process, and what it (and the machine) consume while it runs, from `/proc`.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};

/// The hub child process: killed (by its own handle) and reaped on drop, on every exit path.
pub struct Hub {
    child: Child,
    pub addr: SocketAddr,
    log_path: PathBuf,
}

impl Hub {
    pub fn start(
        binary: &Path,
        database_url: &str,
        work_dir: &Path,
        extra_env: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let log_path = work_dir.join("hub-stderr.log");
        let log = std::fs::File::create(&log_path)?;
        let mut child = Command::new(binary)
            .envs(extra_env.iter().copied())
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env("DATABASE_URL", database_url)
            .env("TOKENHUB_LOG__LEVEL", "warn")
            // A PostgreSQL hub needs a master key; the run's hub lives no longer than its database.
            .env(
                "TOKENHUB_SECRETS__KEY",
                format!(
                    "{}{}",
                    uuid::Uuid::new_v4().simple(),
                    uuid::Uuid::new_v4().simple()
                ),
            )
            .env(
                "TOKENHUB_DATABASE__POOL_SIZE",
                std::env::var("BENCH_POOL_SIZE").unwrap_or_else(|_| "16".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let stdout = child.stdout.take().expect("stdout is piped");
        // From here on the guard owns the child, so an error below still kills it.
        let mut hub = Hub {
            child,
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            log_path,
        };
        let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
        std::thread::spawn(move || {
            // Keeps draining stdout for the hub's whole life so that it never blocks on a pipe.
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = lines_tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        const PREFIX: &str = "tokenhub listening on http://127.0.0.1:";
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = line.trim().strip_prefix(PREFIX) {
                        let port: u16 = port
                            .trim_end_matches('/')
                            .parse()
                            .with_context(|| format!("unexpected hub line: {line}"))?;
                        hub.addr = SocketAddr::from(([127, 0, 0, 1], port));
                        return Ok(hub);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    bail!(
                        "the hub did not report its port within 60 s; its log:\n{}",
                        hub.log_tail()
                    )
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    let status = hub.child.wait()?;
                    bail!(
                        "the hub exited ({status}) before listening; its log:\n{}",
                        hub.log_tail()
                    )
                }
            }
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last lines of the hub's stderr.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    pub fn log_line_count(&self) -> usize {
        std::fs::read_to_string(&self.log_path)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of a process, in MB (from `/proc/<pid>/status`).
pub fn rss_mb(pid: u32) -> anyhow::Result<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("cannot read /proc/{pid}/status"))?;
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow!("no VmRSS in /proc/{pid}/status"))?;
    Ok(kb / 1024.0)
}

/// CPU time counters, to show how the two cores were shared during a phase.
pub struct CpuSnapshot {
    at: Instant,
    hub_ticks: u64,
    bench_ticks: u64,
    /// Busy and total ticks of the whole machine (`/proc/stat`, all cores).
    machine_busy: u64,
    machine_total: u64,
}

/// Clock ticks per second of `/proc` counters (USER_HZ, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// utime + stime of a process, in clock ticks.
fn process_ticks(pid: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            // Fields after the command name, which is in parentheses and may contain spaces.
            let rest = &stat[stat.rfind(')')? + 1..];
            let fields: Vec<&str> = rest.split_whitespace().collect();
            Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

impl CpuSnapshot {
    pub fn take(hub_pid: u32) -> Self {
        let (machine_busy, machine_total) = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|stat| {
                let line = stat.lines().next()?.strip_prefix("cpu ")?.to_owned();
                let v: Vec<u64> = line
                    .split_whitespace()
                    .take(8)
                    .filter_map(|f| f.parse().ok())
                    .collect();
                let total: u64 = v.iter().sum();
                // idle and iowait
                let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
                Some((total - idle, total))
            })
            .unwrap_or((0, 0));
        Self {
            at: Instant::now(),
            hub_ticks: process_ticks(&hub_pid.to_string()),
            bench_ticks: process_ticks("self"),
            machine_busy,
            machine_total,
        }
    }

    /// "hub 1.2 cores, bench 0.6, everything else 0.1 (machine 95% busy)" since `self`.
    pub fn usage_since(&self, hub_pid: u32) -> String {
        let now = CpuSnapshot::take(hub_pid);
        let secs = now.at.duration_since(self.at).as_secs_f64().max(1e-9);
        let cores = |ticks: u64| ticks as f64 / USER_HZ / secs;
        let hub = now.hub_ticks.saturating_sub(self.hub_ticks);
        let bench = now.bench_ticks.saturating_sub(self.bench_ticks);
        let busy = now.machine_busy.saturating_sub(self.machine_busy);
        let total = now.machine_total.saturating_sub(self.machine_total).max(1);
        format!(
            "hub {:.2} cores, bench {:.2} cores, everything else (database server, other \
             processes) {:.2} cores; machine {:.0}% busy over {} cores",
            cores(hub),
            cores(bench),
            cores(busy.saturating_sub(hub + bench)),
            busy as f64 * 100.0 / total as f64,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        )
    }
}
