//! Nodes join the collective and report in: the real `node-agent` binary against the real control
//! plane, over loopback.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use reqwest::Method;
use serde_json::{json, Value};
use tempfile::TempDir;
use tests::http::Setup;
use tests::{node_agent, ControlPlane, HttpClient, Process, SmtpSink, TestDatabase};

const SETUP: Setup<'static> = Setup {
    collective_name: "Les Abeilles Libres",
    platform_domain: "abeilles.test",
    email: "admin@abeilles.test",
    password: "correct horse battery staple",
};
/// How long a running agent's heartbeat may take to show in the API.
const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long heartbeats may take to resume once the control plane is back (the agent's backoff
/// grew while it was away).
const RESUME_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the agent may take to exit after SIGTERM: a bound, not a timing assertion.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);
const NODES: &str = "/api/v1/admin/nodes";

/// A control plane with an admin, and a node that joined it with `node-agent join`.
struct Joined {
    // Field order is drop order: the control plane before its database.
    control_plane: ControlPlane,
    _smtp: SmtpSink,
    _db: TestDatabase,
    /// The admin's API client (bearer token).
    api: HttpClient,
    node_id: String,
    join_token: String,
    root: TempDir,
    state_dir: PathBuf,
    /// The node as the API listed it right after the join.
    listed: Value,
}

impl Joined {
    async fn start() -> Result<Joined> {
        let db = TestDatabase::create().await?;
        let smtp = SmtpSink::start().await?;
        let control_plane = ControlPlane::start(db.url(), smtp.port()).await?;
        let setup_link = control_plane.setup_link().await?;
        let admin = HttpClient::new(&control_plane.base_url())?;
        admin.complete_setup(&setup_link, &SETUP).await?;
        let api = admin.with_bearer(&admin.create_api_token("node test").await?);

        let created = api
            .api(Method::POST, NODES, Some(&json!({ "name": "node-a" })))
            .await?;
        ensure!(
            created.status == 201,
            "create a node: {}",
            created.describe()
        );
        let created = created.json()?;
        let join_token = created["join_token"]
            .as_str()
            .filter(|token| !token.is_empty())
            .with_context(|| format!("no join_token in {created}"))?
            .to_owned();
        let node_id = created["node"]["id"]
            .as_str()
            .with_context(|| format!("no node.id in {created}"))?
            .to_owned();
        ensure!(
            created["node"]["joined"] == false,
            "a new node is joined already: {created}"
        );

        let root = tempfile::Builder::new().prefix("ruche-agent-").tempdir()?;
        // A directory the agent has to create.
        let state_dir = root.path().join("state");
        // The token is read from a file, never taken from the command line.
        let token_file = root.path().join("join-token");
        std::fs::write(&token_file, format!("{join_token}\n"))?;
        let out = node_agent::run_cli([
            "join",
            &control_plane.base_url(),
            "--token-file",
            path_arg(&token_file)?,
            "--address",
            "127.0.0.2",
            "--state-dir",
            path_arg(&state_dir)?,
        ])
        .await?;
        ensure!(out.success(), "node-agent join failed: {out:?}");
        ensure!(
            out.stdout.trim() == format!("joined as {node_id}"),
            "node-agent join printed {:?}",
            out.stdout
        );
        ensure!(
            !out.stdout.contains(&join_token) && !out.stderr.contains(&join_token),
            "node-agent join printed the join token: {out:?}"
        );
        let listed = node(&api, &node_id).await?;
        Ok(Joined {
            control_plane,
            _smtp: smtp,
            _db: db,
            api,
            node_id,
            join_token,
            root,
            state_dir,
            listed,
        })
    }

    /// Starts `node-agent run` on the node's state directory, a heartbeat every second.
    fn run_agent(&self) -> Result<Process> {
        node_agent::spawn(
            "node-agent",
            [
                "run",
                "--state-dir",
                path_arg(&self.state_dir)?,
                "--interval-seconds",
                "1",
            ],
        )
    }

    /// Waits until the node's `last_heartbeat_at` differs from `previous`; returns the node.
    async fn wait_for_heartbeat_after(&self, previous: &Value, agent: &Process) -> Result<Value> {
        let deadline = Instant::now() + HEARTBEAT_TIMEOUT;
        loop {
            let node = node(&self.api, &self.node_id).await?;
            if node["last_heartbeat_at"].is_string() && node["last_heartbeat_at"] != *previous {
                return Ok(node);
            }
            if Instant::now() >= deadline {
                bail!(
                    "last_heartbeat_at is still {previous} after {HEARTBEAT_TIMEOUT:?}; the agent \
                     said:\n{}",
                    agent.output()
                );
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

fn path_arg(path: &Path) -> Result<&str> {
    path.to_str()
        .with_context(|| format!("{} is not UTF-8", path.display()))
}

fn mode(path: &Path) -> Result<u32> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("inspect {}", path.display()))?;
    Ok(metadata.permissions().mode() & 0o7777)
}

/// The node `id` as `GET /api/v1/admin/nodes` lists it.
async fn node(api: &HttpClient, id: &str) -> Result<Value> {
    let response = api.api(Method::GET, NODES, None).await?;
    ensure!(
        response.status == 200,
        "list nodes: {}",
        response.describe()
    );
    let nodes = response.json()?;
    nodes
        .as_array()
        .with_context(|| format!("the node list is not an array: {nodes}"))?
        .iter()
        .find(|node| node["id"] == id)
        .cloned()
        .with_context(|| format!("node {id} is not in the list: {nodes}"))
}

#[tokio::test]
async fn join_then_heartbeat() -> Result<()> {
    let joined = Joined::start().await?;

    // What the agent keeps: its identity, private, without the spent token.
    let node_file = joined.state_dir.join("node.json");
    ensure!(
        mode(&node_file)? == 0o600,
        "node.json has mode {:o}",
        mode(&node_file)?
    );
    ensure!(
        mode(&joined.state_dir)? == 0o700,
        "the state directory has mode {:o}",
        mode(&joined.state_dir)?
    );
    let text = std::fs::read_to_string(&node_file)?;
    ensure!(
        !text.contains(&joined.join_token),
        "node.json holds the join token"
    );
    let saved: Value = serde_json::from_str(&text).context("node.json is not JSON")?;
    ensure!(
        saved["node_id"] == joined.node_id.as_str(),
        "node.json: {saved}"
    );
    ensure!(
        saved["credential"].as_str().is_some_and(|c| c.len() >= 16),
        "node.json has no credential"
    );
    ensure!(
        saved["control_plane_url"]
            .as_str()
            .is_some_and(|url| url.trim_end_matches('/') == joined.control_plane.base_url()),
        "node.json's control plane: {}",
        saved["control_plane_url"]
    );

    // What the control plane knows, from the join and the first heartbeat.
    let node = &joined.listed;
    ensure!(node["joined"] == true, "not joined: {node}");
    ensure!(node["name"] == "node-a", "{node}");
    ensure!(node["version"] == env!("CARGO_PKG_VERSION"), "{node}");
    ensure!(node["addresses"] == json!(["127.0.0.2"]), "{node}");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname")?;
    ensure!(node["host_name"] == host_name.trim(), "{node}");
    let capacity = &node["capacity"];
    ensure!(
        capacity["cpus"].as_u64().is_some_and(|n| n >= 1)
            && capacity["memory_bytes"].as_u64().is_some_and(|n| n > 0)
            && capacity["disk_bytes"].as_u64().is_some_and(|n| n > 0),
        "capacity: {node}"
    );
    ensure!(
        node["last_heartbeat_at"].is_string(),
        "no heartbeat: {node}"
    );
    ensure!(node["healthy"] != false, "unhealthy: {node}");

    // The token works once.
    let other_dir = joined.root.path().join("other");
    let again = node_agent::run_cli([
        "join",
        &joined.control_plane.base_url(),
        "--token-file",
        path_arg(&joined.root.path().join("join-token"))?,
        "--address",
        "127.0.0.2",
        "--state-dir",
        path_arg(&other_dir)?,
    ])
    .await?;
    ensure!(!again.success(), "the token worked twice: {again:?}");
    ensure!(
        again.stderr.contains("no longer valid"),
        "a spent token is not explained: {again:?}"
    );
    ensure!(
        !again.stderr.contains(&joined.join_token),
        "the refusal printed the token: {again:?}"
    );
    ensure!(
        !other_dir.join("node.json").exists(),
        "a refused join wrote node.json"
    );

    // The daemon reports until it is told to stop.
    let agent = joined.run_agent()?;
    let node = joined
        .wait_for_heartbeat_after(&joined.listed["last_heartbeat_at"], &agent)
        .await?;
    joined
        .wait_for_heartbeat_after(&node["last_heartbeat_at"], &agent)
        .await?;
    let exit = node_agent::terminate(&agent, STOP_TIMEOUT).await?;
    ensure!(
        exit == "exit status 0",
        "after SIGTERM the agent: {exit}; output:\n{}",
        agent.output()
    );
    ensure!(
        agent.find_line(|line| line.contains("SIGTERM")).is_some(),
        "the agent did not log its stop:\n{}",
        agent.output()
    );
    let secret = saved["credential"].as_str().unwrap_or_default();
    ensure!(
        !agent.output().contains(secret),
        "the agent logged its credential"
    );
    Ok(())
}

#[tokio::test]
async fn heartbeats_resume_after_the_control_plane_returns() -> Result<()> {
    let mut joined = Joined::start().await?;
    let agent = joined.run_agent()?;
    joined
        .wait_for_heartbeat_after(&joined.listed["last_heartbeat_at"], &agent)
        .await?;

    // The control plane goes away: the agent notices, and keeps running.
    joined.control_plane.stop().await;
    agent
        .wait_for_line(
            |line| line.contains("heartbeat failed"),
            Duration::from_secs(15),
        )
        .await?;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let exit = agent.exit_status()?;
    ensure!(
        exit.is_none(),
        "the agent exited while the control plane was away ({exit:?}):\n{}",
        agent.output()
    );

    // It comes back: the same agent reports again, and keeps reporting.
    joined.control_plane.restart().await?;
    agent
        .wait_for_line(
            |line| line.contains("takes heartbeats again"),
            RESUME_TIMEOUT,
        )
        .await?;
    let node = node(&joined.api, &joined.node_id).await?;
    joined
        .wait_for_heartbeat_after(&node["last_heartbeat_at"], &agent)
        .await?;

    let exit = node_agent::terminate(&agent, STOP_TIMEOUT).await?;
    ensure!(
        exit == "exit status 0",
        "after SIGTERM the agent: {exit}; output:\n{}",
        agent.output()
    );
    Ok(())
}
