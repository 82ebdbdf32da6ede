//! `x-driftless.preflight`: what a release needs of a host (cores, memory, disk, engine
//! and compose versions, reachable endpoints), and the host ports its services publish,
//! read from the file so a host can check them before anything is pulled.

use std::collections::BTreeSet;

use driftless_wire::preflight::{Endpoint, Preflight, PublishedPort, BUILTIN_CHECKS};
use serde::Deserialize;
use serde_norway::Value;

use crate::interpolation;
use crate::schema::EXTENSION_KEY;
use crate::{ComposeFile, DescriptorError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPreflight {
    #[serde(default)]
    cpu_cores: Option<u64>,
    #[serde(default)]
    memory_mb: Option<u64>,
    #[serde(default)]
    disk_free_mb: Option<u64>,
    #[serde(default)]
    docker_api: Option<String>,
    #[serde(default)]
    compose: Option<String>,
    #[serde(default = "yes")]
    ports: bool,
    #[serde(default)]
    endpoints: Vec<RawEndpoint>,
    #[serde(default)]
    warn_only: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEndpoint {
    name: String,
    #[serde(default)]
    tcp: Option<String>,
    #[serde(default)]
    http: Option<String>,
    #[serde(default)]
    status: Option<u16>,
}

fn invalid(reason: String) -> DescriptorError {
    DescriptorError::InvalidSchema { reason, hint: None }
}

impl ComposeFile {
    /// The checks declared under `x-driftless.preflight`, with the host ports the
    /// services publish (unless `ports: false`); empty when the file declares none.
    pub fn preflight(&self) -> Result<Preflight, DescriptorError> {
        let raw = self
            .root()
            .get(EXTENSION_KEY)
            .and_then(|ext| ext.get("preflight"))
            .filter(|p| !p.is_null());
        let Some(raw) = raw else {
            return Ok(Preflight::default());
        };
        let raw: RawPreflight =
            serde_norway::from_value(raw.clone()).map_err(|e| DescriptorError::InvalidSchema {
                reason: format!("preflight: {e}"),
                hint: Some(PREFLIGHT_SHAPE),
            })?;
        let declared: BTreeSet<String> =
            self.config_schema()?.into_iter().map(|v| v.name).collect();
        let endpoints = raw
            .endpoints
            .into_iter()
            .map(|e| endpoint(e, &declared))
            .collect::<Result<Vec<_>, _>>()?;
        let preflight = Preflight {
            cpu_cores: at_least_one("cpu_cores", raw.cpu_cores)?,
            memory_mb: at_least_one("memory_mb", raw.memory_mb)?,
            disk_free_mb: at_least_one("disk_free_mb", raw.disk_free_mb)?,
            docker_api: version("docker_api", raw.docker_api, 2)?,
            compose: version("compose", raw.compose, 3)?,
            ports: if raw.ports {
                self.published_ports()?
            } else {
                Vec::new()
            },
            endpoints,
            warn_only: raw.warn_only,
        };
        check_names(&preflight)?;
        Ok(preflight)
    }

    /// Every host port a service publishes (short or long syntax); a container-only
    /// port (`"8080"`) publishes none the host chooses, so it is left out.
    fn published_ports(&self) -> Result<Vec<PublishedPort>, DescriptorError> {
        let mut out = Vec::new();
        let Some(services) = self.root().get("services").and_then(Value::as_mapping) else {
            return Ok(out);
        };
        for (name, service) in services {
            let Some(service_name) = name.as_str() else {
                continue;
            };
            let Some(ports) = service.get("ports").and_then(Value::as_sequence) else {
                continue;
            };
            for entry in ports {
                if let Some(p) = published(service_name, entry)? {
                    out.push(p);
                }
            }
        }
        Ok(out)
    }
}

/// How `x-driftless.preflight` is written.
const PREFLIGHT_SHAPE: &str = "write it as `preflight: {cpu_cores: 2, memory_mb: 2048, disk_free_mb: 10240, docker_api: \"1.41\", compose: \"1.29.0\", ports: true, endpoints: [{name: database, tcp: \"${DB_HOST}:5432\"}, {name: api, http: \"https://...\", status: 200}], warn_only: [memory_mb]}`";

fn at_least_one(what: &str, value: Option<u64>) -> Result<Option<u64>, DescriptorError> {
    if value == Some(0) {
        return Err(invalid(format!("preflight.{what} must be at least 1")));
    }
    Ok(value)
}

/// A dotted version of at most `parts` numbers (`1.41`, `1.29.0`).
fn version(
    what: &str,
    value: Option<String>,
    parts: usize,
) -> Result<Option<String>, DescriptorError> {
    let Some(v) = value else {
        return Ok(None);
    };
    let numbers: Vec<&str> = v.split('.').collect();
    let numeric = numbers
        .iter()
        .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) && n.len() <= 6);
    if !numeric || numbers.len() > parts {
        return Err(invalid(format!(
            "preflight.{what} `{v}` must be a version of up to {parts} numbers, like `{}`",
            if parts == 2 { "1.41" } else { "1.29.0" }
        )));
    }
    Ok(Some(v))
}

fn endpoint(raw: RawEndpoint, declared: &BTreeSet<String>) -> Result<Endpoint, DescriptorError> {
    let name = raw.name;
    let valid = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if !valid || BUILTIN_CHECKS.contains(&name.as_str()) {
        return Err(invalid(format!(
            "preflight.endpoints: name `{name}` must be lowercase letters, digits, '-' or '_', and not one of {}",
            BUILTIN_CHECKS.join(", ")
        )));
    }
    let target = match (&raw.tcp, &raw.http) {
        // `${DB_ADDR}` may hold both parts; the host checks what it resolves to.
        (Some(t), None)
            if t.contains('$')
                || t.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && !p.is_empty()) =>
        {
            t
        }
        (None, Some(u)) if u.starts_with("http://") || u.starts_with("https://") => u,
        _ => {
            return Err(invalid(format!(
                "preflight.endpoints `{name}`: give exactly one of `tcp: host:port` or `http: http(s)://…`"
            )))
        }
    };
    if raw.status.is_some_and(|s| !(100..600).contains(&s))
        || (raw.status.is_some() && raw.tcp.is_some())
    {
        return Err(invalid(format!(
            "preflight.endpoints `{name}`: status must be a valid HTTP status, and only for an http check"
        )));
    }
    let mut names = Vec::new();
    interpolation::scan(target, &mut names).map_err(|m| {
        invalid(format!(
            "preflight.endpoints `{name}`: invalid interpolation `{}`",
            m.text
        ))
    })?;
    if let Some(unknown) = names.iter().find(|n| !declared.contains(*n)) {
        return Err(invalid(format!(
            "preflight.endpoints `{name}` uses `${{{unknown}}}`, which x-driftless.config does not declare"
        )));
    }
    Ok(Endpoint {
        name,
        tcp: raw.tcp,
        http: raw.http,
        status: raw.status,
    })
}

/// Endpoint names are unique, and `warn_only` names only checks that exist.
fn check_names(p: &Preflight) -> Result<(), DescriptorError> {
    let mut seen = BTreeSet::new();
    for e in &p.endpoints {
        if !seen.insert(e.name.as_str()) {
            return Err(invalid(format!(
                "preflight.endpoints: `{}` is listed twice",
                e.name
            )));
        }
    }
    for w in &p.warn_only {
        if !BUILTIN_CHECKS.contains(&w.as_str()) && !seen.contains(w.as_str()) {
            return Err(invalid(format!(
                "preflight.warn_only: `{w}` is no check; name one of {} or an endpoint",
                BUILTIN_CHECKS.join(", ")
            )));
        }
    }
    Ok(())
}

/// The host side of one `ports:` entry, if it publishes a host port.
fn published(service: &str, entry: &Value) -> Result<Option<PublishedPort>, DescriptorError> {
    let port = |host_ip: Option<String>, host_port: String, protocol: &str| PublishedPort {
        service: service.to_string(),
        host_ip: host_ip.filter(|ip| !ip.is_empty()),
        host_port,
        protocol: protocol.to_string(),
    };
    match entry {
        Value::Number(_) => Ok(None),
        Value::String(s) => {
            let (spec, protocol) = s.rsplit_once('/').unwrap_or((s, "tcp"));
            let parts = split_outside_braces(spec);
            match parts.as_slice() {
                [_container] => Ok(None),
                [host, _container] => Ok(Some(port(None, host.clone(), protocol))),
                [ip @ .., host, _container] => {
                    Ok(Some(port(Some(ip.join(":")), host.clone(), protocol)))
                }
                [] => Err(invalid(format!(
                    "service `{service}` publishes an empty port"
                ))),
            }
        }
        Value::Mapping(m) => {
            let text = |k: &str| match m.get(k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            };
            let protocol = text("protocol").unwrap_or_else(|| "tcp".into());
            Ok(text("published").map(|p| port(text("host_ip"), p, &protocol)))
        }
        _ => Err(invalid(format!(
            "service `{service}` has a `ports` entry that is neither a string, a number nor a mapping"
        ))),
    }
}

/// Splits `a:${B:-1}:c` on the colons outside `${…}`.
fn split_outside_braces(s: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut depth = 0usize;
    let mut prev = '\0';
    for c in s.chars() {
        match c {
            '{' if prev == '$' => depth += 1,
            '}' if depth > 0 => depth -= 1,
            _ => {}
        }
        match (c, depth, parts.last_mut()) {
            (':', 0, _) => parts.push(String::new()),
            (_, _, Some(last)) => last.push(c),
            (_, _, None) => {}
        }
        prev = c;
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "services:\n  web:\n    image: a/web:1\n    ports:\n      - \"127.0.0.1:${WEB_PORT:-8080}:80\"\n      - \"9000:90/udp\"\n      - \"7000\"\n      - {target: 80, published: 8443, host_ip: 0.0.0.0}\n  api:\n    image: a/api:1\nx-driftless:\n  config:\n    - {name: WEB_PORT, type: port, default: \"8080\"}\n    - {name: DB_HOST, type: string, default: db}\n";

    fn parse(preflight: &str) -> Result<Preflight, DescriptorError> {
        let yaml = format!("{BASE}  preflight:\n{preflight}");
        ComposeFile::parse(yaml.as_bytes())?.preflight()
    }

    #[test]
    fn checks_and_published_ports_are_read() {
        let p = parse("    cpu_cores: 2\n    memory_mb: 512\n    docker_api: \"1.41\"\n    compose: \"1.29.0\"\n    endpoints:\n      - {name: database, tcp: \"${DB_HOST}:5432\"}\n    warn_only: [memory_mb]\n")
            .unwrap_or_default();
        assert_eq!(p.cpu_cores, Some(2));
        assert_eq!(p.docker_api.as_deref(), Some("1.41"));
        assert_eq!(p.endpoints.len(), 1);
        let ports: Vec<(Option<&str>, &str, &str)> = p
            .ports
            .iter()
            .map(|p| {
                (
                    p.host_ip.as_deref(),
                    p.host_port.as_str(),
                    p.protocol.as_str(),
                )
            })
            .collect();
        assert_eq!(
            ports,
            vec![
                (Some("127.0.0.1"), "${WEB_PORT:-8080}", "tcp"),
                (None, "9000", "udp"),
                (Some("0.0.0.0"), "8443", "tcp"),
            ]
        );
    }

    #[test]
    fn a_file_without_preflight_checks_nothing() {
        let file = ComposeFile::parse(BASE.as_bytes()).map(|f| f.preflight());
        assert!(matches!(file, Ok(Ok(p)) if p.is_empty()));
        assert!(parse("    ports: false\n").is_ok_and(|p| p.is_empty()));
    }

    #[test]
    fn mistakes_are_refused_naming_what() {
        for (body, want) in [
            ("    memory: 512\n", "unknown field `memory`"),
            ("    cpu_cores: 0\n", "cpu_cores must be at least 1"),
            ("    docker_api: \"v1.41\"\n", "docker_api `v1.41`"),
            ("    compose: \"1.2.3.4\"\n", "compose `1.2.3.4`"),
            ("    endpoints:\n      - {name: db, tcp: \"${NOPE}:1\"}\n", "`${NOPE}`, which x-driftless.config does not declare"),
            ("    endpoints:\n      - {name: db, tcp: \"x:1\", http: \"http://x\"}\n", "exactly one of"),
            ("    endpoints:\n      - {name: db, http: \"ftp://x\"}\n", "exactly one of"),
            ("    endpoints:\n      - {name: db, tcp: \"db\"}\n", "exactly one of"),
            ("    endpoints:\n      - {name: memory_mb, tcp: \"x:1\"}\n", "name `memory_mb`"),
            ("    endpoints:\n      - {name: Db, tcp: \"x:1\"}\n", "name `Db`"),
            ("    endpoints:\n      - {name: db, tcp: \"x:1\"}\n      - {name: db, tcp: \"y:1\"}\n", "`db` is listed twice"),
            ("    endpoints:\n      - {name: db, tcp: \"x:1\", status: 200}\n", "only for an http check"),
            ("    warn_only: [speed]\n", "`speed` is no check"),
        ] {
            let err = parse(body).err().map(|e| e.to_string()).unwrap_or_default();
            assert!(err.contains(want), "{body}: {err}");
            assert!(!err.contains('\n'), "{err}");
        }
    }
}
