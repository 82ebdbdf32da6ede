//! The check-in: the hot path. A check-in that changes nothing is answered from memory,
//! `304` or `200` with a fresh registry token (see [`handle`]); a change is written
//! before its answer; signing a new assignment happens only when the install needs one.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use driftless_store::{
    CheckinReport, CheckinView, LicenseStanding, ReleaseState, StoredAssignment,
};
use driftless_wire::api::TokenResponse;
use driftless_wire::checkin::{CheckinRequest, CheckinResponse, RegistryAccess};
use driftless_wire::entitlements::Entitlements;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::status::Reason;
use driftless_wire::{Digest, Envelope, ASSIGNMENT_PAYLOAD_TYPE, RELEASE_PAYLOAD_TYPE};
use sha2::{Digest as _, Sha256};
use std::borrow::Cow;
use std::sync::Arc;

use crate::auth::{self, SignedRequest};
use crate::cache::{
    report_digest, AssignmentHead, ChannelEntry, InstallEntry, LicenseGate, ReleaseDocs,
};
use crate::error::ApiError;
use crate::license_terms;
use crate::rollout::{desired_on, ChannelView};
use crate::routes::input::parse_json;
use crate::state::AppState;

/// Handles `POST /v1/installs/{id}/checkin`.
///
/// The hot path, an install that holds its assignment saying it is still there, reads
/// nothing from the database and writes nothing before answering (`304`, or `200` with
/// its assignment and a fresh registry token when it does not send the assignment's
/// ETag): install and channel come from the cache, the replay rule is checked against
/// the newest request time accepted (by this process, or by the database when the
/// install was loaded), and the heartbeat is queued for the next batch write. A cache
/// miss adds one read, no write: the loaded entry knows the report the database holds.
/// A check-in that changes what the install reported is written (after the database's
/// own replay check) before the answer; one that needs a new assignment reads the
/// install afresh.
pub async fn handle(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let signed_at_ms = auth::request_time(headers, auth::now_ms())?;
    let credential = auth::credential(headers)?;
    let hot = &state.hot;
    let entry = hot
        .cache
        .install(&*state.store, id, || hot.heartbeats.newest_ms(id))
        .await?
        .ok_or_else(|| auth::unknown_install(id))?;
    let path = format!("/v1/installs/{id}/checkin");
    let signed = SignedRequest {
        method: "POST",
        path: &path,
        body,
    };
    authenticate(state, &entry, headers, credential, &signed, signed_at_ms).await?;
    if let Some(why) = entry.refusal {
        return Err(auth::refused(id, why));
    }
    let now = crate::now();
    if let Some(gate) = &entry.license {
        refuse_by_license(gate, &entry.channel, now)?;
    }
    let body_hash = body_hash(body);
    let channel = hot
        .cache
        .channel(&*state.store, &entry.app, &entry.channel)
        .await?;
    let heartbeat = async || {
        unchanged(
            state,
            &entry,
            &channel,
            headers,
            body_hash,
            signed_at_ms,
            now,
        )
        .await
    };
    if let Some(answer) = heartbeat().await? {
        return Ok(answer);
    }
    // A body that is refused moves nothing, not even the replay clock.
    let req: CheckinRequest = parse_json(body, "check-in")?;
    crate::report_limits::check(&req)?;
    let report = report_of(&req, now);
    // The report the database holds, in a body this process had not seen (the first
    // check-in since the entry was loaded, say): a heartbeat after all.
    if adopt(&entry, &report, body_hash) {
        if let Some(answer) = heartbeat().await? {
            return Ok(answer);
        }
    }
    accept_fresh(state, &entry, signed_at_ms).await?;
    if let Some(tag) = converged_tag(
        state,
        &entry,
        &channel,
        req.version.as_deref(),
        headers,
        now,
    ) {
        state.store.record_checkin(id, &report, None).await?;
        remember(&entry, body_hash, &report);
        return Ok(not_modified(state, &tag));
    }
    let stamp = hot.cache.stamp(id);
    let mut view = state
        .store
        .checkin_view(id)
        .await?
        .ok_or_else(|| auth::unknown_install(id))?;
    let answer = answer_afresh(state, &view, &req, &report, headers, now).await?;
    if let Some(issued) = answer.issued {
        view.assignment = Some(issued);
    }
    view.last_report = Some(report.clone());
    let fresh = hot
        .cache
        .keep_view(&view, stamp, hot.heartbeats.newest_ms(id));
    remember(&fresh, body_hash, &report);
    Ok(answer.response)
}

/// Checks the request's session MAC or signature against the cached install.
async fn authenticate(
    state: &AppState,
    entry: &InstallEntry,
    headers: &HeaderMap,
    credential: auth::Credential<'_>,
    signed: &SignedRequest<'_>,
    signed_at_ms: i64,
) -> Result<(), ApiError> {
    match credential {
        auth::Credential::Signature => {
            auth::verify_install_signature(&entry.public_key, headers, signed, signed_at_ms)
        }
        auth::Credential::Session { id, mac } => {
            let session = crate::session::live_session(state, entry, id).await?;
            if session
                .key
                .verify(signed.method, signed.path, signed_at_ms, signed.body, &mac)
            {
                Ok(())
            } else {
                Err(ApiError::unauthorized(
                    "request MAC does not verify with this check-in session",
                ))
            }
        }
    }
}

/// A check-in that changes nothing but the install's last-seen time: the same report
/// as the last one this process recorded, from an install that holds the assignment it
/// should. Accepted in memory and queued for the next batch write (see
/// [`crate::heartbeats`]), then answered `304` when the install says it holds that
/// assignment, else `200` with it and a fresh registry token, all from memory. `None`
/// when the check-in is not one.
async fn unchanged(
    state: &AppState,
    entry: &InstallEntry,
    channel: &ChannelEntry,
    headers: &HeaderMap,
    body_hash: [u8; 16],
    signed_at_ms: i64,
    now: i64,
) -> Result<Option<Response>, ApiError> {
    let (current, holds) = {
        let mut live = entry.live();
        if live.last_body != Some(body_hash) {
            return Ok(None);
        }
        let running = live.running_version.as_deref();
        let Some(current) = current(state, entry, channel, running, now) else {
            return Ok(None);
        };
        let holds = if_none_match(headers) == Some(&*current.tag);
        if !holds && current.held.compact.is_none() {
            return Ok(None);
        }
        if signed_at_ms <= live.newest_request_ms {
            return Err(auth::replayed(&entry.id));
        }
        live.newest_request_ms = signed_at_ms;
        (current, holds)
    };
    state.hot.heartbeats.push(&entry.id, now, signed_at_ms);
    if holds {
        return Ok(Some(not_modified(state, &current.tag)));
    }
    renewed(state, entry, current).await.map(Some)
}

/// The `200` of an install that holds its assignment and only needs a fresh registry
/// token: the assignment rebuilt from its cached compact form, the release from the
/// release cache, nothing read from the database.
async fn renewed(
    state: &AppState,
    entry: &InstallEntry,
    current: Current<'_>,
) -> Result<Response, ApiError> {
    let envelope = current
        .held
        .envelope(&entry.id)
        // `unchanged` answers from memory only an assignment kept compactly.
        .ok_or_else(|| ApiError::internal("the cached assignment has no compact form"))?
        .map_err(ApiError::internal)?;
    let release = load_release(state, &entry.app, &current.version).await?;
    let token = crate::registry::mint(
        state,
        &entry.id,
        crate::registry::pull_access(&release.document),
    )?;
    let held = HeldAnswer {
        envelope: &envelope,
        tag: &current.tag,
    };
    full_answer(state, held, release.envelope.clone(), token, current.notes)
}

/// Accepts a check-in that is not a heartbeat: newer than what this process accepted,
/// then by the database's conditional write.
async fn accept_fresh(
    state: &AppState,
    entry: &InstallEntry,
    signed_at_ms: i64,
) -> Result<(), ApiError> {
    {
        let mut live = entry.live();
        if signed_at_ms <= live.newest_request_ms {
            return Err(auth::replayed(&entry.id));
        }
        live.newest_request_ms = signed_at_ms;
    }
    if !state
        .store
        .accept_signed_request(&entry.id, signed_at_ms)
        .await?
    {
        return Err(auth::replayed(&entry.id));
    }
    Ok(())
}

/// Refuses a check-in whose license expired past its grace, or does not allow the
/// install's channel.
fn refuse_by_license(gate: &LicenseGate, channel: &str, now: i64) -> Result<(), ApiError> {
    if let Some(allowed) = &gate.refused_channel {
        return Err(license_terms::channel_not_allowed(
            &gate.license_id,
            channel,
            allowed,
        ));
    }
    match gate.standing(now) {
        LicenseStanding::Expired { expired_at } => {
            Err(license_terms::expired(&gate.license_id, expired_at))
        }
        _ => Ok(()),
    }
}

/// Notes that install `entry` reported `body` (running `version`), recorded.
fn remember(entry: &InstallEntry, body_hash: [u8; 16], report: &CheckinReport) {
    let mut live = entry.live();
    live.last_body = Some(body_hash);
    live.recorded = Some(report_digest(report));
    let version = report.version.as_deref();
    if live.running_version.as_deref() != version {
        live.running_version = version.map(Into::into);
    }
}

/// Takes `body` as one that carries the report the database holds, when `report` (read
/// from it) is that one; returns whether it did.
fn adopt(entry: &InstallEntry, report: &CheckinReport, body_hash: [u8; 16]) -> bool {
    let mut live = entry.live();
    if live.recorded != Some(report_digest(report)) {
        return false;
    }
    live.last_body = Some(body_hash);
    true
}

fn body_hash(body: &[u8]) -> [u8; 16] {
    let digest = Sha256::digest(body);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// The assignment an install holds, while it is still the answer to its check-in.
struct Current<'a> {
    /// The assignment.
    held: &'a AssignmentHead,
    /// The ETag to answer with: the assignment's, with the notes that come with it.
    tag: Cow<'a, str>,
    /// The version of the release it names.
    version: Cow<'a, str>,
    /// What comes with it.
    notes: Notes,
}

/// What install `entry`, running `running`, holds when it is what it should hold: its
/// held assignment names the release it is to run and has at least half its life left.
fn current<'a>(
    state: &AppState,
    entry: &'a InstallEntry,
    channel: &'a ChannelEntry,
    running: Option<&str>,
    now: i64,
) -> Option<Current<'a>> {
    let held = entry.assignment.as_ref()?;
    if held.expires - now <= state.config.assignment_lifetime_s / 2 {
        return None;
    }
    // Signed with other entitlements than the license's now: not the answer.
    if held.entitlements != entry.entitlements {
        return None;
    }
    // An expired license's warning comes from a fresh read, like every note.
    if entry
        .license
        .as_ref()
        .is_some_and(|gate| gate.standing(now) != LicenseStanding::Valid)
    {
        return None;
    }
    // The common case, without a copy: no rollout, an active release, no notes.
    if let (None, Some(release)) = (&channel.rollout, &channel.release) {
        if release.state == ReleaseState::Active {
            return (*held.release_digest == *release.digest).then(|| Current {
                held,
                tag: Cow::Borrowed(&*held.etag),
                version: Cow::Borrowed(&release.version),
                notes: Notes::default(),
            });
        }
    }
    let view = ChannelView {
        name: &entry.channel,
        release: channel.release.as_ref(),
        rollout: channel.rollout.as_ref(),
    };
    let desired = desired_on(&view, &entry.id, running)?;
    if *held.release_digest != *desired.release.digest {
        return None;
    }
    let tag = response_etag(
        &held.etag,
        desired.note.as_deref(),
        desired.pending.as_ref(),
    );
    Some(Current {
        held,
        tag: Cow::Owned(tag),
        version: Cow::Owned(desired.release.version),
        notes: Notes {
            message: desired.note,
            pending: desired.pending,
        },
    })
}

/// The ETag of the `304` when the install holds what it should (see [`current`]) and
/// says so in `If-None-Match`.
fn converged_tag<'a>(
    state: &AppState,
    entry: &'a InstallEntry,
    channel: &'a ChannelEntry,
    running: Option<&str>,
    headers: &HeaderMap,
    now: i64,
) -> Option<Cow<'a, str>> {
    let sent = if_none_match(headers)?;
    let current = current(state, entry, channel, running, now)?;
    (sent == current.tag).then_some(current.tag)
}

/// An answer read afresh from the database, and the assignment it issued, if any.
struct FreshAnswer {
    response: Response,
    issued: Option<StoredAssignment>,
}

/// The check-in's answer from a fresh read of the install (`view`): what every
/// check-in did before the cache, for everything but a `304` from memory.
async fn answer_afresh(
    state: &AppState,
    view: &CheckinView,
    req: &CheckinRequest,
    report: &CheckinReport,
    headers: &HeaderMap,
    now: i64,
) -> Result<FreshAnswer, ApiError> {
    let id = view.install.id.as_str();
    let license = &view.license;
    let grace = match license.standing(now) {
        LicenseStanding::Expired { expired_at } => {
            return Err(license_terms::expired(&view.install.license_id, expired_at));
        }
        LicenseStanding::Grace {
            expired_at,
            refused_from,
        } => Some(license_terms::grace_note(expired_at, refused_from)),
        LicenseStanding::Valid => None,
    };
    if !license.allows_channel(&view.install.channel) {
        return Err(license_terms::channel_not_allowed(
            &view.install.license_id,
            &view.install.channel,
            &license.channels,
        ));
    }
    let Some(desired) = crate::rollout::desired(view, req.version.as_deref()) else {
        state.store.record_checkin(id, report, None).await?;
        return Ok(FreshAnswer {
            response: no_release(state, view),
            issued: None,
        });
    };
    let note = match (desired.note, grace) {
        (Some(a), Some(b)) => Some(format!("{b}; {a}")),
        (a, b) => a.or(b),
    };
    let pending = desired.pending;
    let (version, counter, digest) = (
        desired.release.version,
        desired.release.release_counter,
        desired.release.digest,
    );
    // Reuse the held assignment while it names the channel's release and has at
    // least half its life left; otherwise issue the next one.
    // An assignment signed with other entitlements than the license's is replaced.
    let reusable = view.assignment.as_ref().filter(|a| {
        a.release_digest == digest
            && a.expires - now > state.config.assignment_lifetime_s / 2
            && signed_entitlements(a) == license.entitlements
    });
    if let Some(held) = reusable {
        let tag = response_etag(&held.etag, note.as_deref(), pending.as_ref());
        if if_none_match(headers) == Some(tag.as_str()) {
            state.store.record_checkin(id, report, None).await?;
            return Ok(FreshAnswer {
                response: not_modified(state, &tag),
                issued: None,
            });
        }
    }
    let release = load_release(state, &view.install.app, &version).await?;
    let (assignment, issued) = match reusable {
        Some(held) => (held.clone(), false),
        None => (issue(state, view, &version, counter, &digest, now)?, true),
    };
    state
        .store
        .record_checkin(id, report, issued.then_some(&assignment))
        .await?;
    let token = crate::registry::mint(state, id, crate::registry::pull_access(&release.document))?;
    let tag = response_etag(&assignment.etag, note.as_deref(), pending.as_ref());
    let held = HeldAnswer {
        envelope: &assignment.envelope,
        tag: &tag,
    };
    let notes = Notes {
        message: note,
        pending,
    };
    let response = full_answer(state, held, release.envelope.clone(), token, notes)?;
    Ok(FreshAnswer {
        response,
        issued: issued.then_some(assignment),
    })
}

/// The longest policy text stored for an install.
const MAX_POLICY_CHARS: usize = 256;

/// What the install reported, as stored.
fn report_of(req: &CheckinRequest, now: i64) -> CheckinReport {
    CheckinReport {
        at: now,
        status: req.status.to_string(),
        version: req.version.clone(),
        release_counter: req.release_counter,
        cli_version: req.cli_version.clone(),
        free_disk_bytes: req.free_disk_bytes,
        target_version: req.target_version.clone(),
        reason: req
            .reason
            .as_ref()
            .and_then(|r| serde_json::to_string(r).ok()),
        // A host names its policy in a few words; a longer one is cut, not stored whole.
        policy: req
            .policy
            .as_ref()
            .map(|p| p.chars().take(MAX_POLICY_CHARS).collect()),
        waiting: req
            .waiting
            .as_ref()
            .and_then(|w| serde_json::to_string(w).ok()),
    }
}

/// The answer when the install's channel points at no release yet.
fn no_release(state: &AppState, view: &CheckinView) -> Response {
    let body = CheckinResponse {
        assignment: None,
        release: None,
        registry: None,
        next_checkin_s: state.config.next_checkin_s,
        message: Some(format!(
            "channel `{}` of app `{}` has no release yet",
            view.install.channel, view.install.app
        )),
        pending: None,
    };
    let mut resp = Json(body).into_response();
    crate::audit_checkpoint::set_header(state, &mut resp);
    resp
}

/// The ETag the install says it holds, without its quotes.
fn if_none_match(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"'))
}

/// `304`: the install holds the answer it would get.
fn not_modified(state: &AppState, tag: &str) -> Response {
    let mut resp = StatusCode::NOT_MODIFIED.into_response();
    set_etag(&mut resp, tag);
    set_root_version(state, &mut resp);
    resp
}

/// The stored release `version` of `app`: its envelope and its decoded document, from
/// the cache (a release's documents never change) or read and kept.
async fn load_release(
    state: &AppState,
    app: &str,
    version: &str,
) -> Result<Arc<ReleaseDocs>, ApiError> {
    if let Some(docs) = state.hot.cache.release(app, version) {
        return Ok(docs);
    }
    let release = state
        .store
        .get_release(app, version)
        .await?
        .ok_or_else(|| {
            ApiError::internal(format!("channel points at missing release {version}"))
        })?;
    let envelope: Envelope = serde_json::from_str(&release.envelope).map_err(ApiError::internal)?;
    let document: ReleaseDocument = envelope
        .decode(RELEASE_PAYLOAD_TYPE, "release document")
        .map_err(ApiError::internal)?;
    let docs = Arc::new(ReleaseDocs { envelope, document });
    state.hot.cache.keep_release(app, version, docs.clone());
    Ok(docs)
}

/// What comes with an assignment besides the documents: a warning, and why a newer
/// release is held back.
#[derive(Default)]
struct Notes {
    message: Option<String>,
    pending: Option<Reason>,
}

/// The assignment a `200` sends: its signed envelope, and the answer's ETag.
struct HeldAnswer<'a> {
    envelope: &'a str,
    tag: &'a str,
}

/// `200`: the assignment, the release document, and a registry token to pull it.
fn full_answer(
    state: &AppState,
    assignment: HeldAnswer<'_>,
    release_env: Envelope,
    token: TokenResponse,
    notes: Notes,
) -> Result<Response, ApiError> {
    let assignment_env: Envelope =
        serde_json::from_str(assignment.envelope).map_err(ApiError::internal)?;
    let body = CheckinResponse {
        assignment: Some(assignment_env),
        release: Some(release_env),
        registry: Some(RegistryAccess {
            host: state.config.registry_host.clone(),
            insecure: state.config.registry_insecure,
            token: token.token,
            expires_in: token.expires_in,
            issued_at: token.issued_at,
        }),
        next_checkin_s: state.config.next_checkin_s,
        message: notes.message,
        pending: notes.pending,
    };
    let mut resp = Json(body).into_response();
    set_etag(&mut resp, assignment.tag);
    set_root_version(state, &mut resp);
    Ok(resp)
}

/// The answer's ETag: the assignment's, plus the notes that come with it, so a
/// deprecation or a change of wave reaches a host that holds the same assignment.
fn response_etag(assignment_etag: &str, note: Option<&str>, pending: Option<&Reason>) -> String {
    if note.is_none() && pending.is_none() {
        return assignment_etag.to_string();
    }
    let extra = serde_json::json!({ "note": note, "pending": pending }).to_string();
    let suffix = Digest::of(extra.as_bytes());
    format!("{assignment_etag}-{}", &suffix.hex()[..16])
}

fn set_root_version(state: &AppState, resp: &mut Response) {
    let v = state.keys().root.version;
    resp.headers_mut().insert(
        driftless_wire::checkin::ROOT_VERSION_HEADER,
        HeaderValue::from(v),
    );
    // Every answer that names the root names the newest audit checkpoint too.
    crate::audit_checkpoint::set_header(state, resp);
}

fn set_etag(resp: &mut Response, etag: &str) {
    if let Ok(v) = HeaderValue::from_str(&format!("\"{etag}\"")) {
        resp.headers_mut().insert(header::ETAG, v);
    }
}

/// The entitlements assignment `a` was signed with (none when it does not decode,
/// which then differs from any license that has some, and is replaced).
fn signed_entitlements(a: &StoredAssignment) -> Entitlements {
    serde_json::from_str::<Envelope>(&a.envelope)
        .ok()
        .and_then(|e| {
            e.decode::<Assignment>(ASSIGNMENT_PAYLOAD_TYPE, "assignment")
                .ok()
        })
        .map(|a| a.entitlements)
        .unwrap_or_default()
}

fn issue(
    state: &AppState,
    view: &CheckinView,
    version: &str,
    counter: u64,
    digest: &str,
    now: i64,
) -> Result<StoredAssignment, ApiError> {
    let sequence = view.assignment.as_ref().map_or(1, |a| a.sequence + 1);
    let held_counter = view
        .assignment
        .as_ref()
        .and_then(|a| serde_json::from_str::<Envelope>(&a.envelope).ok())
        .and_then(|e| {
            e.decode::<Assignment>(ASSIGNMENT_PAYLOAD_TYPE, "assignment")
                .ok()
        })
        .map(|a| a.release_counter);
    let a = Assignment {
        doc_type: "assignment".into(),
        install_id: view.install.id.clone(),
        app: view.install.app.clone(),
        channel: view.install.channel.clone(),
        version: version.parse().map_err(ApiError::internal)?,
        release_digest: digest.parse::<Digest>().map_err(ApiError::internal)?,
        release_counter: counter,
        sequence,
        issued_at: now,
        expires: now + state.config.assignment_lifetime_s,
        // The operator moved the channel back: say so explicitly, the CLI still
        // enforces the rollback floor of the newest release it verified.
        allow_downgrade: held_counter.is_some_and(|c| counter < c),
        entitlements: view.license.entitlements.clone(),
    };
    let payload = serde_json::to_vec(&a).map_err(ApiError::internal)?;
    let env = Envelope::sign(ASSIGNMENT_PAYLOAD_TYPE, &payload, &[&state.keys().director]);
    let text = serde_json::to_string(&env).map_err(ApiError::internal)?;
    Ok(StoredAssignment {
        sequence,
        release_digest: digest.to_string(),
        expires: a.expires,
        etag: Digest::of(text.as_bytes()).hex().to_string(),
        envelope: text,
    })
}
