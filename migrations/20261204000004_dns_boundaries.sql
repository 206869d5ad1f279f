-- Issue 9, DNS between nodes: one TSIG key per external secondary and node (the key an external
-- peer holds for one node opens no other node's zones), and secondaries told exactly which zones
-- each primary may give them (a node's catalog can no longer add any zone it likes).

-- Each external secondary's keys are named ns<N>.<key_suffix>, one per node.
alter table dns_external_secondaries rename column tsig_name to key_suffix;
alter table dns_external_secondaries
    rename constraint dns_external_secondaries_tsig_name_key to dns_external_secondaries_key_suffix_key;
-- New suffixes leave room for `ns<N>.` (an old key name longer than that keeps working as a
-- suffix only if its key names still fit in 253 characters; see the insert below).
alter table dns_external_secondaries
    add constraint dns_external_secondaries_key_suffix_length check (length(key_suffix) <= 240)
    not valid;

create table dns_external_keys (
    external_id uuid not null references dns_external_secondaries (id) on delete cascade,
    node_id uuid not null references nodes (id) on delete cascade,
    name text not null unique,
    secret text not null,
    created_at timestamptz not null default now(),
    -- When the admin was shown the secret: at once for keys made by an admin's action, null for
    -- keys made without one (this migration, a node that joined later) until the admin asks to
    -- see them, once.
    shown_at timestamptz,
    primary key (external_id, node_id)
);
create index dns_external_keys_node_idx on dns_external_keys (node_id);

-- The old shared key goes; every joined node gets its own, 32 bytes from two version-4 UUIDs
-- (gen_random_uuid uses the server's strong random source; 244 random bits).
insert into dns_external_keys (external_id, node_id, name, secret)
select e.id, n.id, 'ns' || n.ns_number || '.' || e.key_suffix,
       encode(decode(replace(gen_random_uuid()::text, '-', '')
                     || replace(gen_random_uuid()::text, '-', ''), 'hex'), 'base64')
from dns_external_secondaries e cross join nodes n
where n.credential_hash is not null
  and length('ns' || n.ns_number || '.' || e.key_suffix) <= 253;
alter table dns_external_secondaries drop column tsig_secret;

-- A node's desired state carries its own keys: a key's node hears of every change to it.
create function ruche_bump_for_node_row() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform ruche_bump_node(old.node_id);
    else
        perform ruche_bump_node(new.node_id);
        if tg_op = 'UPDATE' and old.node_id is distinct from new.node_id then
            perform ruche_bump_node(old.node_id);
        end if;
    end if;
    return null;
end;
$$;

create trigger dns_external_keys_bump after insert or update of name, secret, node_id or delete
    on dns_external_keys for each row execute function ruche_bump_for_node_row();

-- A secondary is told the zones of each primary it serves: the secondaries of a node hear of
-- every zone that node starts or stops being primary for.
create function ruche_bump_secondaries_of(primary_node uuid) returns void language plpgsql as $$
declare
    n uuid;
begin
    for n in select secondary_node_id from dns_secondaries where primary_node_id = primary_node loop
        perform ruche_bump_node(n);
    end loop;
end;
$$;

-- A domain is a zone of its member's node while it is active (db::desired::dns).
create function ruche_bump_for_served_domain() returns trigger language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if new.status = 'active' then
            perform ruche_bump_secondaries_of((select node_id from members where id = new.member_id));
        end if;
    elsif tg_op = 'DELETE' then
        -- A member's deletion cascades here after the member row is gone; the members trigger
        -- below covers that case.
        if old.status = 'active' then
            perform ruche_bump_secondaries_of((select node_id from members where id = old.member_id));
        end if;
    elsif (old.status = 'active') is distinct from (new.status = 'active')
          or (new.status = 'active' and (old.name is distinct from new.name
                                         or old.member_id is distinct from new.member_id)) then
        perform ruche_bump_secondaries_of((select node_id from members where id = old.member_id));
        if new.member_id is distinct from old.member_id then
            perform ruche_bump_secondaries_of((select node_id from members where id = new.member_id));
        end if;
    end if;
    return null;
end;
$$;

create trigger domains_bump_secondaries after insert or update or delete on domains
    for each row execute function ruche_bump_for_served_domain();

-- A member moving or going takes their zones from one node's secondaries to another's.
create function ruche_bump_secondaries_for_member() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform ruche_bump_secondaries_of(old.node_id);
    elsif old.node_id is distinct from new.node_id then
        perform ruche_bump_secondaries_of(old.node_id);
        perform ruche_bump_secondaries_of(new.node_id);
    end if;
    return null;
end;
$$;

create trigger members_bump_secondaries after update of node_id or delete on members
    for each row execute function ruche_bump_secondaries_for_member();
