-- Placement and desired generations. Each member is hosted on one node; each node has a desired
-- generation that grows whenever anything it hosts changes, and a notification wakes the node
-- API's long polls. Triggers do the bumping, inside the transaction that makes the change, so no
-- code path can change a member's data without its node hearing of it.

alter table members add column node_id uuid references nodes (id) on delete set null;
create index members_node_idx on members (node_id);

alter table nodes add column desired_generation bigint not null default 1;
alter table nodes add column observed_generation bigint;

create function ruche_bump_node(node uuid) returns void language plpgsql as $$
begin
    if node is not null then
        update nodes set desired_generation = desired_generation + 1 where id = node;
        perform pg_notify('ruche_desired', node::text);
    end if;
end;
$$;

-- Mailboxes, aliases, XMPP accounts, domains and app passwords belong to a member: their
-- member's node changes.
create function ruche_bump_for_member_row() returns trigger language plpgsql as $$
declare
    member uuid;
begin
    if tg_op = 'DELETE' then
        member := old.member_id;
    else
        member := new.member_id;
    end if;
    perform ruche_bump_node((select node_id from members where id = member));
    return null;
end;
$$;

create trigger domains_bump after insert or update or delete on domains
    for each row execute function ruche_bump_for_member_row();
create trigger mailboxes_bump after insert or update or delete on mailboxes
    for each row execute function ruche_bump_for_member_row();
create trigger aliases_bump after insert or update or delete on aliases
    for each row execute function ruche_bump_for_member_row();
create trigger xmpp_accounts_bump after insert or update or delete on xmpp_accounts
    for each row execute function ruche_bump_for_member_row();
create trigger app_passwords_bump after insert or update or delete on app_passwords
    for each row execute function ruche_bump_for_member_row();

-- A member moving, being suspended or changing password changes what the old and new nodes
-- serve.
create function ruche_bump_for_member() returns trigger language plpgsql as $$
begin
    if tg_op = 'DELETE' then
        perform ruche_bump_node(old.node_id);
    elsif tg_op = 'INSERT' then
        perform ruche_bump_node(new.node_id);
    elsif old.node_id is distinct from new.node_id
          or old.status is distinct from new.status
          or old.password_hash is distinct from new.password_hash then
        perform ruche_bump_node(old.node_id);
        if new.node_id is distinct from old.node_id then
            perform ruche_bump_node(new.node_id);
        end if;
    end if;
    return null;
end;
$$;

create trigger members_bump after insert or update or delete on members
    for each row execute function ruche_bump_for_member();
