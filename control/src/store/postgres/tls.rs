//! TLS to the database, with rustls, when the URL says `sslmode=require`:
//! then a server without TLS is refused, and the server's certificate and
//! name are checked (as libpq's `verify-full` does) against the Mozilla
//! roots and, when the URL names one as libpq does
//! (`sslrootcert=/path/ca.pem`), the operator's own CA: a managed
//! database's, or a private one. Without it (`prefer`, the default, or
//! `disable`) the connection is plain, as it was before: a server's
//! self-signed certificate cannot stop a host that did not ask for TLS.

use crate::store::StoreError;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// The URL parameter naming a CA file, which the driver does not read.
const ROOT_CERT: &str = "sslrootcert";

/// `url` without its `sslrootcert` parameter, and that parameter's file.
pub(super) fn split_root_cert(url: &str) -> Result<(String, Option<PathBuf>), StoreError> {
    // Only such URLs are rewritten: the driver reads forms (several hosts,
    // `key=value`) that a URL parser does not.
    if !url.contains(ROOT_CERT) {
        return Ok((url.to_string(), None));
    }
    let invalid = |e: url::ParseError| StoreError::Unavailable(format!("the PostgreSQL URL is invalid: {e}"));
    let mut parsed = url::Url::parse(url).map_err(invalid)?;
    let mut root_cert = None;
    let kept: Vec<(String, String)> = parsed
        .query_pairs()
        .filter_map(|(name, value)| match name == ROOT_CERT {
            true => {
                root_cert = Some(PathBuf::from(value.into_owned()));
                None
            }
            false => Some((name.into_owned(), value.into_owned())),
        })
        .collect();
    if root_cert.is_none() {
        return Ok((url.to_string(), None));
    }
    if kept.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(kept);
    }
    Ok((parsed.to_string(), root_cert))
}

/// The connector every connection of the store uses when `config` asks
/// for TLS; none when it does not.
pub(super) fn connector(
    config: &tokio_postgres::Config,
    root_cert: Option<&Path>,
) -> Result<Option<MakeRustlsConnect>, StoreError> {
    if config.get_ssl_mode() != SslMode::Require {
        return Ok(None);
    }
    let failed = |what: String| StoreError::Unavailable(format!("PostgreSQL TLS: {what}"));
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = root_cert {
        let shown = path.display();
        let certificates = CertificateDer::pem_file_iter(path)
            .map_err(|e| failed(format!("cannot read {shown}: {e}")))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| failed(format!("cannot read {shown}: {e}")))?;
        if certificates.is_empty() {
            return Err(failed(format!("{shown} holds no certificate")));
        }
        for certificate in certificates {
            roots
                .add(certificate)
                .map_err(|e| failed(format!("a certificate in {shown} is not usable: {e}")))?;
        }
    }
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| failed(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Some(MakeRustlsConnect::new(tls)))
}

#[cfg(test)]
mod tests {
    use super::split_root_cert;
    use std::path::PathBuf;

    #[test]
    fn the_root_certificate_parameter_is_taken_out_of_the_url() {
        let (url, ca) =
            split_root_cert("postgres://u@db:5432/omnify?sslmode=require&sslrootcert=/etc/ca.pem")
                .expect("a URL");
        assert_eq!(url, "postgres://u@db:5432/omnify?sslmode=require");
        assert_eq!(ca, Some(PathBuf::from("/etc/ca.pem")));
        let (url, ca) = split_root_cert("postgres://u@db/omnify?sslrootcert=ca.pem").expect("a URL");
        assert_eq!(
            (url.as_str(), ca),
            ("postgres://u@db/omnify", Some(PathBuf::from("ca.pem")))
        );
        let (url, ca) = split_root_cert("postgres://u@db/omnify?sslmode=disable").expect("a URL");
        assert_eq!(
            (url.as_str(), ca),
            ("postgres://u@db/omnify?sslmode=disable", None)
        );
        assert!(split_root_cert("not a url?sslrootcert=x").is_err());
        let several = "postgres://u@h1:5432,h2:5432/omnify";
        assert_eq!(
            split_root_cert(several).expect("left as it is"),
            (several.to_string(), None)
        );
    }
}
