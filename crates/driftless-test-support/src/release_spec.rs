//! The test app's releases: two services, `web` and `api`, each a FROM-scratch image
//! serving `<service> <version>`, and a compose file declaring what the customer may
//! configure. A [`Spec`] says how one release differs.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::images::{build_crashing_image, build_failing_image, build_http_image, with_retries};

/// The two services every test app has.
pub const SERVICES: [&str; 2] = ["web", "api"];

/// How a release's compose file and images are made.
#[derive(Clone, Copy, Debug, Default)]
pub struct Spec {
    /// Publish web and api on the world's host ports (config values WEB_PORT/API_PORT).
    pub ports: bool,
    /// `x-driftless.health.timeout_s`, with a probe of web when `ports` is set.
    pub health_timeout_s: Option<u64>,
    /// web's image exits 1 at once (never healthy).
    pub failing_web: bool,
    /// web's image has no healthcheck and exits 1 this many seconds after it starts.
    pub crashing_web_after_s: Option<u64>,
    /// Each service serves `<service> <version> of <app>`: image bytes no other test
    /// builds, so a host without them must pull them.
    pub unique_images: bool,
    /// api's environment has `MAX_USERS` from the license's `max_users` entitlement.
    pub entitlement_env: bool,
}

impl Spec {
    /// Both services published on the world's host ports.
    pub const PORTS: Spec = Spec {
        ports: true,
        health_timeout_s: None,
        failing_web: false,
        crashing_web_after_s: None,
        unique_images: false,
        entitlement_env: false,
    };
}

/// The host ports a release with [`Spec::ports`] publishes web and api on by default.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    /// web's port.
    pub web: u16,
    /// api's port.
    pub api: u16,
}

/// What `service` of `app` at `version` serves.
pub fn served_body(app: &str, service: &str, version: &str, spec: Spec) -> String {
    if spec.unique_images {
        format!("{service} {version} of {app}")
    } else {
        format!("{service} {version}")
    }
}

/// Builds the images of `app` at `version`, tagged `<app>/<service>:<version>`, and
/// writes its compose file into `dir`; returns the file.
pub fn write_release(
    dir: &Path,
    app: &str,
    version: &str,
    spec: Spec,
    ports: Ports,
) -> anyhow::Result<PathBuf> {
    for service in SERVICES {
        let tag = format!("{app}/{service}:{version}");
        if spec.failing_web && service == "web" {
            with_retries(|| build_failing_image(&tag));
        } else if let (Some(after_s), "web") = (spec.crashing_web_after_s, service) {
            with_retries(|| build_crashing_image(&tag, after_s));
        } else {
            let body = served_body(app, service, version, spec);
            with_retries(|| build_http_image(&tag, &body));
        }
    }
    let path = dir.join(format!("{app}-{version}.yaml"));
    std::fs::write(&path, compose_file(app, version, spec, ports))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// The compose file of `app` at `version`, its images tagged `<app>/<service>:<version>`.
pub fn compose_file(app: &str, version: &str, spec: Spec, ports: Ports) -> String {
    let mut services = String::new();
    for (service, port_var) in SERVICES.iter().zip(["WEB_PORT", "API_PORT"]) {
        services.push_str(&format!(
            "  {service}:\n    image: {app}/{service}:{version}\n    network_mode: bridge\n    environment:\n      GREETING: ${{GREETING}}\n"
        ));
        if spec.entitlement_env && *service == "api" {
            services.push_str("      MAX_USERS: ${DRIFTLESS_ENTITLEMENT_MAX_USERS:-none}\n");
        }
        if spec.ports {
            services.push_str(&format!(
                "    ports:\n      - \"127.0.0.1:${{{port_var}}}:8080\"\n"
            ));
        }
    }
    let mut ext = String::from(
        "x-driftless:\n  config:\n    - name: GREETING\n      type: string\n      default: Hello\n",
    );
    if spec.ports {
        ext.push_str(&format!(
            "    - name: WEB_PORT\n      type: port\n      default: \"{}\"\n    - name: API_PORT\n      type: port\n      default: \"{}\"\n",
            ports.web, ports.api
        ));
    }
    if let Some(t) = spec.health_timeout_s {
        ext.push_str(&format!("  health:\n    timeout_s: {t}\n"));
        if spec.ports {
            ext.push_str(
                "    probe:\n      url: \"http://127.0.0.1:${WEB_PORT}/\"\n      status: 200\n",
            );
        }
    }
    format!("{ext}services:\n{services}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_a_probe_are_declared_only_when_asked_for() {
        let ports = Ports {
            web: 1111,
            api: 2222,
        };
        let plain = compose_file("acme", "1.0.0", Spec::default(), ports);
        assert!(plain.contains("image: acme/web:1.0.0"), "{plain}");
        assert!(!plain.contains("WEB_PORT"), "{plain}");
        let spec = Spec {
            health_timeout_s: Some(15),
            ..Spec::PORTS
        };
        let full = compose_file("acme", "1.0.0", spec, ports);
        assert!(full.contains("default: \"1111\""), "{full}");
        assert!(full.contains("\"127.0.0.1:${API_PORT}:8080\""), "{full}");
        assert!(full.contains("timeout_s: 15\n    probe:"), "{full}");
    }
}
