//! `driftless-bench run`: drives real check-ins of seeded installs against a control
//! plane. Setup (a check-in session per install with `--auth session`, and a first
//! check-in to learn each install's ETag) is not timed; then every connection cycles
//! over its own installs (so one install's requests never race each other's clocks).

use anyhow::{Context as _, Result};
use driftless_exit::refuse;
use driftless_wire::session::{HostHandshake, SessionResponse};
use std::path::PathBuf;

use crate::checkin::{checkin_body, Auth, SignedPost};
use crate::driver::{describe, drive, Exchange, Load};
use crate::http1::{find, Answer, Connection, Target};
use crate::identity::{active_indices, identity};
use crate::measure;
use crate::outcome::{finish, Common, Outcome, Subject};
use crate::seed::{SEEDED_COUNTER, SEEDED_VERSION};

/// What each check-in must be answered with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// The install holds its assignment: `If-None-Match`, expecting `304`.
    Converged,
    /// No `If-None-Match`: expecting `200` with a registry token.
    Token,
}

/// How installs authenticate their check-ins.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AuthKind {
    /// An Ed25519 signature on every check-in.
    Signature,
    /// A check-in session opened once per install, then an HMAC per check-in.
    Session,
}

/// Arguments of `run`.
#[derive(clap::Args)]
pub struct RunArgs {
    /// The control plane, e.g. `http://127.0.0.1:8080`.
    #[arg(long)]
    url: String,
    /// How many installs `seed` put in the database.
    #[arg(long)]
    installs: u64,
    /// How many of them check in (spread over all of them), cycling.
    #[arg(long, default_value_t = 1000)]
    active: u64,
    /// What the check-ins expect.
    #[arg(long, value_enum)]
    mode: Mode,
    /// How installs authenticate.
    #[arg(long, value_enum, default_value = "session")]
    auth: AuthKind,
    /// The seed `seed` derived the installs' keys from.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The SQLite database file, to report its bytes per install.
    #[arg(long)]
    database: Option<PathBuf>,
    #[command(flatten)]
    common: Common,
}

/// One connection's share of the installs.
struct CheckinLoad {
    posts: Vec<SignedPost>,
    next: usize,
    body: Vec<u8>,
    mode: Mode,
}

impl Exchange for CheckinLoad {
    fn next_request(&mut self, out: &mut Vec<u8>) {
        let i = self.next;
        self.next = (i + 1) % self.posts.len();
        self.posts[i].write(&self.body, out);
    }

    fn expected(&mut self, answer: &Answer, buf: &[u8]) -> bool {
        match self.mode {
            Mode::Converged => answer.status == 304,
            Mode::Token => answer.status == 200 && has_token(answer, buf),
        }
    }
}

/// Whether a `200` check-in answer carries a registry token.
fn has_token(answer: &Answer, buf: &[u8]) -> bool {
    buf.get(answer.body.clone())
        .is_some_and(|body| find(body, b"\"token\":\"").is_some())
}

/// Runs `run`.
pub async fn run(args: RunArgs) -> Result<Outcome> {
    let Some(target) = Target::parse(&args.url) else {
        refuse!(hint = "pass the control plane's URL, e.g. http://127.0.0.1:8080"; "`{}` is not a plain http:// URL", args.url);
    };
    if args.installs == 0 || args.active == 0 {
        refuse!("--installs and --active must be at least 1");
    }
    let connections = args.common.connections.max(1);
    if args.active < connections as u64 {
        refuse!(hint = "lower --connections or raise --active"; "--active {} is fewer than --connections {connections}: every connection needs installs of its own", args.active);
    }
    let body = checkin_body(SEEDED_VERSION, SEEDED_COUNTER);
    let indices = active_indices(args.installs, args.active);
    eprintln!(
        "setting up {} installs ({} auth) on {connections} connections…",
        indices.len(),
        auth_name(args.auth)
    );
    let mut shares: Vec<Vec<u64>> = vec![Vec::new(); connections];
    for (j, index) in indices.iter().enumerate() {
        shares[j % connections].push(*index);
    }
    let setups: Vec<_> = shares
        .into_iter()
        .map(|share| {
            let ctx = SetupContext {
                host: target.addr.clone(),
                seed: args.seed,
                auth: args.auth,
                mode: args.mode,
                body: body.clone(),
            };
            tokio::spawn(async move { ctx.set_up(share).await })
        })
        .collect();
    let mut loads = Vec::with_capacity(connections);
    for setup in setups {
        let posts = setup.await.context("a setup task failed")??;
        loads.push(CheckinLoad {
            posts,
            next: 0,
            body: body.clone(),
            mode: args.mode,
        });
    }
    let load = Load {
        addr: target.addr.clone(),
        duration: args.common.duration.into(),
        rate: args.common.rate,
        allow_shed: args.common.allow_shed,
    };
    eprintln!("driving for {}…", args.common.duration);
    let (tally, elapsed) = drive(&load, loads).await;
    let db = match &args.database {
        Some(path) => Some(
            measure::sqlite_bytes(path)
                .with_context(|| format!("cannot read the size of {}", path.display()))?,
        ),
        None => None,
    };
    let kind = match args.mode {
        Mode::Converged => ("converged", "304"),
        Mode::Token => ("token", "200 with a registry token"),
    };
    let subject = Subject {
        kind: kind.0,
        expected: kind.1,
        auth: auth_name(args.auth).into(),
        active: args.active.min(args.installs),
        installs: args.installs,
        db_bytes_per_install: db.map(|(bytes, _)| bytes as f64 / args.installs as f64),
        wal_bytes: db.map(|(_, wal)| wal),
    };
    Ok(finish(&args.common, tally, elapsed, subject))
}

fn auth_name(auth: AuthKind) -> &'static str {
    match auth {
        AuthKind::Signature => "signature",
        AuthKind::Session => "session",
    }
}

/// What every install's setup needs.
struct SetupContext {
    host: String,
    seed: u64,
    auth: AuthKind,
    mode: Mode,
    body: Vec<u8>,
}

impl SetupContext {
    /// Opens a session (if asked) and makes a first check-in for each install of one
    /// connection's share; returns their check-in requests as the run sends them.
    async fn set_up(self, share: Vec<u64>) -> Result<Vec<SignedPost>> {
        let mut conn = Connection::new(&self.host);
        let mut posts = Vec::with_capacity(share.len());
        for index in share {
            let mut attempt = 0;
            let post = loop {
                match self.set_up_one(&mut conn, index).await {
                    // Setup is not measured: a control plane shedding load (503 +
                    // Retry-After) is asked again after the second it names.
                    Err(e) if e.is::<Shed>() && attempt < SETUP_RETRIES => {
                        attempt += 1;
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                    other => {
                        break other.with_context(|| {
                            format!("setting up install #{index} of seed {}", self.seed)
                        })?
                    }
                }
            };
            posts.push(post);
        }
        Ok(posts)
    }

    async fn set_up_one(&self, conn: &mut Connection, index: u64) -> Result<SignedPost> {
        let me = identity(self.seed, index);
        let mut clock = 0;
        let auth = match self.auth {
            AuthKind::Signature => Auth::Signature(me.key.clone()),
            AuthKind::Session => {
                let (auth, last) = open_session(conn, &self.host, &me).await?;
                clock = last;
                auth
            }
        };
        let path = format!("/v1/installs/{}/checkin", me.id);
        let mut post = SignedPost::new(&self.host, path, self.body.len(), None, auth).after(clock);
        let mut request = Vec::new();
        post.write(&self.body, &mut request);
        let answer = conn.round_trip(&request).await?;
        if answer.status != 200 {
            return Err(unexpected_setup_answer(
                &me.id,
                "first check-in",
                &answer,
                conn.buf(),
            ));
        }
        let etag = answer
            .etag
            .clone()
            .and_then(|r| conn.buf().get(r))
            .map(|t| String::from_utf8_lossy(t).into_owned())
            .with_context(|| {
                format!(
                    "install `{}`: the first check-in's answer has no ETag",
                    me.id
                )
            })?;
        let tag = (self.mode == Mode::Converged).then_some(etag.as_str());
        Ok(post.with_head(&self.host, self.body.len(), tag))
    }
}

/// Opens a check-in session for `me`; returns its auth and the install's clock.
async fn open_session(
    conn: &mut Connection,
    host: &str,
    me: &crate::identity::Identity,
) -> Result<(Auth, i64)> {
    let handshake = HostHandshake::new();
    let body = serde_json::to_vec(&handshake.request())?;
    let path = format!("/v1/installs/{}/session", me.id);
    let mut post = SignedPost::new(
        host,
        path,
        body.len(),
        None,
        Auth::Signature(me.key.clone()),
    );
    let mut request = Vec::new();
    post.write(&body, &mut request);
    let answer = conn.round_trip(&request).await?;
    let answer_body = conn.buf().get(answer.body.clone()).unwrap_or_default();
    if answer.status == 404 && find(answer_body, b"unknown_install").is_none() {
        refuse!(hint = "run with --auth signature against this control plane"; "the control plane at {host} has no check-in sessions: POST /v1/installs/{{id}}/session answered 404");
    }
    if !(200..300).contains(&answer.status) {
        return Err(unexpected_setup_answer(
            &me.id,
            "session request",
            &answer,
            conn.buf(),
        ));
    }
    let session: SessionResponse = serde_json::from_slice(answer_body)
        .with_context(|| format!("install `{}`: malformed session answer", me.id))?;
    let key = handshake
        .finish(&me.id, &session)
        .with_context(|| format!("install `{}`: session handshake", me.id))?;
    let auth = Auth::Session {
        id: session.session_id,
        key,
    };
    Ok((auth, post.last_ms()))
}

/// How many times setup asks again after a `503` (load shed).
const SETUP_RETRIES: u32 = 60;

/// A setup request the control plane shed (`503`): asked again after a second.
#[derive(Debug, thiserror::Error)]
#[error("install `{0}`: the {1} was shed (503 + Retry-After)")]
struct Shed(String, &'static str);

fn unexpected_setup_answer(
    id: &str,
    what: &'static str,
    answer: &Answer,
    buf: &[u8],
) -> anyhow::Error {
    if answer.status == 503 {
        return Shed(id.to_string(), what).into();
    }
    let hint = if answer.status == 404 {
        "seed this control plane's database with `driftless-bench seed` and pass the same --installs and --seed"
    } else {
        "see the control plane's log"
    };
    anyhow::anyhow!("install `{id}`: the {what} got {}", describe(answer, buf))
        .context(driftless_exit::Hint(hint.into()))
}

impl RunArgs {
    /// Whether to print JSON.
    pub fn json(&self) -> bool {
        self.common.json
    }
}
