//! `cargo bench -p driftless-registry-token --bench mint`: what one registry token costs.
//!
//! Prints the time per `TokenSigner::mint` (ring) next to a bare pure-Rust p256
//! signature of the same size of input (what `mint` used before), measured in the same
//! run so the two figures compare. A plain harness: the numbers are reported, never
//! asserted.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use driftless_registry_token::{generate_key_material, Access, TokenRequest, TokenSigner};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use p256::pkcs8::DecodePrivateKey;

const NOW: i64 = 1_700_000_000;
const RUN_FOR: Duration = Duration::from_secs(3);

/// Runs `f` repeatedly for about `RUN_FOR` after a warm-up; returns microseconds per call.
fn measure(mut f: impl FnMut()) -> (f64, u64) {
    let warm = Instant::now();
    while warm.elapsed() < Duration::from_millis(300) {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < RUN_FOR {
        for _ in 0..64 {
            f();
        }
        n += 64;
    }
    (start.elapsed().as_secs_f64() * 1e6 / n as f64, n)
}

fn main() {
    let m = generate_key_material("driftless bench", NOW).unwrap();
    let signer = TokenSigner::from_pem(&m.key_pem, &m.cert_pem).unwrap();
    let req = TokenRequest {
        issuer: "driftless".into(),
        subject: "0b7c6a0e-5f43-4e0e-9d1c-2f8a7d8b9c10".into(),
        audience: "registry.example".into(),
        access: vec![
            Access::repository("acme/r12/web", &["pull"]),
            Access::repository("acme/r12/db", &["pull"]),
            Access::repository("acme/r12/compose", &["pull"]),
        ],
        lifetime_s: 300,
    };
    let sample = signer.mint(&req, NOW).unwrap().token;
    let signing_input = sample.rsplit_once('.').unwrap().0.to_string();

    let (mint_us, mint_n) = measure(|| {
        black_box(signer.mint(black_box(&req), NOW).unwrap());
    });
    let p256_key = SigningKey::from_pkcs8_pem(&m.key_pem).unwrap();
    let (p256_us, p256_n) = measure(|| {
        let sig: Signature = p256_key.sign(black_box(signing_input.as_bytes()));
        black_box(sig);
    });

    println!("mint (ring ES256, whole token)     {mint_us:8.1} us/token  {:8.0} tokens/s/core  ({mint_n} runs)", 1e6 / mint_us);
    println!("p256 sign only (previous signer)   {p256_us:8.1} us/sig    {:8.0} sigs/s/core    ({p256_n} runs)", 1e6 / p256_us);
    println!(
        "speed-up of mint over the p256 signature alone: {:.1}x",
        p256_us / mint_us
    );
}
