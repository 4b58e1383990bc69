/*
 * nginx-helpdesk agent console: the chat panel.
 *
 * One WebSocket per console (docs/chat-protocol.md, the agent's side, over
 * <console>/_/chat/v1/ws with the console's session cookie).  The panel holds
 * the agent's availability switch (in the header), the chats waiting and
 * the one offered to this agent, and the agent's open chats side by side
 * (tabs where the window is too narrow), each with its transcript, the
 * visitor's details and a composer.  State lives here, not in the DOM:
 * every stored event is kept once by its id, so a reconnect that resumes
 * from each conversation's last id never shows anything twice.
 *
 * The console's own code (app.js) asks this file for the header's switch
 * (HD.chat.header()), starts it once an agent is logged in
 * (HD.chat.start()), lets it add the open chats to the unified queue
 * (HD.chat.queueRows()) and reads its title notice (HD.chat.notice()).
 */
(function () {
  'use strict';

  var HD = window.HD;
  if (!HD || !window.WebSocket) return;
  var t = HD.t, h = HD.h, append = HD.append, boot = HD.boot, base = HD.base;

  var COLUMN = 360;           /* the narrowest a chat column may be, px */
  var MAIN = 520;             /* what the page beside the panel keeps, px */
  var TYPING_EVERY = 3000;    /* "typing" at most this often while typing */
  var TYPING_IDLE = 4000;     /* "stopped typing" after this long */
  var TYPING_SHOWN = 6000;    /* the visitor's indicator without news */

  var S = {
    ws: null, open: false, started: false, ever: false, tries: 0, timer: null,
    stopped: false, cid: 0,
    me: null, status: 'away', limit: 0,
    settings: {},
    queue: [],                /* [{conversation, visitor, since}] */
    offer: null,              /* {conversation, visitor, expires} */
    chats: {},                /* conversation -> chat */
    order: [],                /* conversations, oldest first */
    agents: {},               /* id -> {id, name, status, load, limit} */
    groups: [],
    pending: {},              /* cid -> what we sent and wait an answer for */
    heard: {},                /* conversations already beeped for */
    shown: null,              /* the tab shown when chats are tabs */
    canned: null,
    audio: null
  };

  /* ---------- small tools ---------- */

  function cid() {
    S.cid += 1;
    return 'k' + Date.now().toString(36) + S.cid.toString(36);
  }

  /* stored ids are Redis stream ids, "<ms>-<seq>" */
  function stored(id) {
    return typeof id === 'string' && /^[0-9]{1,20}-[0-9]{1,20}$/.test(id);
  }

  function cmp(a, b) {
    var x = a.split('-'), y = b.split('-');
    if (x[0].length !== y[0].length) return x[0].length - y[0].length;
    if (x[0] !== y[0]) return x[0] < y[0] ? -1 : 1;
    return Number(x[1]) - Number(y[1]);
  }

  function clock(iso) {
    var d = iso ? new Date(iso) : new Date();
    if (isNaN(d.getTime())) d = new Date();
    try {
      return new Intl.DateTimeFormat(HD.lang, { hour: '2-digit', minute: '2-digit' }).format(d);
    } catch (e) {
      return d.toTimeString().slice(0, 5);
    }
  }

  function duration(seconds) {
    var s = Math.max(0, Math.floor(seconds)), m = Math.floor(s / 60);
    if (m >= 60) return Math.floor(m / 60) + ':' + ('0' + (m % 60)).slice(-2) + ':' + ('0' + (s % 60)).slice(-2);
    return m + ':' + ('0' + (s % 60)).slice(-2);
  }

  function visitorName(v) {
    v = v || {};
    return v.name || (v.prechat && v.prechat.name) || v.email || t('ch.visitor');
  }

  function announce(text) {
    var live = document.getElementById('chat-live');
    if (!live) return;
    live.textContent = '';
    setTimeout(function () { live.textContent = text; }, 50);
  }

  /* only http(s) links are links: a visitor's page can say anything */
  function safeUrl(u) {
    return typeof u === 'string' && /^https?:\/\//i.test(u) ? u : null;
  }

  /* "Chrome 120 on Windows", from a user agent, simply */
  function browser(ua) {
    if (!ua) return '';
    var name = null, m;
    var tests = [[/Edg(?:e|A|iOS)?\/([0-9]+)/, 'Edge'], [/OPR\/([0-9]+)/, 'Opera'],
                 [/SamsungBrowser\/([0-9]+)/, 'Samsung Internet'], [/Firefox\/([0-9]+)/, 'Firefox'],
                 [/FxiOS\/([0-9]+)/, 'Firefox'], [/CriOS\/([0-9]+)/, 'Chrome'],
                 [/Chrom(?:e|ium)\/([0-9]+)/, 'Chrome'], [/Version\/([0-9]+)[.0-9]* .*Safari\//, 'Safari']];
    for (var i = 0; i < tests.length && !name; i++) {
      if ((m = ua.match(tests[i][0]))) name = tests[i][1] + ' ' + m[1];
    }
    var os = /iPhone|iPad|iPod/.test(ua) ? 'iOS' : /Android/.test(ua) ? 'Android'
           : /Windows/.test(ua) ? 'Windows' : /Mac OS X|Macintosh/.test(ua) ? 'macOS'
           : /CrOS/.test(ua) ? 'ChromeOS' : /Linux/.test(ua) ? 'Linux' : null;
    if (!name) return os || ua.slice(0, 60);
    return os ? t('ch.browser.on', { browser: name, os: os }) : name;
  }

  /* ---------- sound: a short beep, once a gesture unlocked audio ---------- */

  function unlock() {
    var AC = window.AudioContext || window.webkitAudioContext;
    if (!AC) return;
    try {
      if (!S.audio) S.audio = new AC();
      if (S.audio.state === 'suspended') S.audio.resume();
    } catch (e) { S.audio = null; }
  }
  document.addEventListener('pointerdown', unlock, true);
  document.addEventListener('keydown', unlock, true);

  function beep() {
    var a = S.audio;
    if (!a || a.state !== 'running') return;
    [0, 0.18].forEach(function (at) {
      var o = a.createOscillator(), g = a.createGain(), now = a.currentTime + at;
      o.type = 'sine';
      o.frequency.value = 880;
      g.gain.setValueAtTime(0.0001, now);
      g.gain.exponentialRampToValueAtTime(0.2, now + 0.02);
      g.gain.exponentialRampToValueAtTime(0.0001, now + 0.14);
      o.connect(g);
      g.connect(a.destination);
      o.start(now);
      o.stop(now + 0.15);
    });
    S.beeps = (S.beeps || 0) + 1;
  }

  /* ---------- the connection ---------- */

  function url() {
    return (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + base + '/_/chat/v1/ws';
  }

  function connect() {
    clearTimeout(S.timer);
    if (S.stopped || S.ws) return;
    var ws;
    try { ws = new WebSocket(url(), 'helpdesk.chat.v1'); } catch (e) { return retry(); }
    S.ws = ws;
    setConn('connecting');
    ws.onopen = function () {
      var last = {};
      S.order.forEach(function (c) { if (S.chats[c].last) last[c] = S.chats[c].last; });
      ws.send(JSON.stringify({ type: 'hello', cid: cid(), last: last }));
    };
    ws.onmessage = function (e) {
      var d;
      try { d = JSON.parse(e.data); } catch (x) { return; }
      if (d && typeof d === 'object') receive(d);
    };
    ws.onclose = function (e) {
      S.ws = null;
      S.open = false;
      Object.keys(S.chats).forEach(function (c) { S.chats[c].typingOn = false; });
      /* a revoked session, or the server says stop: the agent decides */
      if (e.code === 1008 || e.code === 1000 || e.code === 4401 || e.code === 4403) {
        S.stopped = true;
        setConn('closed', e.reason);
        return;
      }
      retry();
    };
  }

  /* 0.5 s doubling to 20 s, with jitter; a server never reached waits longer */
  function retry() {
    S.tries += 1;
    var d = Math.min(20000, 500 * Math.pow(2, S.tries - 1));
    if (!S.ever && S.tries > 4) d = 60000;
    d = d * (0.8 + Math.random() * 0.4);
    setConn(S.ever ? 'reconnecting' : S.tries > 2 ? 'unavailable' : 'connecting');
    S.timer = setTimeout(connect, d);
  }

  function send(msg) {
    if (!S.ws || !S.open) return false;
    if (!msg.cid) msg.cid = cid();
    S.ws.send(JSON.stringify(msg));
    return msg.cid;
  }

  /* ---------- what the server says ---------- */

  function receive(d) {
    var c = d.conversation && S.chats[d.conversation];
    switch (d.type) {
    case 'welcome': return welcome(d);
    case 'queue': return setQueue(d.queue || d.waiting || d.items || []);
    case 'offer': return offer(d);
    case 'presence': return presence(d);
    case 'ack': return ack(d);
    case 'error': return error(d);
    case 'typing':
      if (c && d.from !== 'agent') visitorTyping(c, d.on !== false);
      return;
    case 'status':
      if (c) readStatus(c, d);
      return;
    case 'chat':
      return adopt(d.chat || d);
    case 'accepted':
      if (d.conversation) adopt(d);
      return;
    }
    if (!d.conversation) return;
    if (!c) {
      /* a chat this agent was just given (accepted, or transferred to it);
         news of a chat still waiting only changes the waiting list */
      var conv = d.conversation;
      var accepting = Object.keys(S.pending).some(function (k) {
        return S.pending[k].kind === 'accept' && S.pending[k].conversation === conv;
      });
      var joinedMe = d.type === 'joined' && d.agent && S.me && d.agent.id === S.me.id;
      var toMe = d.type === 'transferred' && d.to && S.me && (d.to.id || d.to.agent) === S.me.id;
      if (d.type === 'ended' && !accepting) {
        S.queue = S.queue.filter(function (q) { return q.conversation !== conv; });
        if (S.offer && S.offer.conversation === conv) S.offer = null;
        drawIncoming();
        notify();
        return;
      }
      if (d.type === 'joined' && !joinedMe) return;
      if (!accepting && !joinedMe && !toMe && !stored(d.id)) return;
      c = adopt({ conversation: conv });
    }
    event(c, d);
  }

  function welcome(d) {
    S.open = true;
    S.ever = true;
    S.tries = 0;
    var a = d.agent || {};
    S.me = { id: a.id || (boot.user && boot.user.id), name: a.name || (boot.user && boot.user.name) };
    S.status = a.status === 'available' ? 'available' : 'away';
    S.limit = a.limit || (d.settings && d.settings.max_chats_per_agent) || S.limit || 0;
    /* the tenant's settings as the server has them (transfers allowed or
       not, the limit, the accept timeout), at every welcome */
    S.settings = Object.assign({}, d.settings || {});
    if (d.groups) S.groups = d.groups;
    if (Array.isArray(d.agents)) presence({ agents: d.agents });
    setConn('open');
    if (panel.hidden && !S.hidden) setHidden(false);
    (d.chats || []).forEach(adopt);
    setQueue(d.queue || []);
    if (d.offer) offer(d.offer);
    /* what we sent while the line was down, again (stored once by cid) */
    Object.keys(S.pending).forEach(function (k) {
      var p = S.pending[k];
      if (p.msg && !p.failed) S.ws.send(JSON.stringify(p.msg));
    });
    S.order.forEach(function (conv) { markRead(S.chats[conv]); });
    drawAll();
  }

  function setQueue(list) {
    var now = Date.now(), fresh = [];
    S.queue = list.map(function (q) {
      /* the short form: {c, w (queued at, ms), n (the visitor's name)} */
      if (!q.conversation && q.c) {
        q = { conversation: q.c, visitor: { name: q.n || '' }, since: q.w ? new Date(Number(q.w)).toISOString() : null };
      }
      var old = S.queue.filter(function (o) { return o.conversation === q.conversation; })[0];
      var wait = q.waiting_seconds !== undefined ? q.waiting_seconds
               : q.since ? (now - new Date(q.since).getTime()) / 1000 : 0;
      if (!S.heard[q.conversation]) { S.heard[q.conversation] = true; fresh.push(q); }
      return { conversation: q.conversation, visitor: q.visitor || {}, text: q.text || q.first_message || '',
               since: old && Math.abs(old.since - (now - wait * 1000)) < 3000 ? old.since : now - wait * 1000 };
    }).filter(function (q) { return !S.chats[q.conversation] || S.chats[q.conversation].ended; });
    if (fresh.length && S.status === 'available') {
      beep();
      announce(t('ch.waiting.new', { name: visitorName(fresh[0].visitor) }));
    }
    drawIncoming();
    notify();
  }

  function offer(d) {
    if (!d.conversation || (d.to && S.me && d.to !== S.me.id)) return;
    if (d.expires_in === 0 || d.withdrawn) {
      if (S.offer && S.offer.conversation === d.conversation) S.offer = null;
    } else {
      var waiting = S.queue.filter(function (q) { return q.conversation === d.conversation; })[0];
      S.offer = { conversation: d.conversation, visitor: Object.assign({}, waiting && waiting.visitor, d.visitor),
                  text: d.text || (waiting && waiting.text) || '',
                  expires: Date.now() + (d.expires_in || 30) * 1000,
                  queued: S.queue.some(function (q) { return q.conversation === d.conversation; }) };
      S.heard[d.conversation] = true;
      beep();
      announce(t('ch.offer.new', { name: visitorName(S.offer.visitor), n: d.expires_in || 30 }));
      if (S.hidden) setHidden(false);
    }
    drawIncoming();
    notify();
  }

  function presence(d) {
    if (typeof d.agent === 'string') d = { agent: { id: d.agent, name: d.name, status: d.status, load: d.load, limit: d.limit } };
    var list = Array.isArray(d.agents) ? d.agents : d.agent ? [d.agent] : [];
    if (!d.agents && !d.agent && d.status) {
      S.status = d.status === 'available' ? 'available' : 'away';
      if (d.limit) S.limit = d.limit;
      drawHeader();
      notify();
      return;
    }
    if (Array.isArray(d.agents)) S.agents = {};
    list.forEach(function (a) {
      if (!a || !a.id) return;
      if (S.me && a.id === S.me.id) {
        if (a.status) S.status = a.status === 'available' ? 'available' : 'away';
        if (a.limit) S.limit = a.limit;
        return;
      }
      var old = S.agents[a.id] || {};
      S.agents[a.id] = { id: a.id, name: a.name || old.name || '', status: a.status || 'away',
                         load: a.load !== undefined ? a.load : a.chats !== undefined ? a.chats : old.load,
                         limit: a.limit || old.limit };
    });
    if (d.groups) S.groups = d.groups;
    drawHeader();
    S.order.forEach(function (c) { if (S.chats[c].drawTransfer) S.chats[c].drawTransfer(); });
    notify();
  }

  function ack(d) {
    var p = S.pending[d.cid];
    if (!p) return;
    delete S.pending[d.cid];
    if (p.kind === 'message' || p.kind === 'note') {
      var c = S.chats[p.conversation];
      if (!c || !stored(d.ref)) return;
      if (c.ids[d.ref]) { if (p.li.parentNode) p.li.remove(); return; }
      c.ids[d.ref] = p.li;
      p.li.setAttribute('data-id', d.ref);
      p.li.classList.remove('sending');
      bump(c, d.ref);
      c.mine.push(d.ref);
      readMarks(c);
    } else if (p.kind === 'accept') {
      var conv = p.conversation;
      if (!S.chats[conv]) adopt({ conversation: conv, visitor: p.visitor, status: 'active' });
      S.queue = S.queue.filter(function (q) { return q.conversation !== conv; });
      if (S.offer && S.offer.conversation === conv) S.offer = null;
      drawIncoming();
      notify();
    } else if (p.kind === 'presence') {
      S.status = p.status;
      drawHeader();
      notify();
    } else if (p.kind === 'transfer') {
      var tc = S.chats[p.conversation];
      if (tc) closeTransfer(tc);
    }
  }

  function error(d) {
    var p = d.cid && S.pending[d.cid];
    var text = HD.has('ch.error.' + d.code) ? t('ch.error.' + d.code) : (d.detail || t('ch.error.generic'));
    if (d.code === 'rate_limited' && d.retry_after) text += ' ' + t('ch.retry', { n: d.retry_after });
    if (p) delete S.pending[d.cid];
    if (p && p.msg && p.msg.attachments && d.code === 'not_found') text = t('ch.error.attachment');
    if (p && (p.kind === 'message' || p.kind === 'note')) {
      p.failed = true;
      p.li.classList.remove('sending');
      p.li.classList.add('failed');
      p.li.querySelector('.chat-state').textContent = text;
    }
    if (p && (p.kind === 'accept' || p.kind === 'decline')) {
      /* someone else took it, or it went away */
      var gone = /^(conflict|not_found|forbidden)$/.test(d.code);
      S.queue = S.queue.filter(function (q) { return q.conversation !== p.conversation || !gone; });
      if (S.offer && S.offer.conversation === p.conversation) S.offer = null;
      drawIncoming();
      notify();
    }
    if (p && p.kind === 'presence') drawHeader();
    if (p && p.kind === 'transfer' && d.code === 'forbidden') {
      S.settings.transfer_allowed = false;
      S.order.forEach(function (x) { setStatus(S.chats[x], S.chats[x].status); closeTransfer(S.chats[x]); });
    }
    var c = p && S.chats[p.conversation];
    if (c) { c.el.alert.textContent = text; c.el.alert.hidden = false; }
    else incomingAlert.textContent = text;
    announce(text);
  }

  /* ---------- one chat ---------- */

  function adopt(info) {
    if (!info || !info.conversation) return null;
    var c = S.chats[info.conversation];
    if (!c) {
      var q = S.queue.filter(function (x) { return x.conversation === info.conversation; })[0] ||
              (S.offer && S.offer.conversation === info.conversation ? S.offer : null);
      c = S.chats[info.conversation] = {
        id: info.conversation, visitor: info.visitor || (q && q.visitor) || {}, status: 'active',
        ids: {}, last: null, mine: [], read: null, delivered: null, readSent: null, lastVisitor: null,
        unread: 0, ticket: null, ended: false, el: null, started: Date.now()
      };
      S.order.push(c.id);
      S.queue = S.queue.filter(function (x) { return x.conversation !== c.id; });
      if (S.offer && S.offer.conversation === c.id) S.offer = null;
      build(c);
      enrich(c, 0);
      if (!S.shown) S.shown = c.id;
    } else if (info.visitor) {
      c.visitor = info.visitor;
      drawVisitor(c);
    }
    if (info.status) setStatus(c, info.status);
    if (info.ticket) setTicket(c, info.ticket);
    if (info.read || info.delivered) {
      /* the visitor's pointers on the agent's messages; the agent's own */
      readStatus(c, { read: info.read && info.read.visitor, delivered: info.delivered && info.delivered.visitor });
      if (info.read && stored(info.read.agent)) c.readSent = info.read.agent;
      if (info.delivered && stored(info.delivered.agent)) c.dlvSent = info.delivered.agent;
    }
    drawAll();
    return c;
  }

  function bump(c, id) {
    if (!c.last || cmp(id, c.last) > 0) c.last = id;
  }

  /* an ended, converted or transferred chat is over for this agent: it
     stays on screen until the agent closes it */
  function setStatus(c, status) {
    c.status = status;
    c.ended = status === 'ended' || status === 'transferred' || status === 'converted';
    if (c.el) {
      c.el.root.classList.toggle('ended', c.ended);
      c.el.badge.textContent = t('ch.status.' + status);
      c.el.badge.className = 'badge chat-badge chat-' + status;
      c.el.form.hidden = c.ended;
      c.el.close.hidden = !c.ended;
      c.el.end.hidden = c.ended;
      c.el.transferBtn.hidden = c.ended || S.settings.transfer_allowed === false;
      c.el.convert.hidden = !!c.ticket || status === 'converted' || c.ended;
    }
  }

  function setTicket(c, ticket) {
    c.ticket = ticket;
    if (!c.el) return;
    c.el.ticket.textContent = '';
    if (ticket && ticket.number) {
      append(c.el.ticket, [t('ch.ticket'), ' ', h('a', { href: base + '/tickets/' + encodeURIComponent(ticket.number),
                                                         'data-nav': true }, ticket.number)]);
      c.el.convert.hidden = true;
    }
  }

  /* a stored event or a live one of this chat, once */
  function event(c, d) {
    if (stored(d.id)) {
      if (c.ids[d.id]) return;
      /* our own message, stored before its ack came: the same node */
      var p = d.cid && S.pending[d.cid];
      if (p && p.li && p.conversation === c.id) {
        delete S.pending[d.cid];
        c.ids[d.id] = p.li;
        p.li.setAttribute('data-id', d.id);
        p.li.classList.remove('sending');
        c.mine.push(d.id);
        bump(c, d.id);
        readMarks(c);
        return;
      }
    }
    var li = render(c, d);
    if (!li) {
      if (stored(d.id)) { c.ids[d.id] = true; bump(c, d.id); }
      return;
    }
    if (stored(d.id)) {
      c.ids[d.id] = li;
      bump(c, d.id);
      li.setAttribute('data-id', d.id);
    }
    place(c, li, d.id);

    var from = (d.from && d.from.kind) || '';
    if (d.type === 'message' && from === 'visitor') {
      c.lastVisitor = d.id;
      visitorTyping(c, false);
      if (!visible(c)) { c.unread += 1; drawTabs(); }
      markRead(c);
      clearTimeout(c.dlvTimer);
      c.dlvTimer = setTimeout(function () { markDelivered(c); }, 200);
    }
    if (li.classList.contains('own') && stored(d.id)) c.mine.push(d.id);
    if (d.type === 'ended' && c.status !== 'converted') setStatus(c, 'ended');
    if (d.type === 'converted') {
      setTicket(c, d.ticket || null);
      setStatus(c, 'converted');
    }
    if (d.type === 'transferred' && d.to && S.me) {
      var toMe = (d.to.id || d.to.agent) === S.me.id;
      if (!toMe && c.last === d.id) setStatus(c, 'transferred');
      else if (toMe) announce(t('ch.transferred.to.me', { name: visitorName(c.visitor) }));
    }
    if (d.type === 'left' && d.agent && S.me && d.agent.id === S.me.id && c.last === d.id) setStatus(c, 'transferred');
    if (/^(ended|converted|transferred|left|joined)$/.test(d.type)) { drawHeader(); drawTabs(); decorate(); }
    readMarks(c);
    if (li.classList.contains('from-visitor') || li.classList.contains('from-bot')) scrollDown(c, true);
    else scrollDown(c, false);
    notify();
  }

  /* in id order: a resumed event may come after a newer live one */
  function place(c, li, id) {
    var log = c.el.log;
    if (stored(id)) {
      var after = null;
      for (var n = log.lastElementChild; n; n = n.previousElementSibling) {
        var nid = n.getAttribute('data-id');
        if (!nid || cmp(nid, id) < 0) { after = n; break; }
      }
      if (after && after.nextElementSibling) { log.insertBefore(li, after.nextElementSibling); return; }
      if (!after && log.firstElementChild && log.firstElementChild.getAttribute('data-id')) {
        log.insertBefore(li, log.firstElementChild);
        return;
      }
    }
    log.appendChild(li);
  }

  function render(c, d) {
    var f = d.from || {}, kind = f.kind || 'system', name = f.name || '', body = null, cls;
    var when = h('time', { dateTime: d.at || '' }, clock(d.at));
    /* the bot handing the visitor over to a person is an event */
    if (d.type === 'message' && kind === 'bot' && d.handover) {
      return h('li.chat-event', h('span', t('ch.ev.handover')), ' ', when);
    }
    if (d.type === 'message' && kind === 'bot' && !d.text && !(d.articles || []).length) return null;
    if (d.type === 'message' || d.type === 'note') {
      cls = d.type === 'note' ? 'note' : 'from-' + kind;
      if (kind === 'visitor' && !name) name = visitorName(c.visitor);
      if (kind === 'agent' && !name && S.me && f.id === S.me.id) name = S.me.name;
      var own = kind === 'agent' && S.me && (f.id ? f.id === S.me.id : f.name === S.me.name);
      var files = fileList(d.attachments);
      var articles = (d.articles || []).map(function (a) {
        var u = safeUrl(a.url);
        return h('li', u ? h('a', { href: u, target: '_blank', rel: 'noopener noreferrer' }, a.title || u) : (a.title || ''));
      });
      body = [
        h('p.chat-meta', h('strong', name || t('ch.from.' + kind)),
          kind === 'bot' ? h('span.badge.chat-bot', t('ch.bot')) : null,
          d.type === 'note' ? h('span.badge.internal', t('ch.note')) : null, ' ', when,
          own ? h('span.chat-state', { 'aria-live': 'off' }, '') : null),
        d.text ? h('div.chat-text', d.text) : null,
        articles.length ? h('ul.chat-articles', articles) : null,
        files.length ? h('ul.files', files) : null];
      var li = h('li.chat-msg.' + cls + (own ? '.own' : ''), body);
      return li;
    }
    var text = null, who = (d.agent && d.agent.name) || name;
    switch (d.type) {
    case 'joined': text = t('ch.ev.joined', { name: who || t('ch.from.agent') }); break;
    case 'left': text = t('ch.ev.left', { name: who || t('ch.from.agent') }); break;
    case 'transferred':
      text = t('ch.ev.transferred', { name: (d.to && (d.to.name || d.to.group)) || '—' });
      if (d.note) text += ' — ' + d.note;
      break;
    case 'ended': text = t('ch.ev.ended.' + (d.by === 'agent' || d.by === 'system' ? d.by : 'visitor')); break;
    case 'converted':
      return h('li.chat-event', h('span', t('ch.ev.converted'), ' ',
        d.ticket && d.ticket.number ? h('a', { href: base + '/tickets/' + encodeURIComponent(d.ticket.number),
                                               'data-nav': true }, d.ticket.number) : ''), ' ', when);
    default:
      if (!stored(d.id)) return null;
      text = d.text || d.type;
    }
    return h('li.chat-event', h('span', text), ' ', when);
  }

  /*
   * A message's files: each a link (its own, under the console), an image
   * that is safe to show (never SVG) with its thumbnail.
   */
  function fileList(list) {
    return (Array.isArray(list) ? list : []).map(function (a) {
      if (typeof a === 'string') return h('li', t('ch.attachment'));
      if (!a || typeof a !== 'object') return null;
      var name = a.filename || a.name || '…';
      /* a path of this origin, never "//host" nor "/\host" (browsers drop a tab or newline) */
      var link = safeUrl(a.url) || (typeof a.url === 'string' && /^\/[^/\\]/.test(a.url) && !/[\t\n\r]/.test(a.url) ? a.url : null);
      var thumb = link && /^image\/(png|jpeg|gif|webp)$/.test(a.content_type || '')
        ? h('img.chat-thumb', { src: link, alt: name, loading: 'lazy' }) : null;
      return h('li', link ? h('a', { href: link, target: '_blank', rel: 'noopener noreferrer' }, thumb, name) : name,
               a.size ? ' (' + HD.size(a.size) + ')' : '');
    }).filter(Boolean);
  }

  /* the visitor's read and delivered pointers, on the agent's messages */
  function readStatus(c, d) {
    if (d.read && stored(d.read) && (!c.read || cmp(d.read, c.read) > 0)) c.read = d.read;
    if (d.delivered && stored(d.delivered) && (!c.delivered || cmp(d.delivered, c.delivered) > 0)) c.delivered = d.delivered;
    readMarks(c);
  }

  function readMarks(c) {
    /* notes are never the visitor's to read */
    c.el.log.querySelectorAll('li.own:not(.note)').forEach(function (li) {
      var id = li.getAttribute('data-id'), st = li.querySelector('.chat-state');
      if (!st || li.classList.contains('failed')) return;
      var s = !id ? 'sending' : c.read && cmp(id, c.read) <= 0 ? 'read'
            : c.delivered && cmp(id, c.delivered) <= 0 ? 'delivered' : 'sent';
      if (st.getAttribute('data-s') !== s) {
        st.setAttribute('data-s', s);
        st.textContent = t('ch.state.' + s);
      }
    });
  }

  function visitorTyping(c, on) {
    clearTimeout(c.typingTimer);
    c.el.typing.textContent = on ? t('ch.typing', { name: visitorName(c.visitor) }) : '';
    if (on) c.typingTimer = setTimeout(function () { visitorTyping(c, false); }, TYPING_SHOWN);
  }

  function visible(c) {
    if (document.hidden || !c.el || panel.hidden) return false;
    return c.el.root.offsetParent !== null;
  }

  /* what the visitor wrote reached this console: delivered (read once seen) */
  function markDelivered(c) {
    if (!c || !c.lastVisitor || !S.open || c.ended) return;
    if (c.readSent && cmp(c.lastVisitor, c.readSent) <= 0) return;
    if (c.dlvSent && cmp(c.lastVisitor, c.dlvSent) <= 0) return;
    c.dlvSent = c.lastVisitor;
    send({ type: 'delivered', conversation: c.id, upto: c.lastVisitor });
  }

  function markRead(c) {
    if (!c || !c.lastVisitor || !S.open || !visible(c)) return;
    if (c.unread) { c.unread = 0; drawTabs(); }
    if (c.readSent && cmp(c.lastVisitor, c.readSent) <= 0) return;
    c.readSent = c.lastVisitor;
    send({ type: 'read', conversation: c.id, upto: c.lastVisitor });
  }

  document.addEventListener('visibilitychange', function () {
    S.order.forEach(function (conv) { markRead(S.chats[conv]); });
  });

  function scrollDown(c, always) {
    var log = c.el.scroll;
    var near = log.scrollHeight - log.scrollTop - log.clientHeight < 120;
    if (always || near) log.scrollTop = log.scrollHeight;
  }

  function typing(c) {
    var now = Date.now();
    if (!c.typingOn || now - c.typingAt > TYPING_EVERY) {
      c.typingOn = true;
      c.typingAt = now;
      send({ type: 'typing', conversation: c.id, on: true });
    }
    clearTimeout(c.idleTimer);
    c.idleTimer = setTimeout(function () { stopTyping(c); }, TYPING_IDLE);
  }

  function stopTyping(c) {
    clearTimeout(c.idleTimer);
    if (!c.typingOn) return;
    c.typingOn = false;
    send({ type: 'typing', conversation: c.id, on: false });
  }

  function say(c, text, note, files) {
    text = text.replace(/\s+$/, '');
    files = files || [];
    if (!text.trim() && !files.length) return false;
    stopTyping(c);
    var kind = note ? 'note' : 'message';
    var msg = { type: kind, cid: cid(), conversation: c.id, text: text };
    if (files.length) msg.attachments = files.map(function (f) { return f.upload_id; });
    var shown = fileList(files);
    var li = h('li.chat-msg.sending.own.' + (note ? 'note' : 'from-agent'),
      h('p.chat-meta', h('strong', (S.me && S.me.name) || t('ch.from.agent')),
        note ? h('span.badge.internal', t('ch.note')) : null, ' ',
        h('time', { dateTime: new Date().toISOString() }, clock()),
        h('span.chat-state', { 'data-s': 'sending' }, t('ch.state.sending'))),
      text ? h('div.chat-text', text) : null,
      shown.length ? h('ul.files', shown) : null);
    S.pending[msg.cid] = { kind: kind, conversation: c.id, li: li, msg: msg };
    c.el.log.appendChild(li);
    scrollDown(c, true);
    if (S.ws && S.open) S.ws.send(JSON.stringify(msg));
    return true;
  }

  function closeTransfer(c) {
    c.el.transfer.hidden = true;
    c.el.transferBtn.setAttribute('aria-expanded', 'false');
  }

  function fill(c, text) {
    var v = c.visitor || {};
    return text.replace(/\{\{\s*customer\.name\s*\}\}/g, visitorName(v) === t('ch.visitor') ? '' : visitorName(v))
               .replace(/\{\{\s*customer\.email\s*\}\}/g, v.email || '')
               .replace(/\{\{\s*ticket\.number\s*\}\}/g, (c.ticket && c.ticket.number) || '')
               .replace(/\{\{\s*ticket\.subject\s*\}\}/g, '')
               .replace(/\{\{\s*agent\.name\s*\}\}/g, (S.me && S.me.name) || (boot.user && boot.user.name) || '');
  }

  function loadCanned() {
    if (S.canned) return S.canned;
    S.canned = HD.api('GET', '/canned').then(function (r) { return r.data || []; }).catch(function () { return []; });
    return S.canned;
  }

  /* the DOM of one chat, built once; events are added to it */
  function build(c) {
    var el = c.el = {};
    var n = c.id.slice(0, 8);
    el.alert = h('p.alert.error.chat-alert', { role: 'alert', hidden: true });
    el.badge = h('span.badge.chat-badge');
    el.ticket = h('span.chat-ticket');
    el.title = h('h2.chat-name#chat-h-' + n);
    el.details = h('div.chat-visitor#chat-v-' + n);
    el.detailsBtn = h('button.link.chat-details-toggle', { type: 'button', 'aria-expanded': 'true',
                                                           'aria-controls': 'chat-v-' + n, on: { click: function () {
      var open = el.details.hidden;
      el.details.hidden = !open;
      el.detailsBtn.setAttribute('aria-expanded', open ? 'true' : 'false');
      el.detailsBtn.textContent = open ? t('ch.details.hide') : t('ch.details.show');
    } } }, t('ch.details.hide'));
    el.log = h('ol.chat-log', { role: 'log', 'aria-live': 'polite', 'aria-relevant': 'additions',
                                'aria-labelledby': 'chat-h-' + n });
    el.scroll = h('div.chat-scroll', el.log);
    el.typing = h('p.chat-typing', { 'aria-live': 'polite' });

    /* the composer: Enter sends, Shift+Enter is a new line */
    var text = h('textarea', { name: 'text', rows: 2, 'aria-label': t('ch.compose'), placeholder: t('ch.compose.hint'),
                               on: { input: function () { if (!noteBox.checked) typing(c); }, keydown: function (e) {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); submit(); }
    } } });
    var noteBox = h('input', { type: 'checkbox', name: 'note', on: { change: function () {
      el.form.classList.toggle('noting', noteBox.checked);
      text.placeholder = noteBox.checked ? t('ch.note.hint') : t('ch.compose.hint');
      if (noteBox.checked) stopTyping(c);
    } } });
    var canned = h('select', { name: 'canned', 'aria-label': t('ch.canned'), on: { change: function () {
      var id = canned.value;
      canned.value = '';
      loadCanned().then(function (list) {
        var r = list.filter(function (x) { return x.id === id; })[0];
        if (!r) return;
        text.value = (text.value ? text.value.replace(/\s+$/, '') + '\n' : '') + fill(c, r.body);
        text.focus();
        if (!noteBox.checked) typing(c);
      });
    } } }, h('option', { value: '' }, t('ch.canned')));
    loadCanned().then(function (list) {
      list.forEach(function (r) { canned.appendChild(h('option', { value: r.id }, r.title)); });
      canned.hidden = !list.length;
    });
    /* files: uploaded as soon as they are chosen, sent with the next message */
    var files = [];
    var fileItems = h('ul.files.chat-uploads', { 'aria-live': 'polite' });
    var fileInput = h('input', { type: 'file', multiple: true, on: { change: function () {
      Array.prototype.forEach.call(fileInput.files, function (f) {
        var item = { li: h('li', f.name + ' …'), file: null };
        fileItems.appendChild(item.li);
        files.push(item);
        item.p = HD.api('POST', '/v1/upload', f, { raw: true, root: base + '/_/chat', headers: {
          'Content-Type': f.type || 'application/octet-stream', 'X-Filename': encodeURIComponent(f.name) } })
          .then(function (u) {
            item.file = u;
            item.li.textContent = '';
            append(item.li, [u.filename + ' (' + HD.size(u.size) + ') ',
              h('button.link.chat-unattach', { type: 'button', 'aria-label': t('ch.unattach', { name: u.filename }),
                                               on: { click: function () {
                files.splice(files.indexOf(item), 1);
                item.li.remove();
                text.focus();
              } } }, '×')]);
          })
          .catch(function (err) {
            files.splice(files.indexOf(item), 1);
            item.li.textContent = f.name + ' — ' + HD.message(err);
          });
      });
      fileInput.value = '';
    } } });
    function submit() {
      if (files.some(function (f) { return !f.file; })) {
        /* still uploading: send once they are in */
        Promise.all(files.map(function (f) { return f.p; })).then(submit);
        return;
      }
      var ready = files.map(function (f) { return f.file; });
      if (say(c, text.value, noteBox.checked, ready)) {
        text.value = '';
        files = [];
        fileItems.textContent = '';
        el.alert.hidden = true;
      }
      text.focus();
    }
    el.text = text;
    el.form = h('form.chat-compose', { on: { submit: function (e) { e.preventDefault(); submit(); } } },
      text, fileItems,
      h('div.chat-tools', canned,
        h('label.button.secondary.chat-attach', fileInput, t('ch.attach')),
        h('label.check.chat-note', noteBox, ' ', t('ch.note.toggle')),
        h('button', { type: 'submit' }, t('ch.send'))));

    /* transfer: another available agent, or a group, with a note */
    el.transfer = h('form.chat-transfer', { hidden: true, on: { submit: function (e) {
      e.preventDefault();
      var to = el.transfer.elements.to.value;
      if (!to) { el.transfer.elements.to.focus(); return; }
      var target = to.indexOf('g:') === 0 ? { group: to.slice(2) } : { agent: to.slice(2) };
      var msg = { type: 'transfer', conversation: c.id, to: target, note: el.transfer.elements.note.value.trim() || undefined };
      var k = send(msg);
      if (!k) { el.alert.textContent = t('ch.error.unavailable'); el.alert.hidden = false; return; }
      S.pending[k] = { kind: 'transfer', conversation: c.id };
    } } });
    /* built once; only the choice of agents follows presence, so a note
       being typed keeps its place */
    var toSel = h('select', { name: 'to' });
    var nobody = h('p.hint', t('ch.transfer.nobody'));
    append(el.transfer, [
      HD.field(t('ch.transfer.to'), toSel), nobody,
      HD.field(t('ch.transfer.note'), h('textarea', { name: 'note', rows: 2 }), t('ch.transfer.note.hint')),
      h('div.row', h('button', { type: 'submit' }, t('ch.transfer.send')),
        h('button.secondary', { type: 'button', on: { click: function () { closeTransfer(c); el.transferBtn.focus(); } } },
          t('ch.cancel')))]);
    toSel.id = 'chat-to-' + n;
    el.transfer.querySelectorAll('label')[0].htmlFor = toSel.id;
    el.transfer.elements.note.id = 'chat-note-' + n;
    el.transfer.querySelectorAll('label')[1].htmlFor = el.transfer.elements.note.id;
    c.drawTransfer = function () {
      var was = toSel.value;
      var agents = Object.keys(S.agents).map(function (k) { return S.agents[k]; })
        .filter(function (a) { return a.status === 'available'; })
        .sort(function (a, b) { return (a.name || '').localeCompare(b.name || ''); });
      toSel.textContent = '';
      append(toSel, [h('option', { value: '' }, t('ch.transfer.choose')),
        agents.length ? h('optgroup', { label: t('ch.transfer.agents') }, agents.map(function (a) {
          var load = a.limit ? ' (' + (a.load || 0) + '/' + a.limit + ')' : '';
          return h('option', { value: 'a:' + a.id }, a.name + load);
        })) : null,
        S.groups.length ? h('optgroup', { label: t('ch.transfer.groups') }, S.groups.map(function (g) {
          var name = typeof g === 'string' ? g : g.name;
          return h('option', { value: 'g:' + name }, name);
        })) : null]);
      toSel.value = was;
      if (toSel.value !== was) toSel.value = '';
      nobody.hidden = !!(agents.length || S.groups.length);
    };
    c.drawTransfer();
    el.transferBtn = h('button.secondary.chat-transfer-btn', { type: 'button', 'aria-expanded': 'false', on: { click: function () {
      var open = el.transfer.hidden;
      el.transfer.hidden = !open;
      el.transferBtn.setAttribute('aria-expanded', open ? 'true' : 'false');
      if (open) { c.drawTransfer(); el.transfer.elements.to.focus(); }
    } } }, t('ch.transfer'));
    el.convert = h('button.secondary.chat-convert', { type: 'button', on: { click: function () {
      var k = send({ type: 'convert', conversation: c.id });
      if (k) { S.pending[k] = { kind: 'convert', conversation: c.id }; el.convert.disabled = true;
               setTimeout(function () { el.convert.disabled = false; }, 5000); }
    } } }, t('ch.convert'));
    el.end = h('button.secondary.chat-end', { type: 'button', on: { click: function () {
      if (!confirm(t('ch.end.confirm', { name: visitorName(c.visitor) }))) return;
      var k = send({ type: 'end', conversation: c.id });
      if (k) S.pending[k] = { kind: 'end', conversation: c.id };
    } } }, t('ch.end'));
    el.close = h('button.secondary.chat-close', { type: 'button', hidden: true, on: { click: function () { forget(c); } } }, t('ch.close'));

    el.root = h('section.chat-col', { 'aria-labelledby': 'chat-h-' + n, 'data-conversation': c.id, id: 'chat-' + n },
      h('header.chat-head', h('div.chat-title', el.title, el.badge, el.ticket, el.detailsBtn),
        h('div.chat-actions', el.transferBtn, el.convert, el.end, el.close)),
      el.transfer, el.details, el.alert, el.scroll, el.typing, el.form);
    el.root.addEventListener('focusin', function () { markRead(c); });
    el.root.addEventListener('pointerdown', function () { markRead(c); });
    drawVisitor(c);
    setStatus(c, c.status);
  }

  function forget(c) {
    clearTimeout(c.typingTimer);
    clearTimeout(c.idleTimer);
    delete S.chats[c.id];
    S.order = S.order.filter(function (x) { return x !== c.id; });
    if (S.shown === c.id) S.shown = S.order[0] || null;
    c.el.root.remove();
    drawAll();
  }

  /*
   * What the record knows of the visitor (the page, the browser, the
   * language, the customer, earlier chats): the REST API's conversation,
   * through the console's session.  The record is written in batches, so a
   * chat just started may not be there yet: asked again a few times.
   */
  function enrich(c, tries) {
    if (!HD.rest || !/^[0-9a-f-]{36}$/.test(c.id)) return;
    HD.rest('GET', '/v1/chat/conversations/' + c.id).then(function (r) {
      if (!S.chats[c.id]) return;
      var v = Object.assign({}, c.visitor);
      var rv = r.visitor || {};
      ['name', 'email'].forEach(function (k) { if (!v[k] && rv[k]) v[k] = rv[k]; });
      v.id = v.id || rv.id;
      if (r.page && (r.page.url || r.page.title)) v.page = r.page;
      if (r.language) v.language = r.language;
      if (r.user_agent) v.user_agent = r.user_agent;
      if (r.prechat && r.prechat.fields) v.fields = r.prechat.fields;
      if (r.customer && r.customer.id) v.customer_id = r.customer.id;
      c.visitor = v;
      if (r.ticket && r.ticket.number && !c.ticket) setTicket(c, r.ticket);
      if (!v.id) { drawVisitor(c); drawTabs(); return; }
      return HD.rest('GET', '/v1/chat/conversations?limit=6&visitor=' + encodeURIComponent(v.id)).then(function (l) {
        v.previous_chats = (l.data || []).filter(function (x) { return x.id !== c.id; }).map(function (x) {
          return { conversation: x.id, started_at: x.started_at, status: x.status, ticket: x.ticket };
        });
      }).catch(function () {}).then(function () {
        if (!S.chats[c.id]) return;
        drawVisitor(c);
        drawTabs();
      });
    }).catch(function (err) {
      if (err && err.status === 404 && tries < 5 && S.chats[c.id]) {
        setTimeout(function () { enrich(c, tries + 1); }, 2000 * (tries + 1));
      }
    });
  }

  /* the visitor: who, from where, with what, and before */
  function drawVisitor(c) {
    var v = c.visitor || {}, el = c.el, page = v.page || {};
    el.title.textContent = visitorName(v);
    var rows = [];
    function row(label, value) {
      if (value === null || value === undefined || value === '') return;
      rows.push(h('dt', label), h('dd', value));
    }
    var pageUrl = page.url || v.page_url, pageTitle = page.title || v.page_title, ref = page.referrer || v.referrer;
    row(t('ch.v.name'), v.name || (v.prechat && v.prechat.name));
    row(t('ch.v.email'), v.email || (v.prechat && v.prechat.email) ? (function () {
      var e = v.email || v.prechat.email;
      return h('a', { href: 'mailto:' + e }, e);
    })() : null);
    if (pageUrl || pageTitle) {
      var u = safeUrl(pageUrl);
      row(t('ch.v.page'), [pageTitle ? h('span.chat-page-title', pageTitle) : null, pageTitle && pageUrl ? h('br') : null,
        u ? h('a.chat-url', { href: u, target: '_blank', rel: 'noopener noreferrer' }, u) : (pageUrl || '')]);
    }
    if (ref) row(t('ch.v.referrer'), safeUrl(ref) ? h('a.chat-url', { href: ref, target: '_blank', rel: 'noopener noreferrer' }, ref) : ref);
    row(t('ch.v.language'), v.language || v.lang);
    row(t('ch.v.browser'), browser(v.user_agent || v.browser));
    var fields = (v.prechat && v.prechat.fields) || v.fields || {};
    Object.keys(fields).forEach(function (k) { if (typeof fields[k] !== 'object') row(k, String(fields[k])); });

    var before = [];
    var chats = v.previous_chats || v.previous || v.conversations || [];
    var tickets = v.tickets || [];
    if (chats.length) {
      before.push(h('h3', t('ch.v.chats')), h('ul.chat-before', chats.slice(0, 5).map(function (p) {
        var when = h('time', { dateTime: p.started_at || p.at || '' }, p.started_at || p.at ? HD.when(p.started_at || p.at) : '—');
        return h('li', /^[0-9a-f-]{36}$/.test(p.conversation || '')
                         ? h('a', { href: base + '/chats/' + p.conversation, 'data-nav': true }, when) : when,
          ' ', t('ch.status.' + (p.status || 'ended')),
          p.ticket && p.ticket.number ? [' · ', h('a', { href: base + '/tickets/' + encodeURIComponent(p.ticket.number),
                                                        'data-nav': true }, p.ticket.number)] : null);
      })));
    }
    var ticketList = h('div.chat-tickets');
    if (tickets.length) fillTickets(ticketList, tickets);
    before.push(ticketList);
    var customer = v.customer_id || (v.customer && v.customer.id);
    if (customer && !tickets.length && /^[0-9a-f-]{36}$/.test(customer)) {
      HD.api('GET', '/customers/' + customer).then(function (cu) {
        fillTickets(ticketList, cu.ticket_list || []);
        if (cu.name || cu.email) ticketList.insertBefore(h('p', h('a', { href: base + '/customers/' + customer, 'data-nav': true },
          t('ch.v.customer', { name: cu.name || cu.email }))), ticketList.firstChild);
      }).catch(function () {});
    }
    el.details.textContent = '';
    append(el.details, [h('h3.sr-only', t('ch.details')), rows.length ? h('dl', rows) : h('p.muted', t('ch.v.none')), before]);
  }

  function fillTickets(box, tickets) {
    box.textContent = '';
    if (!tickets.length) return;
    append(box, [h('h3', t('ch.v.tickets')), h('ul.chat-before', tickets.slice(0, 5).map(function (tk) {
      return h('li', h('a', { href: base + '/tickets/' + encodeURIComponent(tk.number), 'data-nav': true }, tk.number),
               ' ', tk.subject || '', tk.status ? [' ', h('span.badge.status-' + tk.status, t('c.status.' + tk.status))] : null);
    }))]);
  }

  /* ---------- the panel ---------- */

  var conn, sw, load, toggle, header, incomingAlert, offerBox, waitList, waitHead, incoming, tabs, cols,
      empty, panel;

  /* built once the page's strings are there */
  function init() {
    if (panel) return;
    conn = h('span.chat-conn', { role: 'status' });
    sw = h('button.chat-switch', { type: 'button', role: 'switch', 'aria-checked': 'false', on: { click: function () {
      var want = S.status === 'available' ? 'away' : 'available';
      var k = send({ type: 'presence', status: want });
      if (!k) { announce(t('ch.conn.offline')); return; }
      S.pending[k] = { kind: 'presence', status: want };
      sw.setAttribute('aria-busy', 'true');
    } } }, h('span.chat-dot', { 'aria-hidden': 'true' }), h('span.chat-switch-label'));
    load = h('span.chat-load');
    toggle = h('button.link.chat-toggle', { type: 'button', 'aria-controls': 'chat', on: { click: function () {
      setHidden(!panel.hidden);
    } } });
    header = h('div.chat-status', { role: 'group', 'aria-label': t('ch.title') }, sw, load, conn, toggle);

    incomingAlert = h('p.chat-incoming-alert', { role: 'status' });
    offerBox = h('div.chat-offer-box');
    waitList = h('ul.chat-waiting');
    waitHead = h('h2.chat-sub');
    incoming = h('section.chat-incoming', { 'aria-label': t('ch.incoming') }, offerBox, waitHead, waitList, incomingAlert);
    tabs = h('div.chat-tabs', { role: 'tablist', 'aria-label': t('ch.open') });
    cols = h('div.chat-cols');
    empty = h('p.chat-empty.muted');
    panel = h('aside.chat-panel#chat', { 'aria-label': t('ch.title'), hidden: true },
      h('h1.sr-only', t('ch.title')), incoming, empty, tabs, cols,
      h('div.sr-only#chat-live', { role: 'status', 'aria-live': 'polite' }));
  }

  function setHidden(hide) {
    S.hidden = hide;
    sessionStorage.setItem('hd.chat.hidden', hide ? '1' : '');
    if (!S.ever) hide = true;
    panel.hidden = hide;
    document.body.classList.toggle('with-chat', !hide);
    drawHeader();
    layout();
    if (!hide) S.order.forEach(function (c) { markRead(S.chats[c]); });
  }

  function setConn(state, reason) {
    S.conn = state;
    conn.textContent = state === 'open' ? '' : t('ch.conn.' + state) + (reason ? ' (' + reason + ')' : '');
    conn.className = 'chat-conn ' + state;
    if (state === 'closed') {
      conn.appendChild(h('button.link', { type: 'button', on: { click: function () {
        S.stopped = false; S.tries = 0; connect();
      } } }, ' ' + t('ch.conn.retry')));
    }
    drawHeader();
  }

  function myLoad() {
    return S.order.filter(function (c) {
      var x = S.chats[c];
      return !x.ended && x.status !== 'transferred';
    }).length;
  }

  function drawHeader() {
    var on = S.status === 'available';
    sw.setAttribute('aria-checked', on ? 'true' : 'false');
    sw.removeAttribute('aria-busy');
    sw.classList.toggle('on', on);
    sw.disabled = !S.open;
    sw.querySelector('.chat-switch-label').textContent = on ? t('ch.available') : t('ch.away');
    sw.title = on ? t('ch.available.hint') : t('ch.away.hint');
    load.textContent = S.open ? t('ch.load', { n: myLoad(), limit: S.limit || '—' }) : '';
    var waiting = S.queue.length + (S.offer && !S.offer.queued ? 1 : 0);
    toggle.hidden = !S.ever;
    toggle.textContent = panel.hidden ? t('ch.show') + (waiting ? ' (' + waiting + ')' : '') : t('ch.hide');
    toggle.setAttribute('aria-expanded', panel.hidden ? 'false' : 'true');
  }

  function drawIncoming() {
    offerBox.textContent = '';
    if (S.offer) {
      var o = S.offer;
      var left = h('span.chat-countdown', { 'data-expires': String(o.expires) }, duration((o.expires - Date.now()) / 1000));
      var acceptBtn = h('button.chat-accept', { type: 'button', on: { click: function () { accept(o.conversation, o.visitor); } } },
        t('ch.accept'));
      offerBox.appendChild(h('div.chat-offer', { role: 'group', 'aria-label': t('ch.offer') },
        h('p.chat-offer-title', h('strong', t('ch.offer.for', { name: visitorName(o.visitor) })), ' ',
          h('span.muted', t('ch.offer.left')), ' ', left),
        o.text || (o.visitor && o.visitor.text) ? h('p.chat-snippet', o.text || o.visitor.text) : null,
        pageLine(o.visitor),
        h('div.row', acceptBtn, h('button.secondary', { type: 'button', on: { click: function () {
          var k = send({ type: 'decline', conversation: o.conversation });
          if (k) S.pending[k] = { kind: 'decline', conversation: o.conversation };
          S.offer = null;
          drawIncoming();
          notify();
        } } }, t('ch.decline')))));
    }
    waitHead.textContent = t('ch.waiting', { n: S.queue.length });
    waitList.textContent = '';
    S.queue.forEach(function (q) {
      var full = S.limit && myLoad() >= S.limit;
      waitList.appendChild(h('li.chat-wait' + (S.offer && S.offer.conversation === q.conversation ? '.offered' : ''),
        h('div.chat-wait-who', h('strong', visitorName(q.visitor)), ' ',
          h('span.chat-since', { 'data-since': String(q.since), title: t('ch.waiting.time') }, duration((Date.now() - q.since) / 1000)),
          q.text || q.visitor.text ? h('span.chat-snippet', q.text || q.visitor.text) : null,
          pageLine(q.visitor)),
        h('button.chat-accept', { type: 'button', disabled: !!full, title: full ? t('ch.full') : null,
                                  'aria-label': t('ch.accept.who', { name: visitorName(q.visitor) }),
                                  on: { click: function () { accept(q.conversation, q.visitor); } } }, t('ch.accept'))));
    });
    if (!S.queue.length) waitList.appendChild(h('li.muted.chat-none', t('ch.waiting.none')));
    drawHeader();
    decorate();
  }

  function pageLine(v) {
    v = v || {};
    var p = v.page || {};
    var title = p.title || v.page_title || p.url || v.page_url;
    return title ? h('span.chat-from.muted', title) : null;
  }

  function accept(conversation, visitor) {
    var k = send({ type: 'accept', conversation: conversation });
    if (!k) { incomingAlert.textContent = t('ch.conn.offline'); return; }
    S.pending[k] = { kind: 'accept', conversation: conversation, visitor: visitor };
    S.shown = conversation;
  }

  function drawTabs() {
    tabs.textContent = '';
    var asTabs = panel.classList.contains('tabbed');
    S.order.forEach(function (conv) {
      var c = S.chats[conv], on = S.shown === conv;
      tabs.appendChild(h('button.chat-tab', { type: 'button', role: 'tab', 'aria-selected': on ? 'true' : 'false',
        'aria-controls': c.el.root.id, tabIndex: on ? 0 : -1, on: {
          click: function () { S.shown = conv; layout(); c.el.text.focus(); },
          keydown: function (e) {
            var i = S.order.indexOf(conv);
            if (e.key !== 'ArrowRight' && e.key !== 'ArrowLeft') return;
            e.preventDefault();
            var next = S.order[(i + (e.key === 'ArrowRight' ? 1 : S.order.length - 1)) % S.order.length];
            S.shown = next;
            layout();
            var b = tabs.querySelector('[aria-controls="' + S.chats[next].el.root.id + '"]');
            if (b) b.focus();
          } } },
        visitorName(c.visitor), c.unread ? h('span.chat-unread', { 'aria-label': t('ch.unread', { n: c.unread }) },
                                             String(c.unread)) : null,
        c.ended ? h('span.sr-only', ' ' + t('ch.status.ended')) : null));
    });
    tabs.hidden = !asTabs || S.order.length < 2;
  }

  /* columns while they fit beside the page, tabs when they do not */
  function layout() {
    if (panel.hidden) return;
    var n = S.order.length, w = window.innerWidth;
    var narrow = w < 1024;
    var fit = narrow ? 1 : Math.max(1, Math.floor((w - MAIN) / COLUMN));
    var tabbed = n > fit;
    panel.classList.toggle('tabbed', tabbed);
    panel.classList.toggle('stacked', narrow);
    var shownCols = tabbed ? 1 : Math.max(1, n);
    panel.style.setProperty('--chat-cols', String(shownCols));
    document.body.style.setProperty('--chat-w', narrow ? '100%' : (shownCols * COLUMN + 24) + 'px');
    if (S.shown && !S.chats[S.shown]) S.shown = S.order[0] || null;
    S.order.forEach(function (conv) {
      var c = S.chats[conv];
      if (c.el.root.parentNode !== cols) cols.appendChild(c.el.root);
      c.el.root.hidden = tabbed && conv !== S.shown;
      c.el.root.setAttribute('role', tabbed ? 'tabpanel' : 'region');
    });
    empty.textContent = n ? '' : t('ch.open.none');
    empty.hidden = !!n;
    panel.classList.toggle('has-chats', !!n);
    drawTabs();
    S.order.forEach(function (conv) { markRead(S.chats[conv]); });
  }
  window.addEventListener('resize', function () { layout(); });

  function drawAll() {
    drawHeader();
    drawIncoming();
    layout();
    notify();
  }

  /* ---------- the title, the unified queue ---------- */

  function notice() {
    if (S.status !== 'available') return '';
    var n = S.queue.length + (S.offer && !S.queue.some(function (q) { return q.conversation === S.offer.conversation; }) ? 1 : 0);
    if (!n) return '';
    var who = S.offer ? S.offer.visitor : S.queue[0].visitor;
    return '(' + n + ') ' + t('ch.notice', { name: visitorName(who) });
  }

  var lastNotice = null;
  function notify() {
    var n = notice();
    if (n === lastNotice) return;
    lastNotice = n;
    if (HD.console && HD.console.retitle) HD.console.retitle();
    drawHeader();
  }

  /* rows for the queue's table: this agent's open chats and the waiting */
  function queueRows() {
    var rows = [];
    function row(conv, v, status, since, mine) {
      var c = S.chats[conv];
      var go = h('a', { href: '#chat', on: { click: function (e) {
        e.preventDefault();
        if (panel.hidden) setHidden(false);
        if (c) { S.shown = conv; layout(); c.el.text.focus(); }
        else { var b = waitList.querySelector('.chat-accept'); if (b) b.focus(); }
      } } }, t(mine ? 'ch.q.chat' : 'ch.q.waiting', { name: visitorName(v) }));
      rows.push(h('tr.chat-row' + (mine ? '.mine' : '.waiting'), { 'data-conversation': conv },
        h('td.pick'), h('td.num'), h('td', HD.console.channelTag('chat')),
        h('td.subj', go), h('td.who', visitorName(v)),
        h('td', h('span.badge.chat-badge.chat-' + status, t('ch.status.' + status))),
        h('td'), h('td', mine ? (S.me && S.me.name) || '' : h('span.muted', t('c.unassigned'))),
        h('td.age', h('span.chat-since', { 'data-since': String(since) }, duration((Date.now() - since) / 1000)))));
    }
    S.order.forEach(function (conv) {
      var c = S.chats[conv];
      if (!c.ended && c.status !== 'transferred') row(conv, c.visitor, 'active', c.started, true);
    });
    S.queue.forEach(function (q) { row(q.conversation, q.visitor, 'queued', q.since, false); });
    return rows;
  }

  function decorate() {
    var list = document.querySelector('main .queue-list');
    if (!list) return;
    var f = {};
    try { f = JSON.parse(sessionStorage.getItem('hd.filters') || '{}') || {}; } catch (e) { f = {}; }
    var wanted = (!f.channel || f.channel === 'chat') && (!f.status || f.status === 'active' || f.status === 'open') &&
                 !f.q && !f.priority && !f.category;
    var rows = wanted ? queueRows() : [];
    list.querySelectorAll('tbody.chat-rows, table.chat-only').forEach(function (r) { r.remove(); });
    if (!rows.length) return;
    var body = h('tbody.chat-rows', rows);
    var table = list.querySelector('table.tickets');
    if (table) table.insertBefore(body, table.querySelector('tbody'));
    else list.insertBefore(h('table.tickets.chat-only', h('caption.sr-only', t('ch.open')), body), list.firstChild);
  }

  /* every second: wait times, the offer's countdown */
  setInterval(function () {
    var now = Date.now();
    if (!panel) return;
    document.querySelectorAll('.chat-since[data-since]').forEach(function (e) {
      e.textContent = duration((now - Number(e.getAttribute('data-since'))) / 1000);
    });
    if (S.offer && now >= S.offer.expires) {
      S.offer = null;
      drawIncoming();
      notify();
    }
    offerBox.querySelectorAll('[data-expires]').forEach(function (e) {
      e.textContent = duration((Number(e.getAttribute('data-expires')) - now) / 1000);
    });
  }, 1000);

  /* ---------- what app.js calls ---------- */

  HD.chat = {
    header: function () { init(); drawHeader(); return header; },
    start: function () {
      init();
      if (S.started) return;
      S.started = true;
      var main = document.getElementById('main');
      main.parentNode.insertBefore(panel, main.nextSibling);
      setHidden(sessionStorage.getItem('hd.chat.hidden') === '1');
      drawAll();
      connect();
    },
    notice: notice,
    decorate: decorate,
    state: S
  };
})();
