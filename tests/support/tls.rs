//! Real TLS in front of plain-HTTP processes: a development CA (generated with `rcgen` once per
//! test binary) signs a leaf certificate for `*.example.test` and friends, and [`TlsFront`]
//! terminates TLS with it on a loopback port and relays the plaintext to a backend, the way a
//! load balancer or ingress would. Clients trust the CA through [`https_browser`].

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio_rustls::TlsAcceptor;

/// The names the development certificate is valid for.
pub const DEV_CERT_NAMES: [&str; 5] =
    ["*.example.test", "example.test", "airlock.example.test", "lore.example.test", "lore.example.other"];

/// A development CA and the server certificate it signed.
pub struct DevCertificate {
    /// The CA certificate (DER): what a client adds as a root.
    pub ca: CertificateDer<'static>,
    /// The leaf, valid for [`DEV_CERT_NAMES`], followed by the CA.
    chain: Vec<CertificateDer<'static>>,
    key: PrivatePkcs8KeyDer<'static>,
}

impl DevCertificate {
    fn generate() -> Self {
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let mut ca_name = DistinguishedName::new();
        ca_name.push(DnType::CommonName, "airlock system tests CA");
        ca_params.distinguished_name = ca_name;
        let ca = ca_params.self_signed(&ca_key).expect("self-signed CA");

        let leaf_key = KeyPair::generate().expect("leaf key");
        let names: Vec<String> = DEV_CERT_NAMES.iter().map(|n| n.to_string()).collect();
        let mut leaf_params = CertificateParams::new(names).expect("leaf params");
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf_params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let mut leaf_name = DistinguishedName::new();
        leaf_name.push(DnType::CommonName, "example.test");
        leaf_params.distinguished_name = leaf_name;
        let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).expect("leaf signed by the CA");

        Self {
            ca: ca.der().clone(),
            chain: vec![leaf.der().clone(), ca.der().clone()],
            key: PrivatePkcs8KeyDer::from(leaf_key.serialize_der()),
        }
    }

    /// The CA as reqwest takes it.
    pub fn reqwest_root(&self) -> reqwest::Certificate {
        reqwest::Certificate::from_der(&self.ca).expect("CA certificate for reqwest")
    }

    fn server_config(&self) -> Arc<rustls::ServerConfig> {
        // ring: the provider reqwest's rustls already uses, so no second crypto backend is built.
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), PrivateKeyDer::Pkcs8(self.key.clone_key()))
            .expect("server certificate");
        Arc::new(config)
    }
}

/// The development certificate of this test binary (generated on first use).
pub fn dev_certificate() -> &'static DevCertificate {
    static CERT: OnceLock<DevCertificate> = OnceLock::new();
    CERT.get_or_init(DevCertificate::generate)
}

/// Most plaintext a front keeps of what clients sent through it.
const RECORD_LIMIT: usize = 1 << 20;

/// A TLS-terminating TCP proxy on `127.0.0.1:<port>`: TLS with the development certificate
/// outside, plain TCP to `backend` inside. It runs on its own thread and runtime, so a test that
/// blocks (stopping a process, say) never stalls it. Stops when dropped.
pub struct TlsFront {
    pub port: u16,
    pub addr: SocketAddr,
    /// Decrypted bytes clients sent through this front (request lines, headers, bodies).
    received: Arc<Mutex<Vec<u8>>>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TlsFront {
    /// Starts a front relaying to `backend` (e.g. `127.0.0.1:<airlock port>`).
    pub fn start(backend: SocketAddr) -> Self {
        let acceptor = TlsAcceptor::from(dev_certificate().server_config());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the TLS front");
        listener.set_nonblocking(true).expect("non-blocking listener");
        let addr = listener.local_addr().expect("TLS front address");
        let received = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = oneshot::channel::<()>();
        let record = received.clone();
        let thread = std::thread::Builder::new()
            .name(format!("tls-front-{}", addr.port()))
            .spawn(move || {
                let runtime =
                    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("TLS front runtime");
                runtime.block_on(async move {
                    let listener = TcpListener::from_std(listener).expect("tokio listener");
                    let mut connections = tokio::task::JoinSet::new();
                    let accept = async {
                        loop {
                            let Ok((socket, _)) = listener.accept().await else {
                                tokio::time::sleep(Duration::from_millis(10)).await;
                                continue;
                            };
                            connections.spawn(relay(acceptor.clone(), socket, backend, record.clone()));
                            // Reap finished connections so the set stays small.
                            while connections.try_join_next().is_some() {}
                        }
                    };
                    tokio::select! {
                        () = accept => {}
                        _ = stopped => {}
                    }
                    // Dropping the set aborts every open connection.
                });
            })
            .expect("spawn the TLS front thread");
        Self { port: addr.port(), addr, received, stop: Some(stop), thread: Some(thread) }
    }

    /// Everything clients sent through this front so far, decrypted, as text.
    pub fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().expect("front record")).into_owned()
    }
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One client connection: TLS handshake, then bytes both ways until either side closes.
async fn relay(acceptor: TlsAcceptor, socket: TcpStream, backend: SocketAddr, record: Arc<Mutex<Vec<u8>>>) {
    let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acceptor.accept(socket)).await else {
        return; // A failed handshake (e.g. a client that does not trust the CA) just closes.
    };
    let Ok(upstream) = TcpStream::connect(backend).await else {
        return;
    };
    let (mut client_read, mut client_write) = tokio::io::split(tls);
    let (mut upstream_read, mut upstream_write) = upstream.into_split();
    let inbound = async {
        let mut buf = vec![0u8; 16 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if let Ok(mut seen) = record.lock() {
                let room = RECORD_LIMIT.saturating_sub(seen.len());
                seen.extend_from_slice(&buf[..n.min(room)]);
            }
            if upstream_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = upstream_write.shutdown().await;
    };
    let outbound = async {
        let _ = tokio::io::copy(&mut upstream_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(inbound, outbound);
}

/// A browser-like HTTPS client: its own cookie jar, no redirects followed, the development CA
/// as its only root, and each `(host, front)` pair resolved to that front, as DNS would.
pub fn https_browser(hosts: &[(&str, &TlsFront)]) -> reqwest::Client {
    let mut builder = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .https_only(true)
        .tls_built_in_root_certs(false)
        .add_root_certificate(dev_certificate().reqwest_root());
    for (host, front) in hosts {
        builder = builder.resolve(host, front.addr);
    }
    builder.build().expect("https client")
}
