//! The check-in cache: what a check-in needs of each install and each channel, kept in
//! memory so a converged check-in (`304`) reads nothing from the database.
//!
//! Entries are loaded lazily on a miss. They are dropped
//! * at once, in this process, by [`crate::caching_store::CachingStore`] after every
//!   mutation (it reads the change feed the mutation's own transaction wrote);
//! * within [`crate::change_feed::POLL_INTERVAL`] on every other replica, which polls the
//!   same feed;
//! * after the entry's lifetime (`cache_entry_ttl_s`, 60 s) in any case, a safety net
//!   should the feed ever be missed.
//!
//! A load that races an invalidation is used for its own request but not kept (see
//! [`CheckinCache::stamp`]), so a stale read never outlives the change that made it
//! stale. An install's invalidation only spoils loads of the installs that share its
//! epoch slot (one in [`EPOCH_SLOTS`]): under a stream of changes (hosts opening
//! check-in sessions, say) the other loads are kept, instead of every install read
//! while any change landed missing again.
//!
//! Memory: an install entry costs about 910 bytes of resident memory (its id, key,
//! assignment head with its compact envelope, session, the map's slot, the allocator's
//! rounding; the test below weighs 200k of them), so 1M installs take about 910 MB;
//! the number of entries
//! is capped ([`MAX_INSTALL_ENTRIES`]), past which arbitrary entries are dropped to
//! make room.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use driftless_store::LicenseStanding;
use driftless_store::{
    assignment_codec, Change, ChangeKind, CheckinReport, CheckinView, ReleaseRef, Rollout, Store,
    StoreResult, StoredAssignment, StoredSession,
};
use driftless_wire::entitlements::Entitlements;
use driftless_wire::release::{Assignment, ReleaseDocument};
use driftless_wire::session::SessionKey;
use driftless_wire::{Envelope, ASSIGNMENT_PAYLOAD_TYPE};
use sha2::{Digest as _, Sha256};

/// How long an entry is trusted without the feed saying anything about it, unless the
/// settings say otherwise (`cache_entry_ttl_s`).
pub const DEFAULT_ENTRY_TTL: Duration = Duration::from_secs(60);
/// The most install entries kept.
pub const MAX_INSTALL_ENTRIES: usize = 2_000_000;
/// Shards of the install map, so concurrent check-ins rarely wait on one lock.
const SHARDS: usize = 64;
/// Invalidation epochs of installs: an install's change spoils a load in flight of an
/// install with the same slot, about one in this many of the others.
const EPOCH_SLOTS: usize = 4096;

/// Why an install's requests are refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Revoked, directly or through its license.
    Revoked,
    /// The host said it was uninstalled.
    Uninstalled,
}

/// What a check-in answer needs of the held assignment: what a `304` compares, and its
/// envelope in the store's compact form (about 110 bytes instead of 700), from which a
/// `200` that only renews the registry token rebuilds it.
#[derive(Clone, Debug)]
pub struct AssignmentHead {
    /// Its sequence number.
    pub sequence: u64,
    /// The release digest it names.
    pub release_digest: Box<str>,
    /// Unix seconds it expires at.
    pub expires: i64,
    /// Its ETag.
    pub etag: Box<str>,
    /// Its envelope, compacted; `None` when it does not compact (then a `200` reads it
    /// from the database).
    pub compact: Option<Box<[u8]>>,
    /// The entitlements it carries, as JSON; `None` when it carries none.
    pub entitlements: Option<Box<str>>,
}

/// The entitlements `a` carries, as JSON; `None` when it carries none (or does not
/// decode, which a check-in then replaces).
fn held_entitlements(a: &StoredAssignment) -> Option<Box<str>> {
    let env: Envelope = serde_json::from_str(&a.envelope).ok()?;
    let doc: Assignment = env.decode(ASSIGNMENT_PAYLOAD_TYPE, "assignment").ok()?;
    entitlements_json(&doc.entitlements)
}

/// `entitlements` as JSON (keys sorted); `None` when there are none.
pub fn entitlements_json(entitlements: &Entitlements) -> Option<Box<str>> {
    if entitlements.is_empty() {
        return None;
    }
    serde_json::to_string(entitlements).ok().map(Into::into)
}

/// What an install's license decides at a check-in besides revocation: its expiry
/// (with grace) and whether it allows the install's channel. Kept only for a license
/// that has an expiry or refuses the channel, so most entries hold `None`.
#[derive(Clone, Debug)]
pub struct LicenseGate {
    /// The license.
    pub license_id: Box<str>,
    /// Unix seconds it expires at.
    pub expires_at: Option<i64>,
    /// Seconds of grace after that.
    pub grace_s: i64,
    /// The channels it allows, when the install's channel is not among them.
    pub refused_channel: Option<Box<[String]>>,
}

impl LicenseGate {
    fn of(view: &CheckinView) -> Option<Box<Self>> {
        let license = &view.license;
        let refused_channel = (!license.allows_channel(&view.install.channel))
            .then(|| license.channels.clone().into_boxed_slice());
        if license.expires_at.is_none() && refused_channel.is_none() {
            return None;
        }
        Some(Box::new(LicenseGate {
            license_id: view.install.license_id.as_str().into(),
            expires_at: license.expires_at,
            grace_s: license.grace_s,
            refused_channel,
        }))
    }

    /// Where the license stands at `now`.
    pub fn standing(&self, now: i64) -> LicenseStanding {
        driftless_store::standing(self.expires_at, self.grace_s, now)
    }
}

impl AssignmentHead {
    /// Install `install_id`'s assignment `a`, as kept.
    fn new(install_id: &str, a: &StoredAssignment) -> Self {
        AssignmentHead {
            sequence: a.sequence,
            release_digest: a.release_digest.as_str().into(),
            expires: a.expires,
            etag: a.etag.as_str().into(),
            compact: assignment_codec::compact_stored(install_id, a).map(Vec::into_boxed_slice),
            entitlements: held_entitlements(a),
        }
    }

    /// The signed envelope of install `install_id`'s assignment, rebuilt; `None` when
    /// it was not kept compactly.
    pub fn envelope(&self, install_id: &str) -> Option<StoreResult<String>> {
        let blob = self.compact.as_deref()?;
        let row = assignment_codec::RowFacts {
            install_id,
            sequence: self.sequence,
            release_digest: &self.release_digest,
            expires: self.expires,
        };
        Some(assignment_codec::expand_with_etag(blob, &row).map(|(text, _)| text))
    }
}

/// A session as the cache keeps it.
#[derive(Clone)]
pub struct CachedSession {
    /// Its id.
    pub id: Arc<str>,
    /// Its key.
    pub key: SessionKey,
    /// Unix seconds it expires at.
    pub expires_at: i64,
}

impl From<&StoredSession> for CachedSession {
    fn from(s: &StoredSession) -> Self {
        CachedSession {
            id: s.session_id.as_str().into(),
            key: SessionKey::from_bytes(s.key),
            expires_at: s.expires_at,
        }
    }
}

/// SHA-256 (first 16 bytes) of everything `report` says but its time: two reports with
/// the same digest differ only in when they were made.
pub fn report_digest(report: &CheckinReport) -> [u8; 16] {
    let mut hash = Sha256::new();
    let mut text = |field: Option<&str>| match field {
        None => hash.update([0]),
        Some(t) => {
            hash.update([1]);
            hash.update((t.len() as u64).to_le_bytes());
            hash.update(t.as_bytes());
        }
    };
    text(Some(&report.status));
    text(report.version.as_deref());
    text(Some(&report.cli_version));
    text(report.target_version.as_deref());
    text(report.reason.as_deref());
    text(report.policy.as_deref());
    text(report.waiting.as_deref());
    for number in [report.release_counter, report.free_disk_bytes] {
        match number {
            None => hash.update([0]),
            Some(n) => {
                hash.update([1]);
                hash.update(n.to_le_bytes());
            }
        }
    }
    let digest = hash.finalize();
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}

/// What changes with each accepted request of an install.
#[derive(Default)]
pub struct Live {
    /// The newest request time accepted from the install, as far as this process knows:
    /// the database's when the entry was loaded, this process's queued heartbeats, and
    /// what it accepted since (0: none anywhere).
    pub newest_request_ms: i64,
    /// SHA-256 (first 16 bytes) of the last body whose report is [`Live::recorded`];
    /// `None` until this process saw one.
    pub last_body: Option<[u8; 16]>,
    /// The [`report_digest`] of the report the database holds for the install, as far
    /// as this process knows; `None` if it never checked in. A check-in whose report is
    /// this one changes nothing but the last-seen time, whoever recorded it.
    pub recorded: Option<[u8; 16]>,
    /// The version the install last reported running.
    pub running_version: Option<Box<str>>,
    /// Its session, as read with the install's view (every entry is made from one),
    /// or as this process read it afresh since; `None`: it has none.
    pub session: Option<CachedSession>,
}

/// One install, as a check-in needs it.
pub struct InstallEntry {
    /// Its id (shared with the map's key).
    pub id: Arc<str>,
    /// Its app.
    pub app: Arc<str>,
    /// Its channel.
    pub channel: Arc<str>,
    /// Hex of its Ed25519 key.
    pub public_key: Box<str>,
    /// Why it is refused, if it is.
    pub refusal: Option<Refusal>,
    /// The assignment it holds.
    pub assignment: Option<AssignmentHead>,
    /// Its license's expiry and channel verdict, when it has either.
    pub license: Option<Box<LicenseGate>>,
    /// Its license's entitlements, as JSON; `None` when there are none. A held
    /// assignment that carries others is not the answer any more.
    pub entitlements: Option<Box<str>>,
    /// What its requests change.
    pub live: Mutex<Live>,
    loaded_at: Instant,
}

impl InstallEntry {
    fn from_view(view: &CheckinView, names: Names, live: Live) -> Self {
        let install = &view.install;
        let refusal = if install.uninstalled_at.is_some() {
            Some(Refusal::Uninstalled)
        } else if install.revoked || view.license_revoked {
            Some(Refusal::Revoked)
        } else {
            None
        };
        InstallEntry {
            id: names.id,
            app: names.app,
            channel: names.channel,
            public_key: install.public_key.as_str().into(),
            refusal,
            assignment: view
                .assignment
                .as_ref()
                .map(|a| AssignmentHead::new(&install.id, a)),
            license: LicenseGate::of(view),
            entitlements: entitlements_json(&view.license.entitlements),
            live: Mutex::new(live),
            loaded_at: Instant::now(),
        }
    }

    /// Its mutable part, locked.
    pub fn live(&self) -> MutexGuard<'_, Live> {
        // A panic while holding the lock leaves plain data behind, still usable.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One channel, as a check-in needs it.
pub struct ChannelEntry {
    /// The release it points at.
    pub release: Option<ReleaseRef>,
    /// Its active rollout, with the release it rolls out.
    pub rollout: Option<(Rollout, ReleaseRef)>,
    loaded_at: Instant,
}

/// A release's signed envelope and its decoded document, as a `200` sends them.
pub struct ReleaseDocs {
    /// The envelope, as uploaded.
    pub envelope: Envelope,
    /// Its document.
    pub document: ReleaseDocument,
}

/// Releases kept at most; past it the map starts over (releases are few).
const MAX_RELEASES: usize = 1024;

/// Release documents by app, then version.
type ReleaseMap = HashMap<Box<str>, HashMap<Box<str>, Arc<ReleaseDocs>>>;

type InstallShard = Mutex<HashMap<Arc<str>, Arc<InstallEntry>>>;

/// An entry's names: its id (the map's key too) and its app and channel, shared by
/// every entry that names them.
struct Names {
    id: Arc<str>,
    app: Arc<str>,
    channel: Arc<str>,
}
/// Channels by app, then by name (so a lookup borrows its keys).
type ChannelMap = HashMap<Box<str>, HashMap<Box<str>, Arc<ChannelEntry>>>;

/// The cache itself; one per process, shared by every handler.
pub struct CheckinCache {
    /// How long an entry is used before it is read afresh.
    ttl: Duration,
    installs: Vec<InstallShard>,
    channels: RwLock<ChannelMap>,
    hasher: RandomState,
    /// Release documents by app, then version: immutable once uploaded.
    releases: RwLock<ReleaseMap>,
    /// App and channel names, each allocated once.
    names: Mutex<std::collections::HashSet<Arc<str>>>,
    /// Bumped by every invalidation but an install's; a load that saw it move is not
    /// kept.
    epoch: AtomicU64,
    /// Per slot of installs (by hash): bumped by the invalidation of an install in it;
    /// a load of an install of the slot that saw it move is not kept.
    install_epochs: Vec<AtomicU64>,
    max_installs_per_shard: usize,
}

/// Where the invalidations concerning one install stood when a load of it began (see
/// [`CheckinCache::stamp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoadStamp {
    epoch: u64,
    install_epoch: u64,
}

impl Default for CheckinCache {
    fn default() -> Self {
        Self::new(MAX_INSTALL_ENTRIES, DEFAULT_ENTRY_TTL)
    }
}

impl CheckinCache {
    /// An empty cache holding at most about `max_installs` installs, each entry for at
    /// most `ttl` (zero: every check-in reads its install afresh).
    pub fn new(max_installs: usize, ttl: Duration) -> Self {
        CheckinCache {
            ttl,
            installs: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            channels: RwLock::new(HashMap::new()),
            hasher: RandomState::new(),
            names: Mutex::default(),
            releases: RwLock::default(),
            epoch: AtomicU64::new(0),
            install_epochs: (0..EPOCH_SLOTS).map(|_| AtomicU64::new(0)).collect(),
            max_installs_per_shard: max_installs.div_ceil(SHARDS).max(1),
        }
    }

    fn shard_index(&self, id: &str) -> usize {
        (self.hasher.hash_one(id) % SHARDS as u64) as usize
    }

    fn epoch_index(&self, id: &str) -> usize {
        (self.hasher.hash_one(id) % EPOCH_SLOTS as u64) as usize
    }

    fn epoch_slot(&self, id: &str) -> &AtomicU64 {
        &self.install_epochs[self.epoch_index(id)]
    }

    fn shard(&self, id: &str) -> MutexGuard<'_, HashMap<Arc<str>, Arc<InstallEntry>>> {
        self.installs[self.shard_index(id)]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The epoch every invalidation but an install's moves.
    fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Where the invalidations that concern install `id` stand, taken before it is read
    /// from the database: [`CheckinCache::keep_view`] keeps what was read only if none
    /// came since.
    pub fn stamp(&self, id: &str) -> LoadStamp {
        LoadStamp {
            epoch: self.epoch(),
            install_epoch: self.epoch_slot(id).load(Ordering::Acquire),
        }
    }

    /// The cached entry of install `id`, if fresh.
    pub fn cached_install(&self, id: &str) -> Option<Arc<InstallEntry>> {
        let shard = self.shard(id);
        let entry = shard.get(id)?;
        (entry.loaded_at.elapsed() < self.ttl).then(|| entry.clone())
    }

    /// The entry of install `id`, read from `store` on a miss; `None` if no such install.
    /// `newest_pending_ms` is the newest request time accepted but not yet written (a
    /// queued heartbeat), so a reloaded entry still refuses its replay.
    pub async fn install(
        &self,
        store: &dyn Store,
        id: &str,
        newest_pending_ms: impl FnOnce() -> i64,
    ) -> StoreResult<Option<Arc<InstallEntry>>> {
        if let Some(entry) = self.cached_install(id) {
            return Ok(Some(entry));
        }
        let stamp = self.stamp(id);
        let Some(view) = store.checkin_view(id).await? else {
            return Ok(None);
        };
        Ok(Some(self.keep_view(&view, stamp, newest_pending_ms())))
    }

    /// Replaces install `view.install.id`'s entry with one made from `view`, read from
    /// the database after `stamp` was taken; keeps what this process knows of its
    /// requests. Returns the new entry (kept only if nothing that concerns it was
    /// invalidated since).
    pub fn keep_view(
        &self,
        view: &CheckinView,
        stamp: LoadStamp,
        newest_pending_ms: i64,
    ) -> Arc<InstallEntry> {
        let id = view.install.id.as_str();
        let old = self.shard(id).get(id).cloned();
        let recorded = view.last_report.as_ref().map(report_digest);
        let (known_ms, last_body) = match &old {
            Some(old) => {
                let old = old.live();
                // The body is known to carry the recorded report only while the
                // database still holds the one it carried (another replica may have
                // recorded another since).
                let body = old.last_body.filter(|_| old.recorded == recorded);
                (old.newest_request_ms, body)
            }
            None => (0, None),
        };
        let live = Live {
            newest_request_ms: known_ms.max(newest_pending_ms).max(view.newest_request_ms),
            last_body,
            recorded,
            running_version: view.running_version().map(Into::into),
            session: view.session.as_ref().map(CachedSession::from),
        };
        let names = Names {
            id: id.into(),
            app: self.intern(&view.install.app),
            channel: self.intern(&view.install.channel),
        };
        let entry = Arc::new(InstallEntry::from_view(view, names, live));
        // Compared under the shard's lock: an invalidation bumps the epoch before it
        // takes the lock to remove the entry, so it either spoils this load or removes
        // what it keeps.
        let mut shard = self.shard(id);
        if self.stamp(id) == stamp {
            if shard.len() >= self.max_installs_per_shard && !shard.contains_key(id) {
                // Room for the newcomer: any entry will do, it is only a cache.
                if let Some(victim) = shard.keys().next().cloned() {
                    shard.remove(&victim);
                }
            }
            shard.insert(entry.id.clone(), entry.clone());
        }
        entry
    }

    /// The documents of release `app@version`, if kept.
    pub fn release(&self, app: &str, version: &str) -> Option<Arc<ReleaseDocs>> {
        let releases = self.releases.read().unwrap_or_else(|p| p.into_inner());
        releases.get(app)?.get(version).cloned()
    }

    /// Keeps the documents of release `app@version`.
    pub fn keep_release(&self, app: &str, version: &str, docs: Arc<ReleaseDocs>) {
        let mut releases = self.releases.write().unwrap_or_else(|p| p.into_inner());
        if releases.values().map(HashMap::len).sum::<usize>() >= MAX_RELEASES {
            releases.clear();
        }
        releases
            .entry(app.into())
            .or_default()
            .insert(version.into(), docs);
    }

    /// `name`, allocated once for every entry that names it.
    fn intern(&self, name: &str) -> Arc<str> {
        let mut names = self.names.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(known) = names.get(name) {
            return known.clone();
        }
        let fresh: Arc<str> = name.into();
        names.insert(fresh.clone());
        fresh
    }

    /// The entry of channel `app/channel`, read from `store` on a miss.
    pub async fn channel(
        &self,
        store: &dyn Store,
        app: &str,
        channel: &str,
    ) -> StoreResult<Arc<ChannelEntry>> {
        if let Some(entry) = self.cached_channel(app, channel) {
            return Ok(entry);
        }
        let epoch = self.epoch();
        let entry = Arc::new(load_channel(store, app, channel).await?);
        if self.epoch() == epoch {
            self.channels_write()
                .entry(app.into())
                .or_default()
                .insert(channel.into(), entry.clone());
        }
        Ok(entry)
    }

    fn cached_channel(&self, app: &str, channel: &str) -> Option<Arc<ChannelEntry>> {
        let channels = self.channels.read().unwrap_or_else(|p| p.into_inner());
        let entry = channels.get(app)?.get(channel)?;
        (entry.loaded_at.elapsed() < self.ttl).then(|| entry.clone())
    }

    fn channels_write(&self) -> std::sync::RwLockWriteGuard<'_, ChannelMap> {
        self.channels.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Drops what `change` made stale. An install's change spoils the loads of its
    /// epoch slot only (a channel's entry does not depend on its installs); any other
    /// spoils every load.
    pub fn apply(&self, change: &Change) {
        match change.kind {
            ChangeKind::Install => {
                self.epoch_slot(&change.key).fetch_add(1, Ordering::AcqRel);
                self.shard(&change.key).remove(change.key.as_str());
            }
            ChangeKind::Channel => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                let (app, channel) = change.key.split_once('/').unwrap_or((&change.key, ""));
                if let Some(channels) = self.channels_write().get_mut(app) {
                    channels.remove(channel);
                }
            }
            ChangeKind::App => {
                self.epoch.fetch_add(1, Ordering::AcqRel);
                self.channels_write().remove(change.key.as_str());
            }
        }
    }

    /// Drops everything (the feed could not be read in full).
    pub fn clear(&self) {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        for shard in &self.installs {
            shard.lock().unwrap_or_else(|p| p.into_inner()).clear();
        }
        self.channels_write().clear();
    }

    /// How many installs are cached.
    pub fn install_count(&self) -> usize {
        self.installs
            .iter()
            .map(|s| s.lock().unwrap_or_else(|p| p.into_inner()).len())
            .sum()
    }
}

/// Reads what a check-in needs of one channel.
async fn load_channel(store: &dyn Store, app: &str, channel: &str) -> StoreResult<ChannelEntry> {
    let release = match store
        .get_channel(app, channel)
        .await?
        .and_then(|c| c.version)
    {
        Some(version) => release_ref(store, app, &version).await?,
        None => None,
    };
    let rollout = match store.active_rollout(app, channel).await? {
        Some(rollout) => release_ref(store, app, &rollout.version)
            .await?
            .map(|r| (rollout, r)),
        None => None,
    };
    Ok(ChannelEntry {
        release,
        rollout,
        loaded_at: Instant::now(),
    })
}

async fn release_ref(
    store: &dyn Store,
    app: &str,
    version: &str,
) -> StoreResult<Option<ReleaseRef>> {
    Ok(store.get_release(app, version).await?.map(|r| ReleaseRef {
        version: r.version,
        release_counter: r.release_counter,
        digest: r.digest,
        state: r.state,
    }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use driftless_store::{Install, StoredAssignment};

    /// Install `id`'s assignment as the store hands it out: an envelope that compacts
    /// (signed by no real key: the cache never verifies it).
    fn assignment(id: &str) -> StoredAssignment {
        let digest = format!("sha256:{}", "cd".repeat(32));
        let a = driftless_wire::release::Assignment {
            doc_type: "assignment".into(),
            install_id: id.into(),
            app: "acme".into(),
            channel: "stable".into(),
            version: "1.0.0".parse().unwrap(),
            release_digest: digest.parse().unwrap(),
            release_counter: 1,
            sequence: 1,
            issued_at: 1,
            expires: 2,
            allow_downgrade: false,
            entitlements: Default::default(),
        };
        let payload = serde_json::to_vec(&a).unwrap();
        let mut env = Envelope::new(driftless_wire::ASSIGNMENT_PAYLOAD_TYPE, &payload);
        env.add_signature(driftless_wire::KeyId("ab".repeat(8)), &[7; 64]);
        let envelope = serde_json::to_string(&env).unwrap();
        StoredAssignment {
            sequence: 1,
            release_digest: digest,
            expires: 2,
            etag: driftless_wire::Digest::of(envelope.as_bytes())
                .hex()
                .to_string(),
            envelope,
        }
    }

    fn view(i: usize) -> CheckinView {
        let id = format!("ins_{i:032x}");
        let assignment = assignment(&id);
        CheckinView {
            license: Default::default(),
            install: Install {
                id,
                license_id: "lic_27c4172546404b05".into(),
                customer: "acme-corp".into(),
                app: "acme".into(),
                channel: "stable".into(),
                public_key: "ab".repeat(32),
                hostname: "host-1".into(),
                platform: "linux/amd64".into(),
                revoked: false,
                created_at: 1,
                uninstalled_at: None,
            },
            license_revoked: false,
            channel_release: None,
            rollout: None,
            assignment: Some(assignment),
            last_report: Some(CheckinReport {
                at: 1,
                status: "converged".into(),
                version: Some("1.0.0".into()),
                release_counter: Some(1),
                cli_version: "0.1.0".into(),
                free_disk_bytes: Some(1 << 30),
                target_version: None,
                reason: None,
                policy: None,
                waiting: None,
            }),
            newest_request_ms: 1_000,
            session: None,
        }
    }

    #[test]
    fn a_report_digest_leaves_out_the_time_and_nothing_else() {
        let report = view(1).last_report.unwrap();
        let digest = report_digest(&report);
        let later = CheckinReport {
            at: report.at + 300,
            ..report.clone()
        };
        assert_eq!(report_digest(&later), digest);
        let changed: Vec<CheckinReport> = vec![
            CheckinReport {
                status: "failed".into(),
                ..report.clone()
            },
            CheckinReport {
                version: None,
                ..report.clone()
            },
            CheckinReport {
                release_counter: Some(2),
                ..report.clone()
            },
            CheckinReport {
                cli_version: "0.2.0".into(),
                ..report.clone()
            },
            CheckinReport {
                free_disk_bytes: None,
                ..report.clone()
            },
            CheckinReport {
                target_version: Some("1.0.0".into()),
                ..report.clone()
            },
            CheckinReport {
                reason: Some("{}".into()),
                ..report.clone()
            },
            CheckinReport {
                policy: Some("auto".into()),
                ..report.clone()
            },
            CheckinReport {
                waiting: Some("{}".into()),
                ..report.clone()
            },
            // The same text in another field.
            CheckinReport {
                target_version: Some("1.0.0".into()),
                version: None,
                ..report.clone()
            },
        ];
        for other in changed {
            assert_ne!(report_digest(&other), digest, "{other:?}");
        }
    }

    fn change(kind: ChangeKind, key: &str) -> Change {
        Change {
            seq: 1,
            kind,
            key: key.into(),
        }
    }

    /// A load that an invalidation raced is kept only if the invalidation could not
    /// concern it: another install's, of another epoch slot (even in the same shard).
    #[test]
    fn an_invalidation_spoils_only_the_loads_it_may_concern() {
        let cache = CheckinCache::new(100, DEFAULT_ENTRY_TTL);
        let a = view(1);
        let id = a.install.id.clone();
        let elsewhere = (2..)
            .map(view)
            .find(|v| {
                cache.shard_index(&v.install.id) == cache.shard_index(&id)
                    && cache.epoch_index(&v.install.id) != cache.epoch_index(&id)
            })
            .unwrap();
        let neighbour = (2..)
            .map(view)
            .find(|v| cache.epoch_index(&v.install.id) == cache.epoch_index(&id))
            .unwrap();

        let stamp = cache.stamp(&id);
        cache.apply(&change(ChangeKind::Install, &elsewhere.install.id));
        cache.keep_view(&a, stamp, 0);
        assert!(cache.cached_install(&id).is_some(), "another slot's change");

        for spoiler in [
            change(ChangeKind::Install, &id),
            change(ChangeKind::Install, &neighbour.install.id),
            change(ChangeKind::Channel, "acme/stable"),
            change(ChangeKind::App, "acme"),
        ] {
            cache.clear();
            let stamp = cache.stamp(&id);
            cache.apply(&spoiler);
            cache.keep_view(&a, stamp, 0);
            assert!(
                cache.cached_install(&id).is_none(),
                "kept despite {spoiler:?}"
            );
        }
        let stamp = cache.stamp(&id);
        cache.keep_view(&a, stamp, 0);
        assert!(
            cache.cached_install(&id).is_some(),
            "a load nothing raced is kept"
        );
        cache.apply(&change(ChangeKind::Install, &id));
        assert!(
            cache.cached_install(&id).is_none(),
            "its own change drops the entry"
        );
    }

    /// A reloaded entry holds the session read with its view, so its next check-in
    /// reads nothing more; a view without one says the install has none.
    #[test]
    fn a_loaded_entry_holds_the_session_of_its_view() {
        let cache = CheckinCache::new(100, DEFAULT_ENTRY_TTL);
        let mut v = view(7);
        let id = v.install.id.clone();
        let entry = cache.keep_view(&v, cache.stamp(&id), 0);
        assert!(entry.live().session.is_none());

        v.session = Some(StoredSession {
            install_id: id.clone(),
            session_id: "s_new".into(),
            key: [9; 32],
            expires_at: 5,
        });
        cache.apply(&change(ChangeKind::Install, &id));
        cache.keep_view(&v, cache.stamp(&id), 0);
        let cached = cache.cached_install(&id).unwrap();
        let live = cached.live();
        match &live.session {
            Some(s) => assert_eq!((&*s.id, s.expires_at), ("s_new", 5)),
            _ => panic!("the view's session is not in the entry"),
        }
    }

    /// The process's resident memory, in bytes.
    fn resident() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
        pages * 4096
    }

    /// Weighs the entries of 200k installs with a session and a compact assignment
    /// each, as the process's resident memory grows (allocator rounding included); the
    /// module doc quotes it.
    #[test]
    fn an_install_entry_weighs_under_a_kilobyte() {
        const N: usize = 200_000;
        let cache = CheckinCache::new(2 * N, DEFAULT_ENTRY_TTL);
        let before = resident();
        for i in 0..N {
            let entry = cache.keep_view(&view(i), cache.stamp(&format!("ins_{i:032x}")), 0);
            let held = entry.assignment.as_ref().unwrap();
            assert!(held.compact.is_some(), "the assignment is kept compactly");
            let mut live = entry.live();
            live.last_body = Some([1; 16]);
            live.session = Some(CachedSession {
                id: "s_AAAAAAAAAAAAAAAAAAAAAA".into(),
                key: SessionKey::from_bytes([2; 32]),
                expires_at: 3,
            });
        }
        let per_entry = resident().saturating_sub(before) / N;
        assert_eq!(cache.install_count(), N);
        eprintln!("{per_entry} bytes per cached install");
        assert!(per_entry < 1024, "{per_entry} bytes per cached install");
    }
}
