//! The dashboard: decisions per minute by result over the last hour and day (from the rollup),
//! the top refusal reasons, partners and their status, and the outbox depth.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::auth::{AnyScope, ConsoleUser};
use super::chart;
use super::error::ConsoleError;
use super::view::{page, Nav};
use crate::domain::access::parse_party_key;
use crate::domain::oauth::Scope;
use crate::service::console::dashboard::{self, DAY_BUCKETS, HOUR_BUCKETS};
use crate::service::parties::{list_parties_for, PartyListing};
use crate::service::AppState;
use crate::store::outbox::Backlog;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    title: &'static str,
    nav: Nav,
    hour_chart: String,
    day_chart: String,
    hour_total: i64,
    day_total: i64,
    /// Share of ALLOWED over the day, in percent, one decimal.
    allowed_share: String,
    legend: Vec<(String, &'static str)>,
    top_refusals: Vec<(String, String, i64)>,
    /// `None`: the person may not see parties.
    partners: Option<Vec<PartyListing>>,
    backlog: Vec<Backlog>,
    pending_total: i64,
    /// False for a person limited to some parties: the rollup counts every party's decisions, so
    /// they see only their partners and outbox.
    hub_wide: bool,
    restricted_to: String,
}

/// The dashboard.
#[utoipa::path(
    get,
    path = "/console",
    tag = "console",
    operation_id = "console_dashboard",
    responses(
        (status = 200, description = "The dashboard: decisions per minute by result (last hour, last day, from the rollup), top refusal reasons, outbox depth, partners (with `parties:read`).", content_type = "text/html"),
        (status = 303, description = "No console session: to `/console/login`."),
    )
)]
pub async fn dashboard(
    user: ConsoleUser<AnyScope>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ConsoleError> {
    let mut data = dashboard::dashboard(&state.store).await?;
    let access = user.parties();
    let partners = if user.may(Scope::PartiesRead) {
        Some(list_parties_for(&state.store, access).await?)
    } else {
        None
    };
    let hub_wide = !access.is_restricted();
    if !hub_wide {
        data.backlog.retain(|b| {
            parse_party_key("partner", &b.partner).is_ok_and(|key| access.permits(&key))
        });
    }
    let allowed: i64 = data
        .day
        .by_result
        .get("ALLOWED")
        .map_or(0, |c| c.iter().sum());
    let allowed_share = if data.day.total > 0 {
        format!("{:.1}%", 100.0 * allowed as f64 / data.day.total as f64)
    } else {
        "–".to_owned()
    };
    let mut results: Vec<String> = data.day.by_result.keys().cloned().collect();
    if results.is_empty() {
        results.push("ALLOWED".into());
    }
    let legend = results
        .into_iter()
        .map(|r| {
            let colour = chart::colour(&r);
            (r, colour)
        })
        .collect();
    page(&DashboardPage {
        title: "Dashboard",
        nav: Nav::of(&user, "dashboard"),
        hour_chart: chart::per_minute_bars(
            &data.hour,
            HOUR_BUCKETS,
            10,
            "Decisions per minute, last hour",
        ),
        day_chart: chart::per_minute_bars(
            &data.day,
            DAY_BUCKETS,
            12,
            "Decisions per minute, last day",
        ),
        hour_total: data.hour.total,
        day_total: data.day.total,
        allowed_share,
        legend,
        top_refusals: data.top_refusals,
        partners,
        pending_total: data.backlog.iter().map(|b| b.pending).sum(),
        backlog: data.backlog,
        hub_wide,
        restricted_to: access.to_string(),
    })
}
