-- Nodes: the machines that will serve members' mail, XMPP, DNS, files. An admin creates a node
-- and gets a one-time join token; the node agent exchanges it for a long-lived credential.
-- Only SHA-256 digests of the token and the credential are stored.
create table nodes (
    id uuid primary key,
    -- The admin's name for it; unique so the admin can tell nodes apart.
    name text not null unique check (length(name) between 1 and 100),
    -- Set until the node joins; cleared by the join, so a token works once.
    join_token_hash bytea unique,
    join_expires_at timestamptz,
    credential_hash bytea unique,
    joined_at timestamptz,
    -- What the node reported at join and in heartbeats.
    host_name text,
    addresses text[] not null default '{}',
    version text,
    cpus integer,
    memory_bytes bigint,
    disk_bytes bigint,
    last_heartbeat_at timestamptz,
    healthy boolean,
    services jsonb not null default '[]'::jsonb,
    created_at timestamptz not null default now(),
    check ((join_token_hash is null) <> (credential_hash is null))
);
