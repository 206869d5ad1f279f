-- The certificates each node obtains by ACME, as its agent last reported them: one row per node
-- and certificate, the node's own host name's (domain_id null) and one per member domain it
-- serves. A heartbeat that carries the list stands for the whole of it: the node's rows become
-- that list (db::certificates::replace); one that does not leaves them as they are. Like DKIM
-- keys and usage these are observations: no trigger, nothing here bumps a generation, and a
-- node may write rows only for the verified domains of members it hosts.
create table node_certificates (
    node_id uuid not null references nodes (id) on delete cascade,
    -- The member domain whose names it covers; null for the node's own host name. Rows go with
    -- their domain, so a later holder of the name never sees its predecessor's certificate.
    domain_id uuid references domains (id) on delete cascade,
    -- ASCII names, the first the one it is filed under (protocol::names::DomainName each).
    names text[] not null check (cardinality(names) between 1 and 100),
    challenge text not null check (challenge in ('http-01', 'dns-01')),
    state text not null check (state in ('waiting-for-dns', 'pending', 'valid', 'failed')),
    -- When the certificate served now expires.
    not_after timestamptz,
    -- The node's words about the last failure (model::certificate::ErrorText): untrusted, kept
    -- as one short line, shown escaped.
    error text check (length(error) between 1 and 300 and error !~ '[[:cntrl:]]'),
    -- When the node tries again after a failure.
    retry_at timestamptz,
    -- When it was first reported as it stands, or last re-confirmed (at most ten minutes ago
    -- while the node keeps reporting it).
    reported_at timestamptz not null default now(),
    -- One certificate per domain and node, and one of the node's own.
    unique nulls not distinct (node_id, domain_id)
);
create index node_certificates_domain_idx on node_certificates (domain_id);
-- The admin's overview lists the certificates in trouble across all nodes.
create index node_certificates_trouble_idx on node_certificates (reported_at)
    where state = 'failed' or error is not null;
