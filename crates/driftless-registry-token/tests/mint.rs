//! Minted tokens carry what distribution checks, signed so it verifies.

#![allow(clippy::unwrap_used)]

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use driftless_registry_token::{
    generate_key_material, libtrust_kid, Access, TokenClaims, TokenError, TokenRequest,
    TokenSigner, DEFAULT_LIFETIME_S, MIN_LIFETIME_S,
};
use p256::ecdsa::signature::Verifier as _;
use p256::ecdsa::Signature;
use p256::pkcs8::EncodePublicKey;

const NOW: i64 = 1_700_000_000;

fn signer() -> TokenSigner {
    let m = generate_key_material("driftless test", NOW).unwrap();
    TokenSigner::from_pem(&m.key_pem, &m.cert_pem).unwrap()
}

fn request(lifetime_s: u64) -> TokenRequest {
    TokenRequest {
        issuer: "driftless".into(),
        subject: "install-1".into(),
        audience: "registry.test".into(),
        access: vec![Access::repository("acme/compose", &["pull"])],
        lifetime_s,
    }
}

fn parts(token: &str) -> (serde_json::Value, serde_json::Value, Vec<u8>, String) {
    let p: Vec<&str> = token.split('.').collect();
    assert_eq!(p.len(), 3, "compact JWS has three parts");
    let header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[0]).unwrap()).unwrap();
    let claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p[1]).unwrap()).unwrap();
    let sig = URL_SAFE_NO_PAD.decode(p[2]).unwrap();
    (header, claims, sig, format!("{}.{}", p[0], p[1]))
}

#[test]
fn header_names_key_and_certificate() {
    let m = generate_key_material("driftless test", NOW).unwrap();
    let s = TokenSigner::from_pem(&m.key_pem, &m.cert_pem).unwrap();
    let t = s.mint(&request(DEFAULT_LIFETIME_S), NOW).unwrap();
    let (header, _, _, _) = parts(&t.token);
    assert_eq!(header["typ"], "JWT");
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["kid"], s.kid());
    let spki = s.verifying_key().to_public_key_der().unwrap();
    assert_eq!(s.kid(), libtrust_kid(spki.as_bytes()));
    let x5c = header["x5c"].as_array().unwrap();
    assert_eq!(x5c.len(), 1);
    let cert_der = STANDARD.decode(x5c[0].as_str().unwrap()).unwrap();
    let pem_body: String = m
        .cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    assert_eq!(cert_der, STANDARD.decode(pem_body).unwrap());
}

#[test]
fn claims_decode_with_string_audience() {
    let t = signer().mint(&request(DEFAULT_LIFETIME_S), NOW).unwrap();
    let (_, claims, _, _) = parts(&t.token);
    assert!(
        claims["aud"].is_string(),
        "distribution 2.8 rejects an array aud"
    );
    let c: TokenClaims = serde_json::from_value(claims.clone()).unwrap();
    assert_eq!(c.iss, "driftless");
    assert_eq!(c.sub, "install-1");
    assert_eq!(c.aud, "registry.test");
    assert_eq!(c.iat, NOW);
    assert_eq!(c.exp, NOW + 300);
    assert!(c.nbf <= NOW && c.nbf >= NOW - 60);
    assert_eq!(c.jti.len(), 32);
    assert!(c.jti.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(claims["access"][0]["type"], "repository");
    assert_eq!(
        c.access,
        vec![Access::repository("acme/compose", &["pull"])]
    );
    assert_eq!(t.expires_in, 300);
    assert_eq!(t.expires_at, NOW + 300);
    assert_eq!(t.issued_at, "2023-11-14T22:13:20Z");
}

#[test]
fn every_token_has_its_own_jti() {
    let s = signer();
    let a = parts(&s.mint(&request(60), NOW).unwrap().token).1;
    let b = parts(&s.mint(&request(60), NOW).unwrap().token).1;
    assert_ne!(a["jti"], b["jti"]);
}

#[test]
fn signature_is_raw_es256_and_verifies() {
    let s = signer();
    let t = s.mint(&request(DEFAULT_LIFETIME_S), NOW).unwrap();
    let (_, _, sig, input) = parts(&t.token);
    assert_eq!(sig.len(), 64, "ES256 JWS signature is r||s, not DER");
    let sig = Signature::from_slice(&sig).unwrap();
    s.verifying_key().verify(input.as_bytes(), &sig).unwrap();
    let other = signer();
    assert!(other
        .verifying_key()
        .verify(input.as_bytes(), &sig)
        .is_err());
}

#[test]
fn lifetime_is_clamped_to_minimum_and_expires_in_is_honest() {
    let s = signer();
    for asked in [0, 1, MIN_LIFETIME_S - 1] {
        let t = s.mint(&request(asked), NOW).unwrap();
        let c: TokenClaims = serde_json::from_value(parts(&t.token).1).unwrap();
        assert_eq!(t.expires_in, MIN_LIFETIME_S);
        assert_eq!(c.exp - c.iat, MIN_LIFETIME_S as i64);
        assert_eq!(t.expires_at, c.exp);
    }
    let t = s.mint(&request(3600), NOW).unwrap();
    assert_eq!(t.expires_in, 3600);
}

#[test]
fn certificate_of_another_key_is_refused() {
    let a = generate_key_material("a", NOW).unwrap();
    let b = generate_key_material("b", NOW).unwrap();
    let mismatch = TokenSigner::from_pem(&a.key_pem, &b.cert_pem).unwrap_err();
    assert!(matches!(mismatch, TokenError::KeyMismatch { .. }));
    assert_eq!(
        mismatch.hint().as_deref(),
        Some("use the certificate generated with this key")
    );
    assert!(matches!(
        TokenSigner::from_pem(&a.key_pem, "not a pem"),
        Err(TokenError::Certificate { .. })
    ));
    assert!(matches!(
        TokenSigner::from_pem(&a.cert_pem, &a.cert_pem),
        Err(TokenError::Key { .. })
    ));
    assert!(matches!(
        TokenSigner::from_pem(&a.key_pem, &a.key_pem),
        Err(TokenError::Certificate { .. })
    ));
}

#[test]
fn invalid_repository_or_empty_audience_is_refused() {
    let s = signer();
    let mut r = request(60);
    r.access = vec![Access::repository("acme/_compose", &["pull"])];
    assert!(matches!(s.mint(&r, NOW), Err(TokenError::Request { .. })));
    let mut r = request(60);
    r.audience.clear();
    let err = s.mint(&r, NOW).unwrap_err();
    assert!(matches!(err, TokenError::Request { .. }));
    assert_eq!(
        err.to_string(),
        "cannot mint a registry token: the audience is empty"
    );
    assert_eq!(
        err.hint().as_deref(),
        Some("set it to the registry's auth.token.service")
    );
}

#[test]
fn debug_output_hides_secrets() {
    let m = generate_key_material("a", NOW).unwrap();
    assert!(!format!("{m:?}").contains("PRIVATE KEY"));
    let t = TokenSigner::from_pem(&m.key_pem, &m.cert_pem)
        .unwrap()
        .mint(&request(60), NOW)
        .unwrap();
    assert!(!format!("{t:?}").contains(&t.token));
}
