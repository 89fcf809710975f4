//! A NATS operator, account and user made the way `nsc` makes them (NKeys signing JWTs), for
//! tests of `.creds` logins: the server's operator-mode settings (the operator's JWT and the
//! account's, preloaded into a memory resolver) and the user's `.creds` file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use nkeys::KeyPair;
use serde_json::{json, Value};
use std::path::Path;

/// One JWT: `header.claims.signature`, the header and claims base64url, signed by `issuer`.
fn jwt(issuer: &KeyPair, subject: &str, name: &str, nats: Value) -> String {
    let iat = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let claims = json!({
        "jti": format!("weir-tests-{subject}"),
        "iat": iat,
        "iss": issuer.public_key(),
        "name": name,
        "sub": subject,
        "nats": nats,
    });
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let signed = format!("{header}.{body}");
    let signature = issuer.sign(signed.as_bytes()).expect("sign the JWT");
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// An operator with one account (JetStream allowed) and users in it.
pub struct Operator {
    operator: KeyPair,
    account: KeyPair,
    /// The system account JetStream needs in operator mode.
    system: KeyPair,
}

impl Default for Operator {
    fn default() -> Self {
        Self::new()
    }
}

impl Operator {
    /// Fresh keys for the operator and its account.
    pub fn new() -> Self {
        Self {
            operator: KeyPair::new_operator(),
            account: KeyPair::new_account(),
            system: KeyPair::new_account(),
        }
    }

    /// The nats-server settings of operator mode with the account preloaded.
    pub fn server_config(&self) -> String {
        let op = self.operator.public_key();
        let operator = jwt(
            &self.operator,
            &op,
            "weir-tests",
            json!({"type": "operator", "version": 2}),
        );
        let limits = json!({
            "subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1,
            "wildcards": true, "conn": -1, "leaf": -1,
            "mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1,
        });
        let account_key = self.account.public_key();
        let account = jwt(
            &self.operator,
            &account_key,
            "weir",
            json!({"limits": limits, "type": "account", "version": 2}),
        );
        let system_key = self.system.public_key();
        let system = jwt(
            &self.operator,
            &system_key,
            "SYS",
            json!({"limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                              "exports": -1, "wildcards": true, "conn": -1, "leaf": -1},
                   "type": "account", "version": 2}),
        );
        format!(
            "operator: \"{operator}\"\nsystem_account: {system_key}\nresolver: MEMORY\nresolver_preload: {{\n  {account_key}: \"{account}\"\n  {system_key}: \"{system}\"\n}}\n"
        )
    }

    /// Writes a `.creds` file for a new user of the account, as `nsc` formats it.
    pub fn user_creds(&self, file: &Path, name: &str) {
        let user = KeyPair::new_user();
        let token = jwt(
            &self.account,
            &user.public_key(),
            name,
            json!({"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
                   "type": "user", "version": 2}),
        );
        let seed = user.seed().expect("user seed");
        let text = format!(
            "-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n\
             ************************* IMPORTANT *************************\n\
             NKEY Seed printed below can be used to sign and prove identity.\n\
             NKEYs are sensitive and should be treated as secrets.\n\n\
             -----BEGIN USER NKEY SEED-----\n{seed}\n------END USER NKEY SEED------\n\n\
             *************************************************************\n"
        );
        std::fs::write(file, text).expect("creds file");
    }
}
