//! Builds the server: shared state, the surfaces' scopes, middleware and background work (the
//! token sequencer (PostgreSQL), the sweeper, partner liveness checks, the credentials-epoch and
//! OAuth-epoch watchers, the push worker and the validity-window scheduler). Shared by `main` and
//! the tests; nothing else imports it.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::{from_fn, NormalizePath, TrailingSlash};
use actix_web::{web, App, HttpResponse, HttpServer};

use crate::config::Settings;
use crate::ocpi;
use crate::ops::request_context::request_context;
use crate::ops::sweeper;
use crate::secrets::Keys;
use crate::service::AppState;
use crate::store::Store;

pub struct Application {
    port: u16,
    public_url: String,
    server: Server,
    /// The token sequencer, the sweeper, the partner liveness checks, the credentials-epoch watcher, the push worker and
    /// the validity-window scheduler: stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
    state: web::Data<AppState>,
}

impl Application {
    /// Opens (and migrates) the database, binds the listener and prepares the server. `keys` come
    /// from the master key the caller loaded (`secrets::load_keys`).
    pub async fn build(settings: Settings, keys: Keys) -> anyhow::Result<Application> {
        let store = Store::open(&settings.store_settings()).await?;
        Self::build_with_store(settings, store, keys)
    }

    pub fn build_with_store(
        settings: Settings,
        store: Store,
        keys: Keys,
    ) -> anyhow::Result<Application> {
        let addr = settings.http.bind;
        let listener =
            TcpListener::bind(addr).map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        let local = listener.local_addr()?;
        let public_url = settings.http.public_url_or(local);
        let state = web::Data::new(
            AppState::new(&settings, store.clone(), keys, public_url.clone())
                .map_err(anyhow::Error::msg)?,
        );
        let shared = state.clone();
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .service(ocpi::scope())
                .configure(crate::oauth::routes)
                .configure(crate::admin::routes)
                .configure(crate::console::routes)
                .configure(crate::ops::health::routes)
                .configure(crate::ops::metrics::routes)
                .configure(crate::openapi::docs::routes)
                .default_service(web::to(not_found))
                .wrap(from_fn(request_context))
                .wrap(NormalizePath::new(TrailingSlash::Trim))
        })
        .listen(listener)?
        .shutdown_timeout(settings.http.shutdown_timeout.as_secs())
        .client_request_timeout(settings.http.client_request_timeout);
        if let Some(workers) = settings.http.workers {
            server = server.workers(workers.get());
        }
        crate::ops::metrics::handle();
        let epoch_state = shared.clone().into_inner();
        let epoch_poll = settings.peers.credentials_poll;
        let oauth_state = shared.clone().into_inner();
        let oauth_poll = settings.oauth.poll;
        let push_settings = settings.push.clone();
        let background = vec![
            tokio::spawn(crate::service::tokens::run_sequencer(store.clone())),
            tokio::spawn(sweeper::run(store, settings.retention.clone())),
            tokio::spawn(crate::service::liveness::run(
                shared.clone().into_inner(),
                settings.peers.liveness_interval,
            )),
            tokio::spawn(async move {
                crate::service::credentials::watch_epoch(
                    epoch_state.store.clone(),
                    &epoch_state.credentials,
                    epoch_poll,
                )
                .await
            }),
            tokio::spawn(async move {
                crate::service::oauth::watch_epoch(
                    oauth_state.store.clone(),
                    &oauth_state.oauth,
                    oauth_poll,
                )
                .await
            }),
            tokio::spawn(crate::service::windows::run(
                shared.clone().into_inner(),
                push_settings.window_check,
            )),
            tokio::spawn(crate::service::push::run(
                shared.clone().into_inner(),
                push_settings,
            )),
            tokio::spawn(crate::service::console::rollup::run(
                shared.console.rollup.clone(),
                shared.store.clone(),
            )),
        ];
        Ok(Application {
            port: local.port(),
            public_url,
            server: server.run(),
            background,
            state: shared,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn public_url(&self) -> &str {
        &self.public_url
    }

    /// What the workers share: lets tests read the caches' counters.
    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM, then lets in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        for task in self.background {
            task.abort();
        }
        // What the dashboard counted since the last flush.
        if let Err(e) = self.state.console.rollup.flush(&self.state.store).await {
            tracing::warn!(error = %e, "decision rollup not written at shutdown");
        }
        result
    }
}

/// Outside every surface's scope: a plain JSON 404 (the OCPI scope answers with its envelope).
async fn not_found() -> HttpResponse {
    HttpResponse::NotFound().json(serde_json::json!({
        "error": "not_found",
        "message": "no such endpoint",
    }))
}
