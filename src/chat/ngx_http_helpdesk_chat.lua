-- nginx-helpdesk: the conversations' state changes, each atomic.
--
-- EVALSHA <sha> 0 <op> <json>.  Every change of a conversation is one run
-- of this script: the event is appended to the conversation's stream
-- (the order, and what clients resume from), published on its channel
-- (live delivery on every worker and node) and appended to the
-- persistence stream (PostgreSQL's batches), with the conversation's
-- state, the queue, the agents' load and the deadlines, together or not
-- at all.  See docs/architecture.md, "Website chat".

local op = ARGV[1]
local p = cjson.decode(ARGV[2])
local PERSIST = 'hd:chat:persist'
local TIMERS = 'hd:chat:timers'
local TTL = 86400

local function ck(c) return 'hd:chat:{' .. c .. '}' end
local function qk(t) return 'hd:chat:q:{' .. t .. '}' end
local function ak(t) return 'hd:chat:ag:{' .. t .. '}' end
local function tk(t) return 'hd:chat:t:{' .. t .. '}' end
local function vk(t, v) return 'hd:chat:vc:{' .. t .. '}:' .. v end

local function now_ms()
    local t = redis.call('TIME')
    return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function hash(c)
    local raw = redis.call('HGETALL', ck(c) .. ':h')
    local h = {}
    for i = 1, #raw, 2 do h[raw[i]] = raw[i + 1] end
    return h
end

local function agents(t)
    local raw = redis.call('HGETALL', ak(t))
    local a = {}
    for i = 1, #raw, 2 do a[raw[i]] = cjson.decode(raw[i + 1]) end
    return a
end

local function put_agent(t, id, rec)
    redis.call('HSET', ak(t), id, cjson.encode(rec))
end

-- appends an event (JSON text): stream, channel, persistence; h: the
-- conversation's state as it is now when the caller has it (else read)
local function append(t, c, j, aud, h)
    local id = redis.call('XADD', ck(c) .. ':s', '*', 'j', j, 'u', aud)
    redis.call('PUBLISH', ck(c), id .. ' ' .. aud .. '\n' .. j)
    redis.call('XADD', PERSIST, '*', 't', t, 'c', c, 'i', id, 'j', j,
               'u', aud, 'h', cjson.encode(h or hash(c)))
    return id
end

-- the state alone changed (no event): persisted all the same
local function touch(t, c)
    redis.call('XADD', PERSIST, '*', 't', t, 'c', c, 'i', '', 'j', '',
               'u', '', 'h', cjson.encode(hash(c)))
end

-- a target ("tgt"): an agent's id, or "g:<group id>"; the group's id or nil
local function tgt_group(tgt)
    if tgt and string.sub(tgt, 1, 2) == 'g:' then return string.sub(tgt, 3) end
    return nil
end

-- whether an agent's record (its groups: "g", from PostgreSQL) is in a group
local function in_group(a, gid)
    for _, g in ipairs(a.g or {}) do
        if g == gid then return true end
    end
    return false
end

-- the waiting conversations; one waiting for a group names it ("g"): only
-- its members see it (the sessions filter what they show)
local function queue_list(t)
    local q = redis.call('ZRANGE', qk(t), 0, -1, 'WITHSCORES')
    local parts = {}
    for i = 1, #q, 2 do
        local h = redis.call('HMGET', ck(q[i]) .. ':h', 'vn', 'tgt')
        parts[#parts + 1] = cjson.encode({c = q[i], w = q[i + 1], n = h[1] or '',
                                          g = tgt_group(h[2])})
    end
    return '[' .. table.concat(parts, ',') .. ']'
end

-- offers each waiting conversation that has no offer to the least loaded
-- available agent under their limit (or to the agent it was transferred
-- to, or the least loaded of the group's members it was transferred to),
-- then tells the tenant's listeners the queue
local function assign(t)
    local q = redis.call('ZRANGE', qk(t), 0, -1)
    local ag = agents(t)
    local changed = {}
    local now = now_ms()

    for _, c in ipairs(q) do
        local H = ck(c) .. ':h'
        local h = redis.call('HMGET', H, 'st', 'offer', 'tgt', 'at', 'vn')
        if h[1] ~= 'queued' then
            redis.call('ZREM', qk(t), c)
        elseif (not h[2]) or h[2] == '' then
            local best, bl = nil, nil
            local gid = tgt_group(h[3])
            for id, a in pairs(ag) do
                local load = a.c + a.o
                local ok = a.s == 'available' and load < a.l
                if ok and gid then
                    ok = in_group(a, gid)
                elseif ok and h[3] and h[3] ~= '' then
                    ok = (id == h[3])
                end
                if ok then
                    ok = redis.call('SISMEMBER', ck(c) .. ':x', id) == 0
                end
                if ok and (bl == nil or load < bl or (load == bl and id < best)) then
                    best, bl = id, load
                end
            end
            if best then
                local ats = tonumber(h[4] or '30') or 30
                ag[best].o = ag[best].o + 1
                changed[best] = true
                redis.call('HSET', H, 'offer', best)
                redis.call('ZADD', TIMERS, now + ats * 1000,
                           'offer|' .. t .. '|' .. c .. '|' .. best)
                redis.call('PUBLISH', tk(t), cjson.encode({type = 'offer',
                    to = best, conversation = c, visitor = {name = h[5] or ''},
                    expires_in = ats}))
            end
        end
    end

    local avail, ga = 0, {}
    for id, a in pairs(ag) do
        if changed[id] then put_agent(t, id, a) end
        if a.s == 'available' then
            avail = avail + 1
            for _, g in ipairs(a.g or {}) do ga[g] = (ga[g] or 0) + 1 end
        end
    end

    -- "ga": the available members of each group (a chat waiting for a
    -- group is estimated by those alone)
    redis.call('PUBLISH', tk(t), '{"type":"queue","agents":' .. avail
               .. ',"ga":' .. (next(ga) and cjson.encode(ga) or '{}')
               .. ',"queue":' .. queue_list(t) .. '}')
end

local function offer_clear(t, c, h, ag)
    if h.offer and h.offer ~= '' then
        local a = ag[h.offer]
        if a and a.o > 0 then
            a.o = a.o - 1
            put_agent(t, h.offer, a)
        end
        redis.call('ZREM', TIMERS, 'offer|' .. t .. '|' .. c .. '|' .. h.offer)
        redis.call('HSET', ck(c) .. ':h', 'offer', '')
    end
end

local function load_down(t, agent, ag)
    local a = ag[agent]
    if a and a.c > 0 then
        a.c = a.c - 1
        put_agent(t, agent, a)
    end
end

local function check(c, t)
    local h = hash(c)
    if h.t ~= t then return nil, 'not_found' end
    return h
end

-- counters of the rate limits: {key, most, window seconds} each; the
-- seconds to wait when one is over
local function limited(lim)
    for _, l in ipairs(lim or {}) do
        local n = redis.call('INCR', l[1])
        if n == 1 then redis.call('EXPIRE', l[1], l[3]) end
        if n > l[2] then
            return math.max(redis.call('TTL', l[1]), 1)
        end
    end
    return nil
end

-- an agent's open chats
local function chats_key(t, a) return 'hd:chat:ac:{' .. t .. '}:' .. a end

local function closed(h) return h.st == 'ended' or h.st == 'converted' end

-- the state for the record of what an agent or an admin did (p.agent):
-- "act" names them, the audit's actor (the state alone has no agent after
-- a transfer, and another agent's when an admin ends a chat)
local function acted(c)
    local h = hash(c)
    if p.agent and p.agent ~= '' then h.act = p.agent end
    return h
end

local function finish(t, c, h, st, j)
    local ag = agents(t)
    offer_clear(t, c, h, ag)
    if h.ag and h.ag ~= '' and h.st == 'active' then
        load_down(t, h.ag, ag)
        redis.call('SREM', chats_key(t, h.ag), c)
    end
    redis.call('ZREM', qk(t), c)
    redis.call('ZREM', TIMERS, 'reply|' .. t .. '|' .. c, 'auto|' .. t .. '|' .. c)
    redis.call('HSET', ck(c) .. ':h', 'st', st, 'end', tostring(now_ms()),
               'eb', p.by or 'system')
    for k, v in pairs(p.set or {}) do redis.call('HSET', ck(c) .. ':h', k, v) end
    local v = h.v or ''
    if redis.call('GET', vk(t, v)) == c then redis.call('DEL', vk(t, v)) end
    local id = append(t, c, j, '*', acted(c))
    for _, s in ipairs({':s', ':h', ':d', ':x'}) do
        redis.call('EXPIRE', ck(c) .. s, TTL)
    end
    assign(t)
    return id
end

if op == 'start' then
    -- p: t, c, v, cid, set{...}, j (first message or ''), queue, auto
    local cur = redis.call('GET', vk(p.t, p.v))
    if cur then
        local st = redis.call('HGET', ck(cur) .. ':h', 'st')
        if st and st ~= 'ended' and st ~= 'converted' then
            local id = redis.call('HGET', ck(cur) .. ':d', p.cid)
            if id then return {'dup', cur, id} end
            return {'conflict', cur}
        end
    end
    local wait = limited(p.lim)
    if wait then return {'rate_limited', tostring(wait)} end
    local now = now_ms()
    local H = ck(p.c) .. ':h'
    redis.call('HSET', H, 't', p.t, 'v', p.v, 'start', tostring(now),
               'st', p.queue and 'queued' or 'bot')
    for k, v in pairs(p.set) do redis.call('HSET', H, k, v) end
    redis.call('SET', vk(p.t, p.v), p.c)
    local id = ''
    if p.j ~= '' then
        id = append(p.t, p.c, p.j, '*')
        redis.call('HSET', ck(p.c) .. ':d', p.cid, id)
        redis.call('HSET', H, 'lm', tostring(now))
    else
        touch(p.t, p.c)
    end
    if p.auto and p.auto > 0 then
        redis.call('ZADD', TIMERS, now + p.auto * 1000, 'auto|' .. p.t .. '|' .. p.c)
    end
    -- the visitor's other connections (an event stream beside the POST
    -- that started it, another tab) follow the new conversation
    redis.call('PUBLISH', tk(p.t), cjson.encode({type = 'started', v = p.v,
               c = p.c, q = p.queue and true or false}))
    if p.queue then
        redis.call('ZADD', qk(p.t), now, p.c)
        assign(p.t)
    end
    return {'ok', p.c, id}
end

if op == 'store' then
    -- p: t, c, cid, j, aud, who (visitor|agent|bot|system), agent, msg
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if p.cid and p.cid ~= '' then
        local id = redis.call('HGET', ck(p.c) .. ':d', p.cid)
        if id then return {'dup', id} end
    end
    if closed(h) then return {'conflict'} end
    if p.who == 'agent' and h.ag ~= p.agent then return {'forbidden'} end
    local wait = limited(p.lim)
    if wait then return {'rate_limited', tostring(wait)} end
    local now = now_ms()
    local H = ck(p.c) .. ':h'
    if p.msg then
        h.lm = tostring(now)
        redis.call('HSET', H, 'lm', h.lm)
        local rk = 'reply|' .. p.t .. '|' .. p.c
        if p.who == 'visitor' and h.st == 'active' then
            redis.call('ZADD', TIMERS, 'NX', now + tonumber(h.rt or '300') * 1000, rk)
        elseif p.who == 'agent' then
            redis.call('ZREM', TIMERS, rk)
            if not h.fr then
                h.fr = tostring(now)
                redis.call('HSET', H, 'fr', h.fr)
            end
        end
    end
    -- the state as it is now: what was read, with what was just set
    local id = append(p.t, p.c, p.j, p.aud, h)
    if p.cid and p.cid ~= '' then
        redis.call('HSET', ck(p.c) .. ':d', p.cid, id)
    end
    return {'ok', id}
end

if op == 'handover' then
    -- p: t, c, j (the bot's "a person will answer" event)
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if h.st ~= 'bot' then return {'ok', ''} end
    redis.call('HSET', ck(p.c) .. ':h', 'st', 'queued')
    redis.call('ZADD', qk(p.t), now_ms(), p.c)
    local id = append(p.t, p.c, p.j, '*')
    assign(p.t)
    return {'ok', id}
end

if op == 'accept' then
    -- p: t, c, agent, name, pick, limit, j (the joined event)
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if h.st ~= 'queued' then return {'conflict'} end
    local ag = agents(p.t)
    local a = ag[p.agent]
    if not a then return {'forbidden'} end
    local mine = h.offer == p.agent
    if not mine then
        -- one waiting for a group: its members' only
        local gid = tgt_group(h.tgt)
        if gid and not in_group(a, gid) then return {'forbidden'} end
        if h.offer and h.offer ~= '' and not p.pick then return {'conflict'} end
        if a.c + a.o >= a.l then return {'conflict'} end
    end
    offer_clear(p.t, p.c, h, ag)
    a = ag[p.agent]
    a.c = a.c + 1
    put_agent(p.t, p.agent, a)
    local H = ck(p.c) .. ':h'
    redis.call('HSET', H, 'st', 'active', 'ag', p.agent, 'an', p.name,
               'tgt', '')
    if not h.acc then redis.call('HSET', H, 'acc', tostring(now_ms())) end
    redis.call('ZREM', qk(p.t), p.c)
    redis.call('DEL', ck(p.c) .. ':x')
    redis.call('SADD', chats_key(p.t, p.agent), p.c)
    local id = append(p.t, p.c, p.j, '*')
    assign(p.t)
    return {'ok', id}
end

if op == 'decline' then
    -- p: t, c, agent (an offer refused or expired)
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if h.offer ~= p.agent then return {'ok'} end
    offer_clear(p.t, p.c, h, agents(p.t))
    redis.call('SADD', ck(p.c) .. ':x', p.agent)
    redis.call('EXPIRE', ck(p.c) .. ':x', TTL)
    assign(p.t)
    return {'ok'}
end

if op == 'requeue' then
    -- p: t, c, j (the "left" event): the agent did not answer in time
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if h.st ~= 'active' then return {'ok', ''} end
    if h.ort == 'ticket' then return {'ticket'} end
    load_down(p.t, h.ag, agents(p.t))
    redis.call('SREM', chats_key(p.t, h.ag), p.c)
    redis.call('SADD', ck(p.c) .. ':x', h.ag)
    redis.call('HSET', ck(p.c) .. ':h', 'st', 'queued', 'ag', '', 'an', '')
    redis.call('ZADD', qk(p.t), now_ms(), p.c)
    local id = append(p.t, p.c, p.j, '*')
    assign(p.t)
    return {'ok', id}
end

if op == 'transfer' then
    -- p: t, c, agent, admin, tgt (agent id or "g:<group id>"), gname (the
    -- group's name), note (j or ''), j
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if h.st ~= 'active' then return {'conflict'} end
    if h.ag ~= p.agent and not p.admin then return {'forbidden'} end
    local from = h.ag
    if p.tgt == from then return {'conflict'} end
    local to
    if p.gname and tgt_group(p.tgt) then
        to = {group = p.gname, id = tgt_group(p.tgt)}
    else
        local a = agents(p.t)[p.tgt]
        if not a then return {'not_found', 'agent'} end
        to = {agent = p.tgt, name = a.n}
    end
    local nid = ''
    if p.note ~= '' then nid = append(p.t, p.c, p.note, 'a') end
    load_down(p.t, from, agents(p.t))
    redis.call('SREM', chats_key(p.t, from), p.c)
    redis.call('SADD', ck(p.c) .. ':x', from)
    redis.call('HSET', ck(p.c) .. ':h', 'st', 'queued', 'ag', '', 'an', '',
               'tgt', p.tgt)
    redis.call('ZADD', qk(p.t), now_ms(), p.c)
    local id = append(p.t, p.c, cjson.encode({type = 'transferred', to = to,
                                             by = {name = p.name}}), '*',
                      acted(p.c))
    assign(p.t)
    return {'ok', id, nid}
end

if op == 'end' then
    -- p: t, c, by, agent (when an agent ends it), admin, j (the ended event)
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if closed(h) then return {'conflict'} end
    if p.agent and p.agent ~= '' and h.ag ~= p.agent and not p.admin then
        return {'forbidden'}
    end
    return {'ok', finish(p.t, p.c, h, 'ended', p.j)}
end

if op == 'converted' then
    -- p: t, c, j (the converted event), set{tk, tn}
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if closed(h) then return {'conflict'} end
    return {'ok', finish(p.t, p.c, h, 'converted', p.j)}
end

if op == 'presence' then
    -- p: t, agent, name, s (available|away|''), l (limit), k (+1/-1/0)
    local ag = agents(p.t)
    local a = ag[p.agent] or {s = 'offline', c = 0, o = 0, k = 0, l = p.l}
    a.k = math.max(0, a.k + p.k)
    a.n = p.name
    a.l = p.l
    if a.k == 0 then
        a.s = 'offline'
    elseif p.s ~= '' then
        a.s = p.s
    elseif a.s == 'offline' then
        a.s = 'available'
    end
    put_agent(p.t, p.agent, a)
    redis.call('PUBLISH', tk(p.t), cjson.encode({type = 'presence',
        agent = p.agent, name = p.name, status = a.s}))
    assign(p.t)
    return {'ok'}
end

if op == 'groups' then
    -- p: t, v (the tenant's version of its groups), a ({agent: [group
    -- ids]}, every agent's), gone (deleted groups), groups (the tenant's,
    -- for the consoles): the groups changed
    local ag = agents(p.t)
    for id, g in pairs(p.a or {}) do
        local a = ag[id]
        if a and (a.gv or -1) <= p.v then
            a.g = g
            a.gv = p.v
            put_agent(p.t, id, a)
        end
    end
    -- a conversation waiting for a deleted group waits for anyone
    for _, gid in ipairs(p.gone or {}) do
        for _, c in ipairs(redis.call('ZRANGE', qk(p.t), 0, -1)) do
            if redis.call('HGET', ck(c) .. ':h', 'tgt') == 'g:' .. gid then
                redis.call('HSET', ck(c) .. ':h', 'tgt', '')
            end
        end
    end
    redis.call('PUBLISH', tk(p.t), cjson.encode({type = 'groups', v = p.v,
        a = p.a, groups = p.groups}))
    assign(p.t)
    return {'ok'}
end

if op == 'agents' then
    local ag = agents(p.t)
    local out = {}
    for id, a in pairs(ag) do
        out[#out + 1] = cjson.encode({id = id, name = a.n, status = a.s,
                                      chats = a.c, limit = a.l})
    end
    return {'ok', '[' .. table.concat(out, ',') .. ']', queue_list(p.t)}
end

if op == 'visitor' then
    -- p: t, v, last (the record's last conversation, or ''): the open
    -- conversation (or that last one) and its state
    -- and how many agents are available (none: the widget goes offline)
    local avail = 0
    for _, a in pairs(agents(p.t)) do
        if a.s == 'available' then avail = avail + 1 end
    end
    local c = redis.call('GET', vk(p.t, p.v))
    if not c and p.last ~= '' then c = p.last end
    if not c then return {'none', '', '', tostring(avail)} end
    local h = hash(c)
    if h.t ~= p.t or h.v ~= p.v then return {'none', '', '', tostring(avail)} end
    return {'ok', c, cjson.encode(h), tostring(avail)}
end

-- stream ids ("<ms>-<seq>") in order; '' before any
local function id_before(a, b)
    local bm, bs = string.match(b or '', '^(%d+)%-(%d+)$')
    if not bm then return false end
    local am, as = string.match(a or '', '^(%d+)%-(%d+)$')
    if not am then return true end
    am, bm = tonumber(am), tonumber(bm)
    return am < bm or (am == bm and tonumber(as) < tonumber(bs))
end

if op == 'pointer' then
    -- p: t, c, from (visitor|agent), kind (read|delivered), upto, aud:
    -- a side's pointers move forward (what is read was delivered), are
    -- kept, and told to the other side with both
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if p.agent and h.ag ~= p.agent then return {'forbidden'} end
    local f = p.from == 'agent' and 'a' or 'v'
    local rd, dl = h['r' .. f] or '', h['d' .. f] or ''
    if p.kind == 'read' and id_before(rd, p.upto) then rd = p.upto end
    if id_before(dl, p.upto) then dl = p.upto end
    if id_before(dl, rd) then dl = rd end
    redis.call('HSET', ck(p.c) .. ':h', 'r' .. f, rd, 'd' .. f, dl)
    redis.call('PUBLISH', ck(p.c), '~ ' .. p.aud .. '\n' .. cjson.encode({
        type = 'status', from = p.from, read = rd, delivered = dl}))
    return {'ok'}
end

if op == 'hello' then
    -- p: t, agent, name, l, g (its groups), gv (their version): an
    -- agent's connection; its open chats
    local ag = agents(p.t)
    local a = ag[p.agent] or {s = 'offline', c = 0, o = 0, k = 0}
    a.k = a.k + 1
    a.n = p.name
    a.l = p.l
    if p.g and (p.gv or 0) >= (a.gv or -1) then
        a.g = p.g
        a.gv = p.gv or 0
    end
    if a.s == 'offline' then a.s = 'available' end
    put_agent(p.t, p.agent, a)
    local chats, owns = {}, {}
    for _, c in ipairs(redis.call('SMEMBERS', chats_key(p.t, p.agent))) do
        local h = hash(c)
        if h.st == 'active' and h.ag == p.agent then
            chats[#chats + 1] = cjson.encode({conversation = c,
                visitor = {name = h.vn or ''}, status = h.st,
                read = {visitor = h.rv or '', agent = h.ra or ''},
                delivered = {visitor = h.dv or '', agent = h.da or ''}})
            -- what is in its stream now happened while it was the agent's
            local e = redis.call('XREVRANGE', ck(c) .. ':s', '+', '-', 'COUNT', 1)
            if e[1] then owns[#owns + 1] = cjson.encode(c) .. ':' .. cjson.encode(e[1][1]) end
        else
            redis.call('SREM', chats_key(p.t, p.agent), c)
        end
    end
    redis.call('PUBLISH', tk(p.t), cjson.encode({type = 'presence',
        agent = p.agent, name = p.name, status = a.s}))
    assign(p.t)
    -- what is offered to this agent now (made before it listened)
    local offers = {}
    for _, c in ipairs(redis.call('ZRANGE', qk(p.t), 0, -1)) do
        local h = redis.call('HMGET', ck(c) .. ':h', 'offer', 'vn', 'at')
        if h[1] == p.agent then
            offers[#offers + 1] = cjson.encode({type = 'offer', conversation = c,
                visitor = {name = h[2] or ''}, expires_in = tonumber(h[3] or '30')})
        end
    end
    return {'ok', cjson.encode(ag[p.agent] or a),
            '[' .. table.concat(chats, ',') .. ']', queue_list(p.t),
            '[' .. table.concat(offers, ',') .. ']',
            '{' .. table.concat(owns, ',') .. '}'}
end

if op == 'owner' then
    -- p: c: the tenant of a conversation Redis holds ('' for none)
    return {'ok', redis.call('HGET', ck(p.c) .. ':h', 't') or ''}
end

if op == 'dump' then
    -- p: t, c, agent (an agent's conversion), admin: the conversation's
    -- state and every event, for a conversion
    local h, err = check(p.c, p.t)
    if not h then return {err} end
    if p.agent and p.agent ~= '' and h.ag ~= p.agent and not p.admin then
        return {'forbidden'}
    end
    local ev = redis.call('XRANGE', ck(p.c) .. ':s', '-', '+')
    local out = {}
    for _, e in ipairs(ev) do
        local f = {}
        for i = 1, #e[2], 2 do f[e[2][i]] = e[2][i + 1] end
        out[#out + 1] = cjson.encode({i = e[1], j = f.j, u = f.u})
    end
    return {'ok', cjson.encode(h), '[' .. table.concat(out, ',') .. ']'}
end

if op == 'timers' then
    -- p: n, lease (ms): the deadlines due, each leased to one caller (its
    -- score moved to the lease's end): the caller releases it once acted
    -- upon; a caller that dies leaves it to be taken again at the end of
    -- the lease.  Answers member, lease, member, lease ...
    local now = now_ms()
    local due = redis.call('ZRANGEBYSCORE', TIMERS, '-inf', now,
                           'LIMIT', 0, p.n)
    local out = {}
    local lease = now + p.lease
    for _, m in ipairs(due) do
        redis.call('ZADD', TIMERS, 'XX', lease, m)
        out[#out + 1] = m
        out[#out + 1] = tostring(lease)
    end
    return out
end

if op == 'release' then
    -- p: m, lease: a deadline acted upon, unless set again since
    local s = redis.call('ZSCORE', TIMERS, p.m)
    if s and tonumber(s) == tonumber(p.lease) then
        redis.call('ZREM', TIMERS, p.m)
    end
    return {'ok'}
end

return redis.error_reply('unknown op')
