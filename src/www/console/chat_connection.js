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
 *
 * Written in parts (this one: the state, small tools, the connection and
 * what the server says), joined in the order chat.parts gives inside one
 * function at build time.
 */

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
    case 'groups':
      /* the tenant's groups changed: the transfer dialogs follow */
      S.groups = Array.isArray(d.groups) ? d.groups : [];
      S.order.forEach(function (k) { if (S.chats[k].drawTransfer) S.chats[k].drawTransfer(); });
      return;
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
