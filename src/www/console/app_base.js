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
 *
 * Written in parts (this one: small tools, live updates, logging in),
 * joined in the order app.parts gives inside one function at build time.
 */

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
    var chat = HD.chat ? HD.chat.notice() : '';
    pageTitle = text;
    document.title = (chat ? chat + ' · ' : n ? '(' + n + ') ' : '') + text;
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
    append(top, [h('span.brand', boot.tenant.name, h('span.app', t('c.title'))), nav,
      u && HD.chat ? HD.chat.header() : null, lang,
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
    if (!boot.user && p === '/forgot') return forgot();
    if (!boot.user) return login();
    if (boot.user.totp_required && !boot.user.totp) return account(true);
    startStream();
    if (HD.chat) HD.chat.start();
    if (p === '/' || p === '') return queue();
    if (p === '/new') return newTicket();
    if (p === '/customers') return customers();
    if ((m = p.match(/^\/customers\/([0-9a-f-]{36})$/))) return customer(m[1]);
    if ((m = p.match(/^\/tickets\/([A-Za-z0-9-]+)$/))) return ticket(m[1]);
    if ((m = p.match(/^\/chats\/([0-9a-f-]{36})$/))) return HD.chatRecord.transcript(m[1]);
    if (p === '/admin' && boot.user.role === 'admin') return admin();
    if ((m = p.match(/^\/sender\/([0-9a-f]{64})$/))) return emailSenderConfirm(m[1]);
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
      h('button', { type: 'submit' }, t('c.login')),
      h('p.links', link('/forgot', t('c.forgot'))));
    view(t('c.login'), [form], 'narrow');
    form.elements.email.focus();
  }

  /* a one-time link by email to choose a new password (the same answer
   * whether or not the address has an account) */
  function forgot() {
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(form, true);
      api('POST', '/reset', { email: form.elements.email.value.trim(), language: HD.lang })
        .then(function () { submitting(form, false); showOk(form, t('forgot.sent')); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      h('h1', t('forgot.title')), h('p', t('forgot.text')), alertBox(),
      field(t('c.email'), h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true })),
      h('button', { type: 'submit' }, t('forgot.submit')),
      h('p.links', link('/', t('c.login'))));
    view(t('forgot.title'), [form], 'narrow');
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
