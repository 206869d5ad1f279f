-- Members' DNS: the records members add, which nodes serve whose zones, the TSIG keys they share,
-- external secondaries, and what the control plane last saw of every server (monitoring) and of
-- the world (the registrar checklist).

-- Each node's name server is ns<N>.<platform domain>; N is given once and never reused.
create sequence nodes_ns_number_seq;
alter table nodes add column ns_number integer unique;
update nodes set ns_number = n.num
    from (select id, nextval('nodes_ns_number_seq') as num from nodes order by created_at, id) n
    where nodes.id = n.id;
alter table nodes alter column ns_number set default nextval('nodes_ns_number_seq');
alter table nodes alter column ns_number set not null;
alter sequence nodes_ns_number_seq owned by nodes.ns_number;
-- Where the node's name server answers, "ip:port", as the node last reported it.
alter table nodes add column dns_address text check (length(dns_address) <= 64);
-- Who runs the machine (the admin's words). Secondaries are picked among other operators first.
alter table nodes add column operator text check (length(operator) between 1 and 100);

-- When ownership was proven (the TXT challenge was seen); null while pending.
alter table domains add column verified_at timestamptz;

-- A member's own records, stored in the canonical text of protocol::dns::Record (parsed before
-- they are stored, parsed again when a desired state is built).
create table dns_records (
    id uuid primary key,
    domain_id uuid not null references domains (id) on delete cascade,
    name text not null check (length(name) between 1 and 200),
    type text not null check (type in ('A', 'AAAA', 'CNAME', 'MX', 'TXT', 'SRV', 'CAA')),
    ttl integer not null check (ttl between 60 and 86400),
    value text not null check (length(value) between 1 and 2048),
    created_at timestamptz not null default now(),
    unique (domain_id, name, type, value)
);
create index dns_records_domain_idx on dns_records (domain_id, name);

create function ruche_bump_for_domain_row() returns trigger language plpgsql as $$
declare
    domain uuid;
begin
    if tg_op = 'DELETE' then
        domain := old.domain_id;
    else
        domain := new.domain_id;
    end if;
    perform ruche_bump_node((select m.node_id from domains d join members m on m.id = d.member_id
                             where d.id = domain));
    return null;
end;
$$;

create trigger dns_records_bump after insert or update or delete on dns_records
    for each row execute function ruche_bump_for_domain_row();

-- Which nodes serve a primary node's zones as secondaries (by consuming its catalog zone).
--   pending:  consumes the catalog, not yet in the zones' NS records;
--   active:   in the NS records;
--   retiring: left the NS records at `since`; keeps serving until resolvers' caches forget it.
create table dns_secondaries (
    primary_node_id uuid not null references nodes (id) on delete cascade,
    secondary_node_id uuid not null references nodes (id) on delete cascade,
    state text not null check (state in ('pending', 'active', 'retiring')),
    since timestamptz not null default now(),
    primary key (primary_node_id, secondary_node_id),
    check (primary_node_id <> secondary_node_id)
);
create index dns_secondaries_secondary_idx on dns_secondaries (secondary_node_id);

-- One TSIG key per pair of nodes (node_a < node_b), generated here, rotated on demand.
create table dns_tsig_keys (
    node_a uuid not null references nodes (id) on delete cascade,
    node_b uuid not null references nodes (id) on delete cascade,
    name text not null unique,
    secret text not null,
    created_at timestamptz not null default now(),
    primary key (node_a, node_b),
    check (node_a < node_b)
);

-- A friendly collective's server that consumes every node's catalog.
create table dns_external_secondaries (
    id uuid primary key,
    nameserver text not null unique,
    address text not null check (length(address) <= 64),
    tsig_name text not null unique,
    tsig_secret text not null,
    created_at timestamptz not null default now()
);

-- Both ends of a pairing serve something different when it changes.
create function ruche_bump_for_dns_pair() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        if tg_table_name = 'dns_secondaries' then
            perform ruche_bump_node(old.primary_node_id);
            perform ruche_bump_node(old.secondary_node_id);
        else
            perform ruche_bump_node(old.node_a);
            perform ruche_bump_node(old.node_b);
        end if;
    else
        if tg_table_name = 'dns_secondaries' then
            perform ruche_bump_node(new.primary_node_id);
            perform ruche_bump_node(new.secondary_node_id);
        else
            perform ruche_bump_node(new.node_a);
            perform ruche_bump_node(new.node_b);
        end if;
    end if;
    return null;
end;
$$;

create trigger dns_secondaries_bump after insert or update or delete on dns_secondaries
    for each row execute function ruche_bump_for_dns_pair();
create trigger dns_tsig_keys_bump after insert or update or delete on dns_tsig_keys
    for each row execute function ruche_bump_for_dns_pair();

-- Every node serves its zones to every external secondary.
create function ruche_bump_all_nodes() returns trigger language plpgsql as $$
declare
    n uuid;
begin
    for n in select id from nodes where credential_hash is not null loop
        perform ruche_bump_node(n);
    end loop;
    return null;
end;
$$;

create trigger dns_external_secondaries_bump
    after insert or update or delete on dns_external_secondaries
    for each statement execute function ruche_bump_all_nodes();

-- A node that reports a new DNS address changes what its peers are told; its own number or
-- address also shapes its own configuration.
create function ruche_bump_dns_peers() returns trigger language plpgsql as $$
declare
    n uuid;
begin
    perform ruche_bump_node(new.id);
    for n in select secondary_node_id from dns_secondaries where primary_node_id = new.id
             union select primary_node_id from dns_secondaries where secondary_node_id = new.id loop
        perform ruche_bump_node(n);
    end loop;
    return null;
end;
$$;

create trigger nodes_dns_address_bump after update of dns_address on nodes
    for each row when (old.dns_address is distinct from new.dns_address)
    execute function ruche_bump_dns_peers();

-- What the control plane last saw of one server of one zone (SOA over UDP and TCP, with DNSSEC).
create table dns_checks (
    domain_id uuid not null references domains (id) on delete cascade,
    -- The server's name server name (ns<N>.<platform>, or an external secondary's).
    server text not null,
    address text not null,
    role text not null check (role in ('primary', 'secondary', 'external')),
    serial_udp bigint,
    serial_tcp bigint,
    authoritative boolean,
    -- The earliest expiry among the SOA's signatures.
    signature_expires_at timestamptz,
    -- Null when all is well; else a short English reason (lag, lame, unreachable, unsigned…).
    fault text,
    checked_at timestamptz not null default now(),
    primary key (domain_id, server)
);

-- What the world sees of a domain (through the configured resolvers), and the DS records to give
-- the registrar (the primary's CDS).
create table domain_dns_status (
    domain_id uuid primary key references domains (id) on delete cascade,
    ds text[] not null default '{}',
    txt_seen boolean,
    ns_seen boolean,
    ds_seen boolean,
    checked_at timestamptz not null default now()
);
