  /*
   * chat.parts: the panel: the switch, the waiting list and the offer, the
   * tabs and columns, the title and the queue's rows, what app.js calls
   */

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
