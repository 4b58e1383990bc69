/*
 * nginx-helpdesk customer portal.
 *
 * One page for every address of the portal: the server sends the same
 * HTML with the tenant's data ("boot") and the language's strings, and
 * this script draws the view the address names.  Everything it shows is
 * built as DOM nodes with textContent, so what customers and agents typed
 * is never read as HTML; the only HTML it inserts is a knowledge-base
 * article, rendered by the server with raw HTML removed.  It talks JSON to
 * /_/api/, sending the CSRF token (the hd_csrf cookie) on every change.
 */
(function () {
  'use strict';

  var boot = window.HD.boot;
  var main = document.getElementById('main');
  var lang = window.HD.lang;

  var HD = window.HD, t = HD.t, h = HD.h, append = HD.append, local = HD.local,
      when = HD.when, size = HD.size, api = HD.api, message = HD.message,
      showError = HD.showError, showOk = HD.showOk, alertBox = HD.alertBox,
      field = HD.field, submitting = HD.submitting;

  /* ---------- navigation ---------- */

  function go(path, replace) {
    if (replace) history.replaceState(null, '', path); else history.pushState(null, '', path);
    route();
  }

  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('a[data-nav]');
    if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
    e.preventDefault();
    go(a.getAttribute('href'));
  });
  window.addEventListener('popstate', route);

  function link(href, text, cls) {
    return h('a' + (cls || ''), { href: href, 'data-nav': true }, text);
  }

  function view(title, nodes) {
    document.title = title + ' · ' + boot.tenant.name;
    main.textContent = '';
    append(main, nodes);
    main.focus();
    drawTop();
  }

  function drawTop() {
    var top = document.getElementById('top'), u = boot.user, p = boot.portal;
    document.querySelector('.skip').textContent = t('skip');
    top.textContent = '';
    var brand = link('/', p.logo ? h('img.logo', { src: '/_/logo', alt: boot.tenant.name })
                                 : h('span.name', boot.tenant.name), '.brand');
    var nav = h('nav', { 'aria-label': 'Main' },
      link('/kb', t('nav.kb')),
      u ? link('/tickets', t('nav.tickets')) : null,
      u ? link('/tickets/new', t('nav.new'), '.button.small') : null,
      u ? link('/account', t('nav.account')) : link('/login', t('nav.login')),
      !u && p.allow_signup ? link('/signup', t('nav.signup')) : null);
    var sel = h('select', { 'aria-label': t('nav.language'), on: { change: function () {
      document.cookie = 'hd_lang=' + sel.value + '; Path=/; Max-Age=31536000; SameSite=Lax';
      location.reload();
    } } },
      [['pt-BR', 'Português'], ['es', 'Español'], ['en', 'English']].map(function (l) {
        return h('option', { value: l[0], selected: l[0] === lang }, l[1]);
      }));
    append(top, [brand, nav, sel]);
    nav.querySelectorAll('a').forEach(function (a) {
      if (a.getAttribute('href') === location.pathname) a.setAttribute('aria-current', 'page');
    });
  }

  function needLogin() {
    if (boot.user) return false;
    go('/login?next=' + encodeURIComponent(location.pathname), true);
    return true;
  }

  function route() {
    var p = location.pathname, m;
    var open = /^\/(login|signup|forgot|reset\/|verify\/)/.test(p);
    if (boot.portal.require_login && !boot.user && !open) { needLogin(); return; }
    if (p === '/') return home();
    if (p === '/login') return login();
    if (p === '/signup') return signup();
    if (p === '/forgot') return forgot();
    if ((m = p.match(/^\/reset\/([0-9a-f]{64})$/))) return reset(m[1]);
    if ((m = p.match(/^\/verify\/([0-9a-f]{64})$/))) return verify(m[1]);
    if (p === '/tickets') return needLogin() || tickets();
    if (p === '/tickets/new') return needLogin() || newTicket();
    if ((m = p.match(/^\/tickets\/([A-Za-z0-9-]+)$/))) return needLogin() || ticket(m[1]);
    if ((m = p.match(/^\/chats\/([0-9a-f-]{36})$/))) return needLogin() || chat(m[1]);
    if (p === '/kb') return kb();
    if ((m = p.match(/^\/kb\/([a-z0-9-]+)$/))) return article(m[1]);
    if (p === '/account') return needLogin() || account();
    view(t('notfound.title'), [h('h1', t('notfound.title')), h('p', t('notfound.text')), link('/', t('nav.home'))]);
  }

  function loading(title) {
    view(title, [h('p.loading', t('loading'))]);
  }

  function failed(err) {
    if (err && err.status === 401) { boot.user = null; needLogin(); return; }
    view(t('error.generic'), [h('h1', t('error.generic')), h('p.alert.error', message(err)), link('/', t('nav.home'))]);
  }

  /* ---------- views ---------- */

  function searchForm(q) {
    var input = h('input', { type: 'search', name: 'q', value: q || '', required: true,
                             placeholder: t('home.search'), 'aria-label': t('home.search') });
    return h('form.search', { role: 'search', on: { submit: function (e) {
      e.preventDefault();
      go('/kb?q=' + encodeURIComponent(input.value.trim()));
    } } }, input, h('button', { type: 'submit' }, t('home.search.button')));
  }

  function articleList(list) {
    return h('ul.articles', list.map(function (a) {
      return h('li', link('/kb/' + a.slug, a.title),
               a.snippet ? h('p.snippet', marked(a.snippet)) : null);
    }));
  }

  /* a search snippet: [[word]] marks a match */
  function marked(s) {
    return s.split(/(\[\[.*?\]\])/).map(function (part) {
      return /^\[\[.*\]\]$/.test(part) ? h('mark', part.slice(2, -2)) : document.createTextNode(part);
    });
  }

  function home() {
    var b = boot.portal.branding || {};
    var nodes = [
      h('section.hero', h('h1', local(b.welcome_title) || t('home.title')),
        h('p', local(b.welcome_text) || t('home.text')), searchForm(),
        h('p.actions', link(boot.user ? '/tickets/new' : '/login?next=/tickets/new', t('home.open'), '.button'),
          boot.user ? link('/tickets', t('home.mine'), '.button.secondary') : null))
    ];
    var pop = h('section.popular');
    nodes.push(pop);
    view(t('nav.home'), nodes);
    api('GET', '/kb').then(function (r) {
      if (r.popular && r.popular.length) append(pop, [h('h2', t('home.popular')), articleList(r.popular)]);
    }).catch(function () {});
  }

  function login() {
    var next = new URLSearchParams(location.search).get('next') || '/tickets';
    if (!/^\/[a-z]/.test(next)) next = '/tickets';
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(form, true);
      api('POST', '/login', { email: form.elements.email.value.trim(), password: form.elements.password.value })
        .then(function (u) { boot.user = u; return api('GET', '/boot'); })
        .then(function (b) { boot.user = b.user; boot.form = b.form; go(next, true); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      h('h1', t('login.title')), alertBox(),
      field(t('login.email'), h('input', { type: 'email', name: 'email', autocomplete: 'username', required: true })),
      field(t('login.password'), h('input', { type: 'password', name: 'password', autocomplete: 'current-password', required: true })),
      h('button', { type: 'submit' }, t('login.submit')),
      h('p.links', link('/forgot', t('login.forgot')),
        boot.portal.allow_signup ? [' · ', t('login.noaccount'), ' ', link('/signup', t('login.signup'))] : null));
    view(t('login.title'), [form]);
  }

  function signup() {
    if (!boot.portal.allow_signup) {
      return view(t('signup.title'), [h('h1', t('signup.title')), h('p', t('signup.closed')), link('/login', t('nav.login'))]);
    }
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(form, true);
      api('POST', '/signup', { name: form.elements.name.value.trim(), email: form.elements.email.value.trim(),
                               password: form.elements.password.value })
        .then(function (b) { boot.user = b.user; boot.form = b.form; go('/tickets/new', true); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      h('h1', t('signup.title')), alertBox(),
      field(t('signup.name'), h('input', { type: 'text', name: 'name', autocomplete: 'name', required: true })),
      field(t('signup.email'), h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true })),
      field(t('signup.password'), h('input', { type: 'password', name: 'password', autocomplete: 'new-password',
                                                minLength: 8, required: true }), t('signup.password.hint')),
      h('button', { type: 'submit' }, t('signup.submit')),
      h('p.links', t('signup.have'), ' ', link('/login', t('nav.login'))));
    view(t('signup.title'), [form]);
  }

  function forgot() {
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(form, true);
      api('POST', '/reset', { email: form.elements.email.value.trim(), language: lang })
        .then(function () { submitting(form, false); showOk(form, t('forgot.sent')); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      h('h1', t('forgot.title')), h('p', t('forgot.text')), alertBox(),
      field(t('login.email'), h('input', { type: 'email', name: 'email', autocomplete: 'email', required: true })),
      h('button', { type: 'submit' }, t('forgot.submit')));
    view(t('forgot.title'), [form]);
  }

  function reset(token) {
    loading(t('reset.title'));
    api('GET', '/reset/' + token).then(function () {
      var form = h('form.card', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        if (form.elements.password.value !== form.elements.confirm.value) {
          return showError(form, { detail: t('reset.mismatch'), errors: [] });
        }
        submitting(form, true);
        api('POST', '/reset/' + token, { password: form.elements.password.value })
          .then(function () {
            view(t('reset.title'), [h('h1', t('reset.title')), h('p.alert.ok', t('reset.done')),
                                    link('/login', t('nav.login'), '.button')]);
          })
          .catch(function (err) { submitting(form, false); showError(form, err); });
      } } },
        h('h1', t('reset.title')), alertBox(),
        field(t('reset.password'), h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minLength: 8, required: true }),
              t('signup.password.hint')),
        field(t('reset.confirm'), h('input', { type: 'password', name: 'confirm', autocomplete: 'new-password', required: true })),
        h('button', { type: 'submit' }, t('reset.submit')));
      view(t('reset.title'), [form]);
    }).catch(function (err) {
      view(t('reset.title'), [h('h1', t('reset.title')), h('p.alert.error', message(err)), link('/forgot', t('forgot.submit'))]);
    });
  }

  /* the link sent to the address: it is the account's */
  function verify(token) {
    loading(t('verify.title'));
    api('POST', '/verify/' + token).then(function () {
      if (boot.user) boot.user.email_verified = true;
      view(t('verify.title'), [h('h1', t('verify.title')), h('p.alert.ok', t('verify.done')),
                               link(boot.user ? '/tickets' : '/login?next=/tickets', t('home.mine'), '.button')]);
    }).catch(function (err) {
      if (err && err.slug === 'login-required') {
        /* only the account's own session proves the address */
        view(t('verify.title'), [h('h1', t('verify.title')), h('p.alert.info', t('verify.login')),
                                 h('p.links', link('/login?next=' + encodeURIComponent('/verify/' + token), t('login.submit')),
                                   ' · ', link('/forgot', t('login.forgot')))]);
        return;
      }
      view(t('verify.title'), [h('h1', t('verify.title')), h('p.alert.error', message(err)),
                               link(boot.user ? '/tickets' : '/login', t('nav.home'))]);
    });
  }

  /* an address not proven yet: only what was opened here shows */
  function unverified() {
    if (!boot.user || boot.user.email_verified !== false) return null;
    var box = h('div.alert.info', h('p', t('verify.pending')));
    var again = h('button.secondary', { type: 'button', on: { click: function () {
      again.disabled = true;
      api('POST', '/verify').then(function () {
        box.appendChild(h('p', t('verify.sent')));
      }).catch(function (err) {
        again.disabled = false;
        box.appendChild(h('p.error', message(err)));
      });
    } } }, t('verify.again'));
    box.appendChild(again);
    return box;
  }

  function statusBadge(s) {
    return h('span.badge.status-' + s, t('status.' + s));
  }

  function tickets() {
    var which = new URLSearchParams(location.search).get('status') || 'open';
    loading(t('tickets.title'));
    api('GET', '/tickets' + (which === 'all' ? '' : '?status=' + which)).then(function (r) {
      var tabs = h('nav.tabs', { 'aria-label': t('tickets.title') }, ['open', 'closed', 'all'].map(function (s) {
        return h('a', { href: '/tickets?status=' + s, 'data-nav': true,
                        'aria-current': s === which ? 'page' : null }, t('tickets.' + s));
      }));
      var list = r.data.length ? h('ul.tickets', r.data.map(function (tk) {
        return h('li', link('/tickets/' + tk.number,
          [h('span.num', tk.number), h('span.subj', tk.subject), statusBadge(tk.status),
           h('span.when', t('tickets.updated') + ' ' + when(tk.updated_at))]));
      })) : h('p.empty', t('tickets.none'));
      var chats = h('section.chats', { 'aria-labelledby': 'chats-title' },
                    h('h2#chats-title', t('chats.title')), h('p.empty', t('chats.loading')));
      view(t('tickets.title'), [h('div.head', h('h1', t('tickets.title')), link('/tickets/new', t('tickets.new'), '.button')),
                                unverified(), tabs, list, chats]);
      /* the customer's chats, beside their tickets */
      api('GET', '/chats').then(function (c) {
        chats.replaceChild(c.data.length ? h('ul.tickets.chat-list', c.data.map(function (ch) {
          return h('li', link('/chats/' + ch.id,
            [h('span.num', '💭 ' + when(ch.started_at)),
             h('span.subj', ch.agent ? t('chats.with', { agent: ch.agent }) : t('chats.noagent')),
             h('span.badge.status-' + ch.status, t('chats.status.' + ch.status)),
             h('span.when', ch.ticket ? t('chats.ticket', { number: ch.ticket }) : '')]));
        })) : h('p.empty', t('chats.none')), chats.lastChild);
      }).catch(function () {
        chats.replaceChild(h('p.empty', t('chats.failed')), chats.lastChild);
      });
    }).catch(failed);
  }

  /* a chat, read-only: what both sides saw */
  function chat(id) {
    loading(t('chats.title'));
    api('GET', '/chats/' + encodeURIComponent(id)).then(function (ch) {
      var facts = h('dl.facts',
        h('dt', t('tickets.status')), h('dd', h('span.badge.status-' + ch.status, t('chats.status.' + ch.status))),
        h('dt', t('chats.started')), h('dd', when(ch.started_at)),
        ch.agent ? [h('dt', t('chats.agent')), h('dd', ch.agent)] : null,
        ch.ticket ? [h('dt', t('chats.ticketno')), h('dd', link('/tickets/' + ch.ticket, ch.ticket))] : null);
      var history = ch.messages.length ? h('ol.history', ch.messages.map(function (m) {
        var who = m.author === 'you' ? t('ticket.you')
                : m.author === 'bot' ? (m.name || t('chats.bot'))
                : (m.name || t('ticket.agent'));
        return h('li.event.by-' + (m.author === 'you' ? 'you' : 'agent'),
          h('p.meta', h('strong', who), ' · ', h('time', { dateTime: m.created_at }, when(m.created_at))),
          m.body ? h('div.body', m.body) : null,
          m.files.length ? h('p.files', m.files.join(', ')) : null);
      })) : h('p.empty', t('chats.empty'));
      view(t('chats.one', { date: when(ch.started_at) }),
           [link('/tickets', '← ' + t('tickets.title')), h('h1', t('chats.one', { date: when(ch.started_at) })),
            facts, history]);
    }).catch(failed);
  }

  /* uploads: each file is sent when chosen; the ticket names them by id */
  function uploader(label) {
    var files = [], max = boot.upload_max || 26214400;
    var list = h('ul.files');
    var input = h('input', { type: 'file', name: 'attachments', multiple: true, on: { change: function () {
      Array.prototype.forEach.call(input.files, function (f) {
        var item = { name: f.name, li: h('li', f.name + ' — ' + t('new.uploading')) };
        list.appendChild(item.li);
        if (f.size > max) {
          item.li.textContent = f.name + ' — ' + t('error.payload-too-large');
          item.li.className = 'error';
          return;
        }
        files.push(item);
        item.p = api('POST', '/uploads', f, { raw: true, headers: {
          'Content-Type': f.type || 'application/octet-stream', 'X-Filename': encodeURIComponent(f.name) } })
          .then(function (u) {
            item.id = u.id;
            item.li.textContent = '';
            append(item.li, [f.name + ' (' + size(u.size) + ') ',
              h('button.link', { type: 'button', on: { click: function () {
                files.splice(files.indexOf(item), 1); item.li.remove();
              } } }, t('new.remove'))]);
          })
          .catch(function (err) {
            files.splice(files.indexOf(item), 1);
            item.li.textContent = f.name + ' — ' + message(err);
            item.li.className = 'error';
          });
      });
      input.value = '';
    } } });
    return {
      node: h('div.field', h('label', { htmlFor: 'f-attachments' }, label), (input.id = 'f-attachments', input),
              h('p.hint', t('new.files.hint', { size: size(max) })), list),
      ids: function () {
        return Promise.all(files.map(function (f) { return f.p; })).then(function () {
          return files.filter(function (f) { return f.id; }).map(function (f) { return f.id; });
        });
      },
      clear: function () { files = []; list.textContent = ''; }
    };
  }

  function newTicket() {
    var form = h('form.card.wide', { novalidate: true });
    var up = null, suggest = h('div.suggest', { 'aria-live': 'polite' }), timer = null;
    append(form, [h('h1', t('new.title')), alertBox()]);
    (boot.form || []).forEach(function (f) {
      var label = [local(f.label), f.required ? h('span.req', ' (' + t('new.required') + ')') : null];
      var input;
      if (f.type === 'attachments') { up = uploader(label); form.appendChild(up.node); return; }
      if (f.type === 'textarea') input = h('textarea', { name: f.name, rows: 6, required: f.required });
      else if (f.type === 'select') {
        input = h('select', { name: f.name, required: f.required },
          h('option', { value: '' }, t('new.choose')),
          (f.options || []).map(function (o) { return h('option', { value: o.value }, local(o.label)); }));
      } else input = h('input', { type: f.type === 'tel' ? 'tel' : 'text', name: f.name, required: f.required,
                                  autocomplete: f.type === 'tel' ? 'tel' : 'off' });
      form.appendChild(field(label, input));
      if (f.name === 'subject') {
        form.appendChild(suggest);
        input.addEventListener('input', function () {
          clearTimeout(timer);
          timer = setTimeout(function () {
            var q = input.value.trim();
            if (q.length < 3) { suggest.textContent = ''; return; }
            api('GET', '/kb/search?limit=5&q=' + encodeURIComponent(q)).then(function (r) {
              suggest.textContent = '';
              if (r.data.length) append(suggest, [h('p', t('new.suggest')), articleList(r.data.map(function (a) {
                return { slug: a.slug, title: a.title };
              }))]);
            }).catch(function () {});
          }, 300);
        });
      }
    });
    form.appendChild(h('button', { type: 'submit' }, t('new.submit')));
    form.addEventListener('submit', function (e) {
      e.preventDefault();
      var body = {};
      (boot.form || []).forEach(function (f) {
        if (f.type !== 'attachments' && form.elements[f.name]) body[f.name] = form.elements[f.name].value;
      });
      submitting(form, true);
      (up ? up.ids() : Promise.resolve([])).then(function (ids) {
        body.attachments = ids;
        return api('POST', '/tickets', body);
      }).then(function (tk) {
        go('/tickets/' + tk.number + '?created=1');
      }).catch(function (err) { submitting(form, false); showError(form, err); });
    });
    view(t('new.title'), [form]);
  }

  function ticket(number) {
    loading(number);
    api('GET', '/tickets/' + encodeURIComponent(number)).then(function (tk) {
      var created = /created=1/.test(location.search);
      var fields = boot.form || [];
      function label(name, value) {
        var f = fields.filter(function (x) { return x.name === name; })[0];
        var o = f && (f.options || []).filter(function (x) { return x.value === value; })[0];
        return o ? local(o.label) : value;
      }
      var facts = h('dl.facts',
        h('dt', t('tickets.status')), h('dd', statusBadge(tk.status)),
        h('dt', t('ticket.priority')), h('dd', t('priority.' + tk.priority)),
        tk.category ? [h('dt', t('ticket.category')), h('dd', label('category', tk.category))] : null,
        h('dt', t('ticket.opened')), h('dd', when(tk.created_at)),
        Object.keys(tk.fields || {}).map(function (k) {
          var f = fields.filter(function (x) { return x.name === k; })[0];
          return [h('dt', f ? local(f.label) : k), h('dd', label(k, tk.fields[k]))];
        }));
      var history = h('ol.history', tk.events.map(function (ev) {
        var who = ev.author === 'you' ? t('ticket.you')
                : ev.author === 'system' ? (ev.author_name || t('ticket.system'))
                : ev.author === 'agent' ? (ev.author_name || t('ticket.agent'))
                : (ev.author_name || t('ticket.customer'));
        var what = ev.type === 'created' ? t('ticket.created')
                 : ev.type === 'comment' ? t('ticket.comment')
                 : t('ticket.changed', { field: t('field.' + ev.type.replace('_changed', '')),
                                         from: ev.change ? change(ev.type, ev.change.from) : '',
                                         to: ev.change ? change(ev.type, ev.change.to) : '' });
        return h('li.event.by-' + ev.author,
          h('p.meta', h('strong', who), ' ', what, ' · ', h('time', { dateTime: ev.created_at }, when(ev.created_at)),
            ev.channel && ev.channel !== 'portal' && (ev.author === 'you' || ev.author === 'customer')
              ? ' · ' + t('ticket.via', { channel: t('channel.' + ev.channel) }) : ''),
          ev.body ? h('div.body', ev.body) : null,
          ev.attachments ? h('ul.files', ev.attachments.map(function (a) {
            return h('li', h('a', { href: '/_/api/tickets/' + tk.number + '/attachments/' + a.id },
                             a.filename), ' (' + size(a.size) + ')');
          })) : null);
      }));
      var nodes = [h('div.head', h('h1', h('span.num', tk.number), ' ', tk.subject)),
                   created ? h('p.alert.ok', { role: 'status' }, t('new.created', { number: tk.number })) : null,
                   facts, h('h2', t('ticket.history')), history];
      if (tk.status === 'closed') {
        nodes.push(h('p.note', t('ticket.closed.note')));
      } else {
        var done = null;
        if (tk.status === 'resolved') {
          nodes.push(h('p.note', t('ticket.resolved.note')));
        } else {
          done = h('form.card.wide.solved', { on: { submit: function (e) {
            e.preventDefault();
            submitting(done, true);
            api('POST', '/tickets/' + tk.number + '/resolve', {})
              .then(function () { go('/tickets/' + tk.number, true); })
              .catch(function (err) { submitting(done, false); showError(done, err); });
          } } }, alertBox(), h('p', t('ticket.solved.ask')),
            h('button.secondary', { type: 'submit' }, t('ticket.solved.submit')));
        }
        var up = uploader(t('new.files'));
        var form = h('form.card.wide.reply', { novalidate: true, on: { submit: function (e) {
          e.preventDefault();
          submitting(form, true);
          up.ids().then(function (ids) {
            return api('POST', '/tickets/' + tk.number + '/comments', { body: form.elements.body.value, attachments: ids });
          }).then(function () { go('/tickets/' + tk.number, true); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } }, alertBox(),
          field(t('ticket.reply'), h('textarea', { name: 'body', rows: 4 })), up.node,
          h('button', { type: 'submit' }, t('ticket.reply.submit')));
        nodes.push(form);
        if (done) nodes.push(done);
      }
      view(tk.number + ' ' + tk.subject, nodes);
    }).catch(failed);
  }

  function change(type, v) {
    if (v === null || v === undefined) return '—';
    if (type === 'status_changed') return t('status.' + v);
    if (type === 'priority_changed') return t('priority.' + v);
    return v;
  }

  function kb() {
    var q = new URLSearchParams(location.search).get('q');
    loading(t('kb.title'));
    if (q) {
      api('GET', '/kb/search?q=' + encodeURIComponent(q)).then(function (r) {
        view(t('kb.title'), [h('h1', t('kb.title')), searchForm(q), h('h2', t('kb.results', { q: q })),
                             r.data.length ? articleList(r.data) : h('p.empty', t('kb.noresults')),
                             link('/kb', t('kb.back'))]);
      }).catch(failed);
      return;
    }
    api('GET', '/kb').then(function (r) {
      var cats = r.categories.filter(function (c) { return c.articles.length; });
      view(t('kb.title'), [h('h1', t('kb.title')), searchForm(),
        cats.length || r.popular.length ? null : h('p.empty', t('kb.empty')),
        h('div.categories', cats.map(function (c) {
          return h('section.category', h('h2', c.name), c.description ? h('p', c.description) : null,
                   articleList(c.articles));
        }))]);
    }).catch(failed);
  }

  function article(slug) {
    loading(t('kb.title'));
    api('GET', '/kb/articles/' + slug).then(function (a) {
      var body = h('div.article-body');
      body.innerHTML = a.html;     /* rendered by the server: raw HTML removed */
      var votes = h('div.vote', { role: 'group', 'aria-label': t('kb.helpful') });
      function drawVotes(v) {
        votes.textContent = '';
        if (v.my_vote !== null && v.my_vote !== undefined) {
          append(votes, [h('p', t('kb.thanks')), v.helpful ? h('p.hint', t('kb.votes', { n: v.helpful })) : null]);
          return;
        }
        append(votes, [h('p', t('kb.helpful')),
          h('button', { type: 'button', on: { click: function () { vote(true); } } }, t('kb.yes')),
          h('button.secondary', { type: 'button', on: { click: function () { vote(false); } } }, t('kb.no'))]);
      }
      function vote(yes) {
        api('POST', '/kb/articles/' + slug + '/vote', { helpful: yes }).then(drawVotes).catch(function () {});
      }
      drawVotes(a);
      view(a.title, [h('p.crumbs', link('/kb', t('kb.title')), a.category ? ' › ' + a.category.name : ''),
                     h('article', h('h1', a.title), body), votes]);
    }).catch(failed);
  }

  function account() {
    var u = boot.user;
    var form = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(form, true);
      api('POST', '/password', { current: form.elements.current.value, password: form.elements.password.value })
        .then(function () { submitting(form, false); form.reset(); showOk(form, t('account.changed')); })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } },
      h('h2', t('account.password')), alertBox(),
      field(t('account.current'), h('input', { type: 'password', name: 'current', autocomplete: 'current-password', required: true })),
      field(t('account.new'), h('input', { type: 'password', name: 'password', autocomplete: 'new-password', minLength: 8, required: true }),
            t('signup.password.hint')),
      h('button', { type: 'submit' }, t('account.submit')));
    var out = h('button.secondary.logout', { type: 'button', on: { click: function () {
      api('POST', '/logout').then(function () { boot.user = null; go('/', true); }).catch(failed);
    } } }, t('nav.logout'));
    var details = h('form.card', { novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      submitting(details, true);
      api('PATCH', '/profile', { name: details.elements.name.value, phone: details.elements.phone.value })
        .then(function (r) { boot.user = r; submitting(details, false); showOk(details, t('account.saved')); })
        .catch(function (err) { submitting(details, false); showError(details, err); });
    } } },
      h('h2', t('account.details')), alertBox(),
      field(t('signup.name'), h('input', { name: 'name', value: u.name || '', autocomplete: 'name', maxLength: 200, required: true })),
      field(t('account.email'), h('input', { name: 'email', type: 'email', value: u.email || '', readOnly: true }),
            t('account.email.hint')),
      field(t('account.phone'), h('input', { name: 'phone', type: 'tel', value: u.phone || '', autocomplete: 'tel', maxLength: 40 })),
      h('button', { type: 'submit' }, t('account.save')));
    /* a copy of everything the helpdesk keeps that is theirs to see */
    var data = h('section.card', h('h2', t('account.data')), h('p', t('account.data.hint')), alertBox(),
      h('button.secondary.export', { type: 'button', on: { click: function (e) {
        e.target.disabled = true;
        api('GET', '/export').then(function (doc) {
          var a = h('a', { href: URL.createObjectURL(new Blob([JSON.stringify(doc, null, 2)], { type: 'application/json' })),
                           download: 'my-data.json' });
          document.body.appendChild(a);
          a.click();
          setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
          e.target.disabled = false;
        }).catch(function (err) { e.target.disabled = false; showError(data, err); });
      } } }, t('account.data.download')));
    view(t('account.title'), [h('h1', t('account.title')),
                              h('p.who', h('strong', u.name || ''), ' ', h('span', u.email)), details, form, data, out]);
  }

  /* ---------- start ---------- */

  function brand() {
    var b = (boot.portal && boot.portal.branding) || {}, root = document.documentElement.style;
    function ink(hex) {      /* black or white, whichever reads better on it */
      var c = [1, 3, 5].map(function (i) {
        var v = parseInt(hex.substr(i, 2), 16) / 255;
        return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
      });
      var l = 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
      return (1.05 / (l + 0.05)) >= ((l + 0.05) / 0.05) ? '#ffffff' : '#111111';
    }
    if (/^#[0-9a-fA-F]{6}$/.test(b.primary_color || '')) {
      root.setProperty('--primary', b.primary_color);
      root.setProperty('--on-primary', ink(b.primary_color));
    }
    if (/^#[0-9a-fA-F]{6}$/.test(b.secondary_color || '')) {
      root.setProperty('--secondary', b.secondary_color);
      root.setProperty('--on-secondary', ink(b.secondary_color));
    }
  }

  /* the tenant's website chat, from this server (its loader, as on any site) */
  if (boot.chat && boot.chat.script && boot.chat.tenant) {
    var chatjs = document.createElement('script');
    chatjs.async = true;
    chatjs.src = boot.chat.script;
    chatjs.setAttribute('data-tenant', boot.chat.tenant);
    document.body.appendChild(chatjs);
  }

  brand();
  HD.load(function () {
    document.querySelector('.skip').textContent = t('skip');
    document.getElementById('foot').textContent = boot.tenant.name;
    route();
  });
})();
