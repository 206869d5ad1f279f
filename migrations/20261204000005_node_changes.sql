-- What changed on each node, generation by generation, so the node API can send a node only
-- what changed since the generation it holds (protocol::desired::Delta) instead of its whole
-- desired state. Every bump of a node's generation writes one row here, in the same
-- transaction: `member_id` names the member whose part changed, or is null for a change to the
-- node as a whole (its DNS peers, keys, the zones of the nodes it is a secondary of). A delta
-- from generation G is complete when every generation after G still has its row; rows are
-- pruned after a week (jobs.rs), and a node further behind gets its whole document.
-- `changed_at` is the clock when the row is written, under the node's row lock, so it grows
-- with the generation.

create table node_changes (
    node_id uuid not null references nodes (id) on delete cascade,
    generation bigint not null,
    member_id uuid,
    changed_at timestamptz not null default clock_timestamp(),
    primary key (node_id, generation)
);
create index node_changes_changed_at_idx on node_changes (changed_at);

create function ruche_bump_node(node uuid, member uuid) returns void language plpgsql as $$
declare
    g bigint;
begin
    if node is not null then
        update nodes set desired_generation = desired_generation + 1 where id = node
            returning desired_generation into g;
        if g is not null then
            insert into node_changes (node_id, generation, member_id) values (node, g, member);
            perform pg_notify('ruche_desired', node::text);
        end if;
    end if;
end;
$$;

-- Every existing caller: a change to the node as a whole.
create or replace function ruche_bump_node(node uuid) returns void language plpgsql as $$
begin
    perform ruche_bump_node(node, null);
end;
$$;

-- Mailboxes, aliases, XMPP accounts, domains and app passwords: their member's part changed.
create or replace function ruche_bump_for_member_row() returns trigger language plpgsql as $$
begin
    if tg_op <> 'INSERT' then
        perform ruche_bump_node((select node_id from members where id = old.member_id), old.member_id);
    end if;
    if tg_op = 'INSERT' or (tg_op = 'UPDATE' and new.member_id is distinct from old.member_id) then
        perform ruche_bump_node((select node_id from members where id = new.member_id), new.member_id);
    end if;
    return null;
end;
$$;

-- A member arriving, leaving, moving, suspended, or changing what the node holds of them (the
-- password, the contact address `postmaster@` falls back to).
create or replace function ruche_bump_for_member() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform ruche_bump_node(old.node_id, old.id);
    elsif tg_op = 'INSERT' then
        perform ruche_bump_node(new.node_id, new.id);
    elsif old.node_id is distinct from new.node_id
          or old.status is distinct from new.status
          or old.password_hash is distinct from new.password_hash
          or old.email is distinct from new.email then
        perform ruche_bump_node(old.node_id, old.id);
        if new.node_id is distinct from old.node_id then
            perform ruche_bump_node(new.node_id, new.id);
        end if;
    end if;
    return null;
end;
$$;

-- A member's DNS record: that member's zone changed.
create or replace function ruche_bump_for_domain_row() returns trigger language plpgsql as $$
declare
    domain uuid;
    member uuid;
begin
    if tg_op = 'DELETE' then
        domain := old.domain_id;
    else
        domain := new.domain_id;
    end if;
    select d.member_id into member from domains d where d.id = domain;
    perform ruche_bump_node((select node_id from members where id = member), member);
    return null;
end;
$$;
