//! A TCP relay in front of a real `redis-server` that can make the connections it carries die
//! silently: no FIN, no RST, bytes swallowed both ways, the way a lost NAT entry or a vanished
//! node looks from the client. New connections keep working.
//!
//! (Reconstructed: the first version of this file was overwritten by mistake; see the report
//! of the forward-auth work.)

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

struct Connection {
    /// Set once blackholed: both directions swallow everything from then on.
    dead: Arc<AtomicBool>,
    client: TcpStream,
    server: TcpStream,
}

pub struct FaultProxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<Connection>>>,
}

impl FaultProxy {
    /// Relays `127.0.0.1:<free port>` to `127.0.0.1:<target_port>`.
    pub fn start(target_port: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind fault proxy");
        let port = listener.local_addr().expect("fault proxy address").port();
        listener.set_nonblocking(true).expect("non-blocking listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections: Arc<Mutex<Vec<Connection>>> = Arc::default();
        let (accept_stop, accept_connections) = (stop.clone(), connections.clone());
        std::thread::spawn(move || {
            while !accept_stop.load(Ordering::SeqCst) {
                let client = match listener.accept() {
                    Ok((client, _)) => client,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(5));
                        continue;
                    }
                    Err(_) => continue,
                };
                let _ = client.set_nonblocking(false);
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let dead = Arc::new(AtomicBool::new(false));
                let (Ok(c1), Ok(c2), Ok(s1), Ok(s2)) =
                    (client.try_clone(), client.try_clone(), server.try_clone(), server.try_clone())
                else {
                    continue;
                };
                pump(c1, s1, dead.clone());
                pump(s2, c2, dead.clone());
                if let Ok(mut list) = accept_connections.lock() {
                    list.push(Connection { dead, client, server });
                }
            }
        });
        Self { port, stop, connections }
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Every connection open now goes silent both ways, and stays open; later ones relay.
    pub fn blackhole_open_connections(&self) {
        if let Ok(list) = self.connections.lock() {
            for connection in list.iter() {
                connection.dead.store(true, Ordering::SeqCst);
            }
        }
    }
}

/// Copies `from` to `to` until either side closes; swallows the bytes once `dead` is set.
fn pump(mut from: TcpStream, mut to: TcpStream, dead: Arc<AtomicBool>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if dead.load(Ordering::SeqCst) {
                continue;
            }
            if to.write_all(&buf[..n]).is_err() {
                break;
            }
        }
        if !dead.load(Ordering::SeqCst) {
            let _ = to.shutdown(Shutdown::Write);
        }
    });
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Ok(list) = self.connections.lock() {
            for connection in list.iter() {
                let _ = connection.client.shutdown(Shutdown::Both);
                let _ = connection.server.shutdown(Shutdown::Both);
            }
        }
    }
}
