//! Building and running the HTTP server: shared state, routes, middleware, background work.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::{from_fn, Next, NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpMessage, HttpResponse, HttpServer};

use crate::config::{AuthorizationConfig, Config, PaginationConfig};
use crate::domain::ids::PartyKey;
use crate::ocpi;
use crate::ocpi::auth::{CallerTag, CredentialsCache};
use crate::ocpi::error::ApiError;
use crate::store::Store;
use crate::sweeper;

/// What every handler can reach.
pub struct AppState {
    pub store: Store,
    pub credentials: CredentialsCache,
    /// Base of advertised URLs, without a trailing slash.
    pub public_url: String,
    pub hub: PartyKey,
    pub hub_name: String,
    pub authorization: AuthorizationConfig,
    pub pagination: PaginationConfig,
    pub max_body_bytes: usize,
}

/// How long a looked-up credentials token is trusted without asking the database again.
const CREDENTIALS_TTL: Duration = Duration::from_secs(5);

pub struct Application {
    port: u16,
    public_url: String,
    server: Server,
    sweeper: tokio::task::JoinHandle<()>,
}

impl Application {
    /// Opens (and migrates) the database, binds the listener and prepares the server.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let store = Store::open(&config.store_settings()).await?;
        Self::build_with_store(config, store)
    }

    pub fn build_with_store(config: Config, store: Store) -> anyhow::Result<Application> {
        let addr = config.bind_addr().map_err(anyhow::Error::msg)?;
        let listener =
            TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        let public_url = config
            .http
            .public_url
            .clone()
            .unwrap_or_else(|| format!("http://{local}"))
            .trim_end_matches('/')
            .to_owned();
        let state = web::Data::new(AppState {
            store: store.clone(),
            credentials: CredentialsCache::new(CREDENTIALS_TTL),
            public_url: public_url.clone(),
            hub: config.hub_party().map_err(|e| anyhow::anyhow!("hub.{e}"))?,
            hub_name: config.hub.name.clone(),
            authorization: config.authorization.clone(),
            pagination: config.pagination.clone(),
            max_body_bytes: config.http.max_body_bytes,
        });
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(
                    web::QueryConfig::default()
                        .error_handler(|e, _| ApiError::invalid("query", e.to_string()).into()),
                )
                .app_data(
                    web::PathConfig::default()
                        .error_handler(|e, _| ApiError::invalid("path", e.to_string()).into()),
                )
                .configure(ocpi::routes)
                .configure(crate::health::routes)
                .configure(crate::metrics::routes)
                .configure(crate::openapi::routes)
                .default_service(web::to(not_found))
                .wrap(from_fn(request_context))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
        })
        .listen(listener)?
        .shutdown_timeout(config.http.shutdown_timeout_secs)
        .client_request_timeout(Duration::from_secs(config.http.client_request_timeout_secs));
        if let Some(workers) = config.http.workers {
            server = server.workers(workers);
        }
        crate::metrics::handle();
        let sweeper = tokio::spawn(sweeper::run(store, config.clone()));
        Ok(Application {
            port: local.port(),
            public_url,
            server: server.run(),
            sweeper,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.sweeper.abort();
        result
    }
}

async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::NotFound("no such endpoint".into()))
}

pub async fn method_not_allowed() -> Result<HttpResponse, ApiError> {
    Err(ApiError::MethodNotAllowed)
}

/// The request's ids, echoed on the response and logged.
#[derive(Clone, Debug)]
pub struct RequestIds {
    pub request_id: String,
    pub correlation_id: String,
}

const X_REQUEST_ID: &str = "x-request-id";
const X_CORRELATION_ID: &str = "x-correlation-id";

fn id_header(req: &ServiceRequest, name: &str) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty() && v.len() <= 255)
        .map(str::to_owned)
}

/// Echoes (or creates) `X-Request-ID` and `X-Correlation-ID`, and writes one log line per request
/// with the route pattern, never the raw path (it holds token uids).
async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = std::time::Instant::now();
    let ids = RequestIds {
        request_id: id_header(&req, X_REQUEST_ID)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        correlation_id: id_header(&req, X_CORRELATION_ID)
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
    };
    req.extensions_mut().insert(ids.clone());
    let method = req.method().clone();
    let mut res = next.call(req).await?;
    let headers = res.headers_mut();
    for (name, value) in [
        (X_REQUEST_ID, &ids.request_id),
        (X_CORRELATION_ID, &ids.correlation_id),
    ] {
        if let Ok(value) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), value);
        }
    }
    let route = res
        .request()
        .match_pattern()
        .unwrap_or_else(|| "(unmatched)".into());
    let caller = res
        .request()
        .extensions()
        .get::<CallerTag>()
        .map(|t| t.0.clone())
        .unwrap_or_default();
    let status = res.status().as_u16();
    let elapsed = started.elapsed().as_secs_f64();
    crate::metrics::record_request(method.as_str(), &route, status, elapsed);
    tracing::info!(
        request_id = %ids.request_id,
        correlation_id = %ids.correlation_id,
        method = %method,
        route = %route,
        status,
        latency_ms = elapsed * 1000.0,
        party = %caller,
        "request"
    );
    Ok(res)
}
