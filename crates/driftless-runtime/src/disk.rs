//! Free space on the engine's data root, when that directory is on this host.

use std::path::Path;

/// Free bytes (available to unprivileged writers) on the filesystem holding
/// `docker_root_dir`, or `None` when that directory is not this host's.
///
/// `engine_hostname` guards against an engine in a VM or another machine whose root dir
/// happens to exist here too (e.g. Docker Desktop): the engine reports its own hostname,
/// which matches ours only when it shares this host's kernel.
pub fn free_bytes(docker_root_dir: &Path, engine_hostname: Option<&str>) -> Option<u64> {
    let ours = rustix::system::uname();
    let ours = ours.nodename().to_string_lossy();
    if engine_hostname.is_some_and(|name| name != ours) {
        return None;
    }
    let stat = rustix::fs::statvfs(docker_root_dir).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn another_hosts_engine_gives_no_answer() {
        assert_eq!(
            free_bytes(Path::new("/"), Some("surely-not-this-host-0")),
            None
        );
    }

    #[test]
    fn a_local_directory_has_free_space() {
        let free = free_bytes(Path::new("/"), None);
        assert!(free.is_some_and(|b| b > 0), "{free:?}");
    }
}
