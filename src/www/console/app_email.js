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
          files: m.refused.map(function (r) { return r.filename + ' (' + r.reason + ')'; }).join(', ') })) : null),
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
    mailboxesAdmin(sections[0]);
    emailSenderAdmin(sections[1]);
    sections[2].appendChild(emailTemplates());
  }

  /* ---------- the mailboxes, the threading setting ---------- */

  var RULE_WHEN = ['from_domain', 'subject', 'recipient'];

  function mailboxesAdmin(section, made) {
    var body = section.appendChild(h('div.email-body'));
    Promise.all([rest('GET', '/v1/email/mailboxes'), rest('GET', '/v1/email/threading')]).then(function (r) {
      var boxes = r[0].data;

      /* the inbound URL, shown once: after creating or rotating */
      function once(address, url) {
        var input = h('input.inbound-url', { readOnly: true, value: url, 'aria-label': t('c.mail.url') });
        var copied = h('span.muted', { role: 'status' });
        return h('section.card.wide.once', { 'aria-labelledby': 'once-title' },
          h('h3#once-title', t('c.mail.url.once', { address: address })),
          h('p', t('c.mail.url.keep')),
          h('div.row', input, h('button.secondary.copy', { type: 'button', on: { click: function () {
            input.select();
            var done = function () { copied.textContent = t('c.mail.copied'); };
            if (navigator.clipboard && window.isSecureContext) navigator.clipboard.writeText(url).then(done, function () {});
            else if (document.execCommand('copy')) done();
          } } }, t('c.mail.copy')), copied),
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
          var el = form.elements;
          submitting(form, true);
          rest('PATCH', '/v1/email/mailboxes/' + m.id, {
            name: el.name.value, enabled: el.enabled.checked,
            sender_limit: parseInt(el.sender_limit.value, 10) || 0,
            ignore: el.ignore.value.split(/[\s,]+/).filter(Boolean),
            rules: readRules(rules) })
            .then(function () { submitting(form, false); showOk(form, t('c.saved')); })
            .catch(function (err) { submitting(form, false); showError(form, err); });
        } } },
          h('h3', m.address, ' ', m.kind === 'inbound' ? h('span.badge.mail-push', t('c.mail.push'))
            : h('span.badge.health-' + ((m.health && m.health.state) || 'unknown'),
                t('c.mail.health.' + ((m.health && m.health.state) || 'unknown')))),
          m.health && m.health.reason ? h('p.hint', m.health.reason) : null,
          alertBox(),
          h('div.grid2', field(t('c.name'), h('input', { name: 'name', value: m.name || '', maxLength: 100 })),
            field(t('c.mail.limit'), h('input', { name: 'sender_limit', type: 'number', min: 1, max: 10000,
                                                   value: m.sender_limit }), t('c.mail.limit.hint'))),
          h('label.check', h('input', { type: 'checkbox', name: 'enabled', checked: m.enabled }), ' ', t('c.mail.enabled')),
          h('fieldset.rules-set', h('legend', t('c.mail.rules')), h('p.hint', t('c.mail.rules.hint')), rules,
            h('button.secondary', { type: 'button', on: { click: function () {
              rules.appendChild(ruleRow(null));
              rules.lastChild.querySelector('input').focus();
            } } }, t('c.mail.rule.add'))),
          field(t('c.mail.ignore'), h('textarea', { name: 'ignore', rows: 3, value: (m.ignore || []).join('\n') }),
                t('c.mail.ignore.hint')),
          h('div.row', h('button', { type: 'submit' }, t('c.save')),
            h('button.secondary.rotate', { type: 'button', on: { click: function () {
              if (!confirm(t('c.mail.rotate.confirm', { address: m.address }))) return;
              rest('PATCH', '/v1/email/mailboxes/' + m.id, { rotate_token: true }).then(function (x) {
                redraw({ address: m.address, url: x.inbound_url });
              }).catch(function (err) { showError(form, err); });
            } } }, t('c.mail.rotate')),
            h('button.secondary', { type: 'button', on: { click: function () {
              if (!confirm(t('c.mail.delete.confirm', { address: m.address }))) return;
              rest('DELETE', '/v1/email/mailboxes/' + m.id).then(function () { redraw(null); announce(t('c.saved')); })
                .catch(function (err) { showError(form, err); });
            } } }, t('c.delete'))));
        return form;
      }

      var create = h('form.card.wide.mailbox-new', { novalidate: true, on: { submit: function (e) {
        e.preventDefault();
        var el = create.elements;
        submitting(create, true);
        rest('POST', '/v1/email/mailboxes', { address: el.address.value.trim(), name: el.name.value.trim() })
          .then(function (x) { redraw({ address: x.address, url: x.inbound_url }); })
          .catch(function (err) { submitting(create, false); showError(create, err); });
      } } }, h('h3', t('c.mail.new')), h('p.hint', t('c.mail.new.hint')), alertBox(),
        h('div.grid2', field(t('c.email'), h('input', { name: 'address', type: 'email', required: true,
                                                       placeholder: 'suporte@example.com' })),
          field(t('c.name'), h('input', { name: 'name', maxLength: 100 }))),
        h('button', { type: 'submit' }, t('c.mail.create')));

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
      append(body, [h('p.hint', t('c.mail.hint')), made && made.url ? once(made.address, made.url) : null]
        .concat(boxes.map(card), [create, threading]));
      var first = body.querySelector('.once input');
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
    rest('GET', '/v1/email/settings').then(function (s) {
      append(section, [h('p.hint', t('c.email.sender.hint')), emailSender(s)]);
    }).catch(function (err) { section.appendChild(h('p', message(err))); });
  }

  function emailSender(s) {
    var relay = s.relay || {}, dkim = s.dkim || {};
    var form = h('form.card.wide.sender', { 'aria-labelledby': 'email-sender-title', novalidate: true, on: { submit: function (e) {
      e.preventDefault();
      var el = form.elements, body = {
        from_name: el.from_name.value.trim() || null,
        from_address: el.from_address.value.trim() || null,
        reply_to: el.reply_to.value.trim() || null,
        signature: el.signature.value,
        smtp_url: el.smtp_url.value.trim() || null,
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
      })
        .catch(function (err) { submitting(form, false); showError(form, err); });
    } } }, alertBox(),
      field(t('c.email.from_name'), h('input', { name: 'from_name', value: s.from_name || '', maxlength: 100 })),
      field(t('c.email.from_address'), h('input', { name: 'from_address', type: 'email', value: s.from_address || '', maxlength: 254 }),
            t('c.email.from_address.hint')),
      field(t('c.email.reply_to'), h('input', { name: 'reply_to', type: 'email', value: s.reply_to || '', maxlength: 254 })),
      field(t('c.email.signature'), h('textarea', { name: 'signature', rows: 4, value: s.signature || '', maxlength: 2000 })),
      h('fieldset.notify', h('legend', t('c.email.notify')), h('p.hint', t('c.email.notify.hint')),
        EMAIL_NOTICES.map(function (k) {
          return h('label.check', h('input', { type: 'checkbox', name: 'notify_' + k, checked: !!(s.notify || {})[k] }),
                   ' ', t('c.email.kind.' + k));
        })),
      h('h3', t('c.email.relay')),
      h('p.hint', relay.kind === 'tenant' ? t('c.email.relay.own') : t('c.email.relay.provider')),
      field(t('c.email.smtp_url'), h('input', { name: 'smtp_url', value: relay.url || '', placeholder: 'smtp://smtp.example.com:587' }),
            t('c.email.smtp_url.hint')),
      field(t('c.email.smtp_user'), h('input', { name: 'smtp_user', value: relay.user || '', autocomplete: 'off' })),
      field(t('c.email.smtp_password'), h('input', { name: 'smtp_password', type: 'password', autocomplete: 'new-password',
                                                     placeholder: relay.password_set ? '••••••••' : '' })),
      emailDkim(dkim),
      h('div.row', h('button', { type: 'submit' }, t('c.save'))));
    return form;
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
