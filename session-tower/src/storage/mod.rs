//! Where sessions live: the one seam between the layer and its storage.
//!
//! With server-side storage the cookie holds a token and the record lives in a
//! [`SessionStore`]; with client-side storage the record is sealed in the cookie itself. Either
//! way the request gets the same [`Session`], and the commit runs the same code: a client-side
//! request's session works on a one-request store holding what its cookie opened to, and the
//! record the commit leaves there is sealed into the response.

mod jar;

use std::sync::Arc;

use session_core::chrono::{DateTime, Utc};
use session_core::{ClientSideStore, Error, Lifetime, Opened, SessionStore};

use crate::session::{CookieAction, Presented, Session, SessionConfig, SessionQueue};
use jar::RequestJar;

/// Where sessions live.
#[derive(Clone)]
pub(crate) enum Storage {
    /// On the server; the cookie holds a token.
    Server(Arc<dyn SessionStore>),
    /// In the cookie itself, sealed.
    Client(Arc<dyn ClientSideStore>),
}

/// A request's session, as its storage opened it.
pub(crate) struct Started {
    /// What the handler works with.
    pub(crate) session: Session,
    /// The cookie must be sealed again even if nothing changed (it was sealed with an older
    /// key).
    reseal: bool,
}

/// What a response carries for the session.
pub(crate) enum Outgoing {
    /// Set the cookie (or header) to `value`.
    Set {
        value: String,
        expires_at: DateTime<Utc>,
        lifetime: Option<Lifetime>,
    },
    /// Remove it.
    Remove,
    /// Leave it as the client has it.
    Nothing,
}

impl Storage {
    /// A short name for messages and logs.
    pub(crate) fn name(&self) -> &str {
        match self {
            Storage::Server(store) => store.name(),
            Storage::Client(storage) => storage.name(),
        }
    }

    /// The session of a request that presented `value` in its cookie (or header).
    pub(crate) fn start(
        &self,
        config: &Arc<SessionConfig>,
        queue: &SessionQueue,
        cookie_name: &str,
        value: Option<&str>,
    ) -> Started {
        match self {
            Storage::Server(store) => Started {
                session: Session::build(
                    store.clone(),
                    config.clone(),
                    Some(queue.clone()),
                    Presented::token(value),
                ),
                reseal: false,
            },
            Storage::Client(storage) => {
                let opened = value.map(|value| storage.open(cookie_name, value));
                let (jar, presented, reseal) = match opened {
                    None => (RequestJar::empty(storage.name()), Presented::Nothing, false),
                    Some(Opened::Valid {
                        token,
                        record,
                        reseal,
                    }) => (
                        RequestJar::holding(storage.name(), record),
                        Presented::Token(token),
                        reseal,
                    ),
                    Some(opened) => {
                        let reason = match opened {
                            Opened::Invalid(reason) => reason,
                            _ => "not opened",
                        };
                        tracing::debug!(
                            reason,
                            "session cookie rejected; starting a fresh session"
                        );
                        (
                            RequestJar::empty(storage.name()),
                            Presented::Rejected,
                            false,
                        )
                    }
                };
                // Each client-side request works on its own copy: there is nothing to queue on.
                let session = Session::build(Arc::new(jar), config.clone(), None, presented);
                Started { session, reseal }
            }
        }
    }

    /// What the response must carry for what the commit decided: the token, a removal, or
    /// nothing, decided in place. `None` when client-side storage must seal the session first
    /// ([`Storage::sealed`]).
    pub(crate) fn outgoing(&self, started: &Started, action: CookieAction) -> Option<Outgoing> {
        match (self, action) {
            (
                Storage::Server(_),
                CookieAction::Set {
                    token,
                    expires_at,
                    lifetime,
                },
            ) => Some(Outgoing::Set {
                value: token.as_str().to_owned(),
                expires_at,
                lifetime,
            }),
            (Storage::Client(_), CookieAction::Set { .. }) => None,
            (Storage::Client(_), CookieAction::Unchanged) if started.reseal => None,
            (_, CookieAction::Remove) => Some(Outgoing::Remove),
            (_, _) => Some(Outgoing::Nothing),
        }
    }

    /// For client-side storage, the cookie that carries the session as it was committed,
    /// sealed; nothing when the session holds nothing (or the storage is server-side).
    pub(crate) async fn sealed(
        &self,
        cookie_name: &str,
        started: &Started,
    ) -> Result<Outgoing, Error> {
        let Storage::Client(storage) = self else {
            return Ok(Outgoing::Nothing);
        };
        let Some((token, record)) = started.session.stored().await else {
            return Ok(Outgoing::Nothing);
        };
        Ok(Outgoing::Set {
            value: storage.seal(cookie_name, &token, &record)?,
            expires_at: record.expires_at,
            lifetime: record.lifetime,
        })
    }
}
