//! Keys derived from the deployment's secret, one per purpose, so every replica derives
//! the same ones and none says anything about the secret or about another.

use hmac::{Hmac, KeyInit};
use sha2::{Digest, Sha256};

/// An HMAC-SHA256 keyed with `SHA-256(purpose ‖ 0 ‖ secret)`.
pub fn keyed_hmac(purpose: &str, secret: &[u8]) -> Result<Hmac<Sha256>, String> {
    let key = Sha256::new()
        .chain_update(purpose.as_bytes())
        .chain_update([0u8])
        .chain_update(secret)
        .finalize();
    Hmac::<Sha256>::new_from_slice(&key).map_err(|e| format!("keying {purpose}: {e}"))
}
