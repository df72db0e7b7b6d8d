//! A TCP hop between a client and the server that can lose the server's answers, as a phone's network does between a request arriving and its answer coming back.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tonic::transport::{Channel, Endpoint};

/// Forwards every connection to the server; while [`LossyLink::lose_answers`] is on, what the server sends back is read and dropped.
#[derive(Debug)]
pub struct LossyLink {
    addr: SocketAddr,
    lose: Arc<AtomicBool>,
    accept: JoinHandle<()>,
}

impl LossyLink {
    pub async fn start(server: SocketAddr) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let lose = Arc::new(AtomicBool::new(false));
        let flag = lose.clone();
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let flag = flag.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(server).await {
                        forward(client, server, flag).await;
                    }
                });
            }
        });
        Ok(Self { addr, lose, accept })
    }

    /// Loses (or passes again) what the server sends from now on.
    pub fn lose_answers(&self, lose: bool) {
        self.lose.store(lose, Ordering::SeqCst);
    }

    /// A new connection through the link, made while answers pass.
    pub async fn connect(&self) -> anyhow::Result<Channel> {
        Ok(Endpoint::from_shared(format!("http://{}", self.addr))?
            .connect()
            .await?)
    }
}

impl Drop for LossyLink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies the client's bytes to the server as they are, and the server's back unless `lose` is on.
async fn forward(client: TcpStream, server: TcpStream, lose: Arc<AtomicBool>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up = async {
        let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
        let _ = server_write.shutdown().await;
    };
    let down = async {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) if lose.load(Ordering::SeqCst) => {}
                Ok(n) => {
                    if client_write.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}
