//! The socket under a session: TCP with TCP_NODELAY (the server does not set
//! it, and without it every reply waits out a delayed ACK), optionally TLS
//! with rustls (system roots plus an optional CA file; a client certificate
//! for SASL EXTERNAL), and a line reader that never trusts the peer: lines
//! are capped in length and decoded lossily, so a flood of bytes or a
//! Latin-1 message cannot take the connection down.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::Config;
use super::SessionError;

/// Longest line accepted from the server: 8191 bytes of tags plus 512.
const MAX_INBOUND: usize = 8191 + 512;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);

pub type Reader = Box<dyn AsyncRead + Send + Unpin>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// Makes sure rustls has a process-wide crypto provider (both ring and
/// aws-lc-rs are compiled in, so it cannot pick one by itself).
pub fn install_crypto_provider() {
    // An error only means a provider is already installed.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

pub async fn connect(config: &Config) -> Result<(Reader, Writer), SessionError> {
    let address = (config.server.as_str(), config.port());
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address))
        .await
        .map_err(|_| {
            SessionError::Io(io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))
        })??;
    tcp.set_nodelay(true)?;
    if !config.tls {
        let (r, w) = tokio::io::split(tcp);
        return Ok((Box::new(r), Box::new(w)));
    }
    install_crypto_provider();
    let tls = tls_config(config)?;
    let name = ServerName::try_from(config.server.clone())
        .map_err(|e| SessionError::Tls(format!("server name \"{}\": {e}", config.server)))?;
    let stream = tokio::time::timeout(
        CONNECT_TIMEOUT,
        TlsConnector::from(Arc::new(tls)).connect(name, tcp),
    )
    .await
    .map_err(|_| SessionError::Tls("TLS handshake timed out".into()))?
    .map_err(|e| SessionError::Tls(e.to_string()))?;
    let (r, w) = tokio::io::split(stream);
    Ok((Box::new(r), Box::new(w)))
}

fn tls_config(config: &Config) -> Result<ClientConfig, SessionError> {
    let tls = |what: String| SessionError::Tls(what);
    let mut roots = RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        // One unusable system certificate must not stop the others.
        let _ = roots.add(cert);
    }
    if let Some(file) = &config.tls_ca_file {
        for cert in CertificateDer::pem_file_iter(file)
            .map_err(|e| tls(format!("cannot read \"{}\": {e}", file.display())))?
        {
            let cert = cert.map_err(|e| tls(format!("\"{}\": {e}", file.display())))?;
            roots
                .add(cert)
                .map_err(|e| tls(format!("\"{}\": {e}", file.display())))?;
        }
    }
    let builder = ClientConfig::builder().with_root_certificates(roots);
    match (&config.tls_cert_file, &config.tls_key_file) {
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(cert)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| tls(format!("cannot read \"{}\": {e}", cert.display())))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls(format!("cannot read \"{}\": {e}", key.display())))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|e| tls(format!("client certificate: {e}")))
        }
        _ => Ok(builder.with_no_client_auth()),
    }
}

/// Reads lines until EOF or an error and hands them over, CR/LF removed.
/// Over-long lines are dropped whole; invalid UTF-8 is replaced.
pub async fn read_lines(reader: Reader, tx: mpsc::Sender<io::Result<String>>) {
    let mut reader = BufReader::with_capacity(16 * 1024, reader);
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    let mut overflow = false;
    loop {
        let buf = match reader.fill_buf().await {
            Ok([]) => return,
            Ok(buf) => buf,
            Err(e) => {
                let _ = tx.send(Err(e)).await;
                return;
            }
        };
        let (chunk, end) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        if !overflow {
            if line.len() + chunk.len() > MAX_INBOUND {
                overflow = true;
                line.clear();
            } else {
                line.extend_from_slice(chunk);
            }
        }
        let used = end.unwrap_or(buf.len());
        reader.consume(used);
        if end.is_some() {
            if !overflow {
                while line.last() == Some(&b'\r') {
                    line.pop();
                }
                let text = String::from_utf8_lossy(&line).into_owned();
                if !text.is_empty() && tx.send(Ok(text)).await.is_err() {
                    return;
                }
            }
            line.clear();
            overflow = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_capped_and_decoded_lossily() {
        let mut input = Vec::new();
        input.extend_from_slice(b"PING :a\r\n");
        input.extend(std::iter::repeat_n(b'x', MAX_INBOUND + 10));
        input.extend_from_slice(b"\r\n:n!u@h PRIVMSG #c :caf\xe9\n\r\n");
        let (tx, mut rx) = mpsc::channel(8);
        read_lines(Box::new(std::io::Cursor::new(input)), tx).await;
        let mut got = Vec::new();
        while let Some(line) = rx.recv().await {
            got.push(line.expect("no io error"));
        }
        assert_eq!(got, ["PING :a", ":n!u@h PRIVMSG #c :caf\u{fffd}"]);
    }
}
