//! Real-time authorization (CPO → hub): decisions, their audit, the owner eMSP's policy, retries
//! from the same EVSE, concurrency, and uids two eMSPs share.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{read, token_json, Answer, TestApp};
use crate::on_both_backends;

/// Stores AUTH1 (valid) and AUTH2 (not valid).
async fn stored_auth_tokens(app: &TestApp) {
    assert_eq!(app.put_token(&token_json("AUTH1")).await.status, 201);
    let mut blocked = token_json("AUTH2");
    blocked["valid"] = json!(false);
    assert_eq!(app.put_token(&blocked).await.status, 201);
}

async fn authorize_as_app_user(app: &TestApp) -> Answer {
    app.call(
        Method::POST,
        "/ocpi/2.3.0/sender/tokens/AUTH1/authorize?type=APP_USER",
        &app.cpo,
        None,
    )
    .await
}

async fn authorize_as_emsp(app: &TestApp) -> Answer {
    app.call(
        Method::POST,
        "/ocpi/2.3.0/sender/tokens/AUTH1/authorize",
        &app.emsp,
        None,
    )
    .await
}

async fn authorize_without_location_id(app: &TestApp) -> Answer {
    app.authorize("AUTH1", Some(json!({"evse_uids": ["E1"]})))
        .await
}

/// The requests of the audit tests, in order: unknown, allowed, in use, blocked, unknown type,
/// then two refused before any decision. Returns the reference of the allowed one.
async fn decision_sequence(app: &TestApp) -> String {
    stored_auth_tokens(app).await;
    app.authorize("NOPE", None).await;
    let first = app.authorize("auth1", None).await;
    app.authorize("AUTH1", None).await;
    app.authorize("AUTH2", None).await;
    authorize_as_app_user(app).await;
    authorize_as_emsp(app).await;
    authorize_without_location_id(app).await;
    first.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn unknown_token_is_404_2004_without_data(app: TestApp) {
    stored_auth_tokens(&app).await;
    let unknown = app.authorize("NOPE", None).await;
    assert_eq!((unknown.status, unknown.ocpi_status()), (404, 2004));
    assert!(unknown.body.get("data").is_none());
}

async fn free_token_is_allowed_and_returned_as_stored(app: TestApp) {
    stored_auth_tokens(&app).await;
    let first = app.authorize("auth1", None).await;
    assert_eq!((first.status, first.ocpi_status()), (200, 1000));
    assert_eq!(first.body["data"]["allowed"], "ALLOWED");
    assert_eq!(first.body["data"]["token"]["uid"], "AUTH1");
}

async fn allowed_answer_carries_a_uuid_reference(app: TestApp) {
    stored_auth_tokens(&app).await;
    let first = app.authorize("auth1", None).await;
    let reference = first.body["data"]["authorization_reference"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(reference.len(), 36);
}

async fn answer_goes_from_the_owner_emsp_to_the_cpo(app: TestApp) {
    stored_auth_tokens(&app).await;
    let first = app.authorize("auth1", None).await;
    assert_eq!(
        first.header("ocpi-from-country-code").as_deref(),
        Some("NL")
    );
    assert_eq!(first.header("ocpi-from-party-id").as_deref(), Some("ABC"));
    assert_eq!(first.header("ocpi-to-party-id").as_deref(), Some("CPO"));
}

async fn token_in_use_is_not_allowed_without_reference(app: TestApp) {
    stored_auth_tokens(&app).await;
    app.authorize("auth1", None).await;
    let second = app.authorize("AUTH1", None).await;
    assert_eq!((second.status, second.ocpi_status()), (200, 1000));
    assert_eq!(second.body["data"]["allowed"], "NOT_ALLOWED");
    assert!(second.body["data"]["info"]["text"]
        .as_str()
        .unwrap()
        .contains("already in progress"));
    assert!(second.body["data"].get("authorization_reference").is_none());
}

async fn invalid_token_is_blocked(app: TestApp) {
    stored_auth_tokens(&app).await;
    let refused = app.authorize("AUTH2", None).await;
    assert_eq!(refused.body["data"]["allowed"], "BLOCKED");
    assert_eq!(refused.body["data"]["token"]["valid"], false);
}

async fn type_query_selects_the_token(app: TestApp) {
    stored_auth_tokens(&app).await;
    let wrong_type = authorize_as_app_user(&app).await;
    assert_eq!(wrong_type.status, 404, "?type selects the token");
}

async fn emsp_cannot_authorize_403_2001(app: TestApp) {
    stored_auth_tokens(&app).await;
    let by_emsp = authorize_as_emsp(&app).await;
    assert_eq!((by_emsp.status, by_emsp.ocpi_status()), (403, 2001));
}

async fn location_without_location_id_is_2001(app: TestApp) {
    stored_auth_tokens(&app).await;
    let no_location_id = authorize_without_location_id(&app).await;
    assert_eq!(
        (no_location_id.status, no_location_id.ocpi_status()),
        (200, 2001)
    );
    assert!(no_location_id.message().contains("location_id"));
}

async fn audit_records_each_decision_in_order_and_nothing_else(app: TestApp) {
    decision_sequence(&app).await;
    let entries = app.audit_entries().await;
    let results: Vec<(&str, &str)> = entries
        .iter()
        .rev()
        .map(|e| (e.result.as_str(), e.reason.as_str()))
        .collect();
    assert_eq!(
        results,
        vec![
            ("UNKNOWN", "unknown_token"),
            ("ALLOWED", "allowed"),
            ("NOT_ALLOWED", "concurrent_use"),
            ("BLOCKED", "token_invalid"),
            ("UNKNOWN", "unknown_token"),
        ]
    );
}

async fn audit_keeps_the_reference_of_an_allowed_decision(app: TestApp) {
    let reference = decision_sequence(&app).await;
    let entries = app.audit_entries().await;
    let allowed = &entries[3];
    assert_eq!(
        allowed.authorization_reference.as_deref(),
        Some(reference.as_str())
    );
}

async fn audit_names_the_requesting_cpo(app: TestApp) {
    decision_sequence(&app).await;
    let entries = app.audit_entries().await;
    let allowed = &entries[3];
    assert_eq!(
        (
            allowed.requester_country_code.as_str(),
            allowed.requester_party_id.as_str()
        ),
        ("DE", "CPO")
    );
}

async fn audit_keeps_the_uid_as_presented(app: TestApp) {
    decision_sequence(&app).await;
    let entries = app.audit_entries().await;
    let allowed = &entries[3];
    assert_eq!(allowed.token_uid, "auth1");
}

async fn audit_keeps_the_request_id(app: TestApp) {
    decision_sequence(&app).await;
    let entries = app.audit_entries().await;
    let allowed = &entries[3];
    assert!(allowed.request_id.is_some());
}

on_both_backends!(
    unknown_token_is_404_2004_without_data,
    free_token_is_allowed_and_returned_as_stored,
    allowed_answer_carries_a_uuid_reference,
    answer_goes_from_the_owner_emsp_to_the_cpo,
    token_in_use_is_not_allowed_without_reference,
    invalid_token_is_blocked,
    type_query_selects_the_token,
    emsp_cannot_authorize_403_2001,
    location_without_location_id_is_2001,
    audit_records_each_decision_in_order_and_nothing_else,
    audit_keeps_the_reference_of_an_allowed_decision,
    audit_names_the_requesting_cpo,
    audit_keeps_the_uid_as_presented,
    audit_keeps_the_request_id,
);

// The owner eMSP's state is read with the token: its concurrent-use limit replaces the default,
// and a suspended eMSP's tokens are refused.

async fn stored_own_tokens(app: &TestApp) {
    for uid in ["OWN1", "OWN2"] {
        assert_eq!(app.put_token(&token_json(uid)).await.status, 201);
    }
}

async fn allowed_at(app: &TestApp, uid: &str, location: &str) -> Option<String> {
    let answer = app
        .authorize(uid, Some(json!({ "location_id": location })))
        .await;
    allowed(&answer)
}

fn allowed(answer: &Answer) -> Option<String> {
    answer.body["data"]["allowed"].as_str().map(str::to_owned)
}

/// Gives NL*ABC a limit of 2 and uses OWN1 once.
async fn limit_2_and_one_use(app: &TestApp) {
    stored_own_tokens(app).await;
    assert!(app.set_emsp_policy("NL", "ABC", false, Some(2)).await);
    assert_eq!(
        allowed_at(app, "OWN1", "L1").await.as_deref(),
        Some("ALLOWED")
    );
}

async fn suspend_nl_abc(app: &TestApp) {
    stored_own_tokens(app).await;
    assert!(app.set_emsp_policy("NL", "ABC", true, Some(2)).await);
}

async fn emsp_limit_replaces_the_default_of_one(app: TestApp) {
    limit_2_and_one_use(&app).await;
    assert_eq!(
        allowed_at(&app, "OWN1", "L2").await.as_deref(),
        Some("ALLOWED"),
        "the eMSP's limit of 2 replaces the default of 1"
    );
}

async fn emsp_limit_refuses_the_use_beyond_it(app: TestApp) {
    limit_2_and_one_use(&app).await;
    allowed_at(&app, "OWN1", "L2").await;
    assert_eq!(
        allowed_at(&app, "OWN1", "L3").await.as_deref(),
        Some("NOT_ALLOWED")
    );
}

async fn suspended_emsp_tokens_are_not_allowed(app: TestApp) {
    suspend_nl_abc(&app).await;
    let suspended = app.authorize("OWN2", None).await;
    assert_eq!(suspended.body["data"]["allowed"], "NOT_ALLOWED");
    assert!(suspended.body["data"]["info"]["text"]
        .as_str()
        .unwrap()
        .contains("suspended"));
    assert!(suspended.body["data"]
        .get("authorization_reference")
        .is_none());
}

async fn lifted_suspension_allows_again(app: TestApp) {
    suspend_nl_abc(&app).await;
    app.authorize("OWN2", None).await;
    assert!(app.set_emsp_policy("NL", "ABC", false, None).await);
    assert_eq!(
        allowed(&app.authorize("OWN2", None).await).as_deref(),
        Some("ALLOWED")
    );
}

on_both_backends!(
    emsp_limit_replaces_the_default_of_one,
    emsp_limit_refuses_the_use_beyond_it,
    suspended_emsp_tokens_are_not_allowed,
    lifted_suspension_allows_again,
);

// Retries from the same EVSE, and the location in the answer.

/// Stores RETRY1 and authorizes it at LOC-1/EVSE-1; returns where and the answer.
async fn allowed_at_evse_1(app: &TestApp) -> (serde_json::Value, Answer) {
    assert_eq!(app.put_token(&token_json("RETRY1")).await.status, 201);
    let at = json!({"location_id": "LOC-1", "evse_uids": ["EVSE-1"]});
    let first = app.authorize("RETRY1", Some(at.clone())).await;
    (at, first)
}

async fn allowed_location_is_echoed(app: TestApp) {
    let (at, first) = allowed_at_evse_1(&app).await;
    assert_eq!(first.body["data"]["allowed"], "ALLOWED");
    assert_eq!(
        first.body["data"]["location"], at,
        "the allowed location is echoed"
    );
}

async fn retry_from_the_same_evse_gets_the_same_answer(app: TestApp) {
    let (_, first) = allowed_at_evse_1(&app).await;
    let retry = app
        .authorize(
            "RETRY1",
            Some(json!({"location_id": "loc-1", "evse_uids": ["evse-1"]})),
        )
        .await;
    assert_eq!(
        retry.body["data"]["allowed"], "ALLOWED",
        "a retry from the same EVSE gets the same answer"
    );
    assert_eq!(
        retry.body["data"]["authorization_reference"],
        first.body["data"]["authorization_reference"]
    );
}

async fn another_evse_is_not_allowed_and_gets_no_location(app: TestApp) {
    allowed_at_evse_1(&app).await;
    let elsewhere = app
        .authorize(
            "RETRY1",
            Some(json!({"location_id": "LOC-1", "evse_uids": ["EVSE-2"]})),
        )
        .await;
    assert_eq!(elsewhere.body["data"]["allowed"], "NOT_ALLOWED");
    assert!(elsewhere.body["data"].get("location").is_none());
}

async fn concurrent_authorizations_allow_exactly_one(app: TestApp) {
    assert_eq!(app.put_token(&token_json("RACE1")).await.status, 201);
    let app = std::sync::Arc::new(app);
    let calls: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { app.authorize("RACE1", None).await })
        })
        .collect();
    let mut allowed = 0;
    let mut not_allowed = 0;
    for call in calls {
        let answer = call.await.unwrap();
        assert_eq!((answer.status, answer.ocpi_status()), (200, 1000));
        match answer.body["data"]["allowed"].as_str().unwrap() {
            "ALLOWED" => allowed += 1,
            "NOT_ALLOWED" => not_allowed += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!((allowed, not_allowed), (1, 49));
}

on_both_backends!(
    allowed_location_is_echoed,
    retry_from_the_same_evse_gets_the_same_answer,
    another_evse_is_not_allowed_and_gets_no_location,
    concurrent_authorizations_allow_exactly_one,
);

// A uid two eMSPs use (TWIN of NL*ABC and of BE*EMP).

async fn shared_uid_is_2002_without_to_headers(app: TestApp) {
    app.push_twin_tokens().await;
    let ambiguous = app.authorize("TWIN", None).await;
    assert_eq!((ambiguous.status, ambiguous.ocpi_status()), (200, 2002));
}

async fn to_headers_pick_the_owner_of_a_shared_uid(app: TestApp) {
    app.push_twin_tokens().await;
    let addressed = read(
        app.request(
            Method::POST,
            "/ocpi/2.3.0/sender/tokens/TWIN/authorize",
            &app.cpo,
        )
        .header("OCPI-to-country-code", "be")
        .header("OCPI-to-party-id", "emp")
        .send()
        .await
        .unwrap(),
    )
    .await;
    assert_eq!(addressed.body["data"]["allowed"], "ALLOWED");
    assert_eq!(addressed.body["data"]["token"]["country_code"], "BE");
}

on_both_backends!(
    shared_uid_is_2002_without_to_headers,
    to_headers_pick_the_owner_of_a_shared_uid,
);

/// The PostgreSQL guard of an optimistic decision (`store::decision_pg`): a decision that read
/// its token before another decision took a hold writes nothing (neither hold nor audit entry),
/// and the same write with what is current goes through. SQLite decides in its single writer
/// and has no guard.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_optimistic_decision_writes_nothing() {
    use tokenhub::domain::authorization::{AllowedType, AuditResult, Reason};
    use tokenhub::domain::datetime::storage_precision;
    use tokenhub::domain::ids::PartyKey;
    use tokenhub::store::decision_pg::{self, Guard};
    use tokenhub::store::{audit, usage};

    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        return;
    };
    assert_eq!(app.put_token(&token_json("GUARD1")).await.status, 201);
    let now = chrono::Utc::now();
    // What a decision reads before another instance decides.
    let seen = app
        .store
        .read(move |c| usage::candidates_with_uses(c, "GUARD1", "RFID", now))
        .await
        .unwrap();
    assert_eq!(seen.len(), 1);
    assert!(seen[0].use_ids.is_empty(), "no use yet");
    let first = app.authorize("GUARD1", None).await;
    assert_eq!(first.body["data"]["allowed"], "ALLOWED");

    let write = |use_ids: Vec<i64>, row: &tokenhub::store::tokens::TokenRow| {
        let guard = Guard {
            token_id: row.id,
            last_updated: row.last_updated,
            effective_updated: row.effective_updated,
            policy_updated_at: row.policy_updated_at,
            now: storage_precision(now),
            use_ids,
        };
        let row_id = row.id;
        let store = app.store.clone();
        async move {
            store
                .read(move |c| {
                    let cpo = PartyKey::parse("DE", "CPO").unwrap();
                    let hold = usage::NewHold {
                        token_id: row_id,
                        reference: "STALE-REF",
                        cpo: &cpo,
                        location_key: None,
                        evse_set: &[],
                        now,
                        until: now + chrono::Duration::seconds(60),
                    };
                    let entry = audit::AuditEntry {
                        decided_at: storage_precision(now),
                        token_id: Some(row_id),
                        token_country_code: Some("NL".into()),
                        token_party_id: Some("ABC".into()),
                        token_uid: "GUARD1".into(),
                        token_type: "RFID".into(),
                        requester_country_code: "DE".into(),
                        requester_party_id: "CPO".into(),
                        location_id: None,
                        evse_uids: None,
                        result: AuditResult::Answered(AllowedType::Allowed),
                        reason: Reason::Allowed,
                        authorization_reference: Some("STALE-REF".into()),
                        request_id: None,
                        forwarded_to: None,
                        forward_ms: None,
                        forward_outcome: None,
                    };
                    let written = decision_pg::hold_and_record(c, &guard, &hold, &entry)?;
                    let uses = usage::active_for_token(c, row_id, now)?.len();
                    let audited = audit::recent(c, 100)?.len();
                    Ok((written, uses, audited))
                })
                .await
                .unwrap()
        }
    };
    let (written, uses, audited) = write(Vec::new(), &seen[0].row).await;
    assert!(
        !written,
        "the hold taken meanwhile makes the decision stale"
    );
    assert_eq!(
        (uses, audited),
        (1, 1),
        "neither hold nor audit entry written"
    );

    let current = app
        .store
        .read(move |c| usage::candidates_with_uses(c, "GUARD1", "RFID", now))
        .await
        .unwrap();
    assert_eq!(current[0].use_ids.len(), 1, "the other decision's hold");
    let (written, uses, audited) = write(current[0].use_ids.clone(), &current[0].row).await;
    assert!(written, "unchanged since it was read");
    assert_eq!(
        (uses, audited),
        (2, 2),
        "hold and audit entry written together"
    );
}

/// The batched PostgreSQL decisions (`service::authorize::batch`): one read answers for every
/// (uid, type) of a batch in its order, with the owner eMSP; one write takes each fresh hold,
/// refuses each stale one (including a second hold on a token the same batch just held) and
/// records each audit entry alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_reads_in_order_and_writes_only_fresh_holds() {
    use tokenhub::domain::authorization::{AllowedType, AuditResult, Reason};
    use tokenhub::domain::datetime::storage_precision;
    use tokenhub::domain::ids::PartyKey;
    use tokenhub::store::decision_pg::{write_many, Guard, HoldRow, PendingWrite};
    use tokenhub::store::tokens::TokenRow;
    use tokenhub::store::{audit, usage};

    let Some(app) = crate::helpers::spawn_app(crate::helpers::Backend::Postgres).await else {
        return;
    };
    for uid in ["BATCH1", "BATCH2"] {
        assert_eq!(app.put_token(&token_json(uid)).await.status, 201);
    }
    let held = app.authorize("BATCH1", None).await;
    assert_eq!(held.body["data"]["allowed"], "ALLOWED");
    let now = chrono::Utc::now();
    let read = app
        .store
        .read(move |c| {
            usage::candidates_many(
                c,
                &[("BATCH2", "RFID"), ("NO-SUCH", "RFID"), ("BATCH1", "RFID")],
                now,
            )
        })
        .await
        .unwrap();
    assert_eq!(read.len(), 3, "one answer per pair");
    assert_eq!(read[0][0].row.uid_key, "BATCH2");
    assert!(read[0][0].use_ids.is_empty());
    assert!(read[1].is_empty(), "an unknown uid has no candidate");
    assert_eq!(read[2][0].use_ids.len(), 1, "BATCH1's hold");
    let owner = read[2][0]
        .owner
        .clone()
        .flatten()
        .expect("the owner eMSP, read with it");
    assert!(!owner.state.suspended);

    let entry = |row: Option<&TokenRow>, result: AuditResult, reason: Reason| audit::AuditEntry {
        decided_at: storage_precision(now),
        token_id: row.map(|r| r.id),
        token_country_code: Some("NL".into()),
        token_party_id: Some("ABC".into()),
        token_uid: row.map_or("NO-SUCH".into(), |r| r.uid_key.clone()),
        token_type: "RFID".into(),
        requester_country_code: "DE".into(),
        requester_party_id: "CPO".into(),
        location_id: None,
        evse_uids: None,
        result,
        reason,
        authorization_reference: None,
        request_id: None,
        forwarded_to: None,
        forward_ms: None,
        forward_outcome: None,
    };
    let cpo = PartyKey::parse("DE", "CPO").unwrap();
    let hold = |row: &TokenRow, use_ids: Vec<i64>, reference: &str| PendingWrite::Hold {
        guard: Guard {
            token_id: row.id,
            last_updated: row.last_updated,
            effective_updated: row.effective_updated,
            policy_updated_at: row.policy_updated_at,
            now: storage_precision(now),
            use_ids,
        },
        hold: Box::new(HoldRow::new(&usage::NewHold {
            token_id: row.id,
            reference,
            cpo: &cpo,
            location_key: None,
            evse_set: &[],
            now,
            until: now + chrono::Duration::seconds(60),
        })),
        audit: entry(
            Some(row),
            AuditResult::Answered(AllowedType::Allowed),
            Reason::Allowed,
        ),
    };
    let batch1 = &read[2][0].row;
    let batch2 = &read[0][0].row;
    let writes = vec![
        // Read before BATCH1's hold: stale.
        hold(batch1, Vec::new(), "STALE"),
        hold(batch2, Vec::new(), "FIRST"),
        // The same read again, after the batch's own hold on BATCH2: stale too.
        hold(batch2, Vec::new(), "SECOND"),
        PendingWrite::Audit(entry(None, AuditResult::Unknown, Reason::UnknownToken)),
    ];
    let ids = [batch1.id, batch2.id];
    let before = app
        .store
        .read(|c| audit::recent(c, 100))
        .await
        .unwrap()
        .len();
    let (done, uses, audited) = app
        .store
        .read(move |c| {
            let done = write_many(c, &writes)?;
            let uses = ids
                .into_iter()
                .map(|id| usage::active_for_token(c, id, now).map(|u| u.len()))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((done, uses, audit::recent(c, 100)?.len()))
        })
        .await
        .unwrap();
    assert_eq!(done, vec![false, true, false, true]);
    assert_eq!(
        uses,
        vec![1, 1],
        "BATCH1 keeps its one hold, BATCH2 gets one"
    );
    assert_eq!(
        audited - before,
        2,
        "the fresh hold's entry and the refusal's"
    );
}
