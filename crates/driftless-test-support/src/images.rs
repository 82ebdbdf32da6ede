//! Demo images built locally with `docker build` from scratch plus the host's static
//! busybox, so tests never pull anything from the internet.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context};

use crate::docker_cli::{docker, docker_quiet};

/// Where Debian's busybox-static puts its binary.
const BUSYBOX: &str = "/bin/busybox";

/// ELF program header type of the dynamic loader path; a static binary has none.
const PT_INTERP: u32 = 3;

/// Builds a FROM-scratch image tagged `tag` serving `body` over HTTP on port 8080
/// (`busybox httpd`), with a healthcheck that fetches it; returns the image id.
pub fn build_http_image(tag: &str, body: &str) -> anyhow::Result<String> {
    let dockerfile = r#"FROM scratch
COPY busybox /bin/busybox
COPY www /www
EXPOSE 8080
HEALTHCHECK --interval=1s --timeout=3s --retries=30 CMD ["/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
"#;
    build(tag, dockerfile, Some(body))
}

/// Builds a FROM-scratch image tagged `tag` with no healthcheck whose command prints
/// [`FAILING_IMAGE_MESSAGE`] to stderr and exits with code 1; returns the image id.
pub fn build_failing_image(tag: &str) -> anyhow::Result<String> {
    let dockerfile = format!(
        r#"FROM scratch
COPY busybox /bin/busybox
CMD ["/bin/busybox", "sh", "-c", "echo '{FAILING_IMAGE_MESSAGE}' >&2; exit 1"]
"#
    );
    build(tag, &dockerfile, None)
}

/// Builds a FROM-scratch image tagged `tag` with no healthcheck that runs for
/// `after_s` seconds, then prints [`FAILING_IMAGE_MESSAGE`] to stderr and exits with
/// code 1: a service that looks fine when it starts; returns the image id.
pub fn build_crashing_image(tag: &str, after_s: u64) -> anyhow::Result<String> {
    let dockerfile = format!(
        r#"FROM scratch
COPY busybox /bin/busybox
CMD ["/bin/busybox", "sh", "-c", "echo started; /bin/busybox sleep {after_s}; echo '{FAILING_IMAGE_MESSAGE}' >&2; exit 1"]
"#
    );
    build(tag, &dockerfile, None)
}

/// Builds a FROM-scratch image tagged `tag` holding only busybox, for services whose
/// compose `command` says what they do; returns the image id.
pub fn build_busybox_image(tag: &str) -> anyhow::Result<String> {
    let dockerfile = r#"FROM scratch
COPY busybox /bin/busybox
CMD ["/bin/busybox", "sleep", "3600"]
"#;
    build(tag, dockerfile, None)
}

/// The line a container of [`build_failing_image`] writes before it exits.
pub const FAILING_IMAGE_MESSAGE: &str = "driftless test service failing on purpose";

/// How many times [`with_retries`] tries a build.
const BUILD_ATTEMPTS: usize = 4;

/// Builds an image, retrying: tests running at once build the same bytes, and one
/// test removing its tags can take the legacy builder's cached layer from another.
pub fn with_retries(mut build: impl FnMut() -> anyhow::Result<String>) -> String {
    let mut last = None;
    for _ in 0..BUILD_ATTEMPTS {
        match build() {
            Ok(id) => return id,
            Err(e) => last = Some(e),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    panic!("docker build failed {BUILD_ATTEMPTS} times: {last:?}")
}

/// The local image tags whose reference contains a marker (e.g. `<app>/`), removed on
/// drop. By name only: an image id can be shared with another test that built the
/// same bytes.
pub struct TaggedImages {
    marker: String,
}

impl TaggedImages {
    /// A guard for the tags containing `marker`.
    pub fn containing(marker: &str) -> TaggedImages {
        TaggedImages {
            marker: marker.to_string(),
        }
    }
}

impl Drop for TaggedImages {
    fn drop(&mut self) {
        let listed = docker_quiet(&["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]);
        let refs: Vec<&str> = listed
            .lines()
            .filter(|r| r.contains(&self.marker) && !r.ends_with(":<none>"))
            .collect();
        if !refs.is_empty() {
            let mut args = vec!["rmi"];
            args.extend(refs);
            docker_quiet(&args);
        }
    }
}

/// The host's static busybox, or an error saying how to get it.
pub fn busybox_path() -> anyhow::Result<PathBuf> {
    let path = PathBuf::from(BUSYBOX);
    let hint = "install the busybox-static package (scripts/test does)";
    let bytes = fs::read(&path).with_context(|| format!("cannot read {BUSYBOX}; {hint}"))?;
    match is_static_elf(&bytes) {
        Some(true) => Ok(path),
        Some(false) => {
            bail!("{BUSYBOX} is dynamically linked and cannot run in a FROM scratch image; {hint}")
        }
        None => bail!("{BUSYBOX} is not an ELF executable; {hint}"),
    }
}

/// Whether `elf` is an ELF file without a `PT_INTERP` header (`None`: not ELF).
fn is_static_elf(elf: &[u8]) -> Option<bool> {
    if elf.get(..4)? != b"\x7fELF" {
        return None;
    }
    let wide = match elf.get(4)? {
        1 => false,
        2 => true,
        _ => return None,
    };
    let little = *elf.get(5)? == 1;
    let read = |at: usize, len: usize| -> Option<u64> {
        let raw = elf.get(at..at + len)?;
        let mut buf = [0u8; 8];
        if little {
            buf[..len].copy_from_slice(raw);
            Some(u64::from_le_bytes(buf))
        } else {
            buf[8 - len..].copy_from_slice(raw);
            Some(u64::from_be_bytes(buf))
        }
    };
    let (phoff, phentsize, phnum) = if wide {
        (read(0x20, 8)?, read(0x36, 2)?, read(0x38, 2)?)
    } else {
        (read(0x1c, 4)?, read(0x2a, 2)?, read(0x2c, 2)?)
    };
    for i in 0..phnum {
        let header = usize::try_from(phoff + i * phentsize).ok()?;
        if read(header, 4)? == u64::from(PT_INTERP) {
            return Some(false);
        }
    }
    Some(true)
}

/// Runs `docker build -t tag` on a temp context holding busybox, `dockerfile` and,
/// when given, `www/index.html`; returns the built image's id.
fn build(tag: &str, dockerfile: &str, index_html: Option<&str>) -> anyhow::Result<String> {
    let busybox = busybox_path()?;
    let context = tempfile::tempdir().context("cannot create a docker build context")?;
    let dir = context.path();
    fs::copy(&busybox, dir.join("busybox"))
        .context("cannot copy busybox into the build context")?;
    fs::write(dir.join("Dockerfile"), dockerfile)?;
    if let Some(body) = index_html {
        fs::create_dir(dir.join("www"))?;
        fs::write(dir.join("www/index.html"), body)?;
    }
    docker(
        &["build", "-q", "-t", tag, &path_arg(dir)?],
        &format!("build image {tag}"),
    )?;
    let id = docker(
        &["image", "inspect", "--format", "{{.Id}}", tag],
        &format!("inspect image {tag}"),
    )?;
    ensure!(
        id.starts_with("sha256:"),
        "docker reported an odd id for {tag}: {id}"
    );
    Ok(id)
}

/// Builds an image like [`build_http_image`] with one more layer: `payload_bytes` of
/// random bytes (which no compression shrinks), so pulling it takes as long as its
/// size says; returns the image id.
pub fn build_http_image_with_payload(
    tag: &str,
    body: &str,
    payload_bytes: usize,
) -> anyhow::Result<String> {
    let context = tempfile::tempdir().context("cannot create a docker build context")?;
    let dir = context.path();
    let mut random = vec![0u8; payload_bytes];
    fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut random))
        .context("cannot read /dev/urandom")?;
    fs::write(dir.join("payload"), random).context("cannot write the payload")?;
    let dockerfile = r#"FROM scratch
COPY busybox /bin/busybox
COPY www /www
COPY payload /payload
EXPOSE 8080
HEALTHCHECK --interval=1s --timeout=3s --retries=30 CMD ["/bin/busybox", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:8080/"]
CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
"#;
    fs::copy(busybox_path()?, dir.join("busybox"))
        .context("cannot copy busybox into the build context")?;
    fs::write(dir.join("Dockerfile"), dockerfile)?;
    fs::create_dir(dir.join("www"))?;
    fs::write(dir.join("www/index.html"), body)?;
    docker(
        &["build", "-q", "-t", tag, &path_arg(dir)?],
        &format!("build image {tag}"),
    )?;
    docker(
        &["image", "inspect", "--format", "{{.Id}}", tag],
        &format!("inspect image {tag}"),
    )
}

fn path_arg(path: &Path) -> anyhow::Result<String> {
    path.to_str()
        .map(str::to_owned)
        .with_context(|| format!("temp dir {} is not UTF-8", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_busybox_is_static() {
        let path = busybox_path().expect("busybox-static must be installed");
        assert_eq!(path, PathBuf::from("/bin/busybox"));
    }

    #[test]
    fn dynamic_binary_is_detected() {
        // The test binary itself is dynamically linked against libc on Debian.
        let me = fs::read(std::env::current_exe().expect("own path")).expect("read self");
        assert_eq!(is_static_elf(&me), Some(false));
        assert_eq!(is_static_elf(b"#!/bin/sh\n"), None);
    }
}
