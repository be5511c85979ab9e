//! The two loopback servers a pre-staged upgrade needs: the node's gRPC upgrade
//! query (the plan, from `cosmos-sdk-proto`'s generated service, as the e2e tests
//! use) and an HTTP mirror holding the binary. Both count what they were asked, so
//! a trial can prove the download happened before the height, or not at all.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;

use anyhow::{Context, Result};
use cosmos_sdk_proto::cosmos::upgrade::v1beta1::query_server::{Query, QueryServer};
use cosmos_sdk_proto::cosmos::upgrade::v1beta1::{
    Plan, QueryAppliedPlanRequest, QueryAppliedPlanResponse, QueryAuthorityRequest,
    QueryAuthorityResponse, QueryCurrentPlanRequest, QueryCurrentPlanResponse,
    QueryModuleVersionsRequest, QueryModuleVersionsResponse, QueryUpgradedConsensusStateRequest,
    QueryUpgradedConsensusStateResponse,
};
use tonic::{Request, Response, Status};

/// The node's gRPC server, answering `CurrentPlan` with one fixed plan.
pub struct NodeGrpc {
    pub addr: SocketAddr,
    queries: Arc<AtomicU64>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NodeGrpc {
    pub fn start(name: &str, height: i64, info: &str) -> Result<NodeGrpc> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the gRPC port")?;
        let addr = listener.local_addr()?;
        listener.set_nonblocking(true)?;
        #[allow(deprecated)] // the wire type still carries the removed time fields
        let plan = Plan {
            name: name.to_owned(),
            height,
            info: info.to_owned(),
            ..Plan::default()
        };
        let queries = Arc::new(AtomicU64::new(0));
        let service = PlanService {
            plan,
            queries: queries.clone(),
        };
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("a runtime for the gRPC server")?;
        let thread = std::thread::spawn(move || {
            rt.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    eprintln!("bench: the gRPC listener could not be registered");
                    return;
                };
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let served = tonic::transport::Server::builder()
                    .serve_with_incoming_shutdown(QueryServer::new(service), incoming, async {
                        let _ = stopped.await;
                    })
                    .await;
                if let Err(e) = served {
                    eprintln!("bench: the gRPC server failed: {e}");
                }
            });
        });
        Ok(NodeGrpc {
            addr,
            queries,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    pub fn queries(&self) -> u64 {
        self.queries.load(Ordering::SeqCst)
    }
}

impl Drop for NodeGrpc {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct PlanService {
    plan: Plan,
    queries: Arc<AtomicU64>,
}

#[tonic::async_trait]
impl Query for PlanService {
    async fn current_plan(
        &self,
        _r: Request<QueryCurrentPlanRequest>,
    ) -> Result<Response<QueryCurrentPlanResponse>, Status> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        Ok(Response::new(QueryCurrentPlanResponse {
            plan: Some(self.plan.clone()),
        }))
    }

    async fn applied_plan(
        &self,
        _r: Request<QueryAppliedPlanRequest>,
    ) -> Result<Response<QueryAppliedPlanResponse>, Status> {
        Err(Status::unimplemented("bench node"))
    }

    async fn upgraded_consensus_state(
        &self,
        _r: Request<QueryUpgradedConsensusStateRequest>,
    ) -> Result<Response<QueryUpgradedConsensusStateResponse>, Status> {
        Err(Status::unimplemented("bench node"))
    }

    async fn module_versions(
        &self,
        _r: Request<QueryModuleVersionsRequest>,
    ) -> Result<Response<QueryModuleVersionsResponse>, Status> {
        Err(Status::unimplemented("bench node"))
    }

    async fn authority(
        &self,
        _r: Request<QueryAuthorityRequest>,
    ) -> Result<Response<QueryAuthorityResponse>, Status> {
        Err(Status::unimplemented("bench node"))
    }
}

/// An HTTP/1.1 mirror serving one file at every path, one connection at a time.
pub struct Mirror {
    pub addr: SocketAddr,
    requests: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Mirror {
    pub fn start(body: Vec<u8>) -> Result<Mirror> {
        let listener = TcpListener::bind("127.0.0.1:0").context("binding the mirror port")?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (requests, stop) = (requests.clone(), stop.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(stream) = stream {
                        requests.fetch_add(1, Ordering::SeqCst);
                        let _ = serve(stream, &body);
                    }
                }
            })
        };
        Ok(Mirror {
            addr,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, body: &[u8]) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    // The request line, then headers up to the blank line.
    while reader.read_line(&mut line)? > 2 {
        line.clear();
    }
    let mut stream = stream;
    stream.write_all(
        format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .as_bytes(),
    )?;
    stream.write_all(body)?;
    stream.flush()
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
