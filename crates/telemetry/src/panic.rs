//! What a panic means in these services: the end of the process, with a
//! failure status, whatever the build. A service that must never lose a
//! reading cannot carry on with state a panic left half-changed; exiting lets
//! the orchestrator restart it and Kafka redeliver what was not committed.
//!
//! Release builds abort on panic (`panic = "abort"`); debug builds unwind,
//! and tokio would catch a panicking task and let the process run on (a
//! landing task that panicked looked like a normal stop). Each binary's
//! `main` therefore installs [`abort_on_panic`] first, so the behaviour is
//! the same in both; tests that run a service in-process do not, and see
//! the panic through the task's `JoinHandle`.

use std::panic::PanicHookInfo;

/// Installs a panic hook that logs the panic as a JSON line and aborts the
/// process (SIGABRT: a failure status for any supervisor).
pub fn abort_on_panic() {
    std::panic::set_hook(Box::new(|info| {
        log_panic(info);
        std::process::abort();
    }));
}

#[tracing::instrument(skip_all)]
fn log_panic(info: &PanicHookInfo<'_>) {
    let payload = info.payload();
    let message = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    let location = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
    let thread = std::thread::current();
    tracing::error!(panic = message, location, thread = thread.name(), "panic: the process ends");
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt as _;
    use std::process::Command;
    use std::time::Duration;

    use super::*;

    const CHILD: &str = "TELEMETRY_PANIC_TEST_CHILD";
    const NAME: &str = "panic::tests::a_panic_in_a_spawned_task_ends_the_process_with_a_failure";

    /// What a service looks like to a panic: a task spawned on the runtime
    /// (like the landing task) panics while the main task carries on.
    fn child(hook: bool) {
        crate::init_logging(false);
        if hook {
            abort_on_panic();
        }
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let _landing = tokio::spawn(async { panic!("landing exploded") });
            tokio::time::sleep(Duration::from_millis(500)).await;
        });
    }

    #[test]
    fn a_panic_in_a_spawned_task_ends_the_process_with_a_failure() {
        if let Ok(mode) = std::env::var(CHILD) {
            return child(mode == "hook");
        }
        let run = |mode: &str| {
            Command::new(std::env::current_exe().unwrap())
                .args(["--exact", NAME, "--nocapture", "--test-threads", "1"])
                .env(CHILD, mode)
                .output()
                .unwrap()
        };
        let with_hook = run("hook");
        let output = String::from_utf8_lossy(&with_hook.stdout);
        assert_eq!(with_hook.status.signal(), Some(6), "aborted (SIGABRT): {:?}\n{output}", with_hook.status);
        let line = output.lines().find(|l| l.contains("landing exploded")).unwrap_or_else(|| panic!("{output}"));
        // The test harness may have started the line with the test's name.
        let line: serde_json::Value = serde_json::from_str(&line[line.find('{').unwrap_or(0)..]).unwrap();
        assert_eq!((line["level"].as_str(), line["panic"].as_str()), (Some("ERROR"), Some("landing exploded")));
        assert!(line["location"].as_str().is_some_and(|l| l.contains("panic.rs")), "{line}");

        // Without the hook a debug build runs on after the panic and exits 0:
        // the behaviour this hook exists to end.
        let without = run("none");
        assert!(without.status.success(), "{:?}", without.status);
    }
}
