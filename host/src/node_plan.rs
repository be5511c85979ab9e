//! Asking the running node for its scheduled upgrade over gRPC, as cosmovisor's
//! `prepare-upgrade` does: `cosmos.upgrade.v1beta1.Query/CurrentPlan` at
//! `DAEMON_GRPC_ADDRESS` (default `localhost:9090`, the SDK's gRPC port).
//!
//! The plan is known from the moment governance passes it, long before the chain
//! halts, so asking for it is what lets a binary be fetched and verified ahead of the
//! height. The protobuf types and the client are the maintained cosmos-rust crate
//! (`cosmos-sdk-proto`), not hand-written ones. Plaintext only, as cosmovisor: the
//! node's gRPC port is a local one. Every failure is a typed [`NodePlanError`] that
//! names the address and the variable to change, so an operator can tell "node not
//! up" from "not a Cosmos node" from "bad address".

use std::time::Duration;

use cosmos_sdk_proto::cosmos::upgrade::v1beta1::QueryCurrentPlanRequest;
use cosmos_sdk_proto::cosmos::upgrade::v1beta1::query_client::QueryClient;

use crate::upgrade_info::Plan;

/// The variable that names the endpoint (for messages).
pub const ADDRESS_VAR: &str = "DAEMON_GRPC_ADDRESS";

/// How long connecting and the query may each take. The node is local; a node
/// that needs longer is as good as unreachable for pre-staging.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the node's plan could not be had.
#[derive(Debug, thiserror::Error)]
pub enum NodePlanError {
    #[error("{ADDRESS_VAR}={address:?} is not a usable gRPC address: {reason}")]
    BadAddress { address: String, reason: String },
    #[error(
        "cannot reach the node's gRPC server at {address} ({ADDRESS_VAR}): {reason}. Is the node running with gRPC enabled (app.toml [grpc] enable = true)? Set {ADDRESS_VAR} to its [grpc] address"
    )]
    Unreachable { address: String, reason: String },
    #[error("the node's gRPC server at {address} did not answer within {timeout:?}")]
    Timeout { address: String, timeout: Duration },
    #[error(
        "the gRPC server at {address} does not serve cosmos.upgrade.v1beta1.Query ({reason}); point {ADDRESS_VAR} at the Cosmos node's gRPC port"
    )]
    NotACosmosNode { address: String, reason: String },
    #[error("the node at {address} refused the upgrade plan query: {reason}")]
    Query { address: String, reason: String },
    #[error("the node at {address} returned an unusable plan: {reason}")]
    InvalidPlan { address: String, reason: String },
}

/// The node's scheduled upgrade: `Ok(None)` when none is scheduled.
pub async fn current_plan(address: &str, timeout: Duration) -> Result<Option<Plan>, NodePlanError> {
    let uri = endpoint_uri(address)?;
    let endpoint = tonic::transport::Endpoint::from_shared(uri.clone())
        .map_err(|e| NodePlanError::BadAddress {
            address: address.to_owned(),
            reason: error_chain(&e),
        })?
        .connect_timeout(timeout)
        .timeout(timeout);
    let channel = tokio::time::timeout(timeout, endpoint.connect())
        .await
        .map_err(|_| NodePlanError::Timeout {
            address: uri.clone(),
            timeout,
        })?
        .map_err(|e| NodePlanError::Unreachable {
            address: uri.clone(),
            reason: error_chain(&e),
        })?;
    let mut client = QueryClient::new(channel);
    let response = tokio::time::timeout(timeout, client.current_plan(QueryCurrentPlanRequest {}))
        .await
        .map_err(|_| NodePlanError::Timeout {
            address: uri.clone(),
            timeout,
        })?
        .map_err(|status| classify(&uri, &status))?;
    match response.into_inner().plan {
        None => Ok(None),
        Some(plan) => to_plan(plan.name, plan.height, plan.info)
            .map(Some)
            .map_err(|reason| NodePlanError::InvalidPlan {
                address: uri,
                reason,
            }),
    }
}

/// `host:port` as cosmovisor takes it, or with an `http://` (or `tcp://`) scheme.
/// TLS endpoints are refused with a reason: this client speaks plaintext only.
pub fn endpoint_uri(address: &str) -> Result<String, NodePlanError> {
    let bad = |reason: &str| NodePlanError::BadAddress {
        address: address.to_owned(),
        reason: reason.to_owned(),
    };
    let trimmed = address.trim();
    if trimmed.is_empty() {
        return Err(bad(
            "it is empty; set it to the node's gRPC address, e.g. localhost:9090",
        ));
    }
    if trimmed.starts_with("https://") {
        return Err(bad(
            "TLS is not supported; use the node's plaintext gRPC address (app.toml [grpc] address, e.g. localhost:9090)",
        ));
    }
    let rest = trimmed
        .strip_prefix("http://")
        .or_else(|| trimmed.strip_prefix("tcp://"))
        .unwrap_or(trimmed);
    if rest.is_empty() || rest.contains("://") || rest.contains(char::is_whitespace) {
        return Err(bad("write it as host:port, e.g. localhost:9090"));
    }
    Ok(format!("http://{}", rest.trim_end_matches('/')))
}

/// Checks the wire plan the way `upgrade-info.json` is checked.
fn to_plan(name: String, height: i64, info: String) -> Result<Plan, String> {
    if name.trim().is_empty() {
        return Err("the plan has no name".into());
    }
    let height = u64::try_from(height)
        .ok()
        .filter(|h| *h > 0)
        .ok_or_else(|| format!("the plan's height {height} is not a block height"))?;
    Ok(Plan { name, height, info })
}

fn classify(address: &str, status: &tonic::Status) -> NodePlanError {
    let reason = format!("{}: {}", status.code(), status.message());
    let address = address.to_owned();
    match status.code() {
        tonic::Code::Unimplemented => NodePlanError::NotACosmosNode { address, reason },
        tonic::Code::Unavailable => NodePlanError::Unreachable { address, reason },
        _ => NodePlanError::Query { address, reason },
    }
}

/// "transport error: tcp connect error: Connection refused (os error 111)": the
/// useful part of a tonic error is in its sources.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_as_cosmovisor_takes_them() {
        assert_eq!(
            endpoint_uri("localhost:9090").unwrap(),
            "http://localhost:9090"
        );
        assert_eq!(
            endpoint_uri(" http://10.0.0.1:9090/ ").unwrap(),
            "http://10.0.0.1:9090"
        );
        assert_eq!(
            endpoint_uri("tcp://127.0.0.1:9090").unwrap(),
            "http://127.0.0.1:9090"
        );
        for bad in ["", "https://node:9090", "ftp://x:1", "a b:1"] {
            let err = endpoint_uri(bad).unwrap_err().to_string();
            assert!(err.contains(ADDRESS_VAR), "{bad:?}: {err}");
        }
    }

    #[test]
    fn wire_plans_are_checked() {
        assert_eq!(
            to_plan("v2".into(), 10, "i".into()).unwrap(),
            Plan {
                name: "v2".into(),
                height: 10,
                info: "i".into()
            }
        );
        assert!(to_plan(" ".into(), 10, String::new()).is_err());
        assert!(to_plan("v2".into(), 0, String::new()).is_err());
        assert!(to_plan("v2".into(), -5, String::new()).is_err());
    }

    /// A loopback node whose `CurrentPlan` answers `answer` (the generated service).
    mod node {
        use cosmos_sdk_proto::cosmos::upgrade::v1beta1 as up;
        use tonic::{Request, Response, Status};
        use up::query_server::{Query, QueryServer};

        pub type Answer = Result<Option<(String, i64)>, tonic::Code>;

        struct Node(Answer);

        #[tonic::async_trait]
        impl Query for Node {
            async fn current_plan(
                &self,
                _: Request<up::QueryCurrentPlanRequest>,
            ) -> Result<Response<up::QueryCurrentPlanResponse>, Status> {
                let plan = self.0.clone().map_err(|c| Status::new(c, "as told"))?;
                #[allow(deprecated)]
                let plan = plan.map(|(name, height)| up::Plan {
                    name,
                    height,
                    info: "{}".into(),
                    ..up::Plan::default()
                });
                Ok(Response::new(up::QueryCurrentPlanResponse { plan }))
            }
            async fn applied_plan(
                &self,
                _: Request<up::QueryAppliedPlanRequest>,
            ) -> Result<Response<up::QueryAppliedPlanResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn upgraded_consensus_state(
                &self,
                _: Request<up::QueryUpgradedConsensusStateRequest>,
            ) -> Result<Response<up::QueryUpgradedConsensusStateResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn module_versions(
                &self,
                _: Request<up::QueryModuleVersionsRequest>,
            ) -> Result<Response<up::QueryModuleVersionsResponse>, Status> {
                Err(Status::unimplemented(""))
            }
            async fn authority(
                &self,
                _: Request<up::QueryAuthorityRequest>,
            ) -> Result<Response<up::QueryAuthorityResponse>, Status> {
                Err(Status::unimplemented(""))
            }
        }

        /// Serves on 127.0.0.1:0 in the test's runtime; returns `host:port`.
        pub async fn start(answer: Answer) -> String {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let incoming = tonic::transport::server::TcpIncoming::from(listener);
            tokio::spawn(
                tonic::transport::Server::builder()
                    .serve_with_incoming(QueryServer::new(Node(answer)), incoming),
            );
            addr.to_string()
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn the_plan_or_its_absence_comes_back_from_a_real_grpc_server() {
        let timeout = Duration::from_secs(5);
        let addr = node::start(Ok(Some(("v2".into(), 42)))).await;
        let plan = current_plan(&addr, timeout).await.unwrap().unwrap();
        assert_eq!(
            (plan.name.as_str(), plan.height, plan.info.as_str()),
            ("v2", 42, "{}")
        );
        let addr = node::start(Ok(None)).await;
        assert_eq!(current_plan(&addr, timeout).await.unwrap(), None);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn server_answers_are_told_apart() {
        let timeout = Duration::from_secs(5);
        let addr = node::start(Err(tonic::Code::Unimplemented)).await;
        let err = current_plan(&addr, timeout).await.unwrap_err();
        assert!(
            matches!(err, NodePlanError::NotACosmosNode { .. }),
            "{err:?}"
        );
        let addr = node::start(Err(tonic::Code::Internal)).await;
        let err = current_plan(&addr, timeout).await.unwrap_err();
        assert!(matches!(err, NodePlanError::Query { .. }), "{err:?}");
        let addr = node::start(Ok(Some(("v2".into(), 0)))).await;
        let err = current_plan(&addr, timeout).await.unwrap_err();
        assert!(matches!(err, NodePlanError::InvalidPlan { .. }), "{err:?}");
        assert!(err.to_string().contains(&addr), "{err}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_closed_port_is_unreachable_and_says_which_address() {
        // Bind then drop: the port is free and nothing listens on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let err = current_plan(&format!("127.0.0.1:{port}"), Duration::from_secs(5))
            .await
            .unwrap_err();
        assert!(matches!(err, NodePlanError::Unreachable { .. }), "{err:?}");
        let text = err.to_string();
        assert!(
            text.contains(&format!("127.0.0.1:{port}")) && text.contains(ADDRESS_VAR),
            "{text}"
        );
    }
}
