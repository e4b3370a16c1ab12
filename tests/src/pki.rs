//! Throw-away certificates for TLS tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use tempfile::TempDir;

use crate::mosquitto::{TlsListener, run};
use crate::{Error, Result};

/// Password of every encrypted client key ([`ClientCert::encrypted_key`]).
const KEY_PASSWORD: &str = "test-key-password";

/// A test CA with server and client certificates, written as PEM files to a
/// private directory that is deleted on drop.
///
/// * `ca.pem` — the trusted CA;
/// * `server.pem` / `server.key.pem` — signed by the CA for `localhost` and
///   `127.0.0.1`;
/// * `wrong-name.pem` / `wrong-name.key.pem` — signed by the CA for
///   `wrong.example` only;
/// * `other-ca.pem` — an unrelated CA that signed nothing the broker uses.
///
/// Files are world-readable so that a broker running as another user can
/// load them.
pub struct Pki {
    dir: TempDir,
    ca: Issuer<'static, KeyPair>,
    other_ca: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for Pki {
    // The issuers hold private keys; show only where the files are.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("dir", &self.dir.path())
            .finish_non_exhaustive()
    }
}

/// A client certificate with its key, in plain and encrypted PEM form.
#[derive(Clone, Debug)]
pub struct ClientCert {
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// The private key, unencrypted PKCS#8 PEM.
    pub key: PathBuf,
    /// The same key, encrypted PKCS#8 PEM (AES-256); see [`ClientCert::key_password`].
    pub encrypted_key: PathBuf,
}

impl ClientCert {
    /// The password that decrypts [`ClientCert::encrypted_key`].
    pub fn key_password(&self) -> &'static str {
        KEY_PASSWORD
    }
}

impl Pki {
    /// Generates the CAs and server certificates.
    pub fn generate() -> Result<Self> {
        let dir = tempfile::Builder::new().prefix("pki-").tempdir()?;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))?;
        let (ca_cert, ca) = new_ca("iot-sdk test CA")?;
        let (other_ca_cert, other_ca) = new_ca("unrelated test CA")?;
        let pki = Self { dir, ca, other_ca };
        pki.write("ca.pem", &ca_cert.pem())?;
        pki.write("other-ca.pem", &other_ca_cert.pem())?;
        pki.issue_server("server", "localhost", &["localhost", "127.0.0.1"])?;
        pki.issue_server("wrong-name", "wrong.example", &["wrong.example"])?;
        Ok(pki)
    }

    /// The directory holding all files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The CA that signed the server and client certificates.
    pub fn ca_cert(&self) -> PathBuf {
        self.path("ca.pem")
    }

    /// A CA unrelated to everything else here, for "wrong CA" tests.
    pub fn other_ca_cert(&self) -> PathBuf {
        self.path("other-ca.pem")
    }

    /// Server certificate for `localhost` and `127.0.0.1`.
    pub fn server_cert(&self) -> PathBuf {
        self.path("server.pem")
    }

    /// Key of [`Pki::server_cert`].
    pub fn server_key(&self) -> PathBuf {
        self.path("server.key.pem")
    }

    /// Server certificate signed by the CA for `wrong.example` only.
    pub fn wrong_name_cert(&self) -> PathBuf {
        self.path("wrong-name.pem")
    }

    /// Key of [`Pki::wrong_name_cert`].
    pub fn wrong_name_key(&self) -> PathBuf {
        self.path("wrong-name.key.pem")
    }

    /// A TLS listener presenting [`Pki::server_cert`] and trusting [`Pki::ca_cert`].
    pub fn server_listener(&self) -> TlsListener {
        TlsListener::new(self.ca_cert(), self.server_cert(), self.server_key())
    }

    /// A TLS listener presenting [`Pki::wrong_name_cert`].
    pub fn wrong_name_listener(&self) -> TlsListener {
        TlsListener::new(
            self.ca_cert(),
            self.wrong_name_cert(),
            self.wrong_name_key(),
        )
    }

    /// Issues a client certificate with common name `device_id`, signed by the CA.
    pub fn client_cert(&self, device_id: &str) -> Result<ClientCert> {
        self.issue_client(&self.ca, &format!("client-{device_id}"), device_id)
    }

    /// Issues a client certificate signed by the unrelated CA, which a broker
    /// trusting [`Pki::ca_cert`] must refuse.
    pub fn untrusted_client_cert(&self, device_id: &str) -> Result<ClientCert> {
        self.issue_client(&self.other_ca, &format!("untrusted-{device_id}"), device_id)
    }

    fn issue_server(&self, stem: &str, common_name: &str, names: &[&str]) -> Result<()> {
        let names: Vec<String> = names.iter().map(|&n| n.to_owned()).collect();
        let (cert, key) = leaf(
            &self.ca,
            common_name,
            names,
            ExtendedKeyUsagePurpose::ServerAuth,
        )?;
        self.write(&format!("{stem}.pem"), &cert.pem())?;
        self.write(&format!("{stem}.key.pem"), &key.serialize_pem())?;
        Ok(())
    }

    fn issue_client(
        &self,
        issuer: &Issuer<'static, KeyPair>,
        stem: &str,
        device_id: &str,
    ) -> Result<ClientCert> {
        let (cert, key) = leaf(
            issuer,
            device_id,
            Vec::new(),
            ExtendedKeyUsagePurpose::ClientAuth,
        )?;
        let files = ClientCert {
            cert: self.write(&format!("{stem}.pem"), &cert.pem())?,
            key: self.write(&format!("{stem}.key.pem"), &key.serialize_pem())?,
            encrypted_key: self.path(&format!("{stem}.key.enc.pem")),
        };
        encrypt_key(&files.key, &files.encrypted_key)?;
        fs::set_permissions(&files.encrypted_key, fs::Permissions::from_mode(0o644))?;
        Ok(files)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) -> Result<PathBuf> {
        let path = self.path(name);
        fs::write(&path, contents)?;
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644))?;
        Ok(path)
    }
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

fn new_ca(common_name: &str) -> Result<(Certificate, Issuer<'static, KeyPair>)> {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert, Issuer::new(params, key)))
}

fn leaf(
    issuer: &Issuer<'static, KeyPair>,
    common_name: &str,
    alt_names: Vec<String>,
    usage: ExtendedKeyUsagePurpose,
) -> Result<(Certificate, KeyPair)> {
    let mut params = CertificateParams::new(alt_names)?;
    params.distinguished_name = distinguished_name(common_name);
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![usage];
    params.use_authority_key_identifier_extension = true;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, issuer)?;
    Ok((cert, key))
}

/// Encrypts a PEM key with the OpenSSL CLI, in the PKCS#8 v2 AES-256 form
/// that OpenSSL (and so paho) reads with a password.
fn encrypt_key(plain: &Path, encrypted: &Path) -> Result<()> {
    run(Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes256", "-in"])
        .arg(plain)
        .arg("-out")
        .arg(encrypted)
        // Through the environment rather than the command line.
        .args(["-passout", "env:IOT_SDK_TEST_KEY_PASSWORD"])
        .env("IOT_SDK_TEST_KEY_PASSWORD", KEY_PASSWORD))
    .map_err(|e| Error::Setup(format!("encrypting a test key: {e}")))
}

#[cfg(test)]
mod tests {
    use paho_mqtt::{ConnectReturnCode, Error as PahoError, SslOptions, SslOptionsBuilder};

    use super::*;
    use crate::test_client::{close, connect, connect_error};
    use crate::{Mosquitto, MosquittoConfig};

    fn trusting(ca: &Path) -> Result<SslOptionsBuilder> {
        let mut ssl = SslOptionsBuilder::new();
        ssl.trust_store(ca)?.verify(true);
        Ok(ssl)
    }

    fn with_client_cert(ca: &Path, client: &ClientCert, password: &str) -> Result<SslOptions> {
        let mut ssl = trusting(ca)?;
        ssl.key_store(&client.cert)?
            .private_key(&client.encrypted_key)?
            .private_key_password(password);
        Ok(ssl.finalize())
    }

    fn tls_uri(broker: &Mosquitto, host: &str) -> String {
        format!("ssl://{host}:{}", broker.tls_port().unwrap_or_default())
    }

    #[tokio::test]
    async fn tls_listener_accepts_its_ca_and_refuses_another() -> Result<()> {
        let pki = Pki::generate()?;
        let broker = Mosquitto::start(MosquittoConfig::new().tls(pki.server_listener()))?;

        for host in ["127.0.0.1", "localhost"] {
            let ssl = trusting(&pki.ca_cert())?.finalize();
            close(connect(&tls_uri(&broker, host), Some(ssl), None).await?).await;
        }
        let ssl = trusting(&pki.other_ca_cert())?.finalize();
        let refused = connect_error(&tls_uri(&broker, "127.0.0.1"), Some(ssl), None).await;
        eprintln!("wrong CA: {refused:?}");
        assert!(refused.is_some());
        assert_eq!(broker.connect_attempts()?, 2);
        Ok(())
    }

    #[tokio::test]
    async fn verify_refuses_a_certificate_for_another_name() -> Result<()> {
        let pki = Pki::generate()?;
        let broker = Mosquitto::start(MosquittoConfig::new().tls(pki.wrong_name_listener()))?;
        let uri = tls_uri(&broker, "localhost");

        let ssl = trusting(&pki.ca_cert())?.finalize();
        let refused = connect_error(&uri, Some(ssl), None).await;
        eprintln!("wrong name: {refused:?}");
        assert!(refused.is_some());
        // The name is the only problem: without the host name check it connects.
        let ssl = trusting(&pki.ca_cert())?.verify(false).finalize();
        close(connect(&uri, Some(ssl), None).await?).await;
        Ok(())
    }

    #[tokio::test]
    async fn client_certificate_with_encrypted_key_authenticates_as_its_cn() -> Result<()> {
        let pki = Pki::generate()?;
        let listener = pki.server_listener().require_certificate();
        let broker = Mosquitto::start(MosquittoConfig::new().tls(listener))?;
        let uri = tls_uri(&broker, "127.0.0.1");
        let device = pki.client_cert("prod_dev1")?;
        let encrypted = fs::read_to_string(&device.encrypted_key)?;
        assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));

        let ssl = with_client_cert(&pki.ca_cert(), &device, device.key_password())?;
        close(connect(&uri, Some(ssl), None).await?).await;
        assert!(broker.log()?.contains("u'prod_dev1'"));

        let ssl = with_client_cert(&pki.ca_cert(), &device, "not the password")?;
        let wrong_password = connect_error(&uri, Some(ssl), None).await;
        eprintln!("wrong key password: {wrong_password:?}");
        assert!(wrong_password.is_some());

        let ssl = trusting(&pki.ca_cert())?.finalize();
        let no_cert = connect_error(&uri, Some(ssl), None).await;
        eprintln!("no client certificate: {no_cert:?}");
        assert!(no_cert.is_some());

        let stranger = pki.untrusted_client_cert("prod_dev2")?;
        let ssl = with_client_cert(&pki.ca_cert(), &stranger, stranger.key_password())?;
        let untrusted = connect_error(&uri, Some(ssl), None).await;
        eprintln!("untrusted client certificate: {untrusted:?}");
        assert!(untrusted.is_some());
        assert_eq!(broker.connacks()?, [0]);
        Ok(())
    }

    #[tokio::test]
    async fn always_bad_credentials_answers_every_connect_with_code_4() -> Result<()> {
        let pki = Pki::generate()?;
        let listener = pki.server_listener().always_bad_credentials();
        let broker = Mosquitto::start(MosquittoConfig::new().tls(listener))?;
        let uri = tls_uri(&broker, "127.0.0.1");

        let ssl = trusting(&pki.ca_cert())?.finalize();
        let refused = connect_error(&uri, Some(ssl), Some(("prod_dev1", "secret"))).await;
        assert!(
            matches!(
                refused,
                Some(PahoError::ConnectReturn(
                    ConnectReturnCode::BadUserNameOrPassword
                ))
            ),
            "{refused:?}"
        );
        let device = pki.client_cert("prod_dev1")?;
        let ssl = with_client_cert(&pki.ca_cert(), &device, device.key_password())?;
        let with_cert = connect_error(&uri, Some(ssl), None).await;
        assert!(
            matches!(
                with_cert,
                Some(PahoError::ConnectReturn(
                    ConnectReturnCode::BadUserNameOrPassword
                ))
            ),
            "{with_cert:?}"
        );
        assert_eq!(broker.connacks()?, [4, 4]);
        Ok(())
    }
}
