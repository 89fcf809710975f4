//! TLS by `sslmode`, through rustls (ring provider): what libpq does for each mode.
//!
//! `prefer` and `require` encrypt without checking the certificate (libpq's behaviour when no
//! root certificate is configured); `verify-ca` checks the chain against `sslrootcert` (or
//! the system's roots) but not the name; `verify-full` checks both.

use crate::config::SslMode;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use tokio_postgres::config::SslMode as PgSslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The connector for `mode`, and what tokio-postgres should ask the server for.
pub(crate) fn connector(
    mode: SslMode,
    root: Option<&Path>,
) -> Result<(MakeRustlsConnect, PgSslMode), String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?;
    let lenient = |chain| {
        let verifier = Lenient {
            chain,
            provider: provider.clone(),
        };
        let builder = builder.clone().dangerous();
        builder.with_custom_certificate_verifier(Arc::new(verifier))
    };
    let (config, pg) = match mode {
        SslMode::Disable => (lenient(None).with_no_client_auth(), PgSslMode::Disable),
        SslMode::Prefer => (lenient(None).with_no_client_auth(), PgSslMode::Prefer),
        SslMode::Require => (lenient(None).with_no_client_auth(), PgSslMode::Require),
        SslMode::VerifyCa | SslMode::VerifyFull => {
            let roots = Arc::new(roots(root)?);
            let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider.clone())
                .build()
                .map_err(|e| format!("TLS setup: {e}"))?;
            let config = if mode == SslMode::VerifyFull {
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                lenient(Some(webpki)).with_no_client_auth()
            };
            (config, PgSslMode::Require)
        }
    };
    Ok((MakeRustlsConnect::new(config), pg))
}

/// The CA certificates of `sslrootcert`, else the system's.
fn roots(root: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match root {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| {
                    format!(
                        "spec.sink.options.sslrootcert: cannot read {}: {e}",
                        path.display()
                    )
                })?;
            if certs.is_empty() {
                return Err(format!(
                    "spec.sink.options.sslrootcert: {} holds no PEM certificate",
                    path.display()
                ));
            }
            for c in certs {
                store.add(c).map_err(|e| {
                    format!("spec.sink.options.sslrootcert: {}: {e}", path.display())
                })?;
            }
        }
        None => {
            for c in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(c);
            }
        }
    }
    Ok(store)
}

/// The verifier of `prefer` and `require` (no `chain`: any certificate is accepted) and of
/// `verify-ca` (the chain must verify; a certificate for another name is accepted). Handshake
/// signatures are checked in every mode.
#[derive(Debug)]
struct Lenient {
    chain: Option<Arc<WebPkiServerVerifier>>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let Some(chain) = &self.chain else {
            return Ok(ServerCertVerified::assertion());
        };
        match chain.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now) {
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                | rustls::CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.provider.signature_verification_algorithms;
        verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
