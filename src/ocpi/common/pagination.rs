//! Pagination of every OCPI list (OCPI transport and format, pagination; docs/design.md §8 "Pagination"): the `date_from`,
//! `date_to`, `offset` and `limit` parameters, and the `X-Total-Count`, `X-Limit` and `Link`
//! headers. Shared by every list of every OCPI version.

use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::HttpResponse;
use chrono::{DateTime, Utc};
use serde::Deserialize;

use crate::config::PaginationConfig;
use crate::domain::datetime::parse_ocpi_datetime;
use crate::error::Error;

/// The query of a paginated list, as given: parsed by [`PageQuery::page`], so that a bad value is
/// an OCPI 2001 naming the parameter rather than actix's generic query error.
#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// Only objects whose `last_updated` is at or after this time.
    #[param(value_type = Option<crate::ocpi::common::schema::OcpiDateTime>)]
    date_from: Option<String>,
    /// Only objects whose `last_updated` is before this time.
    #[param(value_type = Option<crate::ocpi::common::schema::OcpiDateTime>)]
    date_to: Option<String>,
    /// Index of the first object of the page; 0 when absent.
    #[param(value_type = Option<u64>, minimum = 0)]
    offset: Option<String>,
    /// Page size; `pagination.default_limit` (100) when absent, capped at
    /// `pagination.max_limit` (1000, see `X-Limit`).
    #[param(value_type = Option<u64>, minimum = 1)]
    limit: Option<String>,
}

/// One page asked for, validated.
#[derive(Clone, Debug)]
pub struct Page {
    pub offset: i64,
    /// The effective page size: what was asked for, capped.
    pub limit: i64,
    /// The server's cap (`X-Limit`).
    pub cap: i64,
    pub date_from: Option<DateTime<Utc>>,
    pub date_to: Option<DateTime<Utc>>,
    /// The date filters as the client wrote them, repeated unchanged in the `Link` header.
    raw_date_from: Option<String>,
    raw_date_to: Option<String>,
}

fn parse_count(field: &str, value: Option<&str>, min: i64) -> Result<Option<i64>, Error> {
    value
        .map(|v| {
            v.parse::<i64>().ok().filter(|n| *n >= min).ok_or_else(|| {
                Error::invalid(field, format!("must be a whole number of at least {min}"))
            })
        })
        .transpose()
}

impl PageQuery {
    /// The page asked for; `limit` ≤ 0, a negative `offset` or a bad date is 2001 naming it.
    pub fn page(&self, config: &PaginationConfig) -> Result<Page, Error> {
        let offset = parse_count("offset", self.offset.as_deref(), 0)?.unwrap_or(0);
        let cap = i64::from(config.max_limit);
        let limit = parse_count("limit", self.limit.as_deref(), 1)?
            .unwrap_or(i64::from(config.default_limit))
            .min(cap);
        let date = |field: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| parse_ocpi_datetime(field, v))
                .transpose()
        };
        Ok(Page {
            offset,
            limit,
            cap,
            date_from: date("date_from", &self.date_from)?,
            date_to: date("date_to", &self.date_to)?,
            raw_date_from: self.date_from.clone(),
            raw_date_to: self.date_to.clone(),
        })
    }
}

impl Page {
    /// Whether `at` passes the date filters (`date_from` inclusive, `date_to` exclusive).
    pub fn admits(&self, at: DateTime<Utc>) -> bool {
        self.date_from.is_none_or(|from| at >= from) && self.date_to.is_none_or(|to| at < to)
    }

    /// This page of `items` (all the objects that pass the filters, in list order).
    pub fn slice<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip(usize::try_from(self.offset).unwrap_or(usize::MAX))
            .take(usize::try_from(self.limit).unwrap_or(usize::MAX))
            .collect()
    }

    /// Adds `X-Total-Count`, `X-Limit` and, unless this was the last page, `Link` to the next one
    /// at `list_url` (absolute, without a query) with the same filters and the effective limit.
    pub fn headers(
        &self,
        mut response: HttpResponse,
        returned: usize,
        total: i64,
        list_url: &str,
    ) -> HttpResponse {
        let returned = returned as i64;
        let headers = response.headers_mut();
        headers.insert(
            HeaderName::from_static("x-total-count"),
            HeaderValue::from(total),
        );
        headers.insert(
            HeaderName::from_static("x-limit"),
            HeaderValue::from(self.cap),
        );
        if self.offset + returned < total && returned > 0 {
            let mut next = url::form_urlencoded::Serializer::new(String::new());
            if let Some(v) = &self.raw_date_from {
                next.append_pair("date_from", v);
            }
            if let Some(v) = &self.raw_date_to {
                next.append_pair("date_to", v);
            }
            next.append_pair("offset", &(self.offset + returned).to_string());
            next.append_pair("limit", &self.limit.to_string());
            let link = format!("<{list_url}?{}>; rel=\"next\"", next.finish());
            if let Ok(value) = HeaderValue::from_str(&link) {
                headers.insert(actix_web::http::header::LINK, value);
            }
        }
        response
    }
}
