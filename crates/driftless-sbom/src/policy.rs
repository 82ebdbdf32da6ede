//! A channel's promotion gate: which licences may ship, the highest advisory severity
//! allowed, whether every service needs an SBOM, and how old the OSV data may be.
//! [`evaluate`] is a pure function of the policy, the release's SBOMs, the data set
//! and the time, so every refusal can be tested without a server.

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::{OsvDataSet, Sbom, SbomError, Severity};

/// A channel's policy. The empty policy lets everything through.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelPolicy {
    /// Licences (SPDX ids) a component may be used under; empty: any not denied.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow_licences: Vec<String>,
    /// Licences (SPDX ids) no component may need.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deny_licences: Vec<String>,
    /// The highest advisory severity a release may carry; absent: advisories are not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_severity: Option<Severity>,
    /// Every service of the release must have an SBOM.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_sbom: bool,
    /// Refuse when the OSV data set's newest record is older than this many days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_osv_age_days: Option<u64>,
}

impl ChannelPolicy {
    /// Refuses a licence that is not an SPDX identifier.
    pub fn check(&self) -> Result<(), SbomError> {
        for l in self.allow_licences.iter().chain(&self.deny_licences) {
            licensee(l)?;
        }
        Ok(())
    }

    /// Whether the policy checks nothing.
    pub fn is_empty(&self) -> bool {
        *self == ChannelPolicy::default()
    }
}

fn licensee(text: &str) -> Result<spdx::Licensee, SbomError> {
    spdx::Licensee::parse(text).map_err(|e| SbomError::BadLicence {
        licence: text.to_string(),
        reason: e.reason.to_string(),
    })
}

/// One service of a release and its SBOM, when it has one.
pub struct ServiceSbom<'a> {
    /// The compose service.
    pub service: &'a str,
    /// Its parsed SBOM.
    pub sbom: Option<&'a Sbom>,
}

/// Why the gate refuses a release.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// A service has no SBOM and the channel requires one.
    MissingSbom {
        /// The service.
        service: String,
    },
    /// A component's licence is denied, not allowed, or not an SPDX expression.
    Licence {
        /// The service.
        service: String,
        /// `name@version`.
        component: String,
        /// The licence expression.
        licence: String,
    },
    /// A component is affected by an advisory above the allowed severity.
    Advisory {
        /// The service.
        service: String,
        /// `name@version`.
        component: String,
        /// The advisory's id.
        id: String,
        /// Its severity.
        severity: Severity,
    },
    /// Advisories are checked but the control plane has no OSV data (or an empty set).
    NoOsvData,
    /// The OSV data set is older than the policy allows.
    StaleOsvData {
        /// Its age in days.
        age_days: u64,
        /// The policy's limit.
        max_days: u64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::MissingSbom { service } => {
                write!(f, "service `{service}` has no SBOM and the channel requires one")
            }
            Finding::Licence {
                service,
                component,
                licence,
            } => write!(
                f,
                "service `{service}`: {component} is licensed `{licence}`, which the channel does not allow"
            ),
            Finding::Advisory {
                service,
                component,
                id,
                severity,
            } => write!(
                f,
                "service `{service}`: {component} is affected by {id} ({})",
                severity.name()
            ),
            Finding::NoOsvData => f.write_str(
                "the channel checks advisories but the control plane has no OSV data (osv_dir in its settings.toml is unset or empty)",
            ),
            Finding::StaleOsvData { age_days, max_days } => write!(
                f,
                "the OSV data set is {age_days} days old, older than the channel's {max_days}"
            ),
        }
    }
}

/// Every reason `policy` refuses a release with `services`' SBOMs at `now`.
pub fn evaluate(
    policy: &ChannelPolicy,
    services: &[ServiceSbom<'_>],
    osv: Option<&OsvDataSet>,
    now: i64,
) -> Vec<Finding> {
    let mut out = osv_findings(policy, osv, now);
    let allow: Vec<spdx::Licensee> = policy
        .allow_licences
        .iter()
        .filter_map(|l| licensee(l).ok())
        .collect();
    let deny: Vec<spdx::Licensee> = policy
        .deny_licences
        .iter()
        .filter_map(|l| licensee(l).ok())
        .collect();
    for s in services {
        let Some(sbom) = s.sbom else {
            if policy.require_sbom {
                out.push(Finding::MissingSbom {
                    service: s.service.to_string(),
                });
            }
            continue;
        };
        for c in &sbom.components {
            for licence in &c.licences {
                if !licence_allowed(licence, &allow, &deny) {
                    out.push(Finding::Licence {
                        service: s.service.to_string(),
                        component: c.label(),
                        licence: licence.clone(),
                    });
                }
            }
            let (Some(max), Some(osv)) = (policy.max_severity, osv) else {
                continue;
            };
            for a in osv.matching(c).into_iter().filter(|a| a.severity > max) {
                out.push(Finding::Advisory {
                    service: s.service.to_string(),
                    component: c.label(),
                    id: a.id.clone(),
                    severity: a.severity,
                });
            }
        }
    }
    out
}

fn osv_findings(policy: &ChannelPolicy, osv: Option<&OsvDataSet>, now: i64) -> Vec<Finding> {
    let mut out = Vec::new();
    let empty = osv.is_none_or(|o| o.advisories.is_empty());
    if policy.max_severity.is_some() && empty {
        out.push(Finding::NoOsvData);
    }
    if let Some(max_days) = policy.max_osv_age_days {
        match osv.and_then(|o| o.age_days(now)) {
            Some(age_days) if age_days > max_days => {
                out.push(Finding::StaleOsvData { age_days, max_days })
            }
            Some(_) => {}
            // Said once: a severity limit already reported the missing data.
            None if policy.max_severity.is_none() => out.push(Finding::NoOsvData),
            None => {}
        }
    }
    out
}

/// Whether some choice the expression offers uses only allowed, undenied licences.
/// An expression that does not parse is refused whenever the policy names licences.
fn licence_allowed(expr: &str, allow: &[spdx::Licensee], deny: &[spdx::Licensee]) -> bool {
    if allow.is_empty() && deny.is_empty() {
        return true;
    }
    let Ok(parsed) = spdx::Expression::parse_mode(expr, spdx::ParseMode::LAX) else {
        return false;
    };
    parsed.evaluate(|req| {
        let allowed = allow.is_empty() || allow.iter().any(|l| l.satisfies(req));
        allowed && !deny.iter().any(|l| l.satisfies(req))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Component;

    fn sbom(licence: &str) -> Sbom {
        Sbom {
            format: crate::SbomFormat::CycloneDx,
            components: vec![Component {
                name: "lib".into(),
                version: Some("1.0.0".into()),
                purl: Some("pkg:npm/lib@1.0.0".into()),
                licences: vec![licence.into()],
            }],
        }
    }

    fn run(policy: &ChannelPolicy, s: &Sbom, osv: Option<&OsvDataSet>) -> Vec<Finding> {
        let services = [ServiceSbom {
            service: "web",
            sbom: Some(s),
        }];
        evaluate(policy, &services, osv, 1_800_000_000)
    }

    #[test]
    fn a_denied_licence_blocks_unless_the_expression_offers_another() {
        let policy = ChannelPolicy {
            deny_licences: vec!["GPL-3.0-only".into()],
            ..ChannelPolicy::default()
        };
        assert_eq!(run(&policy, &sbom("GPL-3.0-only"), None).len(), 1);
        assert!(run(&policy, &sbom("GPL-3.0-only OR MIT"), None).is_empty());
        assert_eq!(run(&policy, &sbom("GPL-3.0-only AND MIT"), None).len(), 1);
    }

    #[test]
    fn an_allow_list_refuses_everything_else() {
        let policy = ChannelPolicy {
            allow_licences: vec!["MIT".into(), "Apache-2.0".into()],
            ..ChannelPolicy::default()
        };
        assert!(run(&policy, &sbom("MIT"), None).is_empty());
        assert_eq!(run(&policy, &sbom("BSD-3-Clause"), None).len(), 1);
        assert_eq!(run(&policy, &sbom("not a licence ((("), None).len(), 1);
        assert!(ChannelPolicy {
            allow_licences: vec!["nope".into()],
            ..ChannelPolicy::default()
        }
        .check()
        .is_err());
    }

    #[test]
    fn severity_above_the_limit_blocks_and_stale_data_is_refused() {
        let mut osv = OsvDataSet::default();
        osv.add(br#"{"id":"GHSA-1","modified":"2026-12-01T00:00:00Z","database_specific":{"severity":"CRITICAL"},
            "affected":[{"package":{"ecosystem":"npm","name":"lib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.0.1"}]}]}]}"#, "t").unwrap();
        let policy = ChannelPolicy {
            max_severity: Some(Severity::High),
            max_osv_age_days: Some(7),
            ..ChannelPolicy::default()
        };
        let now = osv.newest_modified.unwrap() + 86_400;
        let s = sbom("MIT");
        let services = [ServiceSbom {
            service: "web",
            sbom: Some(&s),
        }];
        let found = evaluate(&policy, &services, Some(&osv), now);
        assert!(
            matches!(&found[..], [Finding::Advisory { id, .. }] if id == "GHSA-1"),
            "{found:?}"
        );
        let later = evaluate(&policy, &services, Some(&osv), now + 30 * 86_400);
        assert!(later
            .iter()
            .any(|f| matches!(f, Finding::StaleOsvData { .. })));
        assert_eq!(
            evaluate(&policy, &services, None, now),
            vec![Finding::NoOsvData]
        );
    }

    #[test]
    fn a_missing_sbom_blocks_only_when_required() {
        let services = [ServiceSbom {
            service: "web",
            sbom: None,
        }];
        assert!(evaluate(&ChannelPolicy::default(), &services, None, 0).is_empty());
        let policy = ChannelPolicy {
            require_sbom: true,
            ..ChannelPolicy::default()
        };
        assert_eq!(evaluate(&policy, &services, None, 0).len(), 1);
    }
}
