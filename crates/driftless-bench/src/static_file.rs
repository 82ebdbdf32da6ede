//! `driftless-bench static`: the same client and loop fetching one static file, so a
//! plain web server (nginx) is measured exactly as the control plane is.

use anyhow::Result;
use driftless_exit::refuse;

use crate::driver::{drive, Exchange, Load};
use crate::http1::{Answer, Target};
use crate::outcome::{finish, Common, Outcome, Subject};

/// Arguments of `static`.
#[derive(clap::Args)]
pub struct StaticArgs {
    /// The file's URL, e.g. `http://127.0.0.1:8081/checkin.json`.
    #[arg(long)]
    url: String,
    #[command(flatten)]
    common: Common,
}

/// One connection's GETs: the same request bytes every time.
struct StaticLoad {
    request: Vec<u8>,
}

impl Exchange for StaticLoad {
    fn next_request(&mut self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.request);
    }

    fn expected(&mut self, answer: &Answer, _buf: &[u8]) -> bool {
        answer.status == 200 && !answer.body.is_empty()
    }
}

/// Runs `static`.
pub async fn run(args: StaticArgs) -> Result<Outcome> {
    let Some(target) = Target::parse(&args.url) else {
        refuse!(hint = "pass the file's URL, e.g. http://127.0.0.1:8081/checkin.json"; "`{}` is not a plain http:// URL", args.url);
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\r\n",
        target.path, target.addr
    )
    .into_bytes();
    let loads = (0..args.common.connections.max(1))
        .map(|_| StaticLoad {
            request: request.clone(),
        })
        .collect();
    let load = Load {
        addr: target.addr,
        duration: args.common.duration.into(),
        rate: args.common.rate,
        allow_shed: args.common.allow_shed,
    };
    eprintln!("driving for {}…", args.common.duration);
    let (tally, elapsed) = drive(&load, loads).await;
    let subject = Subject {
        kind: "static",
        expected: "200 with a body",
        auth: "none".into(),
        active: 0,
        installs: 0,
        db_bytes_per_install: None,
        wal_bytes: None,
    };
    Ok(finish(&args.common, tally, elapsed, subject))
}

impl StaticArgs {
    /// Whether to print JSON.
    pub fn json(&self) -> bool {
        self.common.json
    }
}
