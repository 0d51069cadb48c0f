//! Console sessions, held by the host: a random 256-bit token in an
//! HttpOnly, SameSite=Strict cookie, of which the host keeps only the
//! SHA-256. The credential the visitor signed in with is kept sealed under a
//! key derived from the token, so what the host holds opens nothing without
//! the visitor's cookie, and every request authenticates the credential
//! again exactly as the API does: a revoked key ends its sessions at once.

use super::csrf::CsrfToken;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use hmac::{Hmac, Mac};
use omnify_control::control::{ControlError, ControlPlane};
use omnify_control::tenant::Principal;
use omnify_control::vault::random_bytes;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "omnify_console";

/// Random bytes in a session token.
const TOKEN_BYTES: usize = 32;

/// Bytes of a ChaCha20-Poly1305 nonce.
const NONCE_BYTES: usize = 12;

/// The lookup key of a session: the SHA-256 of its token.
type SessionId = [u8; 32];

/// Why a session cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// No session cookie, or one the host does not know.
    #[error("sign in to use the console")]
    Missing,
    /// The session is older than its lifetime.
    #[error("your session expired; sign in again")]
    Expired,
    /// The key it was opened with is revoked or unknown now.
    #[error("the key this session was opened with is no longer valid (revoked?); sign in again")]
    Revoked,
    /// The host could not seal or open the credential.
    #[error("the console could not keep the session: {0}")]
    Internal(String),
}

/// A message shown once, on the next page the visitor sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Something worked.
    Done(String),
    /// Something was refused or failed.
    Refused(String),
}

/// One signed-in visitor, as the host holds it.
struct Session {
    /// The credential, sealed under a key only the cookie's token yields.
    sealed: Vec<u8>,
    /// The token every form of this session must carry.
    csrf: CsrfToken,
    /// When it ends, whatever happens meanwhile.
    expires_at: Instant,
    /// A notice for the next page.
    notice: Option<Notice>,
}

/// A session as a request sees it, after its credential was checked again.
#[derive(Debug, Clone)]
pub struct Current {
    /// Who the credential authenticates now.
    pub principal: Principal,
    /// The session's form token.
    pub csrf: CsrfToken,
    /// The lookup key, to leave a notice or end the session.
    id: SessionId,
}

/// Every open session of this host, in memory: a restart signs everyone out.
pub struct Sessions {
    open: Mutex<HashMap<SessionId, Session>>,
    ttl: Duration,
    capacity: usize,
}

fn session_id(token: &str) -> SessionId {
    Sha256::digest(token.as_bytes()).into()
}

/// The key the credential is sealed under: HMAC-SHA256 of a label under the
/// token, unrelated to the stored SHA-256 of the token.
fn sealing_key(token: &str) -> Key {
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(token.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(b"omnify-console-session-seal-v1");
    let bytes: [u8; 32] = mac.finalize().into_bytes().into();
    Key::from(bytes)
}

fn seal_credential(token: &str, credential: &str) -> Result<Vec<u8>, SessionError> {
    let mut nonce = [0u8; NONCE_BYTES];
    random_bytes(&mut nonce).map_err(|e| SessionError::Internal(e.to_string()))?;
    let sealed = ChaCha20Poly1305::new(&sealing_key(token))
        .encrypt(&Nonce::from(nonce), credential.as_bytes())
        .map_err(|_| SessionError::Internal("sealing the credential failed".into()))?;
    Ok([nonce.as_slice(), &sealed].concat())
}

fn open_credential(token: &str, sealed: &[u8]) -> Result<String, SessionError> {
    let broken = || SessionError::Internal("the session's credential does not open".into());
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_BYTES).ok_or_else(broken)?;
    let nonce = <[u8; NONCE_BYTES]>::try_from(nonce).map_err(|_| broken())?;
    let plain = ChaCha20Poly1305::new(&sealing_key(token))
        .decrypt(&Nonce::from(nonce), ciphertext)
        .map_err(|_| broken())?;
    String::from_utf8(plain).map_err(|_| broken())
}

impl Sessions {
    /// No sessions yet; each lasts `ttl`; at most `capacity` at once (the
    /// one closest to its end gives way to a new one).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            open: Mutex::default(),
            ttl,
            capacity: capacity.max(1),
        }
    }

    /// How long a session lasts.
    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Session>> {
        // A panic while holding the map leaves it consistent (every change
        // is one insert or remove), so a poisoned lock is still usable.
        self.open
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open a session for `credential` (already authenticated by the
    /// caller); returns the token for the cookie.
    pub fn open(&self, credential: &str) -> Result<String, SessionError> {
        let mut bytes = [0u8; TOKEN_BYTES];
        random_bytes(&mut bytes).map_err(|e| SessionError::Internal(e.to_string()))?;
        let token = hex::encode(bytes);
        let session = Session {
            sealed: seal_credential(&token, credential)?,
            csrf: CsrfToken::random().map_err(|e| SessionError::Internal(e.to_string()))?,
            expires_at: Instant::now() + self.ttl,
            notice: None,
        };
        let mut open = self.lock();
        let now = Instant::now();
        open.retain(|_, session| session.expires_at > now);
        if open.len() >= self.capacity
            && let Some(oldest) = open.iter().min_by_key(|(_, s)| s.expires_at).map(|(id, _)| *id)
        {
            open.remove(&oldest);
        }
        open.insert(session_id(&token), session);
        Ok(token)
    }

    /// The session of `token`, with its credential authenticated again by
    /// `control`; an expired or revoked one is ended.
    pub async fn current(&self, control: &ControlPlane, token: &str) -> Result<Current, SessionError> {
        let id = session_id(token);
        let (sealed, csrf) = {
            let mut open = self.lock();
            let session = open.get(&id).ok_or(SessionError::Missing)?;
            if session.expires_at <= Instant::now() {
                open.remove(&id);
                return Err(SessionError::Expired);
            }
            (session.sealed.clone(), session.csrf.clone())
        };
        let credential = open_credential(token, &sealed)?;
        match control.authenticate(&credential).await {
            Ok(principal) => Ok(Current { principal, csrf, id }),
            Err(ControlError::Unauthenticated(_)) => {
                self.lock().remove(&id);
                Err(SessionError::Revoked)
            }
            Err(error) => Err(SessionError::Internal(error.to_string())),
        }
    }

    /// End the session of `current`.
    pub fn close(&self, current: &Current) {
        self.lock().remove(&current.id);
    }

    /// Leave `notice` for the next page of `current`'s session.
    pub fn leave_notice(&self, current: &Current, notice: Notice) {
        if let Some(session) = self.lock().get_mut(&current.id) {
            session.notice = Some(notice);
        }
    }

    /// The notice left for `current`'s session, once.
    pub fn take_notice(&self, current: &Current) -> Option<Notice> {
        self.lock().get_mut(&current.id).and_then(|s| s.notice.take())
    }

    /// How many sessions are open (expired ones not yet swept included).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sealed_credential_opens_only_with_its_token() {
        let sealed = seal_credential("token-a", "omk_1_secret").expect("seal");
        assert_eq!(
            open_credential("token-a", &sealed).expect("opens"),
            "omk_1_secret"
        );
        assert!(open_credential("token-b", &sealed).is_err());
        assert!(open_credential("token-a", &sealed[..5]).is_err());
        assert!(
            !sealed.windows(6).any(|w| w == b"secret"),
            "sealed, not stored in clear"
        );
    }

    #[test]
    fn the_host_keeps_only_a_hash_of_the_token() {
        let sessions = Sessions::new(Duration::from_secs(60), 10);
        let token = sessions.open("omk_1_secret").expect("open");
        assert_eq!(token.len(), 64, "256 bits, hex");
        let open = sessions.lock();
        assert!(open.contains_key(&session_id(&token)));
        assert!(!open.contains_key(token.as_bytes()));
    }

    #[test]
    fn a_full_host_drops_the_session_closest_to_its_end() {
        let sessions = Sessions::new(Duration::from_secs(60), 2);
        let first = sessions.open("a").expect("open");
        let second = sessions.open("b").expect("open");
        let third = sessions.open("c").expect("open");
        assert_eq!(sessions.len(), 2);
        let open = sessions.lock();
        assert!(!open.contains_key(&session_id(&first)));
        assert!(open.contains_key(&session_id(&second)) && open.contains_key(&session_id(&third)));
    }
}
