//! The admin console's units of work (the pages are `crate::console`): its OAuth client of the
//! hub itself, its server-side sessions, the decision rollup of its dashboard and what the
//! dashboard reads.

pub mod client;
pub mod dashboard;
pub mod external;
pub mod rollup;
pub mod sessions;

use std::sync::Arc;

use crate::config::Settings;
use crate::secrets::client_secrets::SecretHasher;
use crate::secrets::sealed::Sealer;
use crate::secrets::{Keys, Purpose};

/// What the console keeps for the life of the process.
pub struct Console {
    pub rollup: Arc<rollup::DecisionRollup>,
    /// Seals the tokens of a session and the login state cookie.
    pub sealer: Sealer,
    /// Hashes session cookies and derives their CSRF tokens.
    pub session_mac: SecretHasher,
    /// The console's redirect URI: `{public_url}/console/callback`.
    pub redirect_uri: String,
    /// Whether cookies get `Secure` (the public URL is https).
    pub secure_cookies: bool,
    /// Sign-in through the external identity provider, when `oauth.external.console` is set.
    pub external: Option<external::ExternalConsole>,
    /// `{public_url}/console/callback/external`.
    pub external_redirect_uri: String,
}

impl Console {
    pub fn new(settings: &Settings, keys: &Keys, public_url: &str) -> Self {
        let external = settings.oauth.external.as_ref().and_then(|idp| {
            idp.console.clone().map(|console| {
                external::ExternalConsole::new(console, idp.issuer.clone(), settings.peers.timeout)
            })
        });
        Console {
            rollup: Arc::new(rollup::DecisionRollup::default()),
            sealer: Sealer::new(keys.derive(Purpose::CONSOLE_SESSION_SEAL)),
            session_mac: SecretHasher::for_purpose(keys, Purpose::CONSOLE_SESSION_MAC),
            redirect_uri: client::redirect_uri(public_url),
            secure_cookies: public_url.starts_with("https://"),
            external,
            external_redirect_uri: external::redirect_uri(public_url),
        }
    }
}
