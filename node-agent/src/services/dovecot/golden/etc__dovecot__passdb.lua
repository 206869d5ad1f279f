-- Dovecot passdb and userdb for Ruche. Rendered by the Ruche node agent; do not edit.
--
-- Every password check and every user lookup asks the agent's auth broker over HTTP (dovecot-auth-lua with
-- `blocking = yes`, the built-in dovecot.http client and lua-cjson). The password goes only in
-- a POST body: never in a URL and never in a log line.
--
--   POST /v1/passdb/verify {"user","password","service","remote_ip"}
--     200 {"user": <canonical address>}  accepted; the canonical address becomes the user name
--     403                                wrong credentials, or too many failures for this user
--                                        or this client address (refused without a check)
--     anything else, or no answer        temporary failure: the client is told to try again,
--                                        not that its password is wrong
--   POST /v1/passdb/lookup {"user"}
--     200 {"user": ...} known, 404 unknown (for `doveadm auth lookup`; never a login)
--   POST /v1/userdb/lookup {"user"}
--     200 {"user", "mailbox", "quota_rule"}  an active mailbox: its home is VMAIL/<mailbox>
--     404                                    no such mailbox: authoritative, no other userdb
--     anything else, or no answer            internal failure: Dovecot asks the next userdb,
--                                            the passwd-file the agent also writes, so mail is
--                                            still delivered while the agent restarts
--
-- Dovecot's client sends POST bodies with `Expect: 100-continue` and waits up to 2 s for the
-- interim answer before sending the body anyway: the broker must answer 100 Continue (hyper
-- does when the handler reads the body).

local json = require("cjson")

local BROKER = "http://127.0.0.1:8025"
-- Where mailboxes' homes are; each is named after the mailbox's id, never its address.
local VMAIL = "/srv/ruche/var/vmail"
-- For the whole request, connecting included: the plain request timeout overshoots by ~2 s.
local TIMEOUT_MSECS = 5000

-- Returns the HTTP status and body of one POST to the broker. Raises on a client error.
local function ask(path, body)
  local client = dovecot.http.client({
    request_absolute_timeout_msecs = TIMEOUT_MSECS,
    connect_timeout_msecs = TIMEOUT_MSECS,
    max_attempts = 1,
    max_connect_attempts = 1,
    user_agent = "ruche-dovecot-passdb",
  })
  local request = client:request({ url = BROKER .. path, method = "POST" })
  request:add_header("Content-Type", "application/json")
  request:set_payload(json.encode(body))
  local response = request:submit()
  return response:status(), response:payload()
end

-- The canonical user name in a 200 answer, or nil.
local function answered_user(payload)
  local ok, doc = pcall(json.decode, payload)
  if ok and type(doc) == "table" and type(doc.user) == "string" and doc.user ~= "" then
    return doc.user
  end
  return nil
end

-- pcall keeps a client error from failing the login any other way than temporarily; its
-- message is not logged, since the request body held the password.
local function call(path, body)
  local ok, status, payload = pcall(ask, path, body)
  if not ok then
    return nil, nil
  end
  return status, payload
end

function auth_password_verify(req, pass)
  local status, payload = call("/v1/passdb/verify", {
    user = req.user,
    password = pass,
    service = req.service,
    -- The client's address (for SMTP AUTH, Postfix passes its client's): the broker limits
    -- failures per address. Empty when Dovecot does not know it.
    remote_ip = req.remote_ip or "",
  })
  if status == 200 then
    local user = answered_user(payload)
    if user ~= nil then
      return dovecot.auth.PASSDB_RESULT_OK, { user = user }
    end
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "the auth broker's answer has no user"
  elseif status == 403 then
    return dovecot.auth.PASSDB_RESULT_PASSWORD_MISMATCH, "wrong credentials"
  end
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE,
    "the auth broker did not answer (status " .. tostring(status) .. ")"
end

-- A lookup has no password to check, so Dovecot needs `nopassword`; `nologin` makes sure it can
-- never be mistaken for a successful login (were a credentials mechanism such as CRAM-MD5 ever
-- enabled, an empty password must not open the account).
function auth_passdb_lookup(req)
  local status, payload = call("/v1/passdb/lookup", { user = req.user })
  if status == 200 then
    local user = answered_user(payload)
    if user ~= nil then
      return dovecot.auth.PASSDB_RESULT_OK,
        { user = user, nopassword = "y", nologin = "y", reason = "lookup only" }
    end
    return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE, "the auth broker's answer has no user"
  elseif status == 404 then
    return dovecot.auth.PASSDB_RESULT_USER_UNKNOWN, "unknown user"
  end
  return dovecot.auth.PASSDB_RESULT_INTERNAL_FAILURE,
    "the auth broker did not answer (status " .. tostring(status) .. ")"
end

-- A store id as the broker names it (protocol::names::ObjectId): lowercase letters, digits and
-- dashes. Checked again here, since it becomes a path.
local function store_id(value)
  return type(value) == "string" and value:match("^[%l%d][%l%d%-]*$") ~= nil
end

function auth_userdb_lookup(req)
  local status, payload = call("/v1/userdb/lookup", { user = req.user })
  if status == 200 then
    local ok, doc = pcall(json.decode, payload)
    if ok and type(doc) == "table" and type(doc.user) == "string" and store_id(doc.mailbox)
      and type(doc.quota_rule) == "string" and doc.quota_rule:match("^%*:storage=%d+B$") then
      return dovecot.auth.USERDB_RESULT_OK,
        { user = doc.user, home = VMAIL .. "/" .. doc.mailbox, quota_rule = doc.quota_rule }
    end
    return dovecot.auth.USERDB_RESULT_INTERNAL_FAILURE, "the auth broker's answer is malformed"
  elseif status == 404 then
    return dovecot.auth.USERDB_RESULT_USER_UNKNOWN, "unknown user"
  end
  return dovecot.auth.USERDB_RESULT_INTERNAL_FAILURE,
    "the auth broker did not answer (status " .. tostring(status) .. ")"
end
