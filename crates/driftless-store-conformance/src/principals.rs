//! Checks of users and API tokens: unique names, lookup by hash, and revocation (a
//! user's revocation takes every token of theirs with it).

use std::sync::Arc;

use driftless_store::{ApiToken, Store, StoreError, User};

use crate::NOW;

/// Generates the principal checks; `conformance_tests!` includes them.
#[macro_export]
macro_rules! principal_conformance_tests {
    ($open:path) => {
        $crate::conformance_tests!(@each $open;
            users_are_unique_listed_by_name_and_keep_their_password_hash,
            tokens_are_found_by_hash_and_revoked_once,
            revoking_a_user_revokes_their_tokens_and_no_new_one_is_made,
        );
    };
}

fn user(name: &str, role: &str, app: Option<&str>) -> User {
    User {
        name: name.into(),
        role: role.into(),
        app: app.map(Into::into),
        password_hash: Some(format!("$argon2id$fake${name}")),
        created_at: NOW,
        revoked_at: None,
    }
}

fn token(id: &str, user: Option<&str>, role: &str) -> ApiToken {
    ApiToken {
        id: id.into(),
        user: user.map(Into::into),
        role: role.into(),
        app: Some("acme".into()),
        token_sha256: format!("{:0>64}", hex::encode(id)),
        created_at: NOW,
        expires_at: NOW + 3600,
        revoked_at: None,
    }
}

/// A second user of one name conflicts; users list by name with what was stored.
pub async fn users_are_unique_listed_by_name_and_keep_their_password_hash<S: Store>(store: Arc<S>) {
    let bob = user("bob", "support", None);
    let alice = user("alice", "release-manager", Some("acme"));
    store.create_user(&bob).await.unwrap();
    store.create_user(&alice).await.unwrap();
    let again = store.create_user(&user("bob", "owner", None)).await;
    assert!(
        matches!(again, Err(StoreError::Conflict { .. })),
        "{again:?}"
    );
    assert_eq!(store.list_users().await.unwrap(), vec![alice.clone(), bob]);
    assert_eq!(store.get_user("alice").await.unwrap(), Some(alice));
    assert_eq!(store.get_user("carol").await.unwrap(), None);
}

/// A token is found by its hash only; revoking it marks it once; a duplicate id or
/// hash conflicts; a token for an unknown user is missing.
pub async fn tokens_are_found_by_hash_and_revoked_once<S: Store>(store: Arc<S>) {
    let ci = token("tok1", None, "ci-publisher");
    store.create_api_token(&ci).await.unwrap();
    let dup = store.create_api_token(&ci).await;
    assert!(matches!(dup, Err(StoreError::Conflict { .. })), "{dup:?}");
    let orphan = store
        .create_api_token(&token("tok2", Some("nobody"), "support"))
        .await;
    assert!(
        matches!(orphan, Err(StoreError::Missing { .. })),
        "{orphan:?}"
    );
    let found = store.api_token_by_hash(&ci.token_sha256).await.unwrap();
    assert_eq!(found, Some(ci.clone()));
    assert_eq!(
        store.api_token_by_hash(&"0".repeat(64)).await.unwrap(),
        None
    );
    assert!(store.revoke_api_token("tok1", NOW + 5).await.unwrap());
    assert!(!store.revoke_api_token("tok1", NOW + 6).await.unwrap());
    assert!(!store.revoke_api_token("nope", NOW + 6).await.unwrap());
    let revoked = store.api_token_by_hash(&ci.token_sha256).await.unwrap();
    assert_eq!(revoked.and_then(|t| t.revoked_at), Some(NOW + 5));
    assert_eq!(store.list_api_tokens().await.unwrap().len(), 1);
}

/// Revoking a user revokes every token of theirs (and no one else's), and no token
/// can be made for them afterwards.
pub async fn revoking_a_user_revokes_their_tokens_and_no_new_one_is_made<S: Store>(store: Arc<S>) {
    store
        .create_user(&user("alice", "support", None))
        .await
        .unwrap();
    for t in [
        token("a1", Some("alice"), "support"),
        token("a2", Some("alice"), "support"),
        token("ci", None, "ci-publisher"),
    ] {
        store.create_api_token(&t).await.unwrap();
    }
    assert!(store.revoke_user("alice", NOW + 9).await.unwrap());
    assert!(!store.revoke_user("alice", NOW + 10).await.unwrap());
    let revoked: Vec<(String, Option<i64>)> = store
        .list_api_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.id, t.revoked_at))
        .collect();
    assert_eq!(
        revoked,
        vec![
            ("a1".into(), Some(NOW + 9)),
            ("a2".into(), Some(NOW + 9)),
            ("ci".into(), None)
        ]
    );
    let late = store
        .create_api_token(&token("a3", Some("alice"), "support"))
        .await;
    assert!(matches!(late, Err(StoreError::Missing { .. })), "{late:?}");
    let alice = store.get_user("alice").await.unwrap();
    assert_eq!(alice.and_then(|u| u.revoked_at), Some(NOW + 9));
}
