//! A loopback gRPC server playing the node's upgrade module.
//!
//! `prepare-upgrade` and pre-staging ask the node for its plan with
//! `cosmos.upgrade.v1beta1.Query/CurrentPlan`; this serves that query from the
//! service code generated in `cosmos-sdk-proto` itself (the same crate the client
//! uses, so the wire format is the real one), on 127.0.0.1 with a kernel-picked
//! port. The plan can be changed while serving, and queries are counted so a test
//! can tell the supervisor really asked. The other queries of the service answer
//! `Unimplemented`, as a node without them would.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use cosmos_sdk_proto::cosmos::upgrade::v1beta1::query_server::{Query, QueryServer};
use cosmos_sdk_proto::cosmos::upgrade::v1beta1::{
    Plan, QueryAppliedPlanRequest, QueryAppliedPlanResponse, QueryAuthorityRequest,
    QueryAuthorityResponse, QueryCurrentPlanRequest, QueryCurrentPlanResponse,
    QueryModuleVersionsRequest, QueryModuleVersionsResponse, QueryUpgradedConsensusStateRequest,
    QueryUpgradedConsensusStateResponse,
};
use tonic::{Request, Response, Status};

/// What the server and the test share.
#[derive(Default)]
struct State {
    plan: Mutex<Option<Plan>>,
    queries: AtomicU64,
}

/// A running server; stopped on drop.
pub struct NodeGrpc {
    addr: std::net::SocketAddr,
    state: Arc<State>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl NodeGrpc {
    /// Serves on 127.0.0.1:0 with no plan scheduled.
    pub fn start() -> NodeGrpc {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("the bound address");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let state = Arc::new(State::default());
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let service = UpgradeQuery {
            state: state.clone(),
        };
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the gRPC server");
            rt.block_on(async move {
                let listener =
                    tokio::net::TcpListener::from_std(listener).expect("a tokio listener");
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let served = tonic::transport::Server::builder()
                    .serve_with_incoming_shutdown(QueryServer::new(service), incoming, async {
                        let _ = stopped.await;
                    })
                    .await;
                if let Err(e) = served {
                    eprintln!("the loopback gRPC server failed: {e}");
                }
            });
        });
        NodeGrpc {
            addr,
            state,
            shutdown: Some(shutdown),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:<port>`, as DAEMON_GRPC_ADDRESS takes it.
    pub fn address(&self) -> String {
        self.addr.to_string()
    }

    /// Schedules `name` at `height` with download information `info`.
    pub fn set_plan(&self, name: &str, height: i64, info: &str) {
        #[allow(deprecated)] // the wire type still carries the removed time fields
        let plan = Plan {
            name: name.to_owned(),
            height,
            info: info.to_owned(),
            ..Plan::default()
        };
        *self.state.plan.lock().expect("plan lock") = Some(plan);
    }

    /// No upgrade scheduled (as after it was applied).
    pub fn clear_plan(&self) {
        *self.state.plan.lock().expect("plan lock") = None;
    }

    /// `CurrentPlan` queries answered so far.
    pub fn queries(&self) -> u64 {
        self.state.queries.load(Ordering::SeqCst)
    }
}

impl Drop for NodeGrpc {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct UpgradeQuery {
    state: Arc<State>,
}

#[tonic::async_trait]
impl Query for UpgradeQuery {
    async fn current_plan(
        &self,
        _request: Request<QueryCurrentPlanRequest>,
    ) -> Result<Response<QueryCurrentPlanResponse>, Status> {
        self.state.queries.fetch_add(1, Ordering::SeqCst);
        let plan = self.state.plan.lock().expect("plan lock").clone();
        Ok(Response::new(QueryCurrentPlanResponse { plan }))
    }

    async fn applied_plan(
        &self,
        _request: Request<QueryAppliedPlanRequest>,
    ) -> Result<Response<QueryAppliedPlanResponse>, Status> {
        Err(Status::unimplemented("not served by the test node"))
    }

    async fn upgraded_consensus_state(
        &self,
        _request: Request<QueryUpgradedConsensusStateRequest>,
    ) -> Result<Response<QueryUpgradedConsensusStateResponse>, Status> {
        Err(Status::unimplemented("not served by the test node"))
    }

    async fn module_versions(
        &self,
        _request: Request<QueryModuleVersionsRequest>,
    ) -> Result<Response<QueryModuleVersionsResponse>, Status> {
        Err(Status::unimplemented("not served by the test node"))
    }

    async fn authority(
        &self,
        _request: Request<QueryAuthorityRequest>,
    ) -> Result<Response<QueryAuthorityResponse>, Status> {
        Err(Status::unimplemented("not served by the test node"))
    }
}
