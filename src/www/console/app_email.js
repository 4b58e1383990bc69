  /* app.parts: the email channel in the console: a mail in a ticket's
     history; the admin's E-mail tab, one page in three sections: the
     mailboxes mail arrives at (/v1/email/mailboxes, /v1/email/threading),
     who the mail we send is from (/v1/email/settings: the sender, the
     signature, a relay of the tenant's own, the DKIM record to publish),
     and each kind of mail's wording per language with a preview of the
     mail it makes (/v1/email/templates; shown in a sandboxed frame:
     nothing in it runs).  Each section loads and saves on its own. */

  /* ---------- a mail in the history ---------- */

  function attachmentUrl(number, id) {
    return base + '/_/api/tickets/' + encodeURIComponent(number) + '/attachments/' + encodeURIComponent(id);
  }

  function person(p) {
    if (!p) return '';
    if (typeof p === 'string') return p;
    return p.name && p.address ? p.name + ' <' + p.address + '>' : p.address || p.name || '';
  }

  function people(list) {
    return (list || []).map(person).filter(Boolean).join(', ');
  }

  /*
   * The mail's HTML is the server's (the parser's allow-list: no scripts,
   * no styles, no event handlers, links http/https/mailto, images cid:
   * only).  It is still shown in a frame of its own, never in the
   * console's page: a sandbox without scripts (so nothing in it runs even
   * if the allow-list failed), no forms, no navigation of the console, its
   * links opened in a new tab; and a policy of its own on top of the
   * console's (which the frame inherits): no request but this console's
   * own files, so a remote image or font is never fetched.  The frame
   * keeps the console's origin (no scripts run in it) only so that the
   * console can size it to its text and its cid: images load from the
   * ticket's attachments with the agent's session.
   *
   * The HTML is parsed by DOMParser (an inert document: nothing runs,
   * nothing loads) to point cid: images at the attachments and to mark
   * the links; it reaches the frame as srcdoc.
   */
  var FRAME_CSP = "default-src 'none'; img-src 'self'; style-src 'self'; base-uri 'none'; form-action 'none'";

  function mailFrame(html, images, number) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    Array.prototype.forEach.call(doc.querySelectorAll('img'), function (img) {
      var m = /^cid:(.+)$/i.exec(img.getAttribute('src') || ''), id = m && images && images[m[1]];
      if (id) img.setAttribute('src', attachmentUrl(number, id));
      else img.removeAttribute('src');
    });
    Array.prototype.forEach.call(doc.querySelectorAll('a[href]'), function (a) {
      if (!/^(https?:|mailto:)/i.test(a.getAttribute('href'))) { a.removeAttribute('href'); return; }
      a.setAttribute('target', '_blank');
      a.setAttribute('rel', 'noopener noreferrer');
    });
    /* the frame's own head, built as nodes (the serializer escapes) */
    var head = doc.head, sheet = document.querySelector('link[rel=stylesheet]');
    head.textContent = '';
    [['meta', { charset: 'utf-8' }],
     ['meta', { 'http-equiv': 'Content-Security-Policy', content: FRAME_CSP }],
     ['meta', { name: 'referrer', content: 'no-referrer' }],
     sheet ? ['link', { rel: 'stylesheet', href: sheet.getAttribute('href') }] : null].forEach(function (x) {
      if (!x) return;
      var el = doc.createElement(x[0]);
      Object.keys(x[1]).forEach(function (k) { el.setAttribute(k, x[1][k]); });
      head.appendChild(el);
    });
    doc.documentElement.className = 'mail-doc';
    doc.body.className = 'mail-doc';
    var src = '<!doctype html>' + doc.documentElement.outerHTML;
    var frame = h('iframe.mail-html', { title: t('c.mail.html'), referrerPolicy: 'no-referrer' });
    frame.setAttribute('sandbox', 'allow-same-origin allow-popups allow-popups-to-escape-sandbox');
    frame.srcdoc = src;
    frame.addEventListener('load', function () {
      var d = frame.contentDocument;
      if (!d || !d.body) return;
      /* as tall as its text (measured in a frame made short first: a
         document fills at least its viewport), up to a long page; again
         once each image arrives */
      function fit() {
        frame.style.height = '1px';
        frame.style.height = Math.min(Math.max(d.documentElement.scrollHeight, 40), 1600) +
                             frame.offsetHeight - frame.clientHeight + 'px';
      }
      fit();
      Array.prototype.forEach.call(d.images, function (img) { img.addEventListener('load', fit); });
    });
    return frame;
  }

  /* the header lines, the text or the safe HTML, the original, the files */
  function mailBlock(ev, number) {
    var m = ev.email, files = ev.attachments || [], images = m.images || {};
    var shown = {};
    Object.keys(images).forEach(function (k) { shown[images[k]] = true; });
    var original = files.filter(function (a) { return a.source === 'email_original'; })[0];
    var rows = [['c.mail.from', person(m.from)], ['c.mail.to', people(m.to)], ['c.mail.cc', people(m.cc)],
                ['c.mail.subject', m.subject]].filter(function (r) { return r[1]; });
    return {
      head: h('dl.mail-head', rows.map(function (r) { return [h('dt', t(r[0])), h('dd', r[1])]; })),
      body: m.html ? mailFrame(m.html, images, number) : ev.body ? h('div.body', ev.body) : null,
      foot: h('p.mail-foot',
        m.trimmed ? h('span.muted', t('c.mail.trimmed')) : null, m.trimmed ? ' ' : null,
        original ? h('a.original', { href: attachmentUrl(number, original.id), download: 'original.eml' },
                     t('c.mail.original')) : null,
        (m.refused || []).length ? h('span.mail-refused', ' · ' + t('c.mail.refused', {
          files: m.refused.map(function (r) { return r.filename + ' (' + r.reason + ')'; }).join(', ') })) : null,
        m.ccs_not_added && (m.ccs_not_added.addresses || []).length
          ? h('span.mail-ccs-left', ' · ' + t('c.mail.ccs_not_added', { max: m.ccs_not_added.max,
              addresses: m.ccs_not_added.addresses.join(', ') })) : null),
      /* what the list of files shows: not the original, nor the images
         already in the HTML */
      files: files.filter(function (a) { return a.source !== 'email_original' && !(m.html && shown[a.id]); })
    };
  }

  /* ---------- admin: the E-mail tab ---------- */

  var EMAIL_SECTIONS = [['email-in', 'c.email.section.in'], ['email-sender', 'c.email.section.sender'],
                        ['email-templates', 'c.email.templates']];

  function emailAdmin(panel) {
    var sections = EMAIL_SECTIONS.map(function (s) {
      return h('section.email-section#' + s[0], { 'aria-labelledby': s[0] + '-title' },
               h('h2#' + s[0] + '-title', t(s[1])));
    });
    /* where each section is, at the top: buttons, since the hash names the tab */
    var jump = h('nav.email-jump', { 'aria-label': t('c.tab.email') }, EMAIL_SECTIONS.map(function (s, k) {
      return h('button.link', { type: 'button', on: { click: function () {
        var title = sections[k].querySelector('h2');
        title.setAttribute('tabindex', '-1');
        title.focus();
        sections[k].scrollIntoView({ block: 'start' });
      } } }, t(s[1]));
    }));
    append(panel, [jump].concat(sections));
    var back = oauthBack;
    oauthBack = null;
    mailboxesAdmin(sections[0], back ? { back: back } : null);
    emailSenderAdmin(sections[1]);
    sections[2].appendChild(emailTemplates());
  }

  /* ---------- the mailboxes, the threading setting ---------- */

  var RULE_WHEN = ['from_domain', 'subject', 'recipient'];
  var MAILBOX_KINDS = ['inbound', 'imap', 'microsoft365', 'gmail'];
  var PROVIDER = { microsoft365: 'Microsoft', gmail: 'Google' };

  /*
   * The provider sends the admin back to the callback, which answers 303
   * to /admin?tab=email&email_oauth=ok|refused|invalid&mailbox=&detail=.
   * admin() asks this which tab to open; the outcome is kept for the E-mail
   * tab and the query string dropped (a reload does not show it again).
   */
  var oauthBack = null;

  function emailOAuthReturn() {
    var q = new URLSearchParams(location.search);
    if (!q.has('tab') && !q.has('email_oauth')) return null;
    var tab = q.get('tab') || 'email';
    if (q.has('email_oauth')) {
      oauthBack = { outcome: q.get('email_oauth'), mailbox: q.get('mailbox') || '', detail: q.get('detail') || '',
                    code: q.get('code') || '' };
      tab = 'email';
    }
    history.replaceState(null, '', base + '/admin#' + tab);
    return tab;
  }

  function isOAuth(m) { return m && PROVIDER.hasOwnProperty(m.kind); }

  /* a health's or a consent's reason: the server's code in the admin's
     language, or its English text where the code has no words here */
  function reasonText(code, text) {
    var key = 'c.mail.reason.' + code;
    return code && t(key) !== key ? t(key) : text || '';
  }

  /* a read-only text with a button that copies it */
  function copyRow(value, label, cls) {
    var input = h('input' + (cls || ''), { readOnly: true, value: value, 'aria-label': label });
    var copied = h('span.muted', { role: 'status' });
    return h('div.row', input, h('button.secondary.copy', { type: 'button', on: { click: function () {
      input.select();
      var done = function () { copied.textContent = t('c.mail.copied'); };
      if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(value).then(done, function () {});
      else if (document.execCommand('copy')) done();
    } } }, t('c.mail.copy')), copied);
  }

  /* right after creating a Microsoft 365 or Gmail mailbox (or asking for a
     new consent): the redirect URI to register, and the way to the consent */
  function oauthStart(m) {
    var until = m.authorize_expires_at ? new Date(m.authorize_expires_at) : null;
    return h('section.card.wide.once.oauth-start', { 'aria-labelledby': 'oauth-start-title' },
      h('h3#oauth-start-title', t('c.mail.oauth.start', { address: m.address })),
      h('p', t('c.mail.redirect.text', { provider: PROVIDER[m.kind] })),
      copyRow(m.redirect_uri, t('c.mail.redirect'), '.redirect-uri'),
      h('p.hint', t('c.mail.redirect.hint')),
      h('div.row', h('a.button.authorize', { href: m.authorize_url, rel: 'noreferrer' },
                     t('c.mail.authorize', { provider: PROVIDER[m.kind] })),
        until ? h('span.muted', t('c.mail.authorize.until', {
          time: until.toLocaleTimeString(HD.lang, { hour: '2-digit', minute: '2-digit' }) })) : null));
  }

  /* the consent's outcome; when given, the mailbox's first connection,
     watched every 2 s for up to a minute (the fetch job exchanges the code) */
  function oauthResult(back, boxes, redraw) {
    var m = boxes.filter(function (b) { return b.id === back.mailbox; })[0];
    var address = m ? m.address : t('c.mail.oauth.mailbox');
    var box = h('div.alert.oauth-result', { role: 'status', tabindex: '-1' });
    function say(cls, text) { box.className = 'alert oauth-result ' + cls; box.textContent = text; }
    function final(m) {
      var s = m.health && m.health.state;
      if (s === 'ok') return ['ok', t('c.mail.oauth.ok', { address: m.address })];
      if (s && s !== 'unknown' && !(m.oauth && m.oauth.pending))
        return ['error', t('c.mail.oauth.failed', { address: m.address, state: t('c.mail.health.' + s),
                                                      reason: reasonText(m.health.code, m.health.reason) })];
      return null;
    }
    if (back.outcome !== 'ok') {
      say('error', t(back.outcome === 'refused' ? 'c.mail.oauth.refused' : 'c.mail.oauth.invalid',
                     { address: address, detail: reasonText(back.code, back.detail) }));
    } else if (back.shown) {
      say(back.shown[0], back.shown[1]);
    } else {
      say('wait', t('c.mail.oauth.waiting', { address: address }));
      var started = Date.now();
      (function poll() {
        setTimeout(function () {
          if (!document.body.contains(box)) return;       /* the admin went elsewhere */
          rest('GET', '/v1/email/mailboxes').then(function (r) {
            if (!document.body.contains(box)) return;
            var now = r.data.filter(function (b) { return b.id === back.mailbox; })[0];
            var done = now ? final(now) : ['error', t('c.mail.oauth.gone')];
            if (!done && Date.now() - started >= 60000) done = ['error', t('c.mail.oauth.slow', { address: address })];
            if (!done) return poll();
            back.shown = done;
            redraw({ back: back });
            announce(done[1]);
          }).catch(function () { if (Date.now() - started < 60000) poll(); });
        }, 2000);
      })();
    }
    return box;
  }

  function mailboxesAdmin(section, made) {
    var body = section.appendChild(h('div.email-body'));
    Promise.all([rest('GET', '/v1/email/mailboxes'), rest('GET', '/v1/email/threading')]).then(function (r) {
      var boxes = r[0].data;

      /* the inbound URL, shown once: after creating or rotating */
      function once(address, url) {
        return h('section.card.wide.once', { 'aria-labelledby': 'once-title' },
          h('h3#once-title', t('c.mail.url.once', { address: address })),
          h('p', t('c.mail.url.keep')),
          copyRow(url, t('c.mail.url'), '.inbound-url'),
          h('p.hint', t('c.mail.postfix')),
          h('pre.code.postfix', 'helpdesk  unix  -       n       n       -       4       pipe\n' +
            '  flags=Rq user=nobody argv=/usr/local/bin/helpdesk-mail ' + url));
      }

      function ruleRow(rule) {
        var w = (rule && rule.when) || {}, s = (rule && rule.set) || {}, key = Object.keys(w)[0] || 'from_domain';
        var row = h('li.rule',
          h('select', { name: 'when', 'aria-label': t('c.mail.rule.when') }, RULE_WHEN.map(function (k) {
            return h('option', { value: k, selected: k === key }, t('c.mail.rule.' + k));
          })),
          h('input', { name: 'value', value: w[key] || '', 'aria-label': t('c.mail.rule.value') }),
          h('span', '→'),
          h('input', { name: 'category', value: s.category || '', placeholder: t('c.field.category'),
                       'aria-label': t('c.field.category') }),
          h('select', { name: 'priority', 'aria-label': t('c.field.priority') },
            [['', t('c.mail.rule.keep', { field: t('c.field.priority') })]].concat(PRIORITIES.map(function (p) {
              return [p, t('c.priority.' + p)];
            })).map(function (o) { return h('option', { value: o[0], selected: o[0] === (s.priority || '') }, o[1]); })),
          h('select', { name: 'assignee', 'aria-label': t('c.field.assignee') },
            [['', t('c.unassigned')]].concat((boot.agents || []).map(function (a) { return [a.id, a.name]; }))
              .map(function (o) { return h('option', { value: o[0], selected: o[0] === (s.assignee || '') }, o[1]); })),
          h('button.link', { type: 'button', on: { click: function () { row.remove(); } } }, t('c.mail.rule.remove')));
        return row;
      }

      function readRules(list) {
        return Array.prototype.map.call(list.querySelectorAll('li.rule'), function (li) {
          var q = function (n) { return li.querySelector('[name=' + n + ']').value.trim(); };
          var when = {}, set = {};
          when[q('when')] = q('value');
          ['category', 'priority', 'assignee'].forEach(function (k) { if (q(k)) set[k] = q(k); });
          return { when: when, set: set };
        });
      }

      function card(m) {
        var rules = h('ol.rules', (m.rules || []).map(ruleRow));
        var form = h('form.card.wide.mailbox', { novalidate: true, 'aria-label': m.address, on: { submit: function (e) {
          e.preventDefault();
          var el = form.elements, body = {
            name: el.name.value, enabled: el.enabled.checked,
            sender_limit: parseInt(el.sender_limit.value, 10) || 0,
            ignore: el.ignore.value.split(/[\s,]+/).filter(Boolean),
            rules: readRules(rules) };
          readConnection(m, el, body);
          submitting(form, true);
          rest('PATCH', '/v1/email/mailboxes/' + m.id, body)
            .then(function (saved) {
              submitting(form, false);
              /* the connection changed: checked now, its health shown again */
              if (['url', 'username', 'password'].some(function (k) { return k in body; })) {
                redraw(null);
                announce(t('c.saved'));
                return;
              }
              m = saved;
              showOk(form, t('c.saved'));
            })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } },
          h('h3', m.address, ' ', m.kind === 'inbound' ? h('span.badge.mail-push', t('c.mail.push'))
            : [h('span.badge.mail-kind', t('c.mail.kind.' + m.kind)), ' ',
               h('span.badge.health.health-' + ((m.health && m.health.state) || 'unknown'),
                 t('c.mail.health.' + ((m.health && m.health.state) || 'unknown')))]),
          m.health && m.health.reason ? h('p.hint.health-reason', { title: m.health.reason },
                                          reasonText(m.health.code, m.health.reason)) : null,
          isOAuth(m) ? h('p.hint', m.oauth && m.oauth.authorized ? t('c.mail.oauth.authorized', { provider: PROVIDER[m.kind] })
                                   : m.oauth && m.oauth.pending ? t('c.mail.oauth.pending')
                                   : t('c.mail.oauth.never', { provider: PROVIDER[m.kind] })) : null,
          alertBox(),
          h('div.grid2', field(t('c.name'), h('input', { name: 'name', value: m.name || '', maxLength: 100 })),
            field(t('c.mail.limit'), h('input', { name: 'sender_limit', type: 'number', min: 1, max: 10000,
                                                   value: m.sender_limit }), t('c.mail.limit.hint'))),
          h('label.check', h('input', { type: 'checkbox', name: 'enabled', checked: m.enabled }), ' ', t('c.mail.enabled')),
          connection(m),
          h('fieldset.rules-set', h('legend', t('c.mail.rules')), h('p.hint', t('c.mail.rules.hint')), rules,
            h('button.secondary', { type: 'button', on: { click: function () {
              rules.appendChild(ruleRow(null));
              rules.lastChild.querySelector('input').focus();
            } } }, t('c.mail.rule.add'))),
          field(t('c.mail.ignore'), h('textarea', { name: 'ignore', rows: 3, value: (m.ignore || []).join('\n') }),
                t('c.mail.ignore.hint')),
          h('div.row', h('button', { type: 'submit' }, t('c.save')),
            isOAuth(m) && !(m.oauth && m.oauth.pending) &&
              (!(m.oauth && m.oauth.authorized) || (m.health && m.health.state === 'auth_failed'))
              ? h('button.secondary.authorize', { type: 'button', on: { click: function () {
                rest('POST', '/v1/email/mailboxes/' + m.id + '/authorize').then(function (x) {
                  location.assign(x.authorize_url);
                }).catch(function (err) { showError(form, err); });
              } } }, t('c.mail.authorize.again')) : null,
            m.kind === 'inbound' ? h('button.secondary.rotate', { type: 'button', on: { click: function () {
              if (!confirm(t('c.mail.rotate.confirm', { address: m.address }))) return;
              rest('PATCH', '/v1/email/mailboxes/' + m.id, { rotate_token: true }).then(function (x) {
                redraw({ address: m.address, url: x.inbound_url });
              }).catch(function (err) { showError(form, err); });
            } } }, t('c.mail.rotate')) : null,
            h('button.secondary', { type: 'button', on: { click: function () {
              if (!confirm(t(m.kind === 'inbound' ? 'c.mail.delete.confirm' : 'c.mail.delete.confirm.fetched',
                             { address: m.address }))) return;
              rest('DELETE', '/v1/email/mailboxes/' + m.id).then(function () { redraw(null); announce(t('c.saved')); })
                .catch(function (err) { showError(form, err); });
            } } }, t('c.delete'))));
        return form;
      }

      /* a field of a mailbox's card: its id its own (the cards and the new
         mailbox's form have fields of the same names) */
      function ownField(m, label, input, hint) {
        var f = field(label, input, hint), id = 'f-' + m.id + '-' + input.name;
        input.id = id;
        f.querySelector('label').htmlFor = id;
        return f;
      }

      /* a fetched mailbox's connection: the folder, the login (the
         password never shown: empty keeps it), where read mail goes, how
         often; a provider's mailbox, the last two */
      function connection(m) {
        if (m.kind === 'inbound') return null;
        var imap = m.kind === 'imap';
        return h('fieldset.connection', h('legend', t('c.mail.connection')),
          imap ? [h('p.hint', t('c.mail.connection.hint')),
            ownField(m, t('c.mail.imap.url'), h('input', { name: 'url', value: m.url || '', maxLength: 500,
                                                           spellcheck: false }), t('c.mail.imap.url.hint')),
            h('div.grid2',
              ownField(m, t('c.mail.imap.username'), h('input', { name: 'username', value: m.username || '',
                                                                  maxLength: 254, autocomplete: 'off' })),
              ownField(m, t('c.mail.imap.password'), h('input', { name: 'password', type: 'password', maxLength: 1024,
                                                                  autocomplete: 'new-password',
                                                                  placeholder: m.password_set ? '••••••••' : '' }),
                       t('c.mail.imap.password.keep')))] : null,
          h('div.grid2',
            ownField(m, t('c.mail.move_to'), h('input', { name: 'move_to', value: m.move_to || '', maxLength: 200,
                                                          spellcheck: false }), t('c.mail.move_to.hint')),
            ownField(m, t('c.mail.poll'), h('input', { name: 'poll_interval', type: 'number', min: 30, max: 86400,
                                                       value: m.poll_interval || 60 }), t('c.mail.poll.hint'))));
      }

      /* what of the connection changed goes in the PATCH: the same folder
         and login again would check the connection for nothing */
      function readConnection(m, el, body) {
        if (m.kind === 'inbound') return;
        if (m.kind === 'imap') {
          if (el.url.value.trim() !== (m.url || '')) body.url = el.url.value.trim();
          if (el.username.value.trim() !== (m.username || '')) body.username = el.username.value.trim();
          if (el.password.value) body.password = el.password.value;
        }
        var move = el.move_to.value.trim() || null, poll = el.poll_interval.value.trim();
        if (move !== (m.move_to || null)) body.move_to = move;
        if (poll !== String(m.poll_interval)) body.poll_interval = /^\d+$/.test(poll) ? parseInt(poll, 10) : poll;
      }

      /* a new mailbox: its kind says which fields it takes */
      function kindFields(kind, nodes) {
        return h('div.kind-fields', { 'data-kinds': kind }, nodes);
      }
      var hint = h('p.hint.kind-hint', t('c.mail.new.hint'));
      var create = h('form.card.wide.mailbox-new', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = create.elements, kind = el.mailbox_kind.value,
            body = { kind: kind, address: el.address.value.trim(), name: el.name.value.trim() };
        if (kind === 'imap') {
          body.url = el.url.value.trim();
          body.username = el.username.value.trim();
          body.password = el.password.value;
        } else if (PROVIDER[kind]) {
          body.client_id = el.client_id.value.trim();
          body.client_secret = el.client_secret.value.trim();
        }
        submitting(create, true);
        rest('POST', '/v1/email/mailboxes', body)
          .then(function (x) {
            redraw(x.inbound_url ? { address: x.address, url: x.inbound_url } : x.authorize_url ? { start: x } : null);
            if (!x.inbound_url && !x.authorize_url) announce(t('c.saved'));
          })
          .catch(function (err) {
            (err.errors || []).forEach(function (fe) { if (fe.field === 'kind') fe.field = 'mailbox_kind'; });
            submitting(create, false); showKind(); showError(create, err);
          });
      }, change: function (e) { if (e.target.name === 'mailbox_kind') showKind(); } } },
        h('h3', t('c.mail.new')), hint, alertBox(),
        field(t('c.mail.kind'), h('select', { name: 'mailbox_kind' }, MAILBOX_KINDS.map(function (k) {
          return h('option', { value: k }, t('c.mail.kind.' + k));
        }))),
        h('div.grid2', field(t('c.email'), h('input', { name: 'address', type: 'email', required: true,
                                                       placeholder: 'suporte@example.com' })),
          field(t('c.name'), h('input', { name: 'name', maxLength: 100 }))),
        kindFields('imap', [
          field(t('c.mail.imap.url'), h('input', { name: 'url', maxLength: 500, placeholder: 'imaps://mail.example.com/INBOX' }),
                t('c.mail.imap.url.hint')),
          h('div.grid2', field(t('c.mail.imap.username'), h('input', { name: 'username', maxLength: 254, autocomplete: 'off' })),
            field(t('c.mail.imap.password'), h('input', { name: 'password', type: 'password', maxLength: 1024,
                                                            autocomplete: 'new-password' })))]),
        kindFields('microsoft365 gmail', [
          h('div.grid2', field(t('c.mail.client_id'), h('input', { name: 'client_id', maxLength: 500, autocomplete: 'off',
                                                                    spellcheck: false })),
            field(t('c.mail.client_secret'), h('input', { name: 'client_secret', type: 'password', maxLength: 1024,
                                                            autocomplete: 'new-password' })))]),
        h('button', { type: 'submit' }, t('c.mail.create')));

      /* only the chosen kind's fields show (and are sent) */
      function showKind() {
        var kind = create.elements.mailbox_kind.value;
        Array.prototype.forEach.call(create.querySelectorAll('.kind-fields'), function (g) {
          var on = g.getAttribute('data-kinds').split(' ').indexOf(kind) >= 0;
          g.hidden = !on;
          Array.prototype.forEach.call(g.querySelectorAll('input'), function (i) { i.disabled = !on; });
        });
        hint.textContent = kind === 'inbound' ? t('c.mail.new.hint')
          : kind === 'imap' ? t('c.mail.new.hint.imap') : t('c.mail.new.hint.oauth', { provider: PROVIDER[kind] });
      }
      showKind();

      var threading = h('form.card.wide.threading', { on: { change: function () {
        rest('PUT', '/v1/email/threading', { closed_reply: threading.elements.closed_reply.value })
          .then(function () { showOk(threading, t('c.saved')); })
          .catch(function (err) { showError(threading, err); });
      }, submit: function (e) { e.preventDefault(); } } },
        h('h3', t('c.mail.threading')), alertBox(),
        h('fieldset', h('legend', t('c.mail.closed')), ['reopen', 'follow_up'].map(function (v) {
          return h('label.check', h('input', { type: 'radio', name: 'closed_reply', value: v,
                                              checked: r[1].closed_reply === v }), ' ', t('c.mail.closed.' + v));
        })));

      body.textContent = '';
      append(body, [made && made.back ? oauthResult(made.back, boxes, redraw) : null,
                    h('p.hint', t('c.mail.hint')), made && made.url ? once(made.address, made.url) : null,
                    made && made.start ? oauthStart(made.start) : null]
        .concat(boxes.map(card), [create, threading]));
      if (senderThrough) senderThrough(boxes.filter(isOAuth));
      var first = body.querySelector('.once input, .oauth-result');
      if (first) first.focus();
    }).catch(function (err) { body.textContent = message(err); });

    /* only this section: what the other two hold stays as it is */
    function redraw(shown) {
      section.removeChild(body);
      mailboxesAdmin(section, shown);
    }
  }

  /* ---------- the mail we send: its sender, its wording ---------- */

  var EMAIL_KINDS = ['ticket_received', 'agent_reply', 'status_changed', 'resolved',
                     'password_reset', 'invitation', 'verification', 'chat_transcript'],
      EMAIL_NOTICES = ['ticket_received', 'status_changed', 'resolved'],
      EMAIL_LANGS = ['pt-BR', 'es', 'en'];

  function emailSenderAdmin(section) {
    Promise.all([rest('GET', '/v1/email/settings'), rest('GET', '/v1/email/mailboxes')]).then(function (r) {
      append(section, [h('p.hint', t('c.email.sender.hint')), emailSender(r[0], r[1].data.filter(isOAuth))]);
    }).catch(function (err) { section.appendChild(h('p', message(err))); });
  }

  /* the sender's "send through" list drawn again with the mailboxes as
     they are now (one created or deleted above), its choice kept */
  var senderThrough = null;

  /* send through the outgoing server below, or one of the tenant's
     Microsoft 365 / Gmail mailboxes (from its address, with its token) */
  function emailThrough(s, boxes) {
    var chosen = s.smtp_mailbox;
    if (chosen && !boxes.some(function (b) { return b.id === chosen.id; })) boxes = boxes.concat([chosen]);
    return h('div.through',
      field(t('c.email.through'), h('select', { name: 'smtp_mailbox_id' },
        [h('option', { value: '', selected: !chosen }, t('c.email.through.relay'))].concat(boxes.map(function (b) {
          return h('option', { value: b.id, selected: !!chosen && chosen.id === b.id },
                   b.address + ' (' + t('c.mail.kind.' + b.kind) + ')');
        }))), boxes.length ? t('c.email.through.hint') : t('c.email.through.none')),
      chosen && !chosen.active ? h('p.alert.error.through-inactive', t('c.email.through.inactive', { address: chosen.address })) : null);
  }

  function emailSender(s, boxes) {
    var relay = s.relay || {}, dkim = s.dkim || {};
    var form = h('form.card.wide.sender', { 'aria-labelledby': 'email-sender-title', novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var el = form.elements, body = {
        from_name: el.from_name.value.trim() || null,
        from_address: el.from_address.value.trim() || null,
        reply_to: el.reply_to.value.trim() || null,
        signature: el.signature.value,
        smtp_url: el.smtp_url.value.trim() || null,
        smtp_mailbox_id: el.smtp_mailbox_id.value || null,
        notify: {}
      };
      EMAIL_NOTICES.forEach(function (k) { body.notify[k] = el['notify_' + k].checked; });
      if (body.smtp_url) {
        body.smtp_user = el.smtp_user.value.trim() || null;
        /* an empty password field keeps the stored one */
        if (el.smtp_password.value) body.smtp_password = el.smtp_password.value;
      }
      submitting(form, true);
      rest('PUT', '/v1/email/settings', body).then(function (saved) {
        submitting(form, false);
        showOk(form, t('c.saved'));
        form.replaceChild(emailDkim(saved.dkim || {}), form.querySelector('.dkim'));
        s = saved;
        form.replaceChild(emailVerified(saved), form.querySelector('.verified'));
        form.replaceChild(emailThrough(saved, boxes), form.querySelector('.through'));
      })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } }, alertBox(),
      field(t('c.email.from_name'), h('input', { name: 'from_name', value: s.from_name || '', maxlength: 100 })),
      field(t('c.email.from_address'), h('input', { name: 'from_address', type: 'email', value: s.from_address || '', maxlength: 254 }),
            t('c.email.from_address.hint')),
      emailVerified(s),
      field(t('c.email.reply_to'), h('input', { name: 'reply_to', type: 'email', value: s.reply_to || '', maxlength: 254 })),
      field(t('c.email.signature'), h('textarea', { name: 'signature', rows: 4, value: s.signature || '', maxlength: 2000 })),
      h('fieldset.notify', h('legend', t('c.email.notify')), h('p.hint', t('c.email.notify.hint')),
        EMAIL_NOTICES.map(function (k) {
          return h('label.check', h('input', { type: 'checkbox', name: 'notify_' + k, checked: !!(s.notify || {})[k] }),
                   ' ', t('c.email.kind.' + k));
        })),
      h('h3', t('c.email.sending')),
      emailThrough(s, boxes),
      h('h3', t('c.email.relay')),
      h('p.hint', relay.kind === 'tenant' ? t('c.email.relay.own') : t('c.email.relay.provider')),
      field(t('c.email.smtp_url'), h('input', { name: 'smtp_url', value: relay.url || '', placeholder: 'smtp://smtp.example.com:587' }),
            t('c.email.smtp_url.hint')),
      field(t('c.email.smtp_user'), h('input', { name: 'smtp_user', value: relay.user || '', autocomplete: 'off' })),
      field(t('c.email.smtp_password'), h('input', { name: 'smtp_password', type: 'password', autocomplete: 'new-password',
                                                     placeholder: relay.password_set ? '••••••••' : '' })),
      emailDkim(dkim),
      h('div.row', h('button', { type: 'submit' }, t('c.save'))));
    senderThrough = function (now) {
      if (!document.body.contains(form)) return;
      var sel = form.elements.smtp_mailbox_id, keep = sel.value;
      boxes = now;
      form.replaceChild(emailThrough(s, boxes), form.querySelector('.through'));
      if (!keep || now.some(function (b) { return b.id === keep; })) form.elements.smtp_mailbox_id.value = keep;
    };
    return form;
  }

  /* whether the provider's relay sends from the address yet: only once a
     link mailed to it came back (emailSenderConfirm) */
  function emailVerified(s) {
    if (!s.from_address) return h('div.verified');
    if (s.from_address_verified) {
      return h('div.verified', h('p.hint', t('c.email.verified', { address: s.from_address,
        date: new Date(s.from_address_verified_at).toLocaleDateString(HD.lang) })));
    }
    var box = h('div.verified', h('p.alert.error.unverified', t('c.email.unverified',
      { address: s.from_address, provider: s.provider_from || t('c.email.provider') })));
    var again = h('button.link', { type: 'button', on: { click: function () {
      again.disabled = true;
      rest('POST', '/v1/email/settings/verification', {}).then(function () {
        box.appendChild(h('p.hint', t('c.email.verify.sent', { address: s.from_address })));
      }).catch(function (err) {
        again.disabled = false;
        box.appendChild(h('p.alert.error', message(err)));
      });
    } } }, t('c.email.verify.again'));
    box.appendChild(again);
    return box;
  }

  /* <console>/sender/<token>: the link mailed to a sender address, brought
     back by the admin logged in (a link alone proves nothing: a scanner
     that follows links would) */
  function emailSenderConfirm(token) {
    var title = t('c.email.confirm.title');
    if (boot.user.role !== 'admin') {
      return view(title, [h('h1', title), h('p.alert.error', t('c.email.confirm.admin'))], 'narrow');
    }
    rest('POST', '/v1/email/settings/verify', { token: token }).then(function (r) {
      view(title, [h('h1', title), h('p.alert.ok', t('c.email.confirm.done', { address: r.address })),
                   link('/admin', t('c.admin'))], 'narrow');
    }).catch(function (err) {
      view(title, [h('h1', title), h('p.alert.error', message(err))], 'narrow');
    });
  }

  function emailDkim(dkim) {
    return h('div.dkim', h('h3', 'DKIM'), dkim.status === 'ready'
      ? [h('p.hint', t('c.email.dkim.ready')),
         h('p', h('code', dkim.record_name), ' TXT'), h('p', h('code.wrap', dkim.record_value))]
      : h('p.hint', t(dkim.status === 'pending' ? 'c.email.dkim.pending' : 'c.email.dkim.none')));
  }

  function emailTemplates() {
    var box = h('div'),
        kind = h('select', { name: 'kind', 'aria-label': t('c.email.kind') },
                 EMAIL_KINDS.map(function (k) { return h('option', { value: k }, t('c.email.kind.' + k)); })),
        lang = h('select', { name: 'lang', 'aria-label': t('c.language') },
                 EMAIL_LANGS.map(function (l) { return h('option', { value: l, selected: l === HD.lang }, l); }));

    function load() {
      box.textContent = '';
      var path = '/v1/email/templates/' + kind.value + '/' + lang.value;
      rest('GET', path).then(function (tp) {
        var out = h('div.mail-preview');
        var form = h('form.card.wide.template', { 'aria-label': t('c.email.kind.' + kind.value) + ' (' + lang.value + ')', novalidate: true, on: { submit: function (e) {
          e.preventDefault();
          submitting(form, true);
          rest('PUT', path, draft()).then(function () { submitting(form, false); showOk(form, t('c.saved')); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } }, alertBox(),
          h('p.hint', t(tp.custom ? 'c.email.custom' : 'c.email.default'), ' ',
            t('c.email.placeholders'), ' ', tp.placeholders.map(function (p) { return '{{' + p + '}}'; }).join(' ')),
          field(t('c.email.subject'), h('input', { name: 'subject', value: tp.subject, maxlength: 500, required: true })),
          field(t('c.email.text'), h('textarea', { name: 'text', rows: 8, value: tp.text })),
          field(t('c.email.html'), h('textarea', { name: 'html', rows: 8, value: tp.html })),
          h('div.row', h('button', { type: 'submit' }, t('c.save')),
            h('button.secondary', { type: 'button', on: { click: function () {
              rest('POST', path + '/preview', draft()).then(function (m) {
                out.textContent = '';
                append(out, [h('h3', t('c.email.preview')), h('p', h('strong', m.subject)),
                  h('pre.wrap', m.text),
                  h('iframe', { sandbox: '', title: t('c.email.preview'), srcdoc: m.html })]);
              }).catch(function (err) { showError(form, err); });
            } } }, t('c.email.preview')),
            tp.custom ? h('button.secondary', { type: 'button', on: { click: function () {
              rest('DELETE', path).then(function () { load(); announce(t('c.saved')); })
                .catch(function (err) { showError(form, err); });
            } } }, t('c.email.reset')) : null),
          out);
        function draft() {
          var el = form.elements;
          return { subject: el.subject.value, text: el.text.value, html: el.html.value };
        }
        append(box, [form]);
      }).catch(function (err) { box.textContent = message(err); });
    }

    kind.addEventListener('change', load);
    lang.addEventListener('change', load);
    load();
    return h('div.email-templates', h('p.hint', t('c.email.templates.hint')), h('div.row', kind, lang), box);
  }
