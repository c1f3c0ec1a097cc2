//! Partner liveness: the hub reads each registered partner's versions every
//! `peers.liveness_interval_secs` (1 s here), marks it OFFLINE when that fails and CONNECTED when
//! it works again, logs each change (actor `hub`) and pushes it to ClientInfo receivers.

use std::time::Duration;

use tokenhub::config::Config;

use crate::helpers::TestApp;
use crate::on_both_backends_with;
use crate::partner_platform::{self, PartnerState};

fn fast_liveness(config: &mut Config) {
    config.peers.liveness_interval_secs = 1;
}

/// Waits (bounded) until hubclientinfo shows `cc`*`pid` with `status`.
async fn wait_for_status(app: &TestApp, cc: &str, pid: &str, status: &str) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let now = app.client_status(cc, pid).await;
        if now.as_deref() == Some(status) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{cc}*{pid} is still {now:?}, not {status}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn liveness_follows_whether_partners_answer(app: TestApp) {
    let (receiver, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("CPO", "FR", "REC", "token-B-rec", true),
    )
    .await;
    let (flaky, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("EMSP", "BE", "PEM", "token-B-pem", false),
    )
    .await;
    let (stopped, _) = partner_platform::register_partner(
        &app,
        PartnerState::party("EMSP", "BE", "GON", "token-B-gon", false),
    )
    .await;
    receiver.wait_for_push("BE/PEM", "CONNECTED").await;

    drop(stopped);
    flaky.state.lock().unwrap().broken = true;
    wait_for_status(&app, "BE", "GON", "OFFLINE").await;
    wait_for_status(&app, "BE", "PEM", "OFFLINE").await;
    receiver.wait_for_push("BE/PEM", "OFFLINE").await;
    receiver.wait_for_push("BE/GON", "OFFLINE").await;
    assert_eq!(
        app.client_status("FR", "REC").await.as_deref(),
        Some("CONNECTED"),
        "a partner that answers stays CONNECTED"
    );

    flaky.state.lock().unwrap().broken = false;
    wait_for_status(&app, "BE", "PEM", "CONNECTED").await;
    receiver.wait_for_push("BE/PEM", "CONNECTED").await;

    let changes = app.changes().await;
    let statuses: Vec<(String, String)> = changes
        .iter()
        .filter(|c| c.actor == "hub" && c.action == "partner.status")
        .map(|c| {
            (
                c.before.clone().unwrap_or_default(),
                c.after.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert!(
        statuses.contains(&(
            r#"{"status":"CONNECTED"}"#.to_owned(),
            r#"{"status":"OFFLINE"}"#.to_owned()
        )) && statuses.contains(&(
            r#"{"status":"OFFLINE"}"#.to_owned(),
            r#"{"status":"CONNECTED"}"#.to_owned()
        )),
        "{statuses:?}"
    );
    assert_eq!(
        statuses.len(),
        3,
        "each change logged once (GON and PEM down, PEM up): {statuses:?}"
    );
}

on_both_backends_with!(fast_liveness => liveness_follows_whether_partners_answer);
