/*
 * nginx-helpdesk agent console.
 *
 * The unified queue of every channel, one ticket's consolidated history
 * with a reply box that answers on the channel the customer used, and the
 * admin's pages.  Live: a server-sent-events stream says which tickets
 * changed; the queue and the open ticket refetch themselves.  Keyboard:
 * "/" searches, "j"/"k" move in the queue, Enter opens, Ctrl+Enter sends,
 * Escape goes back to the queue.  Built on common/hd.js (text is always
 * text; the CSRF token on every change).
 */
(function () {
  'use strict';

  var HD = window.HD, t = HD.t, h = HD.h, append = HD.append, when = HD.when,
      size = HD.size, api = HD.api, message = HD.message, showError = HD.showError,
      showOk = HD.showOk, alertBox = HD.alertBox, field = HD.field,
      submitting = HD.submitting, local = HD.local, rest = HD.rest;
  var boot = HD.boot, base = HD.base;
  var main = document.getElementById('main');
  var live = document.getElementById('live');
  var current = null;          /* what the page shows: {kind, id, refresh} */
  var stream = null;

  var CHANNELS = ['whatsapp', 'portal', 'email', 'chat', 'phone', 'api'];
  var STATUSES = ['open', 'pending', 'on_hold', 'resolved', 'closed'];
  var PRIORITIES = ['urgent', 'high', 'normal', 'low'];

  /* ---------- bits ---------- */

  var ICONS = {
    whatsapp: 'M12 3a9 9 0 0 0-7.8 13.5L3 21l4.6-1.2A9 9 0 1 0 12 3zm0 2a7 7 0 1 1-3.6 13l-.3-.2-2.6.7.7-2.5-.2-.3A7 7 0 0 1 12 5z',
    email: 'M3 5h18v14H3zm2 2v.4l7 4.6 7-4.6V7zm14 2.8-7 4.6-7-4.6V17h14z',
    portal: 'M12 3a9 9 0 1 0 0 18 9 9 0 0 0 0-18zm6.9 8h-3a14 14 0 0 0-1.3-5.2A7 7 0 0 1 18.9 11zM12 5c.9 1.2 1.8 3.3 2 6h-4c.2-2.7 1.1-4.8 2-6zM9.4 5.8A14 14 0 0 0 8.1 11h-3a7 7 0 0 1 4.3-5.2zM5.1 13h3a14 14 0 0 0 1.3 5.2A7 7 0 0 1 5.1 13zM12 19c-.9-1.2-1.8-3.3-2-6h4c-.2 2.7-1.1 4.8-2 6zm2.6-.8a14 14 0 0 0 1.3-5.2h3a7 7 0 0 1-4.3 5.2z',
    /* a thought balloon (💭), as the product names the chat */
    chat: 'M9 3h6a6 6 0 0 1 0 12H9A6 6 0 0 1 9 3zM9 5a4 4 0 0 0 0 8h6a4 4 0 0 0 0-8zM6 16.5a1.75 1.75 0 1 1 0 3.5 1.75 1.75 0 0 1 0-3.5zM3 20.5a1.25 1.25 0 1 1 0 2.5 1.25 1.25 0 0 1 0-2.5z',
    phone: 'M6.6 3 9.8 6.2 8 8.6a12 12 0 0 0 7.4 7.4l2.4-1.8 3.2 3.2-2.3 3.1C10.9 20.5 3.5 13.1 3.5 5.3z',
    api: 'M8.6 6.6 3.2 12l5.4 5.4L10 16l-4-4 4-4zm6.8 0L14 8l4 4-4 4 1.4 1.4 5.4-5.4z',
    console: 'M4 5h16v10H4zm2 2v6h12V7zM8 17h8v2H8z'
  };

  function icon(channel) {
    var ns = 'http://www.w3.org/2000/svg';
    var svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 24 24');
    svg.setAttribute('aria-hidden', 'true');
    svg.setAttribute('class', 'icon ch-' + channel);
    var p = document.createElementNS(ns, 'path');
    p.setAttribute('d', ICONS[channel] || ICONS.api);
    if (channel === 'chat') p.setAttribute('fill-rule', 'evenodd');
    svg.appendChild(p);
    return svg;
  }

  function channelTag(channel) {
    return h('span.channel.ch-' + channel, icon(channel), h('span', t('c.channel.' + channel)));
  }

  function badge(kind, value) {
    return h('span.badge.' + kind + '-' + value, t('c.' + kind + '.' + value));
  }

  function age(iso) {
    var m = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 60000));
    if (m < 60) return t('c.age.m', { n: m });
    if (m < 2880) return t('c.age.h', { n: Math.round(m / 60) });
    return t('c.age.d', { n: Math.round(m / 1440) });
  }

  function announce(text) {
    live.textContent = '';
    setTimeout(function () { live.textContent = text; }, 50);
  }

  function go(path, replace) {
    if (replace) history.replaceState(null, '', base + path); else history.pushState(null, '', base + path);
    route();
  }

  function link(path, text, cls) {
    return h('a' + (cls || ''), { href: base + path, 'data-nav': true }, text);
  }

  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a[data-nav]');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    history.pushState(null, '', a.getAttribute('href'));
    route();
  });
  window.addEventListener('popstate', route);

  /* while the console is in a background tab, its title counts the
     tickets with news since (as a mail client counts unread mail) */
  var unseen = {}, pageTitle = document.title;

  function title(text) {
    var n = Object.keys(unseen).length;
    pageTitle = text;
    document.title = (n ? '(' + n + ') ' : '') + text;
  }

  document.addEventListener('visibilitychange', function () {
    if (!document.hidden) { unseen = {}; title(pageTitle); }
  });

  function view(text, nodes, kind) {
    title(text + ' · ' + boot.tenant.name);
    main.textContent = '';
    append(main, nodes);
    main.className = kind || '';
    drawTop();
  }

  function drawTop() {
    var top = document.getElementById('top'), u = boot.user;
    document.querySelector('.skip').textContent = t('skip');
    top.textContent = '';
    var nav = u ? h('nav', { 'aria-label': t('c.nav') },
      link('/', t('c.queue')),
      link('/customers', t('c.customers')),
      u.role === 'admin' ? link('/admin', t('c.admin')) : null) : null;
    var lang = h('select.lang', { 'aria-label': t('c.language'), on: { change: function () {
      document.cookie = 'hd_lang=' + lang.value + '; Path=/; Max-Age=31536000; SameSite=Lax';
      location.reload();
    } } }, [['pt-BR', 'Português'], ['es', 'Español'], ['en', 'English']].map(function (l) {
      return h('option', { value: l[0], selected: l[0] === HD.lang }, l[1]);
    }));
    append(top, [h('span.brand', boot.tenant.name, h('span.app', t('c.title'))), nav, lang,
      u ? h('button.link.keys-open', { type: 'button', 'aria-keyshortcuts': '?', on: { click: shortcuts } }, t('c.keys')) : null,
      u ? h('span.me', link('/account', u.name || u.email), ' · ', h('button.link', { type: 'button', on: { click: function () {
        api('POST', '/logout').then(function () { location.href = base + '/'; });
      } } }, t('c.logout'))) : null]);
  }

  function route() {
    var p = location.pathname.slice(base.length) || '/', m;
    if (current && current.leave) current.leave();
    current = null;
    if ((m = p.match(/^\/reset\/([0-9a-f]{64})$/))) return reset(m[1]);
    if (!boot.user) return login();
    if (boot.user.totp_required && !boot.user.totp) return account(true);
    startStream();
    if (p === '/' || p === '') return queue();
    if (p === '/new') return newTicket();
    if (p === '/customers') return customers();
    if ((m = p.match(/^\/customers\/([0-9a-f-]{36})$/))) return customer(m[1]);
    if ((m = p.match(/^\/tickets\/([A-Za-z0-9-]+)$/))) return ticket(m[1]);
    if ((m = p.match(/^\/chats\/([0-9a-f-]{36})$/))) return HD.chatRecord.transcript(m[1]);
    if (p === '/admin' && boot.user.role === 'admin') return admin();
    if (p === '/account') return account(false);
    view(t('c.notfound'), [h('h1', t('c.notfound')), link('/', t('c.queue'))]);
  }

  /* the keyboard shortcuts, in a dialog ("?" anywhere but in a field) */
  function shortcuts() {
    var old = document.querySelector('dialog.keys');
    if (old) old.remove();
    var d = h('dialog.keys', { 'aria-labelledby': 'keys-title' },
      h('h2#keys-title', t('c.keys')),
      h('dl', [['/', 'c.keys.search'], ['j / k', 'c.keys.move'], ['Enter', 'c.keys.open'], ['x', 'c.keys.pick'],
               ['n', 'c.keys.new'], ['Ctrl+Enter', 'c.keys.send'], ['Esc', 'c.keys.back'], ['?', 'c.keys.help']]
        .map(function (k) { return [h('dt', h('kbd', k[0])), h('dd', t(k[1]))]; })),
      h('form', { method: 'dialog' }, h('button', { type: 'submit' }, t('c.close'))));
    d.addEventListener('close', function () { d.remove(); });
    document.body.appendChild(d);
    d.showModal();
  }

  document.addEventListener('keydown', function (e) {
    if (e.key !== '?' || !boot.user || document.querySelector('dialog[open]')) return;
    if (e.target.closest && e.target.closest('input, textarea, select, [contenteditable]')) return;
    e.preventDefault();
    shortcuts();
  });

  /* ---------- live updates ---------- */

  function startStream() {
    if (stream || !window.EventSource) return;
    stream = new EventSource(base + '/_/api/stream');
    stream.addEventListener('ticket', function (e) {
      var d;
      try { d = JSON.parse(e.data); } catch (x) { return; }
      if (document.hidden) { unseen[d.id] = true; title(pageTitle); }
      if (current && current.changed) current.changed(d);
    });
  }

  /* ---------- log in, choose a password ---------- */

  /*
   * The code's field is always there: the answer to a wrong password and
   * to a missing code is the same, so the page cannot ask for it later.
   */
  function login() {
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var body = { email: form.elements.email.value.trim(), password: form.elements.password.value };
      if (form.elements.code.value.trim()) body.code = form.elements.code.value.trim();
      submitting(form, true);
      api('POST', '/login', body)
        .then(function () { return api('GET', '/boot'); })
        .then(function (b) { boot.user = b.user; boot.agents = b.agents; boot.form = b.form; route(); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      h('h1', t('c.login')), alertBox(),
      field(t('c.email'), h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true })),
      field(t('c.password'), h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
      field(t('c.totp.code'), h('input', { name: 'code', inputMode: 'numeric', autocomplete: 'one-time-code',
                                           pattern: '[0-9]{6}', maxLength: 6 }), t('c.login.code.hint')),
      h('button', { type: 'submit' }, t('c.login')));
    view(t('c.login'), [form], 'narrow');
    form.elements.email.focus();
  }

  function reset(token) {
    api('GET', '/reset/' + token).then(function () {
      var form = h('form.card', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        submitting(form, true);
        api('POST', '/reset/' + token, { password: form.elements.password.value })
          .then(function () { go('/', true); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } },
        h('h1', t('c.choose')), alertBox(),
        field(t('c.password'), h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minLength: 8, required: true }),
              t('c.password.hint')),
        h('button', { type: 'submit' }, t('c.save')));
      view(t('c.choose'), [form], 'narrow');
    }).catch(function (err) {
      view(t('c.choose'), [h('h1', t('c.choose')), h('p.alert.error', message(err))], 'narrow');
    });
  }

  /* ---------- the queue ---------- */

  var filters = JSON.parse(sessionStorage.getItem('hd.filters') || 'null') ||
                { status: 'active', channel: '', priority: '', assignee: '', category: '', q: '', sort: 'updated' };

  function queue() {
    var table = h('div.queue-list', { role: 'region', 'aria-label': t('c.queue') });
    var count = h('p.count', { 'aria-live': 'polite' });
    var views = h('div.views');
    var known = null, selected = 0;
    var picked = {};    /* ticket number -> true: the rows chosen for a bulk change */
    var bulk = h('div.bulk', { role: 'region', 'aria-label': t('c.bulk') });

    function select(name, options, label) {
      return h('label.filter', h('span', label), h('select', { name: name, on: { change: function (e) {
        filters[name] = e.target.value;
        load();
      } } }, options.map(function (o) {
        return h('option', { value: o[0], selected: filters[name] === o[0] }, o[1]);
      })));
    }

    var search = h('input', { type: 'search', name: 'q', value: filters.q, placeholder: t('c.search'),
                              'aria-label': t('c.search'), on: { input: function () {
      clearTimeout(search.timer);
      search.timer = setTimeout(function () { filters.q = search.value.trim(); load(); }, 300);
    } } });

    var bar = h('div.filters',
      h('div.search', search),
      select('status', [['active', t('c.status.active')], ['', t('c.all')]].concat(
        STATUSES.map(function (s) { return [s, t('c.status.' + s)]; })), t('c.filter.status')),
      select('channel', [['', t('c.all')]].concat(CHANNELS.map(function (c) { return [c, t('c.channel.' + c)]; })),
             t('c.filter.channel')),
      select('priority', [['', t('c.all')]].concat(PRIORITIES.map(function (p) { return [p, t('c.priority.' + p)]; })),
             t('c.filter.priority')),
      select('category', [['', t('c.all')]].concat(categories().map(function (c) { return [c[0], c[1]]; })),
             t('c.filter.category')),
      select('assignee', [['', t('c.anyone')], ['mine', t('c.mine')], ['unassigned', t('c.unassigned')]].concat(
        (boot.agents || []).map(function (a) { return [a.id, a.name]; })), t('c.filter.assignee')),
      select('sort', [['updated', t('c.sort.updated')], ['priority', t('c.sort.priority')], ['age', t('c.sort.age')]],
             t('c.sort')),
      h('button.secondary', { type: 'button', on: { click: saveView } }, t('c.view.save')));

    function saveView() {
      var name = prompt(t('c.view.name'));
      if (!name) return;
      api('POST', '/views', { name: name, filters: filters }).then(loadViews).catch(function (err) { announce(message(err)); });
    }

    function loadViews() {
      api('GET', '/views').then(function (r) {
        views.textContent = '';
        if (!r.data.length) return;
        append(views, [h('span.label', t('c.views')), r.data.map(function (v) {
          return h('span.view', h('button.link', { type: 'button', on: { click: function () {
            filters = Object.assign({}, filters, v.filters);
            queue();
          } } }, v.name), h('button.link.remove', { type: 'button', 'aria-label': t('c.view.delete', { name: v.name }),
            on: { click: function () { api('DELETE', '/views/' + v.id).then(loadViews); } } }, '×'));
        })]);
      }).catch(function () {});
    }

    function load(fromStream) {
      sessionStorage.setItem('hd.filters', JSON.stringify(filters));
      var qs = Object.keys(filters).filter(function (k) { return filters[k]; }).map(function (k) {
        return k + '=' + encodeURIComponent(filters[k]);
      }).join('&');
      return api('GET', '/queue?' + qs).then(function (r) {
        var fresh = [];
        if (known) r.data.forEach(function (tk) { if (!known[tk.id + tk.updated_at]) fresh.push(tk); });
        known = {};
        r.data.forEach(function (tk) { known[tk.id + tk.updated_at] = true; });
        draw(r, fromStream ? fresh : []);
        if (fromStream && fresh.length) {
          announce(fresh.length === 1 ? t('c.updated.one', { number: fresh[0].number }) : t('c.updated.n', { n: fresh.length }));
        }
      }).catch(function (err) {
        if (err.status === 401) { boot.user = null; route(); return; }
        table.textContent = message(err);
      });
    }

    function draw(r, fresh) {
      var isFresh = {};
      fresh.forEach(function (tk) { isFresh[tk.id] = true; });
      /* a live redraw must not take the keyboard's place away: remember
         which row's link or checkbox had the focus, and give it back */
      var had = document.activeElement, focusRow = null, focusKind = null;
      if (had && table.contains(had) && had.closest('tr[data-number]')) {
        focusRow = had.closest('tr[data-number]').getAttribute('data-number');
        focusKind = had.matches('input') ? 'td.pick input' : had.closest('td.subj') ? 'td.subj a'
                  : had.closest('td.who') ? 'td.who a' : 'td.num a';
      } else if (had && table.contains(had) && had.matches('th.pick input')) {
        focusKind = 'th.pick input';
      }
      count.textContent = t('c.count', { n: r.total });
      table.textContent = '';
      if (!r.data.length) { table.appendChild(h('p.empty', t('c.empty'))); return; }
      var shown = {};
      r.data.forEach(function (tk) { shown[tk.number] = true; });
      Object.keys(picked).forEach(function (n) { if (!shown[n]) delete picked[n]; });
      var rows = r.data.map(function (tk, i) {
        return h('tr' + (isFresh[tk.id] ? '.fresh' : '') + (picked[tk.number] ? '.picked' : ''),
                 { 'data-i': i, 'data-number': tk.number },
          h('td.pick', h('input', { type: 'checkbox', value: tk.number, checked: !!picked[tk.number],
                                    'aria-label': t('c.pick', { number: tk.number }),
                                    on: { change: function (e) { pick(tk.number, e.target.checked); } } })),
          h('td.num', link('/tickets/' + tk.number, tk.number)),
          h('td', channelTag(tk.channel)),
          h('td.subj', link('/tickets/' + tk.number, tk.subject)),
          h('td.who', tk.requester ? link('/customers/' + tk.requester.id,
                                         tk.requester.name || tk.requester.email || tk.requester.phone || '—') : ''),
          h('td', badge('status', tk.status)),
          h('td', badge('priority', tk.priority)),
          h('td', tk.assignee ? tk.assignee.name : h('span.muted', t('c.unassigned'))),
          h('td.age', h('time', { dateTime: tk.created_at, title: when(tk.created_at) }, age(tk.created_at))));
      });
      var more = r.total > r.data.length ? h('p.more', t('c.shown', { n: r.data.length, total: r.total }), ' ',
        r.data.length < 200 ? h('button.secondary', { type: 'button', on: { click: function () {
          filters.limit = String(Math.min(200, (parseInt(filters.limit || '100', 10) || 100) + 100));
          load(false);
        } } }, t('c.more')) : t('c.refine')) : null;
      table.appendChild(h('table.tickets',
        h('caption.sr-only', t('c.queue')),
        h('thead', h('tr', [h('th.pick', { scope: 'col' }, h('input', { type: 'checkbox', name: 'all',
            'aria-label': t('c.pick.all'), checked: r.data.every(function (tk) { return picked[tk.number]; }),
            on: { change: function (e) {
              r.data.forEach(function (tk) { pick(tk.number, e.target.checked); });
            } } }))].concat(['c.col.number', 'c.col.channel', 'c.col.subject', 'c.col.requester', 'c.col.status',
                            'c.col.priority', 'c.col.assignee', 'c.col.age'].map(function (k) {
          return h('th', { scope: 'col' }, t(k));
        })))),
        h('tbody', rows)));
      if (more) table.appendChild(more);
      var back = focusRow ? rows.filter(function (row) { return row.getAttribute('data-number') === focusRow; })[0] : null;
      if (back) {
        mark(rows.indexOf(back));
        back.querySelector(focusKind).focus();
      } else {
        mark(Math.min(selected, rows.length - 1));
        if (focusKind === 'th.pick input') table.querySelector(focusKind).focus();
      }
      drawBulk();
    }

    /* ---- bulk changes: the same status, priority or assignee for the chosen rows ---- */

    function pick(number, on) {
      if (on) picked[number] = true; else delete picked[number];
      table.querySelectorAll('td.pick input').forEach(function (c) {
        if (c.value === number) { c.checked = on; c.closest('tr').classList.toggle('picked', on); }
      });
      var all = table.querySelector('th.pick input');
      if (all) all.checked = [].every.call(table.querySelectorAll('td.pick input'), function (c) { return c.checked; });
      drawBulk();
    }

    function drawBulk() {
      var numbers = Object.keys(picked).sort();
      bulk.textContent = '';
      if (!numbers.length) return;
      function choice(name, label, options) {
        return h('label.filter', h('span', label), h('select', { name: name },
          [h('option', { value: '' }, t('c.bulk.keep'))].concat(options.map(function (o) {
            return h('option', { value: o[0] }, o[1]);
          }))));
      }
      var form = h('form.bulk-form', { on: { submit: function (e) {
        e.preventDefault();
        var body = { tickets: numbers };
        ['status', 'priority'].forEach(function (k) { if (form.elements[k].value) body[k] = form.elements[k].value; });
        var a = form.elements.assignee.value;
        if (a === 'none') body.assignee = null; else if (a) body.assignee = a;
        if (Object.keys(body).length === 1) { announce(t('c.bulk.none')); form.elements.status.focus(); return; }
        submitting(form, true);
        api('POST', '/bulk', body).then(function (r) {
          picked = {};
          var text = t('c.bulk.done', { n: r.updated.length });
          if (r.failed.length) {
            text += ' ' + t('c.bulk.failed', { n: r.failed.length }) + ' ' +
              r.failed.map(function (f) { return f.ticket + ': ' + f.reason; }).join('; ');
          }
          announce(text);
          load(false).then(function () {
            bulk.appendChild(h('p.alert' + (r.failed.length ? '.error' : '.ok'), text));
          });
        }).catch(function (err) { submitting(form, false); announce(message(err)); showError(form, err); });
      } } },
        alertBox(),
        h('strong.n', t('c.bulk.n', { n: numbers.length })),
        choice('status', t('c.filter.status'), STATUSES.map(function (v) { return [v, t('c.status.' + v)]; })),
        choice('priority', t('c.filter.priority'), PRIORITIES.map(function (v) { return [v, t('c.priority.' + v)]; })),
        choice('assignee', t('c.filter.assignee'), [[boot.user.id, t('c.me')], ['none', t('c.unassigned')]].concat(
          (boot.agents || []).filter(function (a) { return a.id !== boot.user.id; }).map(function (a) { return [a.id, a.name]; }))),
        h('button', { type: 'submit' }, t('c.bulk.apply')),
        h('button.secondary', { type: 'button', on: { click: function () {
          Object.keys(picked).forEach(function (n) { pick(n, false); });
        } } }, t('c.bulk.clear')));
      bulk.appendChild(form);
    }

    function mark(i) {
      var rows = table.querySelectorAll('tbody tr');
      if (!rows.length) return;
      selected = Math.max(0, Math.min(i, rows.length - 1));
      rows.forEach(function (r, j) { r.classList.toggle('selected', j === selected); });
    }

    function keys(e) {
      if (document.querySelector('dialog[open]')) return;
      if (e.target.closest && e.target.closest('input, textarea, select')) {
        if (e.key === 'Escape') e.target.blur();
        return;
      }
      var rows = table.querySelectorAll('tbody tr');
      if (e.key === '/') { e.preventDefault(); search.focus(); }
      else if (e.key === 'j' || e.key === 'ArrowDown') { e.preventDefault(); mark(selected + 1); rows[selected] && rows[selected].querySelector('a').focus(); }
      else if (e.key === 'k' || e.key === 'ArrowUp') { e.preventDefault(); mark(selected - 1); rows[selected] && rows[selected].querySelector('a').focus(); }
      else if (e.key === 'n') { e.preventDefault(); go('/new'); }
      else if (e.key === 'x' && rows[selected]) {
        e.preventDefault();
        var box = rows[selected].querySelector('td.pick input');
        pick(box.value, !box.checked);
      }
      else if (e.key === 'Enter' && rows[selected] && document.activeElement === document.body) {
        rows[selected].querySelector('a').click();
      }
    }

    var timer = null;
    document.addEventListener('keydown', keys);
    current = {
      kind: 'queue',
      changed: function () {
        clearTimeout(timer);
        timer = setTimeout(function () { load(true); }, 300);
      },
      leave: function () { document.removeEventListener('keydown', keys); clearTimeout(timer); }
    };

    view(t('c.queue'), [h('div.head', h('h1', t('c.queue')), count,
                          link('/new', t('c.new'), '.button')), bar, views, bulk, table], 'wide');
    loadViews();
    load(false);
  }

  function categories() {
    var f = (boot.form || []).filter(function (x) { return x.name === 'category'; })[0];
    return f ? (f.options || []).map(function (o) { return [o.value, local(o.label)]; }) : [];
  }

  /* ---------- customers ---------- */

  function customerTickets(list) {
    if (!list.length) return h('p.muted', t('c.other.none'));
    return h('table.tickets', h('caption.sr-only', t('c.cust.tickets')),
      h('thead', h('tr', ['c.col.number', 'c.col.channel', 'c.col.subject', 'c.col.status', 'c.col.age'].map(function (k) {
        return h('th', { scope: 'col' }, t(k));
      }))),
      h('tbody', list.map(function (tk) {
        return h('tr', h('td.num', link('/tickets/' + tk.number, tk.number)), h('td', channelTag(tk.channel)),
          h('td.subj', link('/tickets/' + tk.number, tk.subject)), h('td', badge('status', tk.status)),
          h('td.age', h('time', { dateTime: tk.created_at, title: when(tk.created_at) }, age(tk.created_at))));
      })));
  }

  /* the customer's phone and WhatsApp numbers, each once */
  function numbers(c) {
    var seen = {};
    return [c.phone].concat(c.whatsapp).filter(function (n) {
      var d = (n || '').replace(/[^0-9]/g, '');
      if (!d || Object.keys(seen).some(function (s) { return s.slice(-d.length) === d || d.slice(-s.length) === s; })) return false;
      seen[d] = true;
      return true;
    });
  }

  function customers() {
    var q = sessionStorage.getItem('hd.customers.q') || '';
    var list = h('div.queue-list', { role: 'region', 'aria-label': t('c.customers') });
    var count = h('p.count', { 'aria-live': 'polite' });
    var search = h('input', { type: 'search', name: 'q', value: q, placeholder: t('c.cust.search'),
                              'aria-label': t('c.cust.search'), on: { input: function () {
      clearTimeout(search.timer);
      search.timer = setTimeout(function () { q = search.value.trim(); load(); }, 300);
    } } });

    function load() {
      sessionStorage.setItem('hd.customers.q', q);
      api('GET', '/customers' + (q ? '?q=' + encodeURIComponent(q) : '')).then(function (r) {
        count.textContent = t('c.cust.count', { n: r.total });
        list.textContent = '';
        if (!r.data.length) { list.appendChild(h('p.empty', t('c.cust.none'))); return; }
        list.appendChild(h('table.tickets.customers', h('caption.sr-only', t('c.customers')),
          h('thead', h('tr', ['c.cust.name', 'c.cust.email', 'c.cust.numbers', 'c.cust.open', 'c.cust.total', 'c.cust.last']
            .map(function (k) { return h('th', { scope: 'col' }, t(k)); }))),
          h('tbody', r.data.map(function (c) {
            return h('tr',
              h('td.subj', link('/customers/' + c.id, label(c))),
              h('td', c.email || ''), h('td', numbers(c).join(' · ')),
              h('td', String(c.tickets.open)), h('td', String(c.tickets.total)),
              h('td.age', c.tickets.last_at ? h('time', { dateTime: c.tickets.last_at, title: when(c.tickets.last_at) },
                                                age(c.tickets.last_at)) : '—'));
          }))));
      }).catch(function (err) {
        if (err.status === 401) { boot.user = null; route(); return; }
        list.textContent = message(err);
      });
    }

    current = { kind: 'customers' };
    view(t('c.customers'), [h('div.head', h('h1', t('c.customers')), count),
                            h('div.filters', h('div.search', search)), list], 'wide');
    load();
  }

  function label(c) {
    return c.name || c.email || c.phone || (c.whatsapp && c.whatsapp[0]) || '—';
  }

  /* a duplicate of this customer (the same person on another channel)
     merged into this one: their tickets and contacts move here */
  function mergeBox(c) {
    var results = h('ul.merge-results', { 'aria-live': 'polite' });
    var box = h('section.card.merge', h('h2', t('c.cust.merge')), h('p.muted', t('c.cust.merge.hint')), alertBox());
    var search = h('input', { type: 'search', name: 'merge-q', placeholder: t('c.cust.search'),
                              'aria-label': t('c.cust.merge.search'), on: { input: function () {
      clearTimeout(search.timer);
      search.timer = setTimeout(find, 300);
    } } });

    function find() {
      var q = search.value.trim();
      results.textContent = '';
      if (q.length < 2) return;
      api('GET', '/customers?limit=10&q=' + encodeURIComponent(q)).then(function (r) {
        results.textContent = '';
        r.data.filter(function (o) { return o.id !== c.id; }).forEach(function (o) {
          results.appendChild(h('li', h('span', h('strong', label(o)), ' ',
            h('span.muted', [o.email].concat(numbers(o)).filter(Boolean).join(' · '),
              ' · ', t('c.cust.summary', { open: o.tickets.open, total: o.tickets.total }))), ' ',
            h('button.secondary', { type: 'button', on: { click: function (e) {
              if (!confirm(t('c.cust.merge.confirm', { other: label(o), name: label(c) }))) return;
              e.target.disabled = true;
              api('POST', '/customers/' + o.id + '/merge', { into: c.id }).then(function () {
                announce(t('c.cust.merge.done', { other: label(o) }));
                customer(c.id);
              }).catch(function (err) { e.target.disabled = false; showError(box, err); });
            } } }, t('c.cust.merge.button'))));
        });
        if (!results.children.length) results.appendChild(h('li.muted', t('c.cust.none')));
      }).catch(function (err) { showError(box, err); });
    }

    append(box, [search, results]);
    return box;
  }

  function customer(id) {
    view(t('c.customers'), [h('p', { role: 'status' }, t('c.loading'))]);
    api('GET', '/customers/' + id).then(function (c) {
      var form = h('form.card', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        submitting(form, true);
        api('PATCH', '/customers/' + id, { name: form.elements.name.value, email: form.elements.email.value,
                                           phone: form.elements.phone.value })
          .then(function () { announce(t('c.saved')); customer(id); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, alertBox(), h('h2', t('c.cust.details')),
        h('div.grid2',
          field(t('c.cust.name'), h('input', { name: 'name', value: c.name || '', maxLength: 200, autocomplete: 'off' })),
          field(t('c.cust.phone'), h('input', { name: 'phone', type: 'tel', value: c.phone || '', maxLength: 40, autocomplete: 'off' })),
          field(t('c.cust.email'), h('input', { name: 'email', type: 'email', value: c.email || '', autocomplete: 'off' }),
                c.portal_account ? t('c.cust.portal.yes') : t('c.cust.portal.no'))),
        c.whatsapp.length ? h('p', channelTag('whatsapp'), ' ', c.whatsapp.join(' · ')) : null,
        h('button', { type: 'submit' }, t('c.save')));
      current = { kind: 'customer' };
      view(c.name || c.email || c.phone || t('c.customers'), [
        h('div.head', link('/customers', '← ' + t('c.customers'), '.back'),
          h('h1', label(c)),
          h('p.count', t('c.cust.summary', { open: c.tickets.open, total: c.tickets.total }))),
        form, h('h2', t('c.cust.tickets')), customerTickets(c.ticket_list),
        h('h2', t('c.chat.history')), HD.chatRecord.customerChats(c.id), mergeBox(c)], 'form-page');
    }).catch(function (err) {
      if (err.status === 401) { boot.user = null; route(); return; }
      if (err.problem && err.problem.merged_into) { go('/customers/' + err.problem.merged_into, true); return; }
      view(t('c.customers'), [h('h1', t('c.customers')), h('p.alert.error', message(err)),
                              link('/customers', t('c.customers'))]);
    });
  }

  /* ---------- a ticket for a customer who called ---------- */

  /* Opened through the REST API with the console's session: the same checks
     and the same ticket service as any other ticket, on the "phone" channel. */
  function newTicket() {
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var el = form.elements, body = {};
      ['subject', 'description', 'priority', 'requester_name', 'requester_email', 'requester_phone'].forEach(function (k) {
        if (el[k].value.trim()) body[k] = el[k].value.trim();
      });
      if (el.category.value) body.category = el.category.value;
      if (el.assignee.value) body.assignee = el.assignee.value;
      var missing = [];
      if (!body.requester_email && !body.requester_phone) {
        missing.push({ field: 'requester_email', message: t('c.new.contact.missing') });
      }
      if (!body.subject) missing.push({ field: 'subject', message: t('c.new.required') });
      if (!body.description) missing.push({ field: 'description', message: t('c.new.required') });
      if (missing.length) { showError(form, { status: 422, slug: 'validation-error', errors: missing }); return; }
      submitting(form, true);
      rest('POST', '/v1/tickets', body).then(function (tk) {
        announce(t('c.new.done', { number: tk.number }));
        go('/tickets/' + tk.number);
      }).catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      alertBox(),
      h('fieldset', h('legend', t('c.new.customer')),
        h('div.grid2',
          field(t('c.new.name'), h('input', { name: 'requester_name', autocomplete: 'off', maxLength: 200 })),
          field(t('c.new.phone'), h('input', { name: 'requester_phone', type: 'tel', autocomplete: 'off', maxLength: 40 })),
          field(t('c.new.email'), h('input', { name: 'requester_email', type: 'email', autocomplete: 'off' }),
                t('c.new.contact')))),
      field(t('c.new.subject'), h('input', { name: 'subject', required: true, maxLength: 200 })),
      field(t('c.new.description'), h('textarea', { name: 'description', rows: 6, required: true })),
      h('div.grid3',
        field(t('c.filter.priority'), h('select', { name: 'priority' }, PRIORITIES.map(function (v) {
          return h('option', { value: v, selected: v === 'normal' }, t('c.priority.' + v));
        }))),
        field(t('c.filter.category'), h('select', { name: 'category' },
          [h('option', { value: '' }, '—')].concat(categories().map(function (c) {
            return h('option', { value: c[0] }, c[1]);
          })))),
        field(t('c.filter.assignee'), h('select', { name: 'assignee' },
          [h('option', { value: boot.user.id }, t('c.me')), h('option', { value: '' }, t('c.unassigned'))].concat(
            (boot.agents || []).filter(function (a) { return a.id !== boot.user.id; }).map(function (a) {
              return h('option', { value: a.id }, a.name);
            }))))),
      h('div.actions', h('button', { type: 'submit' }, t('c.new.create')), ' ',
        link('/', t('c.cancel'))));
    current = { kind: 'new' };
    view(t('c.new'), [h('div.head', link('/', '← ' + t('c.queue'), '.back'), h('h1', t('c.new'))),
                      h('p.muted', t('c.new.intro')), form], 'form-page');
    form.elements.requester_name.focus();
  }

  /* ---------- one ticket ---------- */

  function ticket(number) {
    var tk = null, canned = [], viewers = h('p.viewers', { role: 'status' }), heartbeat = null;
    var history = h('ol.history'), side = h('aside.side'), replyBox = h('section.reply');
    var typing = false;

    function load() {
      return api('GET', '/tickets/' + encodeURIComponent(number)).then(function (r) {
        var first = !tk;
        tk = r;
        drawHistory();
        drawSide();
        if (first) drawReply();
        else drawChannelNote();
      });
    }

    function who(ev) {
      var a = ev.actor || {};
      if (a.type === 'system') return t('c.actor.system');
      if (a.role === 'api') return (a.name || 'API') + ' (' + t('c.actor.api') + ')';
      return (a.name || '') + ' (' + t('c.role.' + (a.role || 'customer')) + ')';
    }

    function value(type, v) {
      if (v === null || v === undefined || v === '') return '—';
      if (type === 'status_changed') return t('c.status.' + v);
      if (type === 'priority_changed') return t('c.priority.' + v);
      if (type === 'assignee_changed') {
        var a = (boot.agents || []).filter(function (x) { return x.id === v; })[0];
        return a ? a.name : v;
      }
      return v;
    }

    function drawHistory() {
      history.textContent = '';
      tk.events.forEach(function (ev) {
        var note = ev.visibility === 'internal';
        var what = ev.type === 'created' ? t('c.ev.created')
                 : ev.type === 'comment' ? (note ? t('c.ev.note') : ev.actor && ev.actor.role && ev.actor.role !== 'customer'
                                            ? t('c.ev.reply') : t('c.ev.message'))
                 : t('c.ev.changed', { field: t('c.field.' + ev.type.replace('_changed', '')),
                                       from: value(ev.type, ev.change && ev.change.from),
                                       to: value(ev.type, ev.change && ev.change.to) });
        var files = (ev.attachments || []).map(function (a) {
          var url = base + '/_/api/tickets/' + tk.number + '/attachments/' + a.id;
          var img = /^image\/(png|jpeg|gif|webp)$/.test(a.content_type);
          return h('li', img ? h('a', { href: url }, h('img.preview', { src: url, alt: a.filename })) : null,
                   h('a', { href: url }, a.filename), ' (' + size(a.size) + ')');
        });
        var wa = ev.whatsapp;
        history.appendChild(h('li.event' + (note ? '.internal' : '') + '.by-' + ((ev.actor && ev.actor.role) || 'system'),
          { id: 'ev-' + ev.id },
          h('p.meta', h('time', { dateTime: ev.created_at }, when(ev.created_at)), ' · ', channelTag(ev.channel),
            ' · ', h('strong', who(ev)), ' ', what,
            note ? h('span.badge.internal', t('c.internal')) : null,
            ev.delivery ? h('span.badge.delivery-' + ev.delivery.status,
              t('c.delivery.' + ev.delivery.status) + (ev.delivery.error ? ': ' + ev.delivery.error : '')) : null),
          wa && wa.type && wa.type !== 'text' ? h('p.wa-type', t('c.wa.type', { type: wa.type })) : null,
          ev.body ? h('div.body', ev.body) : null,
          files.length ? h('ul.files', files) : null));
      });
    }

    function prop(name, options, value) {
      var sel = h('select', { name: name, on: { change: function () {
        var body = {};
        body[name] = sel.value === '' ? null : sel.value;
        sel.disabled = true;
        api('PATCH', '/tickets/' + tk.number, body).then(function (r) {
          tk = r; drawHistory(); drawSide(); announce(t('c.saved'));
        }).catch(function (err) { announce(message(err)); drawSide(); });
      } } }, options.map(function (o) { return h('option', { value: o[0], selected: o[0] === (value || '') }, o[1]); }));
      return field(t('c.field.' + name), sel);
    }

    function drawSide() {
      side.textContent = '';
      var cats = categories();
      if (tk.category && !cats.some(function (c) { return c[0] === tk.category; })) cats.push([tk.category, tk.category]);
      append(side, [
        h('h2', t('c.properties')),
        prop('status', STATUSES.map(function (s) { return [s, t('c.status.' + s)]; }), tk.status),
        prop('priority', PRIORITIES.map(function (p) { return [p, t('c.priority.' + p)]; }), tk.priority),
        prop('category', [['', '—']].concat(cats), tk.category),
        prop('assignee', [['', t('c.unassigned')]].concat((boot.agents || []).map(function (a) { return [a.id, a.name]; })),
             tk.assignee && tk.assignee.id),
        h('h2', t('c.requester')),
        tk.requester ? h('p.requester', link('/customers/' + tk.requester.id,
                           h('strong', tk.requester.name || tk.requester.email || tk.requester.phone || '—')), h('br'),
                         tk.requester.email || '', h('br'), tk.requester.phone || '') : h('p', '—'),
        h('h2', t('c.other')),
        tk.requester_tickets.length ? h('ul.others', tk.requester_tickets.map(function (o) {
          return h('li', link('/tickets/' + o.number, o.number + ' ' + o.subject), ' ', badge('status', o.status));
        })) : h('p.muted', t('c.other.none'))]);
    }

    var channelNote = h('div.channel-note', { 'aria-live': 'polite' });

    var via = null;     /* the fallback, when the agent chooses it */

    function drawChannelNote() {
      var r = tk.reply || {}, wa = r.whatsapp;
      channelNote.textContent = '';
      channelNote.className = 'channel-note';
      if (r.channel === 'whatsapp' && wa && !wa.window_open) {
        channelNote.classList.add('warn');
        append(channelNote, [h('p', h('strong', t('c.wa.closed')), ' ',
          wa.last_inbound_at ? t('c.wa.last', { when: when(wa.last_inbound_at) }) : '', ' ', t('c.wa.closed.help')),
          wa.templates.length ? templateForm(wa.templates) : h('p', t('c.wa.notemplates')),
          r.fallback ? h('label.check', h('input', { type: 'checkbox', name: 'via', value: r.fallback,
                                                     on: { change: function (e) { via = e.target.checked ? r.fallback : null; } } }),
                         ' ', t('c.fallback.' + r.fallback)) : null]);
      } else if (r.channel === 'whatsapp' && wa) {
        append(channelNote, [h('p', channelTag('whatsapp'), ' ', t('c.wa.open', { when: when(wa.window_closes_at) }))]);
      } else {
        append(channelNote, [h('p', channelTag(r.channel || tk.channel), ' ', t('c.goes.' + (r.channel || tk.channel)))]);
      }
    }

    function templateForm(templates) {
      var form = h('form.template', { on: { submit: function (e) {
        e.preventDefault();
        var params = (form.elements.params.value || '').split('\n').map(function (s) { return s.trim(); }).filter(Boolean);
        submitting(form, true);
        api('POST', '/tickets/' + tk.number + '/template', { use: form.elements.use.value, parameters: params })
          .then(function () { submitting(form, false); announce(t('c.wa.sent')); return load(); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, alertBox(),
        field(t('c.wa.template'), h('select', { name: 'use' }, templates.map(function (tp) {
          return h('option', { value: tp.use }, t('c.tpl.' + tp.use) + ' — ' + tp.name + ' (' + tp.language + ')');
        }))),
        field(t('c.wa.params'), h('textarea', { name: 'params', rows: 2 }), t('c.wa.params.hint')),
        h('button', { type: 'submit' }, t('c.wa.send')));
      return form;
    }

    function fill(text) {
      var req = tk.requester || {};
      return text.replace(/\{\{\s*customer\.name\s*\}\}/g, req.name || '')
                 .replace(/\{\{\s*customer\.email\s*\}\}/g, req.email || '')
                 .replace(/\{\{\s*ticket\.number\s*\}\}/g, tk.number)
                 .replace(/\{\{\s*ticket\.subject\s*\}\}/g, tk.subject)
                 .replace(/\{\{\s*agent\.name\s*\}\}/g, boot.user.name || '');
    }

    function drawReply() {
      var up = uploader();
      var stale = h('div.stale');
      var seen = tk.last_event_id;
      var form = h('form.reply-form', { novalidate: true });
      var body = h('textarea', { name: 'body', rows: 6, on: { input: function () {
        if (!typing) { typing = true; beat(); }
      }, keydown: function (e) {
        if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); send(false); }
      } } });
      var mode = h('fieldset.mode', h('legend.sr-only', t('c.mode')),
        h('label', h('input', { type: 'radio', name: 'visibility', value: 'public', checked: true }), ' ', t('c.mode.reply')),
        h('label', h('input', { type: 'radio', name: 'visibility', value: 'internal' }), ' ', t('c.mode.note')));
      var cannedSel = h('select', { name: 'canned', 'aria-label': t('c.canned'), on: { change: function () {
        var c = canned.filter(function (x) { return x.id === cannedSel.value; })[0];
        if (c) {
          body.value = (body.value ? body.value + '\n' : '') + fill(c.body);
          body.focus();
        }
        cannedSel.value = '';
      } } }, h('option', { value: '' }, t('c.canned')));
      var after = h('select', { name: 'after', 'aria-label': t('c.after') },
        h('option', { value: '' }, t('c.after.keep')),
        ['pending', 'resolved', 'on_hold'].map(function (s) { return h('option', { value: s }, t('c.after.' + s)); }));

      function send(force) {
        var vis = form.elements.visibility.value;
        if (vis === 'public' && tk.reply && tk.reply.available === false && !via) {
          return showError(form, { detail: t('c.wa.closed') + ' ' + t('c.wa.closed.help') });
        }
        submitting(form, true);
        up.ids().then(function (ids) {
          return api('POST', '/tickets/' + tk.number + '/replies', {
            body: body.value, visibility: vis, attachments: ids, seen_event_id: seen,
            via: vis === 'public' && via ? via : undefined,
            force: force || undefined, status: after.value || undefined });
        }).then(function () {
          submitting(form, false);
          body.value = '';
          up.clear();
          stale.textContent = '';
          typing = false;
          form.querySelector('.alert').textContent = '';
          announce(vis === 'internal' ? t('c.note.saved') : t('c.reply.sent'));
          return load().then(function () { seen = tk.last_event_id; });
        }).catch(function (err) {
          submitting(form, false);
          if (err.slug === 'stale-view') {
            load();
            stale.textContent = '';
            append(stale, [h('p', h('strong', t('c.stale'))),
              h('button', { type: 'button', on: { click: function () { seen = tk.last_event_id; send(true); } } }, t('c.stale.send')),
              ' ', h('button.secondary', { type: 'button', on: { click: function () { seen = tk.last_event_id; stale.textContent = ''; } } },
                     t('c.stale.review'))]);
            stale.querySelector('button').focus();
            return;
          }
          showError(form, err);
        });
      }

      form.addEventListener('submit', function (e) { e.preventDefault(); send(false); });
      append(form, [alertBox(), mode, field(t('c.reply'), body, t('c.reply.hint')),
        h('div.row', cannedSel, up.node), stale,
        h('div.row', after, h('button', { type: 'submit' }, t('c.send')))]);
      append(replyBox, [h('h2', t('c.reply')), channelNote, form]);
      drawChannelNote();
      api('GET', '/canned').then(function (r) {
        canned = r.data;
        canned.forEach(function (c) { cannedSel.appendChild(h('option', { value: c.id }, c.title)); });
      }).catch(function () {});
    }

    function uploader() {
      var files = [], list = h('ul.files');
      var input = h('input', { type: 'file', multiple: true, 'aria-label': t('c.attach'), on: { change: function () {
        Array.prototype.forEach.call(input.files, function (f) {
          var item = { li: h('li', f.name + ' …') };
          list.appendChild(item.li);
          files.push(item);
          item.p = api('POST', '/uploads', f, { raw: true, headers: {
            'Content-Type': f.type || 'application/octet-stream', 'X-Filename': encodeURIComponent(f.name) } })
            .then(function (u) { item.id = u.id; item.li.textContent = f.name + ' (' + size(u.size) + ')'; })
            .catch(function (err) { files.splice(files.indexOf(item), 1); item.li.textContent = f.name + ' — ' + message(err); });
        });
        input.value = '';
      } } });
      return {
        node: h('span.attach', h('label.button.secondary', input, t('c.attach')), list),
        ids: function () {
          return Promise.all(files.map(function (f) { return f.p; })).then(function () {
            return files.filter(function (f) { return f.id; }).map(function (f) { return f.id; });
          });
        },
        clear: function () { files = []; list.textContent = ''; }
      };
    }

    /* who else has it open; every 10 s, and at once when typing starts */
    function beat() {
      api('POST', '/tickets/' + number + '/presence', { typing: typing }).then(function (r) {
        viewers.textContent = r.viewers.length ? r.viewers.map(function (v) {
          return t(v.typing ? 'c.viewer.typing' : 'c.viewer', { name: v.name });
        }).join(' · ') : '';
        viewers.className = 'viewers' + (r.viewers.length ? ' on' : '');
        if (tk && r.last_event_id !== tk.last_event_id) load();
      }).catch(function () {});
    }

    function keys(e) {
      if (document.querySelector('dialog[open]')) return;
      if (e.key === 'Escape' && !(e.target.closest && e.target.closest('input, textarea, select'))) go('/');
    }

    current = {
      kind: 'ticket',
      changed: function (d) { if (tk && d.id === tk.id) load(); },
      leave: function () {
        clearInterval(heartbeat);
        document.removeEventListener('keydown', keys);
        api('POST', '/tickets/' + number + '/presence', { leaving: true }).catch(function () {});
      }
    };
    document.addEventListener('keydown', keys);

    view(number, [h('p.loading', t('c.loading'))], 'ticket');
    load().then(function () {
      view(tk.number + ' ' + tk.subject, [
        h('div.head', link('/', '← ' + t('c.queue'), '.back'),
          h('h1', h('span.num', tk.number), ' ', tk.subject), channelTag(tk.channel), badge('status', tk.status)),
        viewers,
        h('div.ticket-grid', h('div.conversation', h('h2.sr-only', t('c.history')), history, replyBox), side)], 'ticket');
      beat();
      heartbeat = setInterval(beat, 10000);
    }).catch(function (err) {
      if (err.status === 401) { boot.user = null; route(); return; }
      view(number, [h('h1', number), h('p.alert.error', message(err)), link('/', t('c.queue'))]);
    });
  }

  /* ---------- the agent's own account: password, second factor ---------- */

  function account(required) {
    var u = boot.user;
    var pw = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(pw, true);
      api('POST', '/password', { current: pw.elements.current.value, password: pw.elements.password.value })
        .then(function () { submitting(pw, false); pw.reset(); showOk(pw, t('c.saved')); })
        .catch(function (err) { submitting(pw, false); showError(pw, err); });
    } } }, h('h2', t('c.account.password')), alertBox(),
      field(t('c.account.current'), h('input', { type: 'password', name: 'current', autocomplete: 'current-password' })),
      field(t('c.account.new'), h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minLength: 8 }),
            t('c.password.hint')),
      h('button', { type: 'submit' }, t('c.save')));

    var second = h('section.card');
    function drawSecond() {
      second.textContent = '';
      append(second, [h('h2', t('c.totp')), h('p', u.totp ? t('c.totp.on') : t('c.totp.off'))]);
      var form = h('form', { novalidate: true }), shown = h('div.totp-setup');
      if (!u.totp) {
        append(second, [h('button', { type: 'button', on: { click: function () {
          api('POST', '/totp/setup', {}).then(function (r) {
            shown.textContent = '';
            append(shown, [h('img.qr', { src: r.qr, alt: t('c.totp.qr'), width: 200, height: 200 }),
              h('p', t('c.totp.manual'), ' ', h('code', r.secret))]);
            form.hidden = false;
            form.elements.code.focus();
          }).catch(function (err) { announce(message(err)); });
        } } }, t('c.totp.setup')), shown]);
        form.hidden = true;
      }
      form.addEventListener('submit', function (e) {
        e.preventDefault();
        submitting(form, true);
        api('POST', u.totp ? '/totp/disable' : '/totp/enable', { code: form.elements.code.value.trim() })
          .then(function () { return api('GET', '/boot'); })
          .then(function (b) { boot.user = u = b.user; if (required && u.totp) { go('/', true); return; } drawSecond(); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      });
      if (!(u.totp && u.totp_required)) {
        append(form, [alertBox(), field(t('c.totp.code'), h('input', { name: 'code', inputMode: 'numeric',
          autocomplete: 'one-time-code', maxLength: 6 }), t('c.totp.code.hint')),
          h('button', { type: 'submit' }, u.totp ? t('c.totp.disable') : t('c.totp.enable'))]);
        second.appendChild(form);
      }
    }
    drawSecond();
    view(t('c.account'), [h('h1', t('c.account')),
      required ? h('p.alert.error', { role: 'alert' }, t('c.totp.required')) : null,
      second, required ? null : pw], 'narrow');
  }

  /* ---------- admin ---------- */

  function admin() {
    var tabs = ['agents', 'canned', 'portal', 'chat', 'hours', 'whatsapp', 'webhooks', 'audit'],
        which = (location.hash || '#agents').slice(1);
    if (tabs.indexOf(which) < 0) which = 'agents';
    var panel = h('section.panel', { role: 'tabpanel' });
    var nav = h('nav.tabs', { role: 'tablist' }, tabs.map(function (k) {
      return h('a', { href: '#' + k, role: 'tab', 'aria-selected': k === which ? 'true' : 'false', on: { click: function (e) {
        e.preventDefault(); history.replaceState(null, '', '#' + k); admin();
      } } }, t('c.tab.' + k));
    }));
    view(t('c.admin'), [h('h1', t('c.admin')), nav, panel], 'wide');
    ({ agents: agents, canned: cannedAdmin, portal: portalAdmin, chat: HD.chatRecord.settings, hours: hoursAdmin,
       whatsapp: whatsappAdmin, webhooks: webhooksAdmin, audit: audit })[which](panel);
  }

  function agents(panel) {
    api('GET', '/agents').then(function (r) {
      var form = h('form.inline', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        submitting(form, true);
        api('POST', '/agents', { name: form.elements.name.value, email: form.elements.email.value,
                                 role: form.elements.role.value, language: HD.lang })
          .then(function () { submitting(form, false); admin(); announce(t('c.invited')); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.invite')), alertBox(),
        field(t('c.name'), h('input', { name: 'name', required: true })),
        field(t('c.email'), h('input', { name: 'email', type: 'email', required: true })),
        field(t('c.role'), h('select', { name: 'role' }, h('option', { value: 'agent' }, t('c.role.agent')),
                                                        h('option', { value: 'admin' }, t('c.role.admin')))),
        h('button', { type: 'submit' }, t('c.invite.send')));
      append(panel, [h('table.list', h('thead', h('tr', ['c.name', 'c.email', 'c.role', 'c.state', ''].map(function (k) {
        return h('th', { scope: 'col' }, k ? t(k) : '');
      }))), h('tbody', r.data.map(function (a) {
        var me = a.id === boot.user.id;
        return h('tr', h('td', a.name), h('td', a.email),
          h('td', me ? t('c.role.' + a.role) : h('select', { 'aria-label': t('c.role') + ' ' + a.name, on: { change: function (e) {
            api('PATCH', '/agents/' + a.id, { role: e.target.value }).then(function () { announce(t('c.saved')); })
              .catch(function (err) { announce(message(err)); });
          } } }, ['agent', 'admin'].map(function (x) { return h('option', { value: x, selected: x === a.role }, t('c.role.' + x)); }))),
          h('td', a.status === 'active' ? (a.has_password ? t('c.state.active') : t('c.state.invited')) : t('c.state.disabled')),
          h('td', me ? '' : h('button.link', { type: 'button', on: { click: function () {
            api('PATCH', '/agents/' + a.id, { status: a.status === 'active' ? 'disabled' : 'active' }).then(admin)
              .catch(function (err) { announce(message(err)); });
          } } }, a.status === 'active' ? t('c.deactivate') : t('c.reactivate'))));
      }))), form]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function cannedAdmin(panel) {
    api('GET', '/canned').then(function (r) {
      function editor(c) {
        var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
          e.preventDefault();
          submitting(form, true);
          var body = { title: form.elements.title.value, body: form.elements.body.value };
          (c ? api('PATCH', '/canned/' + c.id, body) : api('POST', '/canned', body))
            .then(function () { admin(); announce(t('c.saved')); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } }, h('h2', c ? c.title : t('c.canned.new')), alertBox(),
          field(t('c.canned.title'), h('input', { name: 'title', value: c ? c.title : '', required: true })),
          field(t('c.canned.body'), h('textarea', { name: 'body', rows: 5, value: c ? c.body : '' }), t('c.canned.hint')),
          h('div.row', h('button', { type: 'submit' }, t('c.save')),
            c ? h('button.secondary', { type: 'button', on: { click: function () {
              api('DELETE', '/canned/' + c.id).then(admin);
            } } }, t('c.delete')) : null));
        return form;
      }
      append(panel, r.data.map(editor).concat([editor(null)]));
    }).catch(function (err) { panel.textContent = message(err); });
  }

  /* a JSON document edited as text, saved with one call */
  function jsonEditor(title, hint, value, save) {
    var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var v;
      try { v = JSON.parse(form.elements.doc.value); } catch (x) {
        return showError(form, { detail: t('c.json.bad') + ' ' + x.message });
      }
      submitting(form, true);
      save(v).then(function () { submitting(form, false); showOk(form, t('c.saved')); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } }, h('h2', title), alertBox(),
      field('JSON', h('textarea.code', { name: 'doc', rows: 14, value: JSON.stringify(value, null, 2) }), hint),
      h('button', { type: 'submit' }, t('c.save')));
    return form;
  }

  function portalAdmin(panel) {
    var LANGS = [['pt-BR', 'Português (Brasil)'], ['es', 'Español'], ['en', 'English']];
    rest('GET', '/v1/portal').then(function (s) {
      var b = s.branding || {};
      /* a text per language: one field each; a single string is every language's */
      function inLanguage(v, l) {
        if (v === null || v === undefined) return '';
        return typeof v === 'string' ? v : v[l] || '';
      }
      function perLanguage(name) {
        var out = {}, any = false;
        LANGS.forEach(function (l) {
          var v = form.elements[name + '.' + l[0]].value.trim();
          if (v) { out[l[0]] = v; any = true; }
        });
        return any ? out : null;
      }
      function localFields(name, label, textarea) {
        return h('fieldset.langs', h('legend', label), LANGS.map(function (l) {
          var attrs = { name: name + '.' + l[0], lang: l[0], value: inLanguage(b[name], l[0]) };
          if (textarea) attrs.rows = 3;
          return field(l[1], h(textarea ? 'textarea' : 'input', attrs));
        }));
      }
      var form = h('form.card.wide', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = form.elements;
        submitting(form, true);
        rest('PATCH', '/v1/portal', {
          allow_signup: el.allow_signup.checked, require_login: el.require_login.checked,
          default_language: el.default_language.value,
          branding: { primary_color: el.primary_color.value, secondary_color: el.secondary_color.value,
                      welcome_title: perLanguage('welcome_title'), welcome_text: perLanguage('welcome_text') } })
          .then(function () { submitting(form, false); showOk(form, t('c.saved')); })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.portal.look')), alertBox(),
        h('label.check', h('input', { type: 'checkbox', name: 'allow_signup', checked: s.allow_signup }), ' ', t('c.portal.signup')),
        h('label.check', h('input', { type: 'checkbox', name: 'require_login', checked: s.require_login }), ' ', t('c.portal.login')),
        field(t('c.portal.language'), h('select', { name: 'default_language' },
          LANGS.map(function (l) {
            return h('option', { value: l[0], selected: l[0] === s.default_language }, l[1]);
          }))),
        h('div.row', field(t('c.portal.primary'), h('input', { type: 'color', name: 'primary_color', value: b.primary_color })),
                     field(t('c.portal.secondary'), h('input', { type: 'color', name: 'secondary_color', value: b.secondary_color }))),
        localFields('welcome_title', t('c.portal.title'), false),
        localFields('welcome_text', t('c.portal.text'), true),
        h('button', { type: 'submit' }, t('c.save')));
      append(panel, [form, jsonEditor(t('c.portal.form'), t('c.portal.form.hint'), s.form, function (v) {
        return rest('PUT', '/v1/portal/form', { fields: v });
      })]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function hoursAdmin(panel) {
    Promise.all([rest('GET', '/v1/business-hours/whatsapp'), rest('GET', '/v1/business-hours/chat')]).then(function (r) {
      r.forEach(function (s) { delete s.open_now; delete s.always_open; });
      /* a channel always open: a schedule to start from */
      if (!r[1].days) {
        r[1] = { timezone: 'America/Sao_Paulo', days: { mon: [['08:00', '18:00']], tue: [['08:00', '18:00']],
                 wed: [['08:00', '18:00']], thu: [['08:00', '18:00']], fri: [['08:00', '18:00']], sat: [], sun: [] },
                 holidays: [] };
      }
      append(panel, [jsonEditor(t('c.hours'), t('c.hours.hint'), r[0], function (v) {
        return rest('PUT', '/v1/business-hours/whatsapp', v);
      }), jsonEditor(t('c.hours.chat'), t('c.hours.chat.hint'), r[1], function (v) {
        return rest('PUT', '/v1/business-hours/chat', v);
      })]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function whatsappAdmin(panel) {
    Promise.all([rest('GET', '/v1/whatsapp/connections'), rest('GET', '/v1/whatsapp/templates')]).then(function (r) {
      var list = h('table.list', h('thead', h('tr', ['c.wa.number', 'c.wa.provider', 'c.wa.health', 'c.wa.webhook', '']
        .map(function (k) { return h('th', { scope: 'col' }, k ? t(k) : ''); }))),
        h('tbody', r[0].data.map(function (c) {
          return h('tr', h('td', c.display_phone_number), h('td', c.provider),
            h('td', h('span.badge.health-' + (c.health && c.health.state || 'unknown'),
                      (c.health && c.health.state) || '—'), c.health && c.health.last_error ? ' ' + c.health.last_error : ''),
            h('td', h('code', c.webhook_url || '')),
            h('td', h('button.link', { type: 'button', on: { click: function () {
              rest('DELETE', '/v1/whatsapp/connections/' + c.id).then(admin).catch(function (err) { announce(message(err)); });
            } } }, t('c.delete'))));
        })));
      var form = h('form.inline', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = form.elements, body = { provider: el.provider.value, display_phone_number: el.number.value };
        if (el.provider.value === 'cloud') {
          body.phone_number_id = el.phone_number_id.value; body.access_token = el.secret.value;
          body.app_secret = el.app_secret.value; body.verify_token = el.verify_token.value;
        } else {
          body.api_key = el.secret.value;
        }
        submitting(form, true);
        rest('POST', '/v1/whatsapp/connections', body).then(admin)
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.wa.connect')), alertBox(),
        field(t('c.wa.provider'), h('select', { name: 'provider' }, h('option', { value: '360dialog' }, '360dialog'),
                                                                   h('option', { value: 'cloud' }, 'WhatsApp Cloud API'))),
        field(t('c.wa.number'), h('input', { name: 'number', placeholder: '+55 11 4000-0000' })),
        field(t('c.wa.secret'), h('input', { name: 'secret', type: 'password', autocomplete: 'off' })),
        field('phone_number_id', h('input', { name: 'phone_number_id' })),
        field('app_secret', h('input', { name: 'app_secret', type: 'password', autocomplete: 'off' })),
        field('verify_token', h('input', { name: 'verify_token' })),
        h('button', { type: 'submit' }, t('c.wa.connect')));
      append(panel, [list, form, jsonEditor(t('c.wa.templates'), t('c.wa.templates.hint'), r[1], function (v) {
        return rest('PUT', '/v1/whatsapp/templates', v);
      })]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function webhooksAdmin(panel) {
    var EVENTS = ['ticket.created', 'ticket.updated', 'ticket.comment_added', 'whatsapp.message_failed'];
    rest('GET', '/v1/webhooks').then(function (r) {
      var list = h('table.list', h('thead', h('tr', ['c.hook.url', 'c.hook.events', 'c.state', '']
        .map(function (k) { return h('th', { scope: 'col' }, k ? t(k) : ''); }))),
        h('tbody', r.data.map(function (w) {
          return h('tr', h('td', h('code', w.url)), h('td', w.events.join(', ')),
            h('td', w.enabled ? t('c.state.active') : t('c.state.disabled') + (w.disabled_reason ? ' (' + w.disabled_reason + ')' : '')),
            h('td', h('button.link', { type: 'button', on: { click: function () {
              rest('PATCH', '/v1/webhooks/' + w.id, { enabled: !w.enabled }).then(admin)
                .catch(function (err) { announce(message(err)); });
            } } }, w.enabled ? t('c.deactivate') : t('c.reactivate')), ' ',
              h('button.link', { type: 'button', on: { click: function () {
                rest('DELETE', '/v1/webhooks/' + w.id).then(admin).catch(function (err) { announce(message(err)); });
              } } }, t('c.delete'))));
        })));
      var secret = h('p.secret', { role: 'status' });
      var form = h('form.inline', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var events = EVENTS.filter(function (ev) { return form.elements['ev-' + ev].checked; });
        submitting(form, true);
        rest('POST', '/v1/webhooks', { url: form.elements.url.value, events: events }).then(function (w) {
          submitting(form, false);
          secret.textContent = t('c.hook.secret', { secret: w.secret });
        }).catch(function (err) { submitting(form, false); showError(form, err); });
      } } }, h('h2', t('c.hook.new')), alertBox(),
        field(t('c.hook.url'), h('input', { name: 'url', type: 'url', placeholder: 'https://' })),
        h('fieldset.events', h('legend', t('c.hook.events')), EVENTS.map(function (ev) {
          return h('label.check', h('input', { type: 'checkbox', name: 'ev-' + ev, checked: ev !== 'ticket.updated' }), ' ', ev);
        })),
        h('button', { type: 'submit' }, t('c.hook.create')));
      append(panel, [list, form, secret]);
    }).catch(function (err) { panel.textContent = message(err); });
  }

  function audit(panel) {
    var form = h('form.inline.filters', { on: { submit: function (e) { e.preventDefault(); load(); } } },
      field(t('c.filter.agent'), h('select', { name: 'agent' }, h('option', { value: '' }, t('c.anyone')),
        (boot.agents || []).map(function (a) { return h('option', { value: a.id }, a.name); }))),
      field(t('c.filter.ticket'), h('input', { name: 'ticket', placeholder: 'TKT-000001' })),
      field(t('c.filter.from'), h('input', { name: 'from', type: 'date' })),
      field(t('c.filter.to'), h('input', { name: 'to', type: 'date' })),
      h('button', { type: 'submit' }, t('c.filter.apply')));
    var out = h('div.audit');
    var csv = h('a.button.secondary', { href: '#' }, t('c.audit.csv'));

    function qs() {
      return ['agent', 'ticket', 'from', 'to'].filter(function (k) { return form.elements[k].value; })
        .map(function (k) { return k + '=' + encodeURIComponent(form.elements[k].value); }).join('&');
    }

    function load() {
      csv.href = base + '/_/api/audit.csv?' + qs();
      api('GET', '/audit?' + qs()).then(function (r) {
        out.textContent = '';
        out.appendChild(h('table.list', h('thead', h('tr', ['c.audit.at', 'c.audit.actor', 'c.audit.action', 'c.audit.object', 'IP']
          .map(function (k) { return h('th', { scope: 'col' }, k === 'IP' ? k : t(k)); }))),
          h('tbody', r.data.map(function (a) {
            return h('tr', h('td', when(a.at)), h('td', a.actor || a.actor_type), h('td', a.action),
                     h('td', a.ticket ? link('/tickets/' + a.ticket, a.ticket) : (a.object_type + (a.object_id ? ' ' + a.object_id : ''))),
                     h('td', a.ip || ''));
          }))));
      }).catch(function (err) { out.textContent = message(err); });
    }

    append(panel, [form, h('p', csv), out]);
    load();
  }

  /* the pieces other console scripts draw with (chat_record.js) */
  HD.console = { view: view, link: link, go: go, announce: announce, channelTag: channelTag };

  HD.load(function () {
    document.querySelector('.skip').textContent = t('c.skip');
    route();
  });
})();
