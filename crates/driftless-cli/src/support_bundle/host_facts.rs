//! The engine and host facts a support bundle carries: versions, CPUs, memory and free
//! disk. Each is picked field by field (nothing is copied whole, so an engine's proxy
//! settings or registry credentials never reach the bundle), and a fact that cannot
//! be read is left out with the reason.

use std::fs;
use std::path::Path;

use driftless_runtime::{free_bytes, DockerRuntime};
use serde_json::{json, Value};

/// The engine's and the host's facts, as JSON.
pub async fn collect(runtime: Option<&DockerRuntime>, state_dir: &Path) -> Value {
    json!({
        "engine": match runtime {
            Some(rt) => engine(rt).await,
            None => json!({ "error": "the Docker Engine did not answer" }),
        },
        "compose_tool": match runtime {
            Some(rt) => rt.compose_tool().await.map_or_else(
                |e| json!({ "error": e.to_string() }),
                |t| json!(t.command()),
            ),
            None => Value::Null,
        },
        "host": host(state_dir),
    })
}

async fn engine(rt: &DockerRuntime) -> Value {
    let version = match rt.engine().version().await {
        Ok(v) => json!({
            "version": v.version,
            "api_version": v.api_version,
            "os": v.os,
            "arch": v.arch,
            "kernel_version": v.kernel_version,
        }),
        Err(e) => json!({ "error": e.to_string() }),
    };
    let info = match rt.engine().info().await {
        Ok(i) => {
            let root = i.docker_root_dir.clone();
            // Measured here only when the engine shares this host (the runtime's rule).
            let root_free = root
                .as_deref()
                .and_then(|r| free_bytes(Path::new(r), i.name.as_deref()));
            json!({
                "operating_system": i.operating_system,
                "storage_driver": i.driver,
                "cpus": i.ncpu,
                "memory_bytes": i.mem_total,
                "root_dir": root,
                "root_dir_free_bytes": root_free,
                "containers": i.containers,
                "images": i.images,
            })
        }
        Err(e) => json!({ "error": e.to_string() }),
    };
    json!({ "version": version, "info": info })
}

fn host(state_dir: &Path) -> Value {
    let meminfo = fs::read_to_string("/proc/meminfo").unwrap_or_default();
    json!({
        "os": os_name(),
        "kernel": fs::read_to_string("/proc/sys/kernel/osrelease").ok().map(|s| s.trim().to_string()),
        "cpus": std::thread::available_parallelism().ok().map(|n| n.get()),
        "memory_total_bytes": meminfo_bytes(&meminfo, "MemTotal"),
        "memory_available_bytes": meminfo_bytes(&meminfo, "MemAvailable"),
        "load_average": fs::read_to_string("/proc/loadavg").ok().map(|s| s.trim().to_string()),
        "state_dir_free_bytes": free_bytes(state_dir, None),
        "time": crate::now(),
    })
}

fn os_name() -> Option<String> {
    let text = fs::read_to_string("/etc/os-release").ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"').to_string())
}

/// A `/proc/meminfo` field (in kB there) in bytes.
fn meminfo_bytes(meminfo: &str, field: &str) -> Option<u64> {
    let line = meminfo
        .lines()
        .find(|l| l.split(':').next().is_some_and(|name| name.trim() == field))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kb.checked_mul(1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_fields_are_read_in_bytes() {
        let text = "MemTotal:        2048 kB\nMemFree: 10 kB\nMemAvailable:    1024 kB\n";
        assert_eq!(meminfo_bytes(text, "MemTotal"), Some(2048 * 1024));
        assert_eq!(meminfo_bytes(text, "MemAvailable"), Some(1024 * 1024));
        assert_eq!(meminfo_bytes(text, "Swap"), None);
    }
}
